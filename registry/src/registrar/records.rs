//! The registry's stored records as registrars read them: the index (ids, devices, regions,
//! ledger places) filtered by the user's regions first, then each record opened with the
//! registry's data key, decoded and matched. Every read is audited: a search by its count
//! (never its query, which may hold a name), a view by the record id.
//!
//! Search today opens every record in the user's regions (linear in their number); a keyed
//! search index is for the search page's session.

use birthright_core::{record::RegistrationForm, signed::SignedRecord};
use serde::Serialize;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
use uuid::Uuid;

use super::{Registrar, RegistrarError, access, sessions::Session, store::RecordMeta};

/// Most results one search answers.
pub const MAX_RESULTS: usize = 200;
/// Longest search text.
pub const MAX_QUERY_CHARS: usize = 200;

/// A record's status from the index alone (a record without review: registered, superseded or
/// revoked); [`Registrar::status_of`] adds the review life cycle.
pub fn status(meta: &RecordMeta) -> &'static str {
    if meta.revoked {
        "revoked"
    } else if meta.superseded {
        "superseded"
    } else {
        "registered"
    }
}

/// The statuses a search may ask for.
pub const STATUSES: [&str; 8] = [
    "declared",
    "awaiting_review",
    "registered",
    "rejected",
    "duplicate",
    "correction_requested",
    "superseded",
    "revoked",
];

/// A search.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Words that must all appear in the child's or a parent's names (case and diacritics
    /// ignored).
    pub query: Option<String>,
    /// Date of birth: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub dob: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Most results (at most [`MAX_RESULTS`]).
    pub limit: Option<usize>,
}

/// The child as a search result shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildSummary {
    /// Given names.
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth as recorded.
    pub date_of_birth: String,
    /// Sex code.
    pub sex: Option<birthright_core::record::Sex>,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSummary {
    /// Record id.
    pub id: Uuid,
    /// Ledger leaf.
    pub leaf_index: u64,
    /// Region of the capturing device.
    pub region: String,
    /// Status.
    pub status: &'static str,
    /// When the registry sequenced it (RFC 3339).
    pub sequenced_at: String,
    /// The child.
    pub child: ChildSummary,
}

/// One decision on a record, as a registrar sees it (the note only here, never on the
/// ledger).
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    /// `registered`, `rejected`, `duplicate` or `correction_requested`.
    pub decision: &'static str,
    /// Its reason code.
    pub reason: &'static str,
    /// The registrar's login name, or `review policy`.
    pub decided_by: String,
    /// The registrar's note.
    pub note: Option<String>,
    /// The record it duplicates.
    pub duplicate_of: Option<Uuid>,
    /// The decision's ledger leaf.
    pub leaf_index: u64,
    /// When (RFC 3339).
    pub decided_at: String,
}

/// A record in full.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    /// Record id.
    pub id: Uuid,
    /// Ledger leaf.
    pub leaf_index: u64,
    /// Region of the capturing device.
    pub region: String,
    /// Status.
    pub status: &'static str,
    /// Why it awaits (or awaited) review.
    pub review_reasons: Vec<String>,
    /// The decisions on it, in ledger order.
    pub decisions: Vec<DecisionView>,
    /// Sequencing time (RFC 3339).
    pub sequenced_at: String,
    /// Capture time on the device (RFC 3339).
    pub captured_at: String,
    /// The capturing device's key id.
    pub device_kid: String,
    /// The field worker.
    pub worker_id: String,
    /// The record it corrects.
    pub supersedes: Option<Uuid>,
    /// The form as signed by the device.
    pub form: RegistrationForm,
}

/// Lower case, without diacritics, compatibility forms folded (`Ş` and `Ș` both `s`).
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn names_of(form: &RegistrationForm) -> String {
    let mut names = vec![
        form.child.given_names.as_str(),
        form.child.family_name.as_str(),
        form.mother.given_names.as_str(),
        form.mother.family_name.as_str(),
    ];
    if let Some(father) = &form.father {
        names.push(&father.given_names);
        names.push(&father.family_name);
    }
    fold(&names.join(" "))
}

fn dob_matches(dob: &str, wanted: &str) -> bool {
    dob == wanted
        || dob
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('-'))
}

fn check_filter(f: &Filter) -> Result<(), RegistrarError> {
    if let Some(q) = &f.query
        && q.chars().count() > MAX_QUERY_CHARS
    {
        return Err(RegistrarError::bad_request(
            "bad_query",
            format!("the search text may have at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    if let Some(dob) = &f.dob {
        let shape_ok = matches!(dob.len(), 4 | 7 | 10)
            && dob.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(RegistrarError::bad_request(
                "bad_query",
                "dob is a date of birth as YYYY, YYYY-MM or YYYY-MM-DD",
            ));
        }
    }
    if let Some(s) = &f.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(RegistrarError::bad_request(
            "bad_query",
            format!("status is one of {}", STATUSES.join(", ")),
        ));
    }
    Ok(())
}

impl Registrar {
    pub(crate) fn open_record(
        &self,
        meta: &RecordMeta,
    ) -> Result<Option<SignedRecord>, RegistrarError> {
        let Some(bytes) = self.registry.record_bytes_of(&meta.kid, &meta.id)? else {
            return Ok(None);
        };
        SignedRecord::decode(&bytes).map(Some).map_err(|_| {
            RegistrarError::new(
                500,
                "internal",
                format!("stored record {} is damaged", meta.id),
            )
        })
    }

    /// The records `session`'s user may see that match `filter`, in ledger order.
    pub fn search(
        &self,
        session: &Session,
        filter: &Filter,
        address: &str,
        now: i64,
    ) -> Result<Vec<RecordSummary>, RegistrarError> {
        let user = &session.user;
        access::require_records(user)?;
        check_filter(filter)?;
        if let Some(region) = &filter.region
            && !access::sees_region(user, region)
        {
            return Err(RegistrarError::new(
                403,
                "region_forbidden",
                format!("you have no access to region {region}"),
            ));
        }
        let words: Vec<String> = filter
            .query
            .as_deref()
            .map(fold)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let limit = filter.limit.unwrap_or(50).clamp(1, MAX_RESULTS);
        let mut out = Vec::new();
        for meta in self.store.record_index()? {
            if out.len() >= limit {
                break;
            }
            // The region filter comes before anything is opened.
            if !access::sees_region(user, &meta.region)
                || filter.region.as_ref().is_some_and(|r| *r != meta.region)
            {
                continue;
            }
            let status = self.status_of(&meta)?;
            if filter.status.as_deref().is_some_and(|s| s != status) {
                continue;
            }
            let Some(signed) = self.open_record(&meta)? else {
                continue;
            };
            let form = &signed.record.enrolment;
            if filter
                .dob
                .as_ref()
                .is_some_and(|d| !dob_matches(&form.child.date_of_birth, d))
            {
                continue;
            }
            if !words.is_empty() {
                let names = names_of(form);
                if !words.iter().all(|w| names.contains(w.as_str())) {
                    continue;
                }
            }
            out.push(RecordSummary {
                id: meta.id,
                leaf_index: meta.leaf_index,
                region: meta.region.clone(),
                status,
                sequenced_at: super::rfc3339(meta.sequenced_at),
                child: ChildSummary {
                    given_names: form.child.given_names.clone(),
                    family_name: form.child.family_name.clone(),
                    date_of_birth: form.child.date_of_birth.clone(),
                    sex: form.child.sex,
                },
            });
        }
        self.audit(
            now,
            Some(&user.username),
            "record_search",
            Some(format!("{} results", out.len())),
            Some(address),
        )?;
        Ok(out)
    }

    /// Record `id` in full, if `session`'s user may see it: 404 if there is none, 403 if it is
    /// outside the user's regions. Audited.
    pub fn record(
        &self,
        session: &Session,
        id: &Uuid,
        address: &str,
        now: i64,
    ) -> Result<RecordView, RegistrarError> {
        let user = &session.user;
        access::require_records(user)?;
        // The first sequenced under this id, as the registry's other lookups.
        let meta = self.store.record_index()?.into_iter().find(|m| m.id == *id);
        let Some(meta) = meta else {
            return Err(RegistrarError::new(
                404,
                "not_found",
                format!("no record {id}"),
            ));
        };
        if !access::sees_region(user, &meta.region) {
            self.audit(
                now,
                Some(&user.username),
                "record_view_refused",
                Some(id.to_string()),
                Some(address),
            )?;
            return Err(RegistrarError::new(
                403,
                "region_forbidden",
                "this record is outside your regions",
            ));
        }
        let Some(signed) = self.open_record(&meta)? else {
            return Err(RegistrarError::new(
                404,
                "not_found",
                format!("no record {id}"),
            ));
        };
        self.audit(
            now,
            Some(&user.username),
            "record_view",
            Some(id.to_string()),
            Some(address),
        )?;
        let history = self
            .registry
            .decisions_of(&meta.kid, &meta.id)?
            .into_iter()
            .map(|d| DecisionView {
                decision: d.decision.as_str(),
                reason: d.reason.as_str(),
                decided_by: d.actor.clone().unwrap_or_else(|| match d.decided_by {
                    birthright_core::wire::DecidedBy::Policy => "review policy".into(),
                    birthright_core::wire::DecidedBy::Registrar => "registry operator".into(),
                }),
                note: self.registry.decision_note(&d),
                duplicate_of: d.duplicate_of,
                leaf_index: d.leaf_index,
                decided_at: super::rfc3339(d.decided_at),
            })
            .collect();
        let registration = self.registry.registration(&meta.kid, &meta.id)?;
        Ok(RecordView {
            id: meta.id,
            leaf_index: meta.leaf_index,
            region: meta.region.clone(),
            status: self.status_of(&meta)?,
            review_reasons: registration.map(|r| r.reasons).unwrap_or_default(),
            decisions: history,
            sequenced_at: super::rfc3339(meta.sequenced_at),
            captured_at: super::rfc3339(signed.record.captured_at),
            device_kid: meta.kid.to_string(),
            worker_id: meta.worker_id.clone(),
            supersedes: meta.supersedes,
            form: signed.record.enrolment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_diacritics() {
        assert_eq!(fold("Ștefan Şerban"), "stefan serban");
        assert_eq!(fold("КОВАЛЕНКО Олена"), "коваленко олена");
        assert_eq!(fold("Йосип"), "иосип");
        assert!(dob_matches("2024-03-01", "2024"));
        assert!(dob_matches("2024-03-01", "2024-03"));
        assert!(dob_matches("2024-03-01", "2024-03-01"));
        assert!(!dob_matches("2024-03-01", "2024-0"));
        assert!(!dob_matches("2024-03-01", "2024-03-02"));
    }
}
