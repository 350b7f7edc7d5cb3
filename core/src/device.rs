//! The device facade the apps (through the bindings) and the CLI use: open a store with the
//! host's key, initialise an identity, capture and correct registrations, list and search them.
//!
//! Every method is blocking (SQLite, signing): call it off the UI thread. A [`Device`] is
//! `Send + Sync`; calls from several threads are serialised on the store.

use std::{
    path::Path,
    sync::{Arc, Mutex, RwLock},
};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    codec,
    keys::{Ed25519Key, KeyId, RngError},
    matching::{self, Level, Prepared, Profile, blocking::Index},
    record::{Record, RegistrationForm, SCHEMA_VERSION},
    signed::{SignedRecord, SignedRecordError},
    store::{RecordRow, RecordStatus, StorageKey, Store, StoreError},
    trust::{DeviceCertificate, TrustBundle},
    validate::{self, ValidationErrors},
    wire,
};

/// Meta key of the sealed Ed25519 secret of this device.
const META_DEVICE_SECRET: &str = "device_secret";
/// Meta key of the worker id.
const META_WORKER_ID: &str = "worker_id";

/// Meta key of the pinned trust bundle (JSON).
pub const META_TRUST_BUNDLE: &str = "trust_bundle";
/// Meta key of this device's certificate (COSE_Sign1).
pub const META_CERTIFICATE: &str = "device_certificate";
/// Meta key of the cached revocation list (COSE_Sign1).
pub const META_REVOCATIONS: &str = "revocations";
/// Meta key of when the revocation list was fetched (Unix seconds, decimal text).
pub const META_REVOCATIONS_FETCHED_AT: &str = "revocations_fetched_at";

/// Meta key of the cached status list of registered credentials (Status List Token,
/// COSE_Sign1).
pub const META_STATUS_LIST: &str = "status_list";
/// Meta key of when the status list was fetched (Unix seconds, decimal text).
pub const META_STATUS_LIST_FETCHED_AT: &str = "status_list_fetched_at";

/// Meta key of when this device was revoked (Unix seconds, decimal text), once a verified
/// revocation list named it.
pub const META_REVOKED_AT: &str = "revoked_at";

/// Meta key of the registry base URL the device enrolled with.
pub const META_REGISTRY_URL: &str = "registry_url";

/// Longest worker id accepted.
pub const MAX_WORKER_ID_LEN: usize = 64;

/// What can go wrong on the device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The enrolment has problems; every one is listed with its field path.
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    /// The JSON form could not be read.
    #[error("the registration form cannot be read: {0}")]
    InvalidJson(#[from] crate::record::FormError),
    /// The storage key does not open this device's store.
    #[error("wrong storage key: this device store was created with a different key")]
    WrongStorageKey,
    /// The device has no identity yet.
    #[error("this device is not initialised: run device init first")]
    NotInitialised,
    /// The device already has an identity.
    #[error("this device is already initialised (device key {0})")]
    AlreadyInitialised(KeyId),
    /// The worker id is empty, too long or has characters other than letters, digits, `.`, `_`, `-`.
    #[error("worker id must be 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidWorkerId,
    /// No record with this id on this device.
    #[error("no record {0} on this device")]
    NotFound(Uuid),
    /// The record was already corrected: correct the newest version instead.
    #[error("record {id} was already corrected by {by}: correct that record instead")]
    AlreadySuperseded {
        /// The record asked for.
        id: Uuid,
        /// Its correction.
        by: Uuid,
    },
    /// The device has not been enrolled with a registry yet.
    #[error("this device is not enrolled with a registry: run device enrol first")]
    NotEnrolled,
    /// The registry revoked this device: it captures nothing more and issues no provisional
    /// credential; what it captured stays listed and exportable for the supervisor.
    #[error(
        "this device has been revoked by the registry: it can no longer capture or issue \
         credentials; the records on it can still be listed and exported for your supervisor"
    )]
    Revoked,
    /// A credential could not be issued or read.
    #[error("credential: {0}")]
    Credential(String),
    /// The registry's enrolment answer does not check out.
    #[error("enrolment refused: {0}")]
    Enrolment(String),
    /// The stored data could not be read or written.
    #[error(transparent)]
    Store(StoreError),
    /// A stored record failed to decode: the store is damaged.
    #[error("a stored record is damaged: {0}")]
    Damaged(#[from] SignedRecordError),
    /// No randomness from the OS.
    #[error(transparent)]
    Rng(#[from] RngError),
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongStorageKey => DeviceError::WrongStorageKey,
            other => DeviceError::Store(other),
        }
    }
}

impl From<rusqlite::Error> for DeviceError {
    fn from(e: rusqlite::Error) -> Self {
        DeviceError::Store(StoreError::Sqlite(e))
    }
}

/// The public identity of this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Key id of the device's signing key.
    pub key_id: KeyId,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// The field worker this device captures for.
    pub worker_id: String,
}

/// A record as shown in lists: no more personal data than a worker needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    /// Record id.
    pub id: Uuid,
    /// Capture time, Unix seconds (UTC).
    pub captured_at: i64,
    /// Where the record is in its life cycle.
    #[serde(serialize_with = "status_str")]
    pub status: RecordStatus,
    /// The child's name for display.
    pub child_name: String,
    /// The child's date of birth, as entered (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`).
    pub date_of_birth: String,
    /// The mother's name for display.
    pub mother_name: String,
    /// The record this one corrects.
    pub supersedes: Option<Uuid>,
    /// The record that corrects this one (this one is then out of date).
    pub superseded_by: Option<Uuid>,
    /// Why the registry refused the record (machine-readable).
    pub reject_code: Option<String>,
    /// Why the registry refused the record (for the worker).
    pub reject_message: Option<String>,
    /// Position on the registry ledger, once acknowledged.
    pub leaf_index: Option<u64>,
    /// When the registry decided on it (Unix seconds, the registry's clock), once a
    /// registrar's decision reached the device.
    pub decided_at: Option<i64>,
}

fn status_str<S: serde::Serializer>(status: &RecordStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// A full record with its signed form.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Status and display fields.
    pub summary: RecordSummary,
    /// The signed record.
    pub signed: SignedRecord,
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only records in this status.
    pub status: Option<RecordStatus>,
    /// Only records whose child or mother name contains this text (case-insensitive).
    pub search: Option<String>,
    /// Leave out records that have been corrected by a newer one.
    pub current_only: bool,
    /// At most this many, oldest first.
    pub limit: Option<usize>,
}

/// Number of records in each status.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Waiting to be sent.
    pub pending: u64,
    /// Sent, answer not yet verified.
    pub in_flight: u64,
    /// On the ledger with a verified receipt, declared (waiting for the registry's decision).
    pub acknowledged: u64,
    /// Refused by the registry (at sync, or later by a registrar).
    pub rejected: u64,
    /// Registered, with a registered credential.
    pub registered: u64,
}

impl Counts {
    /// All records.
    pub fn total(&self) -> u64 {
        self.pending + self.in_flight + self.acknowledged + self.rejected + self.registered
    }
}

/// Sealed per-record summary used for lists, name search and duplicate checks, so none of
/// them decrypts and decodes whole records.
#[derive(Serialize, Deserialize)]
struct SealedSummary {
    child_name: String,
    date_of_birth: String,
    mother_name: String,
    /// What duplicate matching reads (absent from summaries written before it existed: those
    /// records are matched from their full record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<Profile>,
}

/// Meta key of the registry's hints: this device's records the registry holds for review as
/// possible duplicates, with their candidates, from its latest answers (sealed CBOR).
pub const META_REGISTRY_HINTS: &str = "registry_hints";

/// Most hints kept (the oldest are dropped first).
const MAX_REGISTRY_HINTS: usize = 200;

/// One of this device's records the registry holds for review, and the registry's records it
/// may duplicate (from the latest answer about it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryHint {
    /// This device's record.
    pub record_id: Uuid,
    /// What the registry said.
    pub held: wire::Held,
}

impl RegistryHint {
    /// The sentences an app shows, one per candidate, with `now` the current time.
    pub fn sentences(&self, now: OffsetDateTime) -> Vec<String> {
        self.held
            .candidates
            .iter()
            .map(|c| {
                format!(
                    "this child may already be registered ({}, {}, captured {})",
                    c.child_name,
                    c.date_of_birth,
                    ago(now.unix_timestamp() - c.captured_at)
                )
            })
            .collect()
    }
}

/// Keeps the hints of an applied batch answer (inside its transaction): a record held gets
/// its new hint, a record acknowledged without one loses any it had.
pub(crate) fn keep_registry_hints(
    store: &Store,
    tx: &rusqlite::Transaction<'_>,
    settled: &[crate::sync::Settled],
) -> Result<(), StoreError> {
    use crate::sync::Settled;
    let answered: Vec<(Uuid, Option<&wire::Held>)> = settled
        .iter()
        .filter_map(|s| match s {
            Settled::Acknowledged { id, held, .. } => Some((*id, held.as_ref())),
            Settled::Rejected { .. } => None,
        })
        .collect();
    let mut hints = read_hints(store, tx)?;
    if hints.is_empty() && answered.iter().all(|(_, h)| h.is_none()) {
        return Ok(());
    }
    hints.retain(|h| !answered.iter().any(|(id, _)| *id == h.record_id));
    for (id, held) in answered {
        if let Some(held) = held {
            hints.push(RegistryHint {
                record_id: id,
                held: held.clone(),
            });
        }
    }
    let excess = hints.len().saturating_sub(MAX_REGISTRY_HINTS);
    hints.drain(..excess);
    let bytes = zeroize::Zeroizing::new(
        codec::to_vec(&hints).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    );
    store.set_meta(tx, META_REGISTRY_HINTS, &bytes)
}

fn read_hints(store: &Store, conn: &rusqlite::Connection) -> Result<Vec<RegistryHint>, StoreError> {
    match store.meta(conn, META_REGISTRY_HINTS)? {
        Some(bytes) => {
            codec::from_slice(&bytes, 4 * 1024 * 1024).map_err(|_| StoreError::Tampered {
                what: "registry hints".into(),
            })
        }
        None => Ok(Vec::new()),
    }
}

/// A registration just captured, with the records already on this device that may be the
/// same child (docs/MATCHING.md). Capture never waits for or depends on them: the record is
/// stored either way, and the app shows them for the worker to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Captured {
    /// The new record.
    #[serde(flatten)]
    pub summary: RecordSummary,
    /// Records on this device that may be the same child, best first.
    pub possible_duplicates: Vec<PossibleDuplicate>,
    /// From the registry's latest answers: held records of this device that are among the
    /// possible duplicates, or whose candidates' name and date of birth match this child.
    pub registry_hints: Vec<RegistryHint>,
}

/// A record on the device that may be the same child as one just captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PossibleDuplicate {
    /// The earlier record's id.
    pub id: Uuid,
    /// Its child's name.
    pub child_name: String,
    /// Its child's date of birth, as entered.
    pub date_of_birth: String,
    /// When it was captured (Unix seconds, UTC).
    pub captured_at: i64,
    /// Where it is in its life cycle (`registered`, or `acknowledged`: declared to the
    /// registry).
    #[serde(serialize_with = "status_str")]
    pub status: RecordStatus,
    /// `likely` or `possible`.
    pub level: Level,
    /// The matching score (points, docs/MATCHING.md §6).
    pub score: i32,
    /// Why, in plain language.
    pub reasons: Vec<String>,
}

impl PossibleDuplicate {
    /// The sentence an app shows: `this child may already be registered (Олена Коваленко,
    /// 2026-03-14, captured 2 days ago)`, with `now` the current time.
    pub fn sentence(&self, now: OffsetDateTime) -> String {
        let ago = ago(now.unix_timestamp() - self.captured_at);
        let what = if matches!(
            self.status,
            RecordStatus::Acknowledged | RecordStatus::Registered
        ) {
            "this child may already be registered"
        } else {
            "this child may already have been captured"
        };
        format!(
            "{what} ({}, {}, captured {ago})",
            self.child_name, self.date_of_birth
        )
    }
}

/// `just now`, `5 minutes ago`, `3 hours ago`, `1 day ago`, `2 days ago`.
fn ago(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds.max(0) {
        s if s < 60 => "just now".into(),
        s if s < 3_600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3_600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// The device's current records (those not corrected since) as a blocking index, kept in
/// memory while the device is open and never on disk: built once by decrypting every summary,
/// then brought up to date with the records captured since (by capture sequence), so a check
/// at capture reads only its candidates' rows. A correction captured since (by any handle on
/// the store) rebuilds it, so a corrected record leaves it.
#[derive(Default)]
struct Known {
    index: Index,
    /// The record at each position of the index.
    ids: Vec<Uuid>,
    /// The largest capture sequence in the index.
    max_seq: i64,
}

/// Lower-cased, NFC form used for name search.
fn search_form(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect::<String>().to_lowercase()
}

struct Identity {
    key: Ed25519Key,
    worker_id: String,
}

/// A field device: its encrypted store and identity.
pub struct Device {
    store: Store,
    identity: RwLock<Option<Arc<Identity>>>,
    /// The duplicate check's index ([`Known`]), built at its first use.
    known: Mutex<Option<Known>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Device(..)")
    }
}

/// Whether `id` is a valid worker id: 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
pub fn valid_worker_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_WORKER_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Device {
    /// Opens the existing device store at `path` with the host's storage key. A missing,
    /// empty or damaged store is an error, never replaced by a new one (ADR 0001): use
    /// [`Self::create`] for a first launch.
    pub fn open(path: &Path, storage_key: StorageKey) -> Result<Device, DeviceError> {
        Self::from_store(Store::open(path, storage_key)?)
    }

    /// Creates a new device store at `path`, which must not exist yet.
    pub fn create(path: &Path, storage_key: StorageKey) -> Result<Device, DeviceError> {
        Self::from_store(Store::create(path, storage_key)?)
    }

    /// A device on an in-memory store (tests, benchmarks).
    pub fn open_in_memory(storage_key: StorageKey) -> Result<Device, DeviceError> {
        Self::from_store(Store::open_in_memory(storage_key)?)
    }

    fn from_store(store: Store) -> Result<Device, DeviceError> {
        let identity = store.read(|conn| -> Result<_, DeviceError> {
            let Some(secret) = store.meta(conn, META_DEVICE_SECRET)? else {
                return Ok(None);
            };
            let seed =
                <[u8; 32]>::try_from(secret.as_slice()).map_err(|_| StoreError::Tampered {
                    what: "device key".into(),
                })?;
            let worker_id =
                store
                    .meta_text(conn, META_WORKER_ID)?
                    .ok_or_else(|| StoreError::Tampered {
                        what: "worker id (missing)".into(),
                    })?;
            Ok(Some(Arc::new(Identity {
                key: Ed25519Key::from_secret(&seed),
                worker_id,
            })))
        })?;
        let device = Device {
            store,
            identity: RwLock::new(identity),
            known: Mutex::new(None),
        };
        device.check_enrolment()?;
        Ok(device)
    }

    /// Checks what the device pinned at enrolment: the trust bundle is internally consistent
    /// and the stored certificate verifies under it, for this device's key. Run at every open
    /// and before every sync; a failure is [`StoreError::Tampered`].
    pub fn check_enrolment(&self) -> Result<(), DeviceError> {
        let tampered = |what: &str| {
            DeviceError::Store(StoreError::Tampered {
                what: what.to_string(),
            })
        };
        let bundle = self.trust_bundle()?;
        let certificate = self.certificate()?;
        match (bundle, certificate) {
            (None, None) => Ok(()),
            (Some(bundle), Some(certificate)) => {
                let certificate =
                    DeviceCertificate::verify(&certificate, &bundle).map_err(|_| {
                        tampered(
                            "device certificate (it does not verify under the pinned registry)",
                        )
                    })?;
                let identity = self.loaded_identity()?;
                if certificate.device_public_key.as_slice() != identity.key.public_bytes() {
                    return Err(tampered(
                        "device certificate (it is for another device key)",
                    ));
                }
                Ok(())
            }
            _ => Err(tampered(
                "enrolment (the trust bundle or the certificate is missing)",
            )),
        }
    }

    /// The underlying store, for the other device modules (sync, credentials).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates this device's identity: a new Ed25519 key from the OS RNG, sealed in the store.
    pub fn init(&self, worker_id: &str) -> Result<DeviceIdentity, DeviceError> {
        if !valid_worker_id(worker_id) {
            return Err(DeviceError::InvalidWorkerId);
        }
        let mut slot = self.identity.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = slot.as_ref() {
            return Err(DeviceError::AlreadyInitialised(existing.key.key_id()));
        }
        let key = Ed25519Key::generate()?;
        self.store.write(|tx| -> Result<(), DeviceError> {
            self.store
                .set_meta(tx, META_DEVICE_SECRET, key.secret_bytes().as_slice())?;
            self.store
                .set_meta(tx, META_WORKER_ID, worker_id.as_bytes())?;
            Ok(())
        })?;
        let identity = Arc::new(Identity {
            key,
            worker_id: worker_id.to_string(),
        });
        *slot = Some(identity.clone());
        Ok(describe(&identity))
    }

    /// Changes the worker id (e.g. to the one bound by the registry at enrolment).
    pub fn set_worker_id(&self, worker_id: &str) -> Result<(), DeviceError> {
        if !valid_worker_id(worker_id) {
            return Err(DeviceError::InvalidWorkerId);
        }
        let mut slot = self.identity.write().unwrap_or_else(|e| e.into_inner());
        let current = slot.as_ref().ok_or(DeviceError::NotInitialised)?;
        self.store.write(|tx| {
            self.store
                .set_meta(tx, META_WORKER_ID, worker_id.as_bytes())
        })?;
        *slot = Some(Arc::new(Identity {
            key: Ed25519Key::from_secret(&current.key.secret_bytes()),
            worker_id: worker_id.to_string(),
        }));
        Ok(())
    }

    fn loaded_identity(&self) -> Result<Arc<Identity>, DeviceError> {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(DeviceError::NotInitialised)
    }

    /// This device's public identity.
    pub fn identity(&self) -> Result<DeviceIdentity, DeviceError> {
        let identity = self.loaded_identity()?;
        Ok(describe(&identity))
    }

    /// Signs `message` with the device key (for enrolment proofs and credentials).
    pub fn sign_with_device_key(&self, message: &[u8]) -> Result<[u8; 64], DeviceError> {
        Ok(self.loaded_identity()?.key.sign(message))
    }

    /// Runs `f` with the device's signing key.
    pub fn with_device_key<T>(&self, f: impl FnOnce(&Ed25519Key) -> T) -> Result<T, DeviceError> {
        Ok(f(&self.loaded_identity()?.key))
    }

    /// Validates, signs, encrypts and stores a new registration. Once this returns, the record
    /// is durable (it survives a killed process or a power cut).
    ///
    /// Also returns the records already on the device that may be the same child (matched
    /// over the decrypted summaries in memory; no index of names is written anywhere).
    pub fn capture(&self, input: &RegistrationForm) -> Result<Captured, DeviceError> {
        self.capture_checked(input, OffsetDateTime::now_utc(), None)
    }

    /// Parses the JSON form and captures it.
    pub fn capture_json(&self, json: &str) -> Result<Captured, DeviceError> {
        let input = RegistrationForm::from_json(json)?;
        self.capture(&input)
    }

    /// Records a correction of record `id`: a new signed record that supersedes it. The old
    /// record is kept unchanged (nothing is edited in place or deleted). The possible
    /// duplicates leave out the corrected record.
    pub fn correct(&self, id: &Uuid, input: &RegistrationForm) -> Result<Captured, DeviceError> {
        self.capture_checked(input, OffsetDateTime::now_utc(), Some(*id))
    }

    /// [`Self::capture_at`] with the duplicate check of [`Self::capture`].
    pub fn capture_checked(
        &self,
        input: &RegistrationForm,
        captured_at: OffsetDateTime,
        supersedes: Option<Uuid>,
    ) -> Result<Captured, DeviceError> {
        let (row, summary) = self.prepare(input, captured_at, supersedes)?;
        let prepared = Prepared::from_form(input);
        self.store.write(|tx| -> Result<Captured, DeviceError> {
            let possible_duplicates = self.with_known(tx, |known| {
                self.duplicates(tx, known, &prepared, supersedes)
            })?;
            let registry_hints = hints_for(
                &read_hints(&self.store, tx)?,
                &prepared,
                &possible_duplicates,
            );
            let row = self.insert(tx, row)?;
            Ok(Captured {
                summary: summary_from(row, summary),
                possible_duplicates,
                registry_hints,
            })
        })
    }

    /// The registry's hints from its latest answers (records of this device it holds for
    /// review as possible duplicates).
    pub fn registry_hints(&self) -> Result<Vec<RegistryHint>, DeviceError> {
        Ok(self.store.read(|conn| read_hints(&self.store, conn))?)
    }

    /// The records on the device that may be the same child as `input` (what capture would
    /// report), without capturing it.
    pub fn possible_duplicates(
        &self,
        input: &RegistrationForm,
    ) -> Result<Vec<PossibleDuplicate>, DeviceError> {
        let prepared = Prepared::from_form(input);
        self.store.read(|conn| {
            self.with_known(conn, |known| self.duplicates(conn, known, &prepared, None))
        })
    }

    /// Runs `f` on the duplicate check's index ([`Known`]), first brought up to date with the
    /// store as `conn` sees it. An error (or a transaction that then fails to commit, see
    /// [`Self::forget_known`]) drops the index, so it never holds a record the store does not.
    fn with_known<T>(
        &self,
        conn: &rusqlite::Connection,
        f: impl FnOnce(&mut Known) -> Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        let mut held = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let mut known = match held.take() {
            Some(mut known) => {
                let new = self.store.records_after(conn, known.max_seq)?;
                if new.iter().any(|row| row.supersedes.is_some()) {
                    self.build_known(conn)?
                } else {
                    for row in new {
                        let profile = self.profile_of(&row)?;
                        known.add(&row, profile);
                    }
                    known
                }
            }
            None => self.build_known(conn)?,
        };
        let result = f(&mut known)?;
        *held = Some(known);
        Ok(result)
    }

    /// Drops the duplicate check's index (rebuilt at its next use).
    fn forget_known(&self) {
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Decrypts every current record's summary into a blocking index (docs/MATCHING.md §5).
    fn build_known(&self, conn: &rusqlite::Connection) -> Result<Known, DeviceError> {
        let mut known = Known::default();
        for row in self.store.records_after(conn, 0)? {
            known.max_seq = known.max_seq.max(row.seq);
            if row.superseded_by.is_some() {
                continue;
            }
            let profile = self.profile_of(&row)?;
            known.add(&row, profile);
        }
        Ok(known)
    }

    /// The matching profile of a stored record: from its summary, or (a summary written
    /// before duplicate detection) from the record itself.
    fn profile_of(&self, row: &RecordRow) -> Result<Prepared, DeviceError> {
        let profile = match self.sealed_summary(row)?.profile {
            Some(profile) => profile,
            None => Profile::from_form(&self.signed_record(row)?.record.enrolment),
        };
        Ok(Prepared::new(profile))
    }

    /// The records scoring `possible` or more against `record`, best first, as they are now
    /// in the store, leaving out `corrected` (the record a correction replaces).
    fn duplicates(
        &self,
        conn: &rusqlite::Connection,
        known: &Known,
        record: &Prepared,
        corrected: Option<Uuid>,
    ) -> Result<Vec<PossibleDuplicate>, DeviceError> {
        let mut out = Vec::new();
        for (at, m) in known.index.matches(record, None) {
            let Some(id) = known.ids.get(at).copied() else {
                continue;
            };
            if Some(id) == corrected {
                continue;
            }
            let row = self
                .store
                .record(conn, &id)?
                .ok_or_else(|| StoreError::Tampered {
                    what: format!("record {id} (deleted)"),
                })?;
            let summary = self.sealed_summary(&row)?;
            out.push(PossibleDuplicate {
                id,
                child_name: summary.child_name,
                date_of_birth: summary.date_of_birth,
                captured_at: row.captured_at,
                status: row.status,
                level: m.level,
                score: m.points,
                reasons: m.reasons,
            });
        }
        Ok(out)
    }

    /// Captures with an explicit capture time (tests, benchmarks and imports).
    pub fn capture_at(
        &self,
        input: &RegistrationForm,
        captured_at: OffsetDateTime,
        supersedes: Option<Uuid>,
    ) -> Result<RecordSummary, DeviceError> {
        let (row, summary) = self.prepare(input, captured_at, supersedes)?;
        let row = self.store.write(|tx| self.insert(tx, row))?;
        Ok(summary_from(row, summary))
    }

    /// Captures many registrations in one transaction (an import of a paper register, say):
    /// all are stored or, if any is invalid, none is. Every problem of every form is reported,
    /// with the form's position (from 0) in front of its path, e.g.
    /// `records[17].child.date_of_birth` ([`crate::validate::FieldError::batch_item`] splits
    /// it). All or nothing, so an import can be fixed and run again without duplicating the
    /// forms that were fine. The forms share one capture time and keep their order.
    pub fn capture_batch(
        &self,
        inputs: &[RegistrationForm],
        captured_at: OffsetDateTime,
    ) -> Result<Vec<Captured>, DeviceError> {
        let mut prepared = Vec::with_capacity(inputs.len());
        let mut problems = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            match self.prepare(input, captured_at, None) {
                Ok(p) => prepared.push(p),
                Err(DeviceError::Validation(errors)) => {
                    problems.extend(errors.0.into_iter().map(|mut e| {
                        e.path = format!("records[{i}].{}", e.path);
                        e
                    }));
                }
                Err(other) => return Err(other),
            }
        }
        if !problems.is_empty() {
            return Err(DeviceError::Validation(ValidationErrors(problems)));
        }
        let stored = self
            .store
            .write(|tx| -> Result<Vec<Captured>, DeviceError> {
                let hints = read_hints(&self.store, tx)?;
                // Each form is matched against the device's records and the forms before it.
                self.with_known(tx, |known| {
                    let mut out = Vec::with_capacity(prepared.len());
                    for ((row, summary), input) in prepared.into_iter().zip(inputs) {
                        let profile = Prepared::from_form(input);
                        let possible_duplicates = self.duplicates(tx, known, &profile, None)?;
                        let registry_hints = hints_for(&hints, &profile, &possible_duplicates);
                        let row = self.insert(tx, row)?;
                        known.add(&row, profile);
                        out.push(Captured {
                            summary: summary_from(row, summary),
                            possible_duplicates,
                            registry_hints,
                        });
                    }
                    Ok(out)
                })
            });
        if stored.is_err() {
            // The index may hold forms of the batch that the store then did not keep.
            self.forget_known();
        }
        stored
    }

    /// Validates, signs and seals one registration: the row to insert and its summary.
    fn prepare(
        &self,
        input: &RegistrationForm,
        captured_at: OffsetDateTime,
        supersedes: Option<Uuid>,
    ) -> Result<(RecordRow, SealedSummary), DeviceError> {
        let identity = self.loaded_identity()?;
        if self.revoked_at()?.is_some() {
            return Err(DeviceError::Revoked);
        }
        let enrolment = validate::validate(input, captured_at)?;
        let record = Record {
            schema_version: SCHEMA_VERSION,
            id: Uuid::now_v7(),
            captured_at: captured_at.unix_timestamp(),
            worker_id: identity.worker_id.clone(),
            device_kid: identity.key.key_id().0.to_vec(),
            supersedes,
            enrolment,
        };
        let signed = SignedRecord::sign(&record, &identity.key)?;
        let summary = SealedSummary {
            child_name: record.enrolment.child.display_name(),
            date_of_birth: record.enrolment.child.date_of_birth.clone(),
            mother_name: format!(
                "{} {}",
                record.enrolment.mother.given_names, record.enrolment.mother.family_name
            )
            .trim()
            .to_string(),
            profile: Some(Profile::from_form(&record.enrolment)),
        };
        let row_id = record.id.as_bytes().to_vec();
        let summary_bytes = zeroize::Zeroizing::new(
            codec::to_vec(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        let row = RecordRow::pending(
            record.id,
            record.captured_at,
            supersedes,
            self.store
                .seal("records", "sealed_record", &row_id, &signed.bytes)?,
            self.store
                .seal("records", "sealed_summary", &row_id, &summary_bytes)?,
        );
        Ok((row, summary))
    }

    /// Inserts a prepared row (marking the corrected record, if any) inside `tx`.
    fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        row: RecordRow,
    ) -> Result<RecordRow, DeviceError> {
        if let Some(old) = &row.supersedes {
            let existing = self
                .store
                .record(tx, old)?
                .ok_or(DeviceError::NotFound(*old))?;
            if let Some(by) = existing.superseded_by {
                return Err(DeviceError::AlreadySuperseded { id: *old, by });
            }
        }
        let seq = self.store.insert_record(tx, &row)?;
        if let Some(old) = &row.supersedes {
            self.store.set_superseded_by(tx, old, &row.id)?;
        }
        Ok(RecordRow { seq, ..row })
    }

    fn summary(&self, row: RecordRow) -> Result<RecordSummary, DeviceError> {
        let mut summary = self.sealed_summary(&row)?;
        summary.profile = None;
        Ok(summary_from(row, summary))
    }

    fn sealed_summary(&self, row: &RecordRow) -> Result<SealedSummary, DeviceError> {
        let plain = self.store.unseal(
            "records",
            "sealed_summary",
            row.id.as_bytes(),
            &row.sealed_summary,
        )?;
        let summary: SealedSummary =
            codec::from_slice(&plain, codec::MAX_RECORD_BYTES).map_err(|_| {
                StoreError::Tampered {
                    what: "record summary".into(),
                }
            })?;
        Ok(summary)
    }

    /// Decrypts and decodes the signed record in `row`.
    pub fn signed_record(&self, row: &RecordRow) -> Result<SignedRecord, DeviceError> {
        let plain = self.store.unseal(
            "records",
            "sealed_record",
            row.id.as_bytes(),
            &row.sealed_record,
        )?;
        Ok(SignedRecord::decode(&plain)?)
    }

    /// One record, in full.
    pub fn get(&self, id: &Uuid) -> Result<StoredRecord, DeviceError> {
        let row = self
            .store
            .read(|conn| self.store.record(conn, id))?
            .ok_or(DeviceError::NotFound(*id))?;
        let signed = self.signed_record(&row)?;
        Ok(StoredRecord {
            summary: self.summary(row)?,
            signed,
        })
    }

    /// Records matching `filter`, oldest first. Name search decrypts each candidate's summary
    /// on the device; names are never stored or indexed in plaintext.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<RecordSummary>, DeviceError> {
        let rows = self
            .store
            .read(|conn| self.store.records(conn, filter.status))?;
        let needle = filter
            .search
            .as_deref()
            .map(|s| search_form(s.trim()))
            .filter(|s| !s.is_empty());
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for row in rows {
            if out.len() >= limit {
                break;
            }
            if filter.current_only && row.superseded_by.is_some() {
                continue;
            }
            let summary = self.summary(row)?;
            if let Some(needle) = &needle {
                let hit = search_form(&summary.child_name).contains(needle.as_str())
                    || search_form(&summary.mother_name).contains(needle.as_str());
                if !hit {
                    continue;
                }
            }
            out.push(summary);
        }
        Ok(out)
    }

    /// Number of records in each status.
    pub fn counts(&self) -> Result<Counts, DeviceError> {
        let mut counts = Counts::default();
        for (status, n) in self.store.read(|conn| self.store.counts(conn))? {
            match status {
                RecordStatus::Pending => counts.pending = n,
                RecordStatus::InFlight => counts.in_flight = n,
                RecordStatus::Acknowledged => counts.acknowledged = n,
                RecordStatus::Rejected => counts.rejected = n,
                RecordStatus::Registered => counts.registered = n,
            }
        }
        Ok(counts)
    }
}

impl Device {
    /// The CBOR enrolment request for `token` (`POST /v1/enrol`) to the registry of `origin`:
    /// the token's id, the HMAC binding of the token to the origin and this device's key, and
    /// a signature by the device key. The token itself is not in it.
    pub fn enrolment_request(&self, token: &str, origin: &str) -> Result<Vec<u8>, DeviceError> {
        let identity = self.loaded_identity()?;
        let public = identity.key.public_bytes();
        let token_id = wire::enrol_token_id(token);
        let binding = wire::enrol_binding(&wire::enrol_token_key(token), origin, &public);
        let proof = identity
            .key
            .sign(&wire::enrol_proof_message(&token_id, &public));
        let request = wire::EnrolRequest {
            version: wire::WIRE_VERSION,
            token_id: serde_bytes::ByteBuf::from(token_id.to_vec()),
            device_public_key: serde_bytes::ByteBuf::from(public.to_vec()),
            binding: serde_bytes::ByteBuf::from(binding.to_vec()),
            proof: serde_bytes::ByteBuf::from(proof.to_vec()),
        };
        codec::to_vec(&request).map_err(|e| DeviceError::Enrolment(e.to_string()))
    }

    /// Refuses to enrol a device already enrolled with another registry: its records, receipts
    /// and checkpoints belong to that registry. The same registry again (a retried enrolment)
    /// is allowed.
    pub fn check_can_enrol_with(&self, bundle: &TrustBundle) -> Result<(), DeviceError> {
        match self.trust_bundle()? {
            Some(current) if &current != bundle => Err(DeviceError::Enrolment(format!(
                "this device is already enrolled with {}: a device moves to another registry \
                 only with a new device store",
                current.origin
            ))),
            _ => Ok(()),
        }
    }

    /// Checks the registry's enrolment answer against the `expected` bundle (fetched and
    /// checked against the pin before the token was used) and stores the certificate and
    /// the bundle.
    pub fn complete_enrolment(
        &self,
        response: &[u8],
        expected: &TrustBundle,
    ) -> Result<DeviceCertificate, DeviceError> {
        let response: wire::EnrolResponse = codec::from_slice(response, 1024 * 1024)
            .map_err(|e| DeviceError::Enrolment(format!("malformed answer: {e}")))?;
        let bundle = TrustBundle::from_json(response.trust_bundle.as_bytes())
            .map_err(|e| DeviceError::Enrolment(e.to_string()))?;
        if &bundle != expected {
            return Err(DeviceError::Enrolment(
                "the registry's trust bundle differs from the pinned one".into(),
            ));
        }
        self.check_can_enrol_with(&bundle)?;
        let certificate = DeviceCertificate::verify(&response.certificate, &bundle)
            .map_err(|e| DeviceError::Enrolment(e.to_string()))?;
        let identity = self.loaded_identity()?;
        if certificate.device_public_key.as_slice() != identity.key.public_bytes() {
            return Err(DeviceError::Enrolment(
                "the certificate is for another device key".into(),
            ));
        }
        self.store.write(|tx| -> Result<(), DeviceError> {
            self.store
                .set_meta(tx, META_TRUST_BUNDLE, bundle.to_json().as_bytes())?;
            self.store
                .set_meta(tx, META_CERTIFICATE, &response.certificate)?;
            Ok(())
        })?;
        if certificate.worker_id != identity.worker_id {
            self.set_worker_id(&certificate.worker_id)?;
        }
        Ok(certificate)
    }

    /// Remembers the registry's base URL (where the device enrolled; sync's default).
    pub fn set_registry_url(&self, url: &str) -> Result<(), DeviceError> {
        Ok(self
            .store
            .write(|tx| self.store.set_meta(tx, META_REGISTRY_URL, url.as_bytes()))?)
    }

    /// The registry's base URL, once enrolled.
    pub fn registry_url(&self) -> Result<Option<String>, DeviceError> {
        Ok(self
            .store
            .read(|conn| self.store.meta_text(conn, META_REGISTRY_URL))?)
    }

    /// The pinned trust bundle, once enrolled.
    pub fn trust_bundle(&self) -> Result<Option<TrustBundle>, DeviceError> {
        self.store
            .read(|conn| self.store.meta(conn, META_TRUST_BUNDLE))?
            .map(|json| {
                TrustBundle::from_json(&json).map_err(|_| {
                    DeviceError::Store(StoreError::Tampered {
                        what: "trust bundle".into(),
                    })
                })
            })
            .transpose()
    }

    /// This device's certificate (COSE_Sign1 bytes), once enrolled.
    pub fn certificate(&self) -> Result<Option<Vec<u8>>, DeviceError> {
        Ok(self
            .store
            .read(|conn| self.store.meta(conn, META_CERTIFICATE))?
            .map(|v| v.to_vec()))
    }

    /// The cached revocation list (COSE_Sign1 bytes) and when it was fetched (Unix seconds).
    pub fn revocations(&self) -> Result<Option<(Vec<u8>, i64)>, DeviceError> {
        self.store.read(|conn| -> Result<_, DeviceError> {
            let Some(list) = self.store.meta(conn, META_REVOCATIONS)? else {
                return Ok(None);
            };
            let at = self
                .store
                .meta_text(conn, META_REVOCATIONS_FETCHED_AT)?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Tampered {
                    what: "revocation list fetch time".into(),
                })?;
            Ok(Some((list.to_vec(), at)))
        })
    }

    /// The cached status list of registered credentials (a Status List Token, COSE_Sign1
    /// bytes) and when it was fetched (Unix seconds).
    pub fn status_list(&self) -> Result<Option<(Vec<u8>, i64)>, DeviceError> {
        self.store.read(|conn| -> Result<_, DeviceError> {
            let Some(list) = self.store.meta(conn, META_STATUS_LIST)? else {
                return Ok(None);
            };
            let at = self
                .store
                .meta_text(conn, META_STATUS_LIST_FETCHED_AT)?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Tampered {
                    what: "status list fetch time".into(),
                })?;
            Ok(Some((list.to_vec(), at)))
        })
    }

    /// When the registry revoked this device (Unix seconds), once a verified revocation list
    /// fetched at sync named it. A revoked device stays revoked.
    pub fn revoked_at(&self) -> Result<Option<i64>, DeviceError> {
        self.store
            .read(|conn| self.store.meta_text(conn, META_REVOKED_AT))?
            .map(|text| {
                text.parse().map_err(|_| {
                    DeviceError::Store(StoreError::Tampered {
                        what: "revocation time".into(),
                    })
                })
            })
            .transpose()
    }

    /// Remembers that the registry revoked this device at `at`.
    pub fn mark_revoked(&self, at: i64) -> Result<(), DeviceError> {
        if self.revoked_at()?.is_none() {
            self.store.write(|tx| {
                self.store
                    .set_meta(tx, META_REVOKED_AT, at.to_string().as_bytes())
            })?;
        }
        Ok(())
    }

    /// The registry-signed credential of record `id`, once the registry has issued it.
    pub fn registered_credential(&self, id: &Uuid) -> Result<Option<Vec<u8>>, DeviceError> {
        let sealed = self
            .store
            .read(|conn| self.store.sealed_credential(conn, id))?
            .ok_or(DeviceError::NotFound(*id))?;
        sealed
            .map(|sealed| {
                self.store
                    .unseal("records", "sealed_credential", id.as_bytes(), &sealed)
                    .map(|plain| plain.to_vec())
                    .map_err(DeviceError::from)
            })
            .transpose()
    }
}

fn describe(identity: &Identity) -> DeviceIdentity {
    DeviceIdentity {
        key_id: identity.key.key_id(),
        public_key: identity.key.public_bytes(),
        worker_id: identity.worker_id.clone(),
    }
}

/// The hints that concern a new capture: those of its possible duplicates, and those whose
/// candidate's child's name and date of birth match it (docs/MATCHING.md §8).
fn hints_for(
    hints: &[RegistryHint],
    record: &Prepared,
    duplicates: &[PossibleDuplicate],
) -> Vec<RegistryHint> {
    hints
        .iter()
        .filter(|h| {
            duplicates.iter().any(|d| d.id == h.record_id)
                || h.held.candidates.iter().any(|c| {
                    let (given, family) = c
                        .child_name
                        .rsplit_once(' ')
                        .unwrap_or((c.child_name.as_str(), ""));
                    let candidate = Prepared::new(Profile {
                        child_given: given.into(),
                        child_family: family.into(),
                        date_of_birth: c.date_of_birth.clone(),
                        ..Profile::default()
                    });
                    let child = Prepared::new(Profile {
                        child_given: record.profile.child_given.clone(),
                        child_family: record.profile.child_family.clone(),
                        date_of_birth: record.profile.date_of_birth.clone(),
                        ..Profile::default()
                    });
                    matching::score(&child, &candidate).level != Level::None
                })
        })
        .cloned()
        .collect()
}

impl Known {
    /// Adds stored record `row` with its matching profile.
    fn add(&mut self, row: &RecordRow, profile: Prepared) {
        self.index.add(profile);
        self.ids.push(row.id);
        self.max_seq = self.max_seq.max(row.seq);
    }
}

fn summary_from(row: RecordRow, summary: SealedSummary) -> RecordSummary {
    RecordSummary {
        id: row.id,
        captured_at: row.captured_at,
        status: row.status,
        child_name: summary.child_name,
        date_of_birth: summary.date_of_birth,
        mother_name: summary.mother_name,
        supersedes: row.supersedes,
        superseded_by: row.superseded_by,
        reject_code: row.reject_code,
        reject_message: row.reject_message,
        leaf_index: row.leaf_index,
        decided_at: row.decision.map(|d| d.decided_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLENA_JSON: &str = include_str!("../../docs/examples/olena.json");

    fn olena() -> RegistrationForm {
        RegistrationForm::from_json(OLENA_JSON).unwrap()
    }

    fn device() -> Device {
        let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
        device.init("worker-7").unwrap();
        device
    }

    /// The duplicate check's in-memory index follows the store: records another handle on
    /// the same file captured are found, a record corrected since is not, and the status shown
    /// is the record's current one.
    #[test]
    fn the_in_memory_index_follows_every_handle_on_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let key = StorageKey::generate().unwrap();
        let a = Device::create(&path, key.clone()).unwrap();
        a.init("worker-7").unwrap();
        let b = Device::open(&path, key).unwrap();
        let mut maria = olena();
        maria.child.given_names = "Марія".into();
        maria.child.date_of_birth = "2025-11-02".into();
        assert!(
            b.possible_duplicates(&olena()).unwrap().is_empty(),
            "built empty"
        );
        let first = a.capture(&olena()).unwrap();
        let found: Vec<Uuid> = b
            .possible_duplicates(&olena())
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            found,
            vec![first.summary.id],
            "captured by the other handle"
        );
        // Corrected through the other handle: the correction is found, the original not.
        let fixed = a.correct(&first.summary.id, &olena()).unwrap();
        let found: Vec<Uuid> = b
            .possible_duplicates(&olena())
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(found, vec![fixed.summary.id]);
        assert!(b.possible_duplicates(&maria).unwrap().is_empty());
        // The index is in memory only: the file holds no name in plaintext.
        drop((a, b));
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes
                .windows("Коваленко".len())
                .any(|w| w == "Коваленко".as_bytes()),
            "a name in the file"
        );
    }

    #[test]
    fn capture_reports_the_same_child_already_on_the_device() {
        let device = device();
        let first = device.capture(&olena()).unwrap();
        assert!(first.possible_duplicates.is_empty());
        // The same child typed in Latin letters by another worker, a day later.
        let mut again = olena();
        again.child.given_names = "Olena".into();
        again.child.family_name = "Kovalenko".into();
        let later =
            OffsetDateTime::from_unix_timestamp(first.summary.captured_at + 2 * 86_400).unwrap();
        let second = device.capture_checked(&again, later, None).unwrap();
        assert_eq!(second.possible_duplicates.len(), 1, "{second:?}");
        let dup = &second.possible_duplicates[0];
        assert_eq!(dup.id, first.summary.id);
        assert_eq!(dup.level, Level::Likely);
        assert!(
            dup.reasons
                .contains(&"same mother and date of birth".to_string())
        );
        assert_eq!(
            dup.sentence(later),
            "this child may already have been captured (Олена Коваленко, 2026-03-14, \
             captured 2 days ago)"
        );
        // Both are stored: a match never blocks a capture.
        assert_eq!(device.counts().unwrap().total(), 2);
        // A correction of the first is not its own duplicate; the second still is one.
        let fixed = device.correct(&first.summary.id, &olena()).unwrap();
        let found: Vec<Uuid> = fixed.possible_duplicates.iter().map(|d| d.id).collect();
        assert_eq!(found, vec![second.summary.id]);
        // A twin is not a duplicate.
        let mut twin = olena();
        twin.child.given_names = "Оксана".into();
        twin.child.plurality = 2;
        twin.child.birth_order = 2;
        assert!(device.possible_duplicates(&twin).unwrap().is_empty());
        // A batch sees the forms before it.
        let mut other = olena();
        other.child.given_names = "Тарас".into();
        other.child.date_of_birth = "2025-01-02".into();
        let batch = device
            .capture_batch(&[other.clone(), other], OffsetDateTime::now_utc())
            .unwrap();
        assert!(batch[0].possible_duplicates.is_empty());
        assert_eq!(batch[1].possible_duplicates[0].id, batch[0].summary.id);
    }

    #[test]
    fn ago_in_words() {
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(7_200), "2 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(-5), "just now");
    }

    #[test]
    fn capture_get_list_counts() {
        let device = device();
        let summary = device.capture(&olena()).unwrap().summary;
        assert_eq!(summary.status, RecordStatus::Pending);
        assert_eq!(summary.child_name, "Олена Коваленко");
        let stored = device.get(&summary.id).unwrap();
        assert_eq!(stored.summary, summary);
        let record = &stored.signed.record;
        assert_eq!(record.worker_id, "worker-7");
        assert_eq!(record.device_kid, device.identity().unwrap().key_id.0);
        assert_eq!(record.id.get_version_num(), 7);
        stored
            .signed
            .verify(&crate::keys::verifying_key(&device.identity().unwrap().public_key).unwrap())
            .unwrap();
        assert_eq!(device.list(&ListFilter::default()).unwrap(), vec![summary]);
        assert_eq!(device.counts().unwrap().pending, 1);
        assert_eq!(device.counts().unwrap().total(), 1);
    }

    #[test]
    fn search_is_case_insensitive_across_scripts() {
        let device = device();
        device.capture(&olena()).unwrap();
        let mut other = olena();
        other.child.given_names = "Ștefan".into();
        other.child.family_name = "Țăran".into();
        other.mother.family_name = "Țăran".into();
        device.capture(&other).unwrap();
        let find = |text: &str| {
            device
                .list(&ListFilter {
                    search: Some(text.into()),
                    ..ListFilter::default()
                })
                .unwrap()
                .len()
        };
        assert_eq!(find("олена"), 1);
        assert_eq!(find("КОВАЛЕН"), 1);
        assert_eq!(
            find("ştefan"),
            0,
            "cedilla s is a different letter from comma-below s"
        );
        assert_eq!(find("ștefan"), 1);
        assert_eq!(find("țăran"), 1);
        assert_eq!(find("nobody"), 0);
        assert_eq!(find("  "), 2, "blank search lists everything");
    }

    #[test]
    fn corrections_supersede_without_editing() {
        let device = device();
        let first = device.capture(&olena()).unwrap().summary;
        let mut fixed = olena();
        fixed.child.given_names = "Олена Марія".into();
        let second = device.correct(&first.id, &fixed).unwrap().summary;
        assert_eq!(second.supersedes, Some(first.id));
        let old = device.get(&first.id).unwrap();
        assert_eq!(old.summary.superseded_by, Some(second.id));
        assert_eq!(old.signed.record.enrolment.child.given_names, "Олена");
        assert!(matches!(
            device.correct(&first.id, &fixed),
            Err(DeviceError::AlreadySuperseded { id, by }) if id == first.id && by == second.id
        ));
        let missing = Uuid::now_v7();
        assert!(
            matches!(device.correct(&missing, &fixed), Err(DeviceError::NotFound(id)) if id == missing)
        );
        let current = device
            .list(&ListFilter {
                current_only: true,
                ..ListFilter::default()
            })
            .unwrap();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].id, second.id);
        assert_eq!(device.counts().unwrap().pending, 2);
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let device = device();
        let now = OffsetDateTime::now_utc();
        let mut inputs = vec![olena(), olena(), olena()];
        let done = device.capture_batch(&inputs, now).unwrap();
        assert_eq!(done.len(), 3);
        inputs[1].child.date_of_birth = "2999-01-01".into();
        inputs[2].caregivers.clear();
        let err = device.capture_batch(&inputs, now).unwrap_err();
        let DeviceError::Validation(errors) = err else {
            panic!("expected validation errors");
        };
        let found: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.path.as_str(), e.code, e.batch_item()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "records[1].child.date_of_birth",
                    crate::validate::FieldCode::FutureDate,
                    Some((1, "child.date_of_birth"))
                ),
                (
                    "records[2].caregivers",
                    crate::validate::FieldCode::Required,
                    Some((2, "caregivers"))
                ),
            ],
            "every bad form reported, in order"
        );
        assert_eq!(
            device.counts().unwrap().pending,
            3,
            "nothing of the bad batch stored"
        );
    }

    #[test]
    fn needs_an_identity_and_only_one() {
        let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
        assert!(matches!(
            device.capture(&olena()),
            Err(DeviceError::NotInitialised)
        ));
        assert!(matches!(
            device.init("bad id!"),
            Err(DeviceError::InvalidWorkerId)
        ));
        let id = device.init("w").unwrap();
        assert!(
            matches!(device.init("w"), Err(DeviceError::AlreadyInitialised(k)) if k == id.key_id)
        );
    }

    #[test]
    fn invalid_input_is_refused_and_nothing_stored() {
        let device = device();
        let mut bad = olena();
        bad.child.given_names = String::new();
        let err = device.capture(&bad).unwrap_err();
        let DeviceError::Validation(errors) = err else {
            panic!("expected validation errors, got {err}");
        };
        assert!(errors.0.iter().any(|e| e.path == "child.given_names"));
        assert_eq!(device.counts().unwrap().total(), 0);
        assert!(matches!(
            device.capture_json("{\"child\": {}, \"photo\": \"x\"}"),
            Err(DeviceError::InvalidJson(e))
                if e.to_string().starts_with("unknown field at the top level")
        ));
    }

    #[test]
    fn a_malformed_form_names_the_field_and_never_repeats_its_value() {
        let device = device();
        let wrong_type = r#"{"child": {"given_names": "Олена", "plurality": "Олена"}}"#;
        let err = device.capture_json(wrong_type).unwrap_err().to_string();
        assert!(err.contains("child.plurality"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("Олена"), "{err}");
        let bad_variant = r#"{"child": {"sex": "Олена"}}"#;
        let err = device.capture_json(bad_variant).unwrap_err().to_string();
        assert!(
            err.contains("child.sex") && err.contains("one of female, male or unknown"),
            "{err}"
        );
        assert!(!err.contains("Олена"), "{err}");
        let too_big = format!(
            r#"{{"notes": "{}"}}"#,
            "x".repeat(crate::record::MAX_JSON_BYTES)
        );
        let err = device.capture_json(&too_big).unwrap_err().to_string();
        assert!(err.contains("more than the"), "{err}");
        assert!(device.capture_json("{} trailing").is_err());
        assert_eq!(device.counts().unwrap().total(), 0);
    }

    #[test]
    fn reopens_with_the_same_identity_and_refuses_a_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let key = StorageKey::generate().unwrap();
        let (identity, id) = {
            let device = Device::create(&path, key.clone()).unwrap();
            let identity = device.init("w-1").unwrap();
            (identity, device.capture(&olena()).unwrap().summary.id)
        };
        let device = Device::open(&path, key).unwrap();
        assert_eq!(device.identity().unwrap(), identity);
        assert_eq!(
            device.get(&id).unwrap().summary.child_name,
            "Олена Коваленко"
        );
        drop(device);
        let err = Device::open(&path, StorageKey::generate().unwrap()).unwrap_err();
        assert!(matches!(err, DeviceError::WrongStorageKey));
        assert_eq!(
            err.to_string(),
            "wrong storage key: this device store was created with a different key"
        );
    }

    /// A store written at schema version 1 (before sync existed) keeps every record, readable
    /// and searchable, when this version opens and migrates it.
    #[test]
    fn a_version_1_store_keeps_its_records_through_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let key = StorageKey::generate().unwrap();
        let (identity, ids) = {
            let device = Device::create(&path, key.clone()).unwrap();
            let identity = device.init("w-1").unwrap();
            let first = device.capture(&olena()).unwrap().summary.id;
            let second = device.correct(&first, &olena()).unwrap().summary.id;
            (identity, vec![first, second])
        };
        // Take the file back to what version 1 wrote: no sync tables or columns, no row tags,
        // no manifest, the worker id in plaintext.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE records DROP COLUMN row_mac;
             DELETE FROM meta WHERE key = 'manifest';
             UPDATE meta SET value = CAST('w-1' AS BLOB) WHERE key = 'worker_id';
             DROP INDEX records_by_batch;
             ALTER TABLE records DROP COLUMN batch_id;
             ALTER TABLE records DROP COLUMN receipt;
             ALTER TABLE records DROP COLUMN sealed_credential;
             DROP TABLE batches;
             DROP TABLE checkpoints;
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);
        let device = Device::open(&path, key).unwrap();
        assert_eq!(device.identity().unwrap(), identity);
        let old = device.get(&ids[0]).unwrap().summary;
        assert_eq!(old.child_name, "Олена Коваленко");
        assert_eq!(old.superseded_by, Some(ids[1]));
        assert_eq!(
            device.get(&ids[1]).unwrap().summary.status,
            RecordStatus::Pending
        );
        let found = device
            .list(&ListFilter {
                search: Some("олена".into()),
                ..ListFilter::default()
            })
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(device.counts().unwrap().pending, 2);
        let version: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, crate::store::schema::VERSION);
    }

    /// No name, date of birth, phone or national id of the child or parents may appear in
    /// plaintext in the database file or its WAL.
    #[test]
    fn no_personal_data_in_plaintext_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let device = Device::create(&path, StorageKey::generate().unwrap()).unwrap();
        device.init("w-1").unwrap();
        let mut input = olena();
        input.mother.national_id = Some("AB123456".into());
        for _ in 0..20 {
            device.capture(&input).unwrap();
        }
        let secrets: [&[u8]; 8] = [
            "Олена".as_bytes(),
            "Коваленко".as_bytes(),
            "Ірина".as_bytes(),
            "Андрій".as_bytes(),
            "Зимна Вода".as_bytes(),
            b"2026-03-14",
            b"380501234567",
            b"AB123456",
        ];
        let mut files = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            files += 1;
            for secret in secrets {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "plaintext found on disk"
                );
            }
        }
        assert!(files >= 2, "database and WAL checked");
    }
}
