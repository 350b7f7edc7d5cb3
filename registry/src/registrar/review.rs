//! Review: the queue of records awaiting a registrar, and the registrar's decisions
//! (`register`, `reject`, `duplicate_of`, `request_correction`), each appended to the ledger
//! by [`crate::Registry::decide`]. Region limits apply as to every record read; every queue
//! read (by its count) and every decision is audited. The web pages call [`Registrar::queue`]
//! and [`Registrar::decide`] as the JSON API does.

use std::collections::BTreeMap;

use birthright_core::{keys::KeyId, wire::DecisionReason};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    RefusedAccess, Registrar, RegistrarError, access, records::ChildSummary, sessions::Session,
    store::RecordMeta,
};
use crate::service::decisions::{
    AWAITING_REVIEW, Action, DecisionRequest, REVIEW_REASONS, STATUSES, age_days,
};

/// Most entries one queue read answers.
pub const MAX_QUEUE: usize = 500;

/// Which records of the queue to list.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only records with this review reason.
    pub reason: Option<String>,
    /// Only records of this region.
    pub region: Option<String>,
    /// Only records from this device (key id, hex).
    pub device: Option<String>,
    /// Only children at least this old (days) when captured.
    pub min_age_days: Option<i64>,
    /// Only children at most this old (days) when captured.
    pub max_age_days: Option<i64>,
    /// Most entries (at most [`MAX_QUEUE`]).
    pub limit: Option<usize>,
    /// Entries the filter selects to skip first (the earlier pages), oldest first.
    pub offset: usize,
}

/// One record awaiting review.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    /// Record id.
    pub id: Uuid,
    /// Its ledger leaf.
    pub leaf_index: u64,
    /// Region of the capturing device.
    pub region: String,
    /// The capturing device's key id.
    pub device_kid: String,
    /// The field worker.
    pub worker_id: String,
    /// Why it awaits review.
    pub reasons: Vec<String>,
    /// When the registry sequenced it (RFC 3339).
    pub declared_at: String,
    /// The child's age in days at capture (as the device dated the capture), if the date of
    /// birth reads.
    pub age_at_capture_days: Option<i64>,
    /// The record it corrects.
    pub supersedes: Option<Uuid>,
    /// The child.
    pub child: ChildSummary,
}

/// The queue: records awaiting review, oldest first, and how many await for each reason.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    /// The entries the filter selects.
    pub records: Vec<QueueEntry>,
    /// Records awaiting review in the user's regions, per reason (a record with two reasons
    /// counts under both).
    pub counts: BTreeMap<String, usize>,
    /// Records awaiting review in the user's regions.
    pub total: usize,
}

/// A registrar's decision, as the API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `register`, `reject`, `duplicate_of` or `request_correction`.
    pub action: String,
    /// A reason code (required for `reject` and `request_correction`).
    #[serde(default)]
    pub reason: Option<String>,
    /// A note kept sealed at the registry, never on the ledger.
    #[serde(default)]
    pub note: Option<String>,
    /// With `duplicate_of`: the record this one duplicates.
    #[serde(default)]
    pub duplicate_of: Option<Uuid>,
}

/// What a decision answers.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionAnswer {
    /// The record.
    pub id: Uuid,
    /// Its status now.
    pub status: String,
    /// The decision's ledger leaf.
    pub decision_leaf: u64,
    /// The tree size that holds it.
    pub tree_size: u64,
}

/// The reason codes a registrar may give.
pub fn reason_codes() -> Vec<&'static str> {
    DecisionReason::ALL
        .into_iter()
        .filter(|r| !matches!(r, DecisionReason::None | DecisionReason::Timely))
        .map(DecisionReason::as_str)
        .collect()
}

fn bad(code: &'static str, message: impl Into<String>) -> RegistrarError {
    RegistrarError::bad_request(code, message)
}

fn parse_action(body: &DecisionBody) -> Result<Action, RegistrarError> {
    let action = match body.action.as_str() {
        "register" => Action::Register,
        "reject" => Action::Reject,
        "request_correction" => Action::RequestCorrection,
        "duplicate_of" => Action::DuplicateOf(body.duplicate_of.ok_or_else(|| {
            bad(
                "bad_decision",
                "duplicate_of needs the id of the record it duplicates",
            )
        })?),
        _ => {
            return Err(bad(
                "bad_decision",
                "action is one of register, reject, duplicate_of, request_correction",
            ));
        }
    };
    if body.duplicate_of.is_some() && !matches!(action, Action::DuplicateOf(_)) {
        return Err(bad(
            "bad_decision",
            "duplicate_of is given only with the action duplicate_of",
        ));
    }
    Ok(action)
}

impl Registrar {
    /// The registry status of a stored record: a record sequenced before review statuses
    /// existed has none and was registered; a registered record later corrected or revoked
    /// shows that.
    pub fn status_of(&self, meta: &RecordMeta) -> Result<&'static str, RegistrarError> {
        let row = self.registry.registration(&meta.kid, &meta.id)?;
        let status = row.as_ref().map_or("registered", |r| {
            STATUSES
                .into_iter()
                .find(|s| *s == r.status)
                .unwrap_or("declared")
        });
        Ok(match status {
            "registered" if meta.revoked => "revoked",
            _ if meta.superseded => "superseded",
            s => s,
        })
    }

    fn meta_of(&self, id: &Uuid) -> Result<RecordMeta, RegistrarError> {
        self.store
            .record_index()?
            .into_iter()
            .find(|m| m.id == *id)
            .ok_or_else(|| RegistrarError::new(404, "not_found", format!("no record {id}")))
    }

    /// The records awaiting review that `session`'s user may see and `filter` selects, oldest
    /// first, with the counts per reason. Audited by its count.
    pub fn queue(
        &self,
        session: &Session,
        filter: &QueueFilter,
        address: &str,
        now: i64,
    ) -> Result<Queue, RegistrarError> {
        let user = &session.user;
        access::require_records(user)?;
        if let Some(reason) = &filter.reason
            && !REVIEW_REASONS.contains(&reason.as_str())
        {
            return Err(bad(
                "bad_query",
                format!("reason is one of {}", REVIEW_REASONS.join(", ")),
            ));
        }
        if let Some(region) = &filter.region {
            access::require_region(user, region)?;
        }
        let device = filter
            .device
            .as_deref()
            .map(|d| {
                KeyId::from_hex(d.trim())
                    .ok_or_else(|| bad("bad_query", "device is a device key id (16 hex digits)"))
            })
            .transpose()?;
        let limit = filter.limit.unwrap_or(100).clamp(1, MAX_QUEUE);
        let index: BTreeMap<(KeyId, Uuid), RecordMeta> = self
            .store
            .record_index()?
            .into_iter()
            .map(|m| ((m.kid, m.id), m))
            .collect();
        let mut counts: BTreeMap<String, usize> =
            REVIEW_REASONS.iter().map(|r| (r.to_string(), 0)).collect();
        let mut total = 0;
        let mut skipped = 0;
        let mut records = Vec::new();
        for row in self.registry.registrations(Some(AWAITING_REVIEW))? {
            let Some(meta) = index.get(&(row.kid, row.id)) else {
                continue;
            };
            // The region filter comes before anything is opened.
            if !access::sees_region(user, &meta.region) {
                continue;
            }
            total += 1;
            for reason in &row.reasons {
                *counts.entry(reason.clone()).or_default() += 1;
            }
            if records.len() >= limit
                || filter.region.as_ref().is_some_and(|r| *r != meta.region)
                || device.is_some_and(|d| d != meta.kid)
                || filter
                    .reason
                    .as_ref()
                    .is_some_and(|r| !row.reasons.contains(r))
            {
                continue;
            }
            // The earlier pages' entries: without an age filter, skipped before opening.
            let by_age = filter.min_age_days.is_some() || filter.max_age_days.is_some();
            if !by_age && skipped < filter.offset {
                skipped += 1;
                continue;
            }
            let Some(signed) = self.open_record(meta)? else {
                continue;
            };
            let child = &signed.record.enrolment.child;
            let age = age_days(&child.date_of_birth, signed.record.captured_at);
            let outside = |bound: Option<i64>, keep: fn(i64, i64) -> bool| {
                bound.is_some_and(|b| !age.is_some_and(|a| keep(a, b)))
            };
            if outside(filter.min_age_days, |a, b| a >= b)
                || outside(filter.max_age_days, |a, b| a <= b)
            {
                continue;
            }
            if skipped < filter.offset {
                skipped += 1;
                continue;
            }
            records.push(QueueEntry {
                id: meta.id,
                leaf_index: meta.leaf_index,
                region: meta.region.clone(),
                device_kid: meta.kid.to_string(),
                worker_id: meta.worker_id.clone(),
                reasons: row.reasons.clone(),
                declared_at: super::rfc3339(meta.sequenced_at),
                age_at_capture_days: age,
                supersedes: meta.supersedes,
                child: ChildSummary {
                    given_names: child.given_names.clone(),
                    family_name: child.family_name.clone(),
                    date_of_birth: child.date_of_birth.clone(),
                    sex: child.sex,
                },
            });
        }
        self.audit(
            now,
            Some(&user.username),
            "queue_read",
            Some(format!("{} records", records.len())),
            Some(address),
        )?;
        Ok(Queue {
            records,
            counts,
            total,
        })
    }

    /// `session`'s user decides on record `id`: registrar or supervisor only, in the user's
    /// regions (the duplicated record's too), the record awaiting review. Appended to the
    /// ledger and audited (the action and reason, never the note).
    pub fn decide(
        &self,
        session: &Session,
        id: &Uuid,
        body: &DecisionBody,
        address: &str,
        now: i64,
    ) -> Result<DecisionAnswer, RegistrarError> {
        let user = &session.user;
        access::require_decide(user)?;
        let action = parse_action(body)?;
        let reason = body
            .reason
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                DecisionReason::from_name(r.trim())
                    .filter(|r| !matches!(r, DecisionReason::None | DecisionReason::Timely))
                    .ok_or_else(|| {
                        bad(
                            "bad_reason",
                            format!("reason is one of {}", reason_codes().join(", ")),
                        )
                    })
            })
            .transpose()?;
        let meta = self.meta_of(id)?;
        let refused = RefusedAccess {
            action: "record_decision_refused",
            record: id,
            address,
            now,
        };
        self.refuse_outside_region(
            user,
            &meta.region,
            "this record is outside your regions",
            refused,
        )?;
        if let Action::DuplicateOf(other) = action
            && let Ok(other) = self.meta_of(&other)
        {
            self.refuse_outside_region(
                user,
                &other.region,
                "the record it duplicates is outside your regions",
                refused,
            )?;
        }
        let outcome = self.registry.decide(
            &DecisionRequest {
                record: *id,
                action,
                reason,
                note: body.note.clone(),
                actor: Some(user.username.clone()),
            },
            now,
        )?;
        self.audit(
            now,
            Some(&user.username),
            "record_decision",
            Some(format!("{id} {} {}", body.action, outcome.reason.as_str())),
            Some(address),
        )?;
        Ok(DecisionAnswer {
            id: *id,
            status: outcome.status,
            decision_leaf: outcome.leaf_index,
            tree_size: outcome.tree_size,
        })
    }
}
