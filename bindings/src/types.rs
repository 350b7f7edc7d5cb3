//! The records and enums that cross the FFI where their shape differs from the core's, with
//! their conversions. The form, its parts, validation problems, statuses and counts are the
//! core's own types (UniFFI derives behind its `uniffi` feature), re-exported here:
//! - times are `SystemTime` (`java.time.Instant`, Swift `Date`) where the core keeps Unix
//!   seconds, and ids are text where the core has `Uuid`/`KeyId` (`RecordSummary`,
//!   `StoredRecord`, `DeviceIdentity`, `Enrolment`, `CredentialClaims`);
//! - the sync's HTTP exchange (`HttpRequest`, `HttpResponse`, `HttpMethod`), progress
//!   (`SyncCounts`) and report (`SyncReport`, `RejectedRecord`, `AwaitingWitnesses`) are the
//!   core's own types too (`RejectedRecord.id` crosses as text through the core's `Uuid` custom
//!   type); only `SyncOptions` is the FFI's, as its shape differs: every field has a default
//!   for the apps, times are milliseconds, and the core's `SyncConfig` carries a cancel handle
//!   and a test-only RNG seed that must not cross;
//! - `DuplicateLevel` has no `None` (the core's `matching::Level` has one for pairs below
//!   `possible`, which never reach the app); `PossibleDuplicate`, `RegistryHint` and
//!   `RegistryCandidate` add the sentence for the screen, computed at the call;
//! - a verification is flattened into a status and a reason, a QR matrix into bytes.

use std::time::{Duration, SystemTime};

use birthright_core as core;
pub use birthright_core::{
    credential::CredentialKind,
    device::Counts,
    record::{
        Caregiver, Child, Consent, CustomFields, DatePrecision, Informant, Parent, PlaceKind,
        PlaceOfBirth, RegistrationForm, Sex,
    },
    store::RecordStatus,
    sync::{
        AwaitingWitnesses, HttpRequest, HttpResponse, Method, RejectedRecord, SyncCounts,
        SyncReport,
    },
    validate::{FieldCode, FieldError},
};

/// The platform time of a Unix time in seconds (`java.time.Instant`, Swift `Date`); a time the
/// platform cannot represent becomes the epoch (never a panic).
pub(crate) fn system_time(unix: i64) -> SystemTime {
    let offset = Duration::from_secs(unix.unsigned_abs());
    if unix >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    }
    .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A record as listed.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordSummary {
    /// Record id (UUID).
    pub id: String,
    /// Capture time, as the device's clock had it.
    pub captured_at: SystemTime,
    /// Status.
    pub status: RecordStatus,
    /// Child's name.
    pub child_name: String,
    /// Child's date of birth.
    pub date_of_birth: String,
    /// Mother's name.
    pub mother_name: String,
    /// The record this corrects.
    pub supersedes: Option<String>,
    /// The record that corrects this one.
    pub superseded_by: Option<String>,
    /// Rejection code.
    pub reject_code: Option<String>,
    /// Rejection reason for the worker.
    pub reject_message: Option<String>,
    /// Ledger index once acknowledged.
    pub leaf_index: Option<u64>,
    /// When the registry decided on it (its clock), once a registrar's decision reached the
    /// device.
    pub decided_at: Option<SystemTime>,
}

/// A registration just captured, with the records on the device that may be the same child
/// (the app shows them; the record is stored either way).
#[derive(Debug, Clone, uniffi::Record)]
pub struct Captured {
    /// The new record.
    pub summary: RecordSummary,
    /// Records on this device that may be the same child, best first.
    pub possible_duplicates: Vec<PossibleDuplicate>,
    /// From the registry's latest answers: this device's records it holds for review that
    /// concern this child, with the registry's records they may duplicate.
    pub registry_hints: Vec<RegistryHint>,
}

/// One of this device's records the registry holds for review as a possible duplicate.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RegistryHint {
    /// The held record (UUID).
    pub held_record_id: String,
    /// The registry's records it may duplicate, best first.
    pub candidates: Vec<RegistryCandidate>,
}

/// A registry record a held record may duplicate.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RegistryCandidate {
    /// Likely or possible.
    pub level: DuplicateLevel,
    /// Matching score (points).
    pub score: i32,
    /// Its child's name.
    pub child_name: String,
    /// Its child's date of birth, as entered.
    pub date_of_birth: String,
    /// When it was captured.
    pub captured_at: SystemTime,
    /// Why, in plain language.
    pub reasons: Vec<String>,
    /// "this child may already be registered (Олена Коваленко, 2026-03-14, captured 2 days
    /// ago)".
    pub message: String,
}

/// How strongly two records look like one child registered twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DuplicateLevel {
    /// Probably the same child.
    Likely,
    /// Worth a look.
    Possible,
}

/// A record on the device that may be the same child as the one just captured.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PossibleDuplicate {
    /// The earlier record's id (UUID).
    pub id: String,
    /// Its child's name.
    pub child_name: String,
    /// Its child's date of birth, as entered.
    pub date_of_birth: String,
    /// When it was captured.
    pub captured_at: SystemTime,
    /// Its status (`Registered`, or `Acknowledged`: declared to the registry).
    pub status: RecordStatus,
    /// Likely or possible.
    pub level: DuplicateLevel,
    /// Matching score (points, docs/MATCHING.md).
    pub score: i32,
    /// Why, in plain language.
    pub reasons: Vec<String>,
    /// The sentence to show: "this child may already be registered (Олена Коваленко,
    /// 2026-03-14, captured 2 days ago)".
    pub message: String,
}

/// A record in full.
#[derive(Debug, Clone, uniffi::Record)]
pub struct StoredRecord {
    /// Status and display fields.
    pub summary: RecordSummary,
    /// The registration as captured (normalised).
    pub input: RegistrationForm,
    /// Worker who captured it.
    pub worker_id: String,
    /// The signed record (COSE_Sign1).
    pub signed_bytes: Vec<u8>,
}

/// What to list.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<RecordStatus>,
    /// Child or mother name contains this (case-insensitive).
    pub search: Option<String>,
    /// Leave out corrected records.
    pub current_only: bool,
    /// At most this many.
    pub limit: Option<u32>,
}

/// The device's public identity.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DeviceIdentity {
    /// Key id, 16 hex digits.
    pub key_id: String,
    /// Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Worker id.
    pub worker_id: String,
}

/// The outcome of enrolment.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Enrolment {
    /// Worker the registry bound the device to.
    pub worker_id: String,
    /// Region.
    pub region: String,
    /// Certificate expiry.
    pub valid_until: SystemTime,
    /// Registry origin.
    pub registry_origin: String,
}

/// Tuning of a sync; every field has a default suited to 2G (`SyncOptions()` in Kotlin and
/// Swift), so an app names only what it changes: `SyncOptions(maxAttempts = 2u)`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncOptions {
    /// Most bytes of records per batch (default 32768).
    #[uniffi(default = 32768)]
    pub max_batch_bytes: u32,
    /// Most records per batch (default 100).
    #[uniffi(default = 100)]
    pub max_batch_records: u32,
    /// Attempts of one request before giving up for now (default 6).
    #[uniffi(default = 6)]
    pub max_attempts: u32,
    /// First back-off, milliseconds (default 500).
    #[uniffi(default = 500)]
    pub initial_backoff_ms: u64,
    /// Longest back-off, milliseconds (default 60000).
    #[uniffi(default = 60000)]
    pub max_backoff_ms: u64,
    /// When another sync of this device is running: wait for it (`true`) or fail at once with
    /// `SyncInProgress` (`false`, the default).
    #[uniffi(default = false)]
    pub wait_for_other_sync: bool,
}

impl From<SyncOptions> for core::sync::SyncConfig {
    fn from(o: SyncOptions) -> Self {
        core::sync::SyncConfig {
            max_batch_bytes: o.max_batch_bytes as usize,
            max_batch_records: o.max_batch_records.max(1) as usize,
            max_attempts: o.max_attempts.max(1),
            initial_backoff: std::time::Duration::from_millis(o.initial_backoff_ms),
            max_backoff: std::time::Duration::from_millis(o.max_backoff_ms),
            wait_for_other_sync: o.wait_for_other_sync,
            cancel: None,
            rng_seed: None,
        }
    }
}

/// A caregiver credential.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Credential {
    /// Provisional or registered.
    pub kind: CredentialKind,
    /// The QR text (`BR1:…`); render it in alphanumeric mode at ECC M, or use `svg`.
    pub text: String,
    /// An SVG of the QR code.
    pub svg: String,
    /// QR version.
    pub qr_version: u8,
}

/// The modules of a credential's QR code, for drawing it natively (a Compose `Canvas`, a
/// SwiftUI `Canvas`), as no app renders SVG out of the box. Draw `size` x `size` squares, dark
/// where `modules[y * size + x]` is 1, on a light square `quiet_zone` modules larger on every
/// side; keep the squares the same size and whole pixels (no smoothing).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrMatrix {
    /// Modules a side, without the quiet zone (17 + 4 x the QR version).
    pub size: u32,
    /// Light modules to leave around the code on every side (4, as ISO/IEC 18004 asks).
    pub quiet_zone: u32,
    /// `size * size` bytes, row by row from the top left: 1 dark, 0 light.
    pub modules: Vec<u8>,
}

impl From<core::credential::qr::QrMatrix> for QrMatrix {
    fn from(m: core::credential::qr::QrMatrix) -> Self {
        QrMatrix {
            size: m.size as u32,
            quiet_zone: core::credential::qr::QUIET_ZONE as u32,
            modules: m.modules.into_iter().map(u8::from).collect(),
        }
    }
}

/// A caregiver named on a credential.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CaregiverClaim {
    /// Full name.
    pub name: String,
    /// Relationship.
    pub relationship: String,
}

/// What a verified credential says.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CredentialClaims {
    /// Record id.
    pub record_id: String,
    /// Issuing registry's origin.
    pub issuer: String,
    /// Issue time, as its signer's clock had it.
    pub issued_at: SystemTime,
    /// Child's given names.
    pub given_names: String,
    /// Child's family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: String,
    /// Sex.
    pub sex: Sex,
    /// Area of birth.
    pub admin_area: String,
    /// Locality of birth.
    pub locality: String,
    /// Caregivers.
    pub caregivers: Vec<CaregiverClaim>,
    /// Ledger index (registered).
    pub leaf_index: Option<u64>,
}

/// The verdict on a credential.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum VerificationStatus {
    /// Registered and signed by the registry.
    Valid,
    /// Provisional, from a device the registry certified.
    ValidProvisional,
    /// Issued by a revoked device, or a registered credential the registry revoked.
    Revoked,
    /// A registered credential replaced by a corrected one: genuine but out of date.
    Superseded,
    /// A provisional credential whose device certificate has expired.
    Expired,
    /// Not acceptable (forged, altered, unknown signer).
    Invalid,
    /// No credential could be read from the image: scan again (says nothing about the
    /// credential).
    Unreadable,
}

/// A credential verification.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Verification {
    /// The verdict.
    pub status: VerificationStatus,
    /// Why it is revoked or invalid.
    pub reason: Option<String>,
    /// The claims, when the signature checked out.
    pub claims: Option<CredentialClaims>,
    /// Signer key id.
    pub signer: Option<String>,
    /// Age of the revocation list used, seconds.
    pub revocation_list_age_secs: Option<i64>,
    /// Age of the status list used, seconds (None: no status list was held).
    pub status_list_age_secs: Option<i64>,
    /// One line in plain language for the officer (with the child's age at the time of
    /// verification), e.g. `VALID: registered birth of …`.
    pub headline: String,
}

impl From<core::device::RecordSummary> for RecordSummary {
    fn from(s: core::device::RecordSummary) -> Self {
        RecordSummary {
            id: s.id.to_string(),
            captured_at: system_time(s.captured_at),
            status: s.status,
            child_name: s.child_name,
            date_of_birth: s.date_of_birth,
            mother_name: s.mother_name,
            supersedes: s.supersedes.map(|u| u.to_string()),
            superseded_by: s.superseded_by.map(|u| u.to_string()),
            reject_code: s.reject_code,
            reject_message: s.reject_message,
            leaf_index: s.leaf_index,
            decided_at: s.decided_at.map(system_time),
        }
    }
}

impl From<core::device::Captured> for Captured {
    fn from(c: core::device::Captured) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Captured {
            summary: c.summary.into(),
            possible_duplicates: c
                .possible_duplicates
                .into_iter()
                .map(|d| PossibleDuplicate {
                    message: d.sentence(now),
                    id: d.id.to_string(),
                    child_name: d.child_name,
                    date_of_birth: d.date_of_birth,
                    captured_at: system_time(d.captured_at),
                    status: d.status,
                    level: if d.level == core::matching::Level::Likely {
                        DuplicateLevel::Likely
                    } else {
                        DuplicateLevel::Possible
                    },
                    score: d.score,
                    reasons: d.reasons,
                })
                .collect(),
            registry_hints: c
                .registry_hints
                .into_iter()
                .map(|h| {
                    let sentences = h.sentences(now);
                    RegistryHint {
                        held_record_id: h.record_id.to_string(),
                        candidates: h
                            .held
                            .candidates
                            .into_iter()
                            .zip(sentences)
                            .map(|(c, message)| RegistryCandidate {
                                level: if c.level == "likely" {
                                    DuplicateLevel::Likely
                                } else {
                                    DuplicateLevel::Possible
                                },
                                score: c.score,
                                child_name: c.child_name,
                                date_of_birth: c.date_of_birth,
                                captured_at: system_time(c.captured_at),
                                reasons: c.reasons,
                                message,
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

impl From<core::device::DeviceIdentity> for DeviceIdentity {
    fn from(i: core::device::DeviceIdentity) -> Self {
        DeviceIdentity {
            key_id: i.key_id.to_hex(),
            public_key: i.public_key.to_vec(),
            worker_id: i.worker_id,
        }
    }
}

impl Verification {
    /// The FFI form of a core verification made at `now` (for the headline's age).
    pub(crate) fn at(v: core::credential::Verification, now: i64) -> Self {
        use core::credential::Verdict;
        let headline = v.headline(now);
        let (status, reason) = match v.verdict {
            Verdict::Valid => (VerificationStatus::Valid, None),
            Verdict::ValidProvisional => (VerificationStatus::ValidProvisional, None),
            Verdict::Revoked(r) => (VerificationStatus::Revoked, Some(r)),
            Verdict::Superseded(r) => (VerificationStatus::Superseded, Some(r)),
            Verdict::Expired(r) => (VerificationStatus::Expired, Some(r)),
            Verdict::Invalid(r) => (VerificationStatus::Invalid, Some(r)),
            Verdict::Unreadable(r) => (VerificationStatus::Unreadable, Some(r)),
        };
        Verification {
            headline,
            status_list_age_secs: v.status_list_age_secs,
            status,
            reason,
            claims: v.registration.map(|r| CredentialClaims {
                record_id: r.record_id.to_string(),
                issuer: r.issuer,
                issued_at: system_time(r.issued_at),
                given_names: r.given_names,
                family_name: r.family_name,
                date_of_birth: r.date_of_birth,
                sex: match r.sex.as_str() {
                    "female" => Sex::Female,
                    "male" => Sex::Male,
                    _ => Sex::Unknown,
                },
                admin_area: r.admin_area,
                locality: r.locality,
                caregivers: r
                    .caregivers
                    .into_iter()
                    .map(|c| CaregiverClaim {
                        name: c.name,
                        relationship: c.relationship,
                    })
                    .collect(),
                leaf_index: r.leaf_index,
            }),
            signer: v.signer,
            revocation_list_age_secs: v.revocation_list_age_secs,
        }
    }
}
