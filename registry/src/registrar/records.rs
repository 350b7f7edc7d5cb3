//! The registry's stored records as registrars read them: the index (ids, devices, regions,
//! ledger places) filtered by the user's regions first, then each record opened with the
//! registry's data key, decoded and matched. Every read is audited: a search by its filters'
//! names (never their values, which may hold a name), its result count and the ids of the
//! records it showed; a view by the record id.
//!
//! Names match case-, diacritic- and script-insensitively through the core's name folding
//! ([`birthright_core::matching::normalise`]): each word is reduced to the phonetic skeletons
//! of its Latin spellings (one for Latin text, up to three transliterations for Cyrillic), so
//! `Коваленко` finds `Kovalenko` and `ș` is `ş`. A query word matches a name word when they
//! share a skeleton, or when a skeleton of the query word (three letters or more) begins one
//! of the name word's.
//!
//! The database holds no names, so search opens records (decrypt and filter) rather than
//! reading an index: linear in the records of the user's regions, and bounded: one request
//! opens at most [`MAX_SCAN`] records and answers `next_after` to go on from there.

use birthright_core::{
    matching::{dates::PartialDate, names::NamePart},
    record::RegistrationForm,
    signed::SignedRecord,
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    RefusedAccess, Registrar, RegistrarError, access, sessions::Session, store::RecordMeta,
};

/// Most results one search answers.
pub const MAX_RESULTS: usize = 200;
/// Longest search text.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most records one search request opens; past it the answer says where to go on.
pub const MAX_SCAN: usize = 5_000;

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
    /// Words that must all appear in the child's or a parent's names (case, diacritics and
    /// script ignored).
    pub query: Option<String>,
    /// Words that must all appear in the mother's names.
    pub mother: Option<String>,
    /// Date of birth: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a record's date agrees when one
    /// begins the other: `2024` finds `2024-03-01`, and `2024-03-01` finds a record that
    /// only knows `2024-03`).
    pub dob: Option<String>,
    /// Born on or after this date (`YYYY-MM-DD`); records with a partial date count from
    /// their first possible day.
    pub dob_from: Option<String>,
    /// Born on or before this date (`YYYY-MM-DD`); records with a partial date count up to
    /// their last possible day.
    pub dob_to: Option<String>,
    /// Registration number: the record id (a UUID) or its ledger leaf index.
    pub number: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Most results (at most [`MAX_RESULTS`], default 50).
    pub limit: Option<usize>,
    /// Only records after this ledger leaf index (the previous page's `next_after`).
    pub after: Option<u64>,
}

impl Filter {
    /// The names of the filters set (for the audit log: never their values).
    fn used(&self) -> Vec<&'static str> {
        [
            ("query", self.query.is_some()),
            ("mother", self.mother.is_some()),
            ("dob", self.dob.is_some()),
            ("dob_from", self.dob_from.is_some()),
            ("dob_to", self.dob_to.is_some()),
            ("number", self.number.is_some()),
            ("region", self.region.is_some()),
            ("status", self.status.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
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

/// One page of search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    /// The matches, in ledger order.
    pub records: Vec<RecordSummary>,
    /// Where the next page starts (pass it as `after`); `None` when the search is complete.
    pub next_after: Option<u64>,
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

/// Names prepared for matching: per word, its phonetic skeletons.
#[derive(Debug, Clone, Default)]
struct Words(Vec<Vec<String>>);

impl Words {
    fn of(texts: &[&str]) -> Words {
        Words(
            texts
                .iter()
                .flat_map(|t| NamePart::new(t).word_skeletons())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// Whether every word of `self` (a query) matches a word of `names`.
    fn all_in(&self, names: &Words) -> bool {
        self.0.iter().all(|query| {
            names.0.iter().any(|name| {
                query.iter().any(|q| {
                    name.iter()
                        .any(|n| n == q || (q.len() >= 3 && n.starts_with(q.as_str())))
                })
            })
        })
    }
}

fn all_names(form: &RegistrationForm) -> Words {
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
    Words::of(&names)
}

fn mother_names(form: &RegistrationForm) -> Words {
    Words::of(&[&form.mother.given_names, &form.mother.family_name])
}

/// Whether a recorded date of birth agrees with `wanted` (one is a prefix of the other at a
/// `-` boundary, or they are equal).
fn dob_matches(dob: &str, wanted: &str) -> bool {
    let prefix = |long: &str, short: &str| {
        long == short
            || long
                .strip_prefix(short)
                .is_some_and(|rest| rest.starts_with('-'))
    };
    prefix(dob, wanted) || prefix(wanted, dob)
}

/// The first and last day (days since 1970) a recorded date of birth may be.
fn dob_span(dob: &str) -> Option<(i64, i64)> {
    let date = PartialDate::parse(dob)?;
    let day = |month: u8, day: u8| {
        PartialDate {
            year: date.year,
            month: Some(month),
            day: Some(day),
        }
        .day_number()
    };
    match (date.month, date.day) {
        (Some(_), Some(_)) => date.day_number().map(|n| (n, n)),
        (Some(12), None) => Some((day(12, 1)?, day(12, 31)?)),
        (Some(m), None) => Some((day(m, 1)?, day(m + 1, 1)? - 1)),
        _ => Some((day(1, 1)?, day(12, 31)?)),
    }
}

/// The day number of a full `YYYY-MM-DD` date.
fn full_day(text: &str) -> Option<i64> {
    PartialDate::parse(text).and_then(|d| d.day_number())
}

fn check_filter(f: &Filter) -> Result<(), RegistrarError> {
    for q in [&f.query, &f.mother].into_iter().flatten() {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(RegistrarError::bad_request(
                "bad_query",
                format!("the search text may have at most {MAX_QUERY_CHARS} characters"),
            ));
        }
    }
    if let Some(dob) = &f.dob
        && PartialDate::parse(dob).is_none()
    {
        return Err(RegistrarError::bad_request(
            "bad_query",
            "dob is a date of birth as YYYY, YYYY-MM or YYYY-MM-DD",
        ));
    }
    for (name, date) in [("dob_from", &f.dob_from), ("dob_to", &f.dob_to)] {
        if let Some(date) = date
            && full_day(date).is_none()
        {
            return Err(RegistrarError::bad_request(
                "bad_query",
                format!("{name} is a date as YYYY-MM-DD"),
            ));
        }
    }
    if let Some(n) = &f.number
        && Uuid::parse_str(n.trim()).is_err()
        && n.trim().parse::<u64>().is_err()
    {
        return Err(RegistrarError::bad_request(
            "bad_query",
            "number is a registration number: a record id or a ledger index",
        ));
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

/// Whether the index entry `meta` passes the filters that need no opening.
fn meta_matches(meta: &RecordMeta, f: &Filter) -> bool {
    // The status (which needs the registration row) is checked by the caller.
    if f.region.as_ref().is_some_and(|r| *r != meta.region) {
        return false;
    }
    match f.number.as_deref().map(str::trim) {
        None => true,
        Some(n) => match Uuid::parse_str(n) {
            Ok(id) => id == meta.id,
            Err(_) => n.parse::<u64>().is_ok_and(|i| i == meta.leaf_index),
        },
    }
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

    /// The records `session`'s user may see that match `filter`, in ledger order (the
    /// first page; see [`Self::search_page`]).
    pub fn search(
        &self,
        session: &Session,
        filter: &Filter,
        address: &str,
        now: i64,
    ) -> Result<Vec<RecordSummary>, RegistrarError> {
        Ok(self.search_page(session, filter, address, now)?.records)
    }

    /// One page of the records `session`'s user may see that match `filter`, in ledger
    /// order, opening at most [`MAX_SCAN`] records. Audited: the filters' names, the count
    /// and the ids shown.
    pub fn search_page(
        &self,
        session: &Session,
        filter: &Filter,
        address: &str,
        now: i64,
    ) -> Result<SearchPage, RegistrarError> {
        let user = &session.user;
        access::require_records(user)?;
        check_filter(filter)?;
        if let Some(region) = &filter.region {
            access::require_region(user, region)?;
        }
        let words = filter
            .query
            .as_deref()
            .map(|q| Words::of(&[q]))
            .unwrap_or_default();
        let mother = filter
            .mother
            .as_deref()
            .map(|q| Words::of(&[q]))
            .unwrap_or_default();
        let from = filter.dob_from.as_deref().and_then(full_day);
        let to = filter.dob_to.as_deref().and_then(full_day);
        let limit = filter.limit.unwrap_or(50).clamp(1, MAX_RESULTS);
        let mut records = Vec::new();
        let mut next_after = None;
        let index = self.store.record_index()?;
        let visible = index.iter().filter(|meta| {
            // The region filter comes before anything is opened.
            access::sees_region(user, &meta.region)
                && filter.after.is_none_or(|after| meta.leaf_index > after)
                && meta_matches(meta, filter)
        });
        let mut last = None;
        for (opened, meta) in visible.enumerate() {
            if records.len() >= limit || opened >= MAX_SCAN {
                next_after = last;
                break;
            }
            last = Some(meta.leaf_index);
            let status = self.status_of(meta)?;
            if filter.status.as_deref().is_some_and(|s| s != status) {
                continue;
            }
            let Some(signed) = self.open_record(meta)? else {
                continue;
            };
            let form = &signed.record.enrolment;
            let dob = form.child.date_of_birth.as_str();
            if filter.dob.as_ref().is_some_and(|d| !dob_matches(dob, d)) {
                continue;
            }
            if from.is_some() || to.is_some() {
                let Some((first, last)) = dob_span(dob) else {
                    continue;
                };
                if from.is_some_and(|f| last < f) || to.is_some_and(|t| first > t) {
                    continue;
                }
            }
            if !words.0.is_empty() && !words.all_in(&all_names(form)) {
                continue;
            }
            if !mother.0.is_empty() && !mother.all_in(&mother_names(form)) {
                continue;
            }
            records.push(RecordSummary {
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
        let used = filter.used();
        let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
        self.audit(
            now,
            Some(&user.username),
            "record_search",
            Some(format!(
                "{} results; filters: {}; shown: {}",
                records.len(),
                if used.is_empty() {
                    "none".to_string()
                } else {
                    used.join(",")
                },
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(",")
                }
            )),
            Some(address),
        )?;
        Ok(SearchPage {
            records,
            next_after,
        })
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
        self.refuse_outside_region(
            user,
            &meta.region,
            "this record is outside your regions",
            RefusedAccess {
                action: "record_view_refused",
                record: id,
                address,
                now,
            },
        )?;
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

    fn matches(query: &str, names: &[&str]) -> bool {
        Words::of(&[query]).all_in(&Words::of(names))
    }

    #[test]
    fn names_match_across_case_diacritics_and_script() {
        assert!(matches("Коваленко", &["Kovalenko"]));
        assert!(matches("kovalenko", &["Коваленко"]));
        assert!(matches("ștefan", &["Ştefan"]));
        assert!(matches("STEFAN", &["Ștefan"]));
        assert!(matches("Цуркану", &["Țurcanu"]));
        assert!(matches("olena koval", &["Олена", "Коваленко"]));
        assert!(!matches("olena petrenko", &["Олена", "Коваленко"]));
        assert!(!matches("Оксана", &["Олена"]));
        // A short query word matches whole words only.
        assert!(!matches("ko", &["Kovalenko"]));
    }

    #[test]
    fn dates_of_birth_agree_and_span() {
        assert!(dob_matches("2024-03-01", "2024"));
        assert!(dob_matches("2024-03-01", "2024-03"));
        assert!(dob_matches("2024-03-01", "2024-03-01"));
        assert!(dob_matches("2024-03", "2024-03-01"));
        assert!(!dob_matches("2024-03-01", "2024-0"));
        assert!(!dob_matches("2024-03-01", "2024-03-02"));
        let day = |s| full_day(s).unwrap();
        assert_eq!(
            dob_span("2024-02"),
            Some((day("2024-02-01"), day("2024-02-29")))
        );
        assert_eq!(
            dob_span("2023-12"),
            Some((day("2023-12-01"), day("2023-12-31")))
        );
        assert_eq!(
            dob_span("2023"),
            Some((day("2023-01-01"), day("2023-12-31")))
        );
        assert_eq!(dob_span("2023-13"), None);
        assert_eq!(full_day("2023-02-30"), None);
    }

    #[test]
    fn bad_filters_are_refused() {
        for f in [
            Filter {
                dob: Some("2024-3".into()),
                ..Filter::default()
            },
            Filter {
                dob_from: Some("2024".into()),
                ..Filter::default()
            },
            Filter {
                number: Some("BR-1".into()),
                ..Filter::default()
            },
            Filter {
                status: Some("lost".into()),
                ..Filter::default()
            },
            Filter {
                mother: Some("x".repeat(MAX_QUERY_CHARS + 1)),
                ..Filter::default()
            },
        ] {
            assert_eq!(check_filter(&f).unwrap_err().code, "bad_query", "{f:?}");
        }
        assert!(check_filter(&Filter::default()).is_ok());
    }
}
