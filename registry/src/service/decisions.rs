//! The life of a registration at the registry (docs/REGISTRAR-API.md, "Life of a
//! registration"): a verified record is `declared` when it is sequenced; the review policy
//! then registers it at once or sends it to review with its reasons; a registrar registers,
//! rejects, marks as a duplicate or asks for a correction. Every decision, the policy's
//! included, is a registry-signed leaf on the ledger (PROTOCOL §10.1), appended with the
//! record's new status in one transaction.

use birthright_core::{
    keys::KeyId,
    record::RegistrationForm,
    store::crypto::context,
    wire::{DecidedBy, DecisionKind, DecisionReason},
};
use time::{Date, Month, OffsetDateTime};
use uuid::Uuid;

use super::{Registry, ServiceError};
use crate::store::{Decided, DecisionRow, NewDecision, RegistrationRow, ReviewPolicy};

/// Review reason: the child was born longer ago than the policy registers at once.
pub const LATE_REGISTRATION: &str = "late_registration";
/// Review reason: the record has an open possible-duplicate pair.
pub const POSSIBLE_DUPLICATE: &str = "possible_duplicate";
/// Review reason: the record corrects another.
pub const CORRECTION: &str = "correction";
/// Every review reason.
pub const REVIEW_REASONS: [&str; 3] = [LATE_REGISTRATION, POSSIBLE_DUPLICATE, CORRECTION];

/// Status of a record just sequenced, before the policy ran.
pub const DECLARED: &str = "declared";
/// Status of a record awaiting a registrar.
pub const AWAITING_REVIEW: &str = "awaiting_review";
/// Every registration status.
pub const STATUSES: [&str; 6] = [
    DECLARED,
    AWAITING_REVIEW,
    "registered",
    "rejected",
    "duplicate",
    "correction_requested",
];

/// Longest registrar's note (characters).
pub const MAX_NOTE_CHARS: usize = 2000;

/// What a registrar decides on a record awaiting review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Register the birth.
    Register,
    /// Refuse it (a reason code is required).
    Reject,
    /// The same child as the record named.
    DuplicateOf(Uuid),
    /// Ask the field worker for a correction (a reason code is required).
    RequestCorrection,
}

impl Action {
    fn kind(self) -> DecisionKind {
        match self {
            Action::Register => DecisionKind::Registered,
            Action::Reject => DecisionKind::Rejected,
            Action::DuplicateOf(_) => DecisionKind::Duplicate,
            Action::RequestCorrection => DecisionKind::CorrectionRequested,
        }
    }
}

/// A registrar's decision on a record.
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    /// The record.
    pub record: Uuid,
    /// What.
    pub action: Action,
    /// Why (a [`DecisionReason`] code); required for rejections and requests for correction.
    pub reason: Option<DecisionReason>,
    /// A note for the registry only (never on the ledger; stored sealed).
    pub note: Option<String>,
    /// The registrar's login name (`None`: the registry's operator at the command line).
    pub actor: Option<String>,
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionOutcome {
    /// The record's device.
    pub kid: KeyId,
    /// The record.
    pub id: Uuid,
    /// Its status now.
    pub status: String,
    /// The decision's reason code.
    pub reason: DecisionReason,
    /// The decision's ledger leaf.
    pub leaf_index: u64,
    /// The tree size that includes it.
    pub tree_size: u64,
}

/// Why a record the policy sees must await review (empty: register at once). `now` is the
/// registry's sequencing time; the device's capture time is never used.
pub fn review_reasons(
    policy: &ReviewPolicy,
    form: &RegistrationForm,
    is_correction: bool,
    has_duplicate_candidate: bool,
    now: i64,
) -> Vec<String> {
    let mut reasons = Vec::new();
    let late = match earliest_birth(&form.child.date_of_birth) {
        Some(born) => {
            let today = OffsetDateTime::from_unix_timestamp(now)
                .map(|t| t.date())
                .unwrap_or(Date::MIN);
            (today - born).whole_days() > i64::from(policy.max_age_days)
        }
        // A date the policy cannot read is for a person to look at.
        None => true,
    };
    if late {
        reasons.push(LATE_REGISTRATION.to_string());
    }
    if has_duplicate_candidate {
        reasons.push(POSSIBLE_DUPLICATE.to_string());
    }
    if is_correction && policy.review_corrections {
        reasons.push(CORRECTION.to_string());
    }
    reasons
}

/// The earliest day a recorded date of birth (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`) can be.
pub fn earliest_birth(dob: &str) -> Option<Date> {
    let mut parts = dob.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u8 = parts.next().map_or(Some(1), |d| d.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// Age at the registry's time in whole days (for the queue's filter), if the date reads.
pub fn age_days(dob: &str, at: i64) -> Option<i64> {
    let born = earliest_birth(dob)?;
    let today = OffsetDateTime::from_unix_timestamp(at).ok()?.date();
    Some((today - born).whole_days())
}

fn note_context(id: &Uuid) -> Vec<u8> {
    context("decisions", "sealed_note", id.as_bytes())
}

impl Registry {
    /// The review policy.
    pub fn review_policy(&self) -> Result<ReviewPolicy, ServiceError> {
        Ok(self.store.review_policy()?)
    }

    /// Sets the review policy.
    pub fn set_review_policy(&self, policy: &ReviewPolicy) -> Result<(), ServiceError> {
        Ok(self.store.set_review_policy(policy)?)
    }

    /// The registration row of device `kid`'s record `id`: a stored record without one was
    /// sequenced before review statuses existed and was registered at once.
    pub fn registration(
        &self,
        kid: &KeyId,
        id: &Uuid,
    ) -> Result<Option<RegistrationRow>, ServiceError> {
        Ok(self.store.registration(kid, id)?)
    }

    /// The records with registration status `status` (all with `None`), oldest change first.
    pub fn registrations(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<RegistrationRow>, ServiceError> {
        Ok(self.store.registrations(status)?)
    }

    /// The decisions on device `kid`'s record `id`, in ledger order.
    pub fn decisions_of(&self, kid: &KeyId, id: &Uuid) -> Result<Vec<DecisionRow>, ServiceError> {
        Ok(self.store.decisions_of(kid, id)?)
    }

    /// A decision's note, opened.
    pub fn decision_note(&self, row: &DecisionRow) -> Option<String> {
        let sealed = row.sealed_note.as_ref()?;
        let plain = self.keys.data_key.open(&note_context(&row.id), sealed)?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// The device of record `id` (the first that sequenced it).
    fn owner_of(&self, id: &Uuid) -> Result<KeyId, ServiceError> {
        self.store
            .record_owners(id)?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::new(404, "not_found", format!("no record {id}")))
    }

    /// Appends one decision on device `kid`'s record `id`, expecting it in `expect`.
    fn append_decision(
        &self,
        decision: NewDecision,
    ) -> Result<Result<DecisionOutcome, Option<String>>, ServiceError> {
        let signer = self.signer();
        match self
            .store
            .decide(std::slice::from_ref(&decision), &signer)?
        {
            Decided::Appended { rows, size, .. } => {
                let row = rows
                    .into_iter()
                    .next()
                    .ok_or_else(|| ServiceError::internal("a decision appended no leaf"))?;
                Ok(Ok(DecisionOutcome {
                    kid: row.kid,
                    id: row.id,
                    status: row.decision.as_str().to_string(),
                    reason: row.reason,
                    leaf_index: row.leaf_index,
                    tree_size: size,
                }))
            }
            Decided::Stale { status, .. } => Ok(Err(status)),
        }
    }

    /// A registrar's decision on a record awaiting review: appended to the ledger with the
    /// record's new status, the note sealed. 404 for an unknown record, 409 if it does not
    /// await review (decided already), 400 for a missing reason or a bad duplicate.
    pub fn decide(
        &self,
        request: &DecisionRequest,
        now: i64,
    ) -> Result<DecisionOutcome, ServiceError> {
        let kid = self.owner_of(&request.record)?;
        let reason = match (request.action, request.reason) {
            (Action::Register, None) => DecisionReason::Reviewed,
            (Action::DuplicateOf(_), None) => DecisionReason::AlreadyRegistered,
            (Action::Reject | Action::RequestCorrection, None | Some(DecisionReason::None)) => {
                return Err(ServiceError::new(
                    400,
                    "reason_required",
                    "a rejection or a request for correction needs a reason code",
                ));
            }
            (_, Some(DecisionReason::Timely)) => {
                return Err(ServiceError::new(
                    400,
                    "bad_reason",
                    "the reason timely is the review policy's own",
                ));
            }
            (_, Some(reason)) => reason,
        };
        let duplicate_of = match request.action {
            Action::DuplicateOf(other) => {
                if other == request.record {
                    return Err(ServiceError::new(
                        400,
                        "bad_duplicate",
                        "a record cannot be a duplicate of itself",
                    ));
                }
                self.owner_of(&other).map_err(|_| {
                    ServiceError::new(400, "bad_duplicate", format!("no record {other}"))
                })?;
                Some(other)
            }
            _ => None,
        };
        let sealed_note = match request.note.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(note) if note.chars().count() > MAX_NOTE_CHARS => {
                return Err(ServiceError::new(
                    400,
                    "bad_note",
                    format!("a note may have at most {MAX_NOTE_CHARS} characters"),
                ));
            }
            Some(note) => Some(
                self.keys
                    .data_key
                    .seal(&note_context(&request.record), note.as_bytes())
                    .map_err(ServiceError::internal)?,
            ),
        };
        let decided = self.append_decision(NewDecision {
            kid,
            id: request.record,
            expect: vec![AWAITING_REVIEW.to_string()],
            decision: request.action.kind(),
            reason,
            decided_by: DecidedBy::Registrar,
            actor: request.actor.clone(),
            sealed_note,
            duplicate_of,
            at: now,
        })?;
        decided.map_err(|status| {
            ServiceError::new(
                409,
                "not_awaiting_review",
                match status {
                    Some(status) => format!(
                        "record {} does not await review: its status is {status}",
                        request.record
                    ),
                    None => format!(
                        "record {} was registered before reviews existed",
                        request.record
                    ),
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> i64 {
        let d = earliest_birth(date).unwrap();
        d.midnight().assume_utc().unix_timestamp()
    }

    #[test]
    fn the_policy_registers_recent_births_only() {
        let policy = ReviewPolicy::default();
        let mut form = birthright_core::fixtures::reference_input();
        form.child.date_of_birth = "2026-03-14".into();
        let now = at("2027-03-14");
        assert!(review_reasons(&policy, &form, false, false, now).is_empty());
        let now = at("2027-03-15");
        assert_eq!(
            review_reasons(&policy, &form, false, false, now),
            [LATE_REGISTRATION]
        );
        assert_eq!(
            review_reasons(&policy, &form, true, true, at("2026-04-01")),
            [POSSIBLE_DUPLICATE, CORRECTION]
        );
        let lenient = ReviewPolicy {
            max_age_days: 5000,
            review_corrections: false,
        };
        assert!(review_reasons(&lenient, &form, true, false, now).is_empty());
        // A year alone counts from its first day.
        form.child.date_of_birth = "2026".into();
        assert_eq!(
            review_reasons(&policy, &form, false, false, at("2027-01-02")),
            [LATE_REGISTRATION]
        );
        form.child.date_of_birth = "not a date".into();
        assert_eq!(
            review_reasons(&policy, &form, false, false, now),
            [LATE_REGISTRATION]
        );
        assert_eq!(age_days("2026-03-14", at("2026-03-24")), Some(10));
    }
}
