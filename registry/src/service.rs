//! The registry's logic, independent of HTTP: enrolment, ingest of sealed batches, the
//! ledger's read side and revocation. The HTTP layer ([`crate::http`]) only maps requests to
//! these calls.

use std::path::{Path, PathBuf};

use birthright_core::{
    codec, credential,
    keys::{KeyId, os_random, verifying_key},
    ledger::{Hash, LedgerError, checkpoint::Checkpoint, checkpoint::sign_checkpoint},
    signed::SignedRecord,
    trust::{DeviceCertificate, RevocationList, TrustBundle},
    validate,
    wire::{
        self, Batch, BatchResponse, EnrolRequest, EnrolResponse, LeafReceipt, Outcome,
        RecordResult, Rejection,
    },
};
use serde_bytes::ByteBuf;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    head::HEAD_FILE,
    keys::{DB_FILE, KeysError, RegistryKeys, TRUST_FILE},
    store::{
        Candidate, DeviceRow, Recovery, RegistryStore, Sequenced, SequencedBatch, SqliteStore,
        StoreError, TokenProblem,
    },
};

/// Validity of a device certificate.
pub const CERTIFICATE_LIFETIME_SECS: i64 = 365 * 24 * 3600;
/// How far ahead of the registry's clock a record's capture time may be (phones' clocks drift;
/// beyond this the record is refused as captured in the future).
pub const MAX_CLOCK_AHEAD_SECS: i64 = 24 * 3600;
/// How long before its enrolment a device's records may have been captured (a worker who
/// starts registering offline while the supervisor's token is on its way).
pub const PRE_ENROLMENT_CAPTURE_SECS: i64 = 30 * 24 * 3600;
/// Most leaves served by one `leaves` call.
pub const MAX_LEAVES_PER_CALL: u64 = 1000;
/// How long after its certificate's `not_after` (by the registry's clock) a device may still
/// sync records it captured while the certificate was valid. After that nothing new from it is
/// accepted, whatever capture time a record claims (a retired phone's key can write any time).
pub const EXPIRED_SYNC_GRACE_SECS: i64 = 30 * 24 * 3600;
/// Longest validity of an enrolment token.
pub const MAX_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// File (in the data directory) to which `registry recover` appends what it did.
pub const RECOVER_LOG_FILE: &str = "recover.log";

/// A request the registry refuses, with the HTTP status, a machine-readable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl ServiceError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ServiceError {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        // Storage errors never carry personal data (values are encrypted); still, keep it short.
        ServiceError::new(500, "internal", format!("internal error: {e}"))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Restored(_) => ServiceError::new(503, "ledger_restored", e.to_string()),
            StoreError::Unavailable(_) => {
                ServiceError::new(503, "database_unavailable", e.to_string())
            }
            e => ServiceError::internal(e),
        }
    }
}

/// A problem opening or creating a registry.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Key material.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// Database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database named is not usable.
    #[error("{0}")]
    BadDatabase(String),
}

/// A running registry: its keys and store.
pub struct Registry {
    keys: RegistryKeys,
    store: Box<dyn RegistryStore>,
    trust: TrustBundle,
    status_cache: std::sync::Mutex<Option<StatusCache>>,
}

/// The signed status list as last built, and the state it was built from.
struct StatusCache {
    version: (u64, u64),
    signed_at: i64,
    bytes: std::sync::Arc<Vec<u8>>,
}

/// A device as listed for administrators.
pub type Device = DeviceRow;

/// Fails unless `reason` is a public revocation reason code.
fn check_reason(reason: &str) -> Result<(), ServiceError> {
    use birthright_core::trust::REVOCATION_REASONS;
    if REVOCATION_REASONS.contains(&reason) {
        Ok(())
    } else {
        Err(ServiceError::new(
            400,
            "bad_reason",
            format!(
                "'{reason}' is not a revocation reason: use one of {}",
                REVOCATION_REASONS.join(", ")
            ),
        ))
    }
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn reject(code: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        code: code.into(),
        message: message.into(),
    }
}

/// Why a time-to-live was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// Not a positive number followed by s, m, h or d.
    #[error("a time-to-live is a positive number followed by s, m, h or d, e.g. 30m, 12h or 7d")]
    Format,
    /// Longer than [`MAX_TOKEN_TTL_SECS`].
    #[error("a token may stay valid at most 30 days (30d)")]
    TooLong,
}

/// Parses a time-to-live like `30m`, `12h` or `7d` into seconds, at most
/// [`MAX_TOKEN_TTL_SECS`].
pub fn parse_ttl(text: &str) -> Result<i64, TtlError> {
    let text = text.trim();
    if !text.is_ascii() || text.is_empty() {
        return Err(TtlError::Format);
    }
    let (number, unit) = text.split_at(text.len() - 1);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TtlError::Format);
    }
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(TtlError::Format),
    };
    // Digits only: a number too large for i64 is certainly too long.
    let n: i64 = number.parse().map_err(|_| TtlError::TooLong)?;
    if n == 0 {
        return Err(TtlError::Format);
    }
    match n.checked_mul(unit) {
        Some(secs) if secs <= MAX_TOKEN_TTL_SECS => Ok(secs),
        _ => Err(TtlError::TooLong),
    }
}

/// File (in the data directory, mode 0600) recording the PostgreSQL URL `registry init
/// --database` was given; without it the registry is on SQLite in the data directory.
pub const DATABASE_FILE: &str = "database.url";

/// Where a registry's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite, `registry.db` in the data directory.
    Sqlite,
    /// PostgreSQL at this URL (`postgres://USER@HOST:PORT/DB`).
    Postgres(String),
}

impl Database {
    /// The database `url` names: only PostgreSQL URLs are accepted.
    pub fn from_url(url: &str) -> Result<Database, OpenError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(url.to_string()))
        } else {
            Err(OpenError::BadDatabase(format!(
                "'{}' is not a PostgreSQL URL (postgres://USER@HOST:PORT/DB)",
                crate::pg::redact_url(url)
            )))
        }
    }

    /// The database `registry init` recorded in `dir` (SQLite if none).
    pub fn recorded(dir: &Path) -> Result<Database, OpenError> {
        let path = dir.join(DATABASE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Database::from_url(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Database::Sqlite),
            Err(source) => Err(KeysError::Io { path, source }.into()),
        }
    }

    /// `url` if given, else what `dir` records.
    pub fn choose(dir: &Path, url: Option<&str>) -> Result<Database, OpenError> {
        match url {
            Some(url) => Database::from_url(url),
            None => Database::recorded(dir),
        }
    }
}

fn open_store(
    dir: &Path,
    keys: &RegistryKeys,
    database: &Database,
) -> Result<Box<dyn RegistryStore>, StoreError> {
    Ok(match database {
        Database::Sqlite => Box::new(
            SqliteStore::open(&dir.join(DB_FILE), keys.data_key.clone())?
                .with_head_file(&dir.join(HEAD_FILE))?,
        ),
        Database::Postgres(url) => Box::new(
            crate::pg::PgStore::open(url, keys.data_key.clone())?
                .with_head_file(&dir.join(HEAD_FILE))?,
        ),
    })
}

fn write_private(path: &Path, text: &str) -> Result<(), KeysError> {
    let io = |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

impl Registry {
    /// Creates a registry in `dir` for `origin`: keys, database, trust bundle. Returns it and
    /// the trust bundle's path.
    pub fn init(dir: &Path, origin: &str) -> Result<(Registry, PathBuf), OpenError> {
        Registry::init_on(dir, origin, &Database::Sqlite)
    }

    /// Creates a registry in `dir` for `origin` on `database`: the keys stay in `dir`; a
    /// PostgreSQL database (which must hold no ledger yet) is recorded in `dir` for the
    /// commands that follow.
    pub fn init_on(
        dir: &Path,
        origin: &str,
        database: &Database,
    ) -> Result<(Registry, PathBuf), OpenError> {
        if let Database::Postgres(url) = database {
            if dir.join(DATABASE_FILE).exists() {
                return Err(KeysError::AlreadyExists(dir.into()).into());
            }
            let ledger = crate::pg::PgLedger::open(url)?;
            use crate::sequencer::LedgerBackend;
            if ledger.read(|tx| tx.latest_checkpoint())?.is_some() {
                return Err(OpenError::BadDatabase(format!(
                    "the PostgreSQL database at {} already holds a registry's ledger: give \
                     `registry init` an empty database",
                    crate::pg::redact_url(url)
                )));
            }
        }
        let keys = RegistryKeys::create(dir, origin)?;
        if let Database::Postgres(url) = database {
            write_private(&dir.join(DATABASE_FILE), &format!("{url}\n"))?;
        }
        let store = open_store(dir, &keys, database)?;
        let registry = Registry::with_store(keys, store);
        registry.store.latest_checkpoint(&registry.signer())?;
        Ok((registry, dir.join(TRUST_FILE)))
    }

    /// Opens the registry in `dir`, on the database `registry init` recorded.
    pub fn open(dir: &Path) -> Result<Registry, OpenError> {
        Registry::open_on(dir, &Database::recorded(dir)?)
    }

    /// Opens the registry in `dir` on `database`.
    pub fn open_on(dir: &Path, database: &Database) -> Result<Registry, OpenError> {
        let keys = RegistryKeys::load(dir)?;
        let store = open_store(dir, &keys, database)?;
        Ok(Registry::with_store(keys, store))
    }

    /// `registry recover`: after the data directory was restored from a backup, accepts the
    /// database's tree as the ledger head, so the registry signs again. Checkpoints published
    /// for a larger tree are then forked: every device that verified one will refuse the new
    /// ones. Appends what it did to `recover.log` in the data directory.
    pub fn recover(dir: &Path) -> Result<Recovery, OpenError> {
        let registry = Registry::open(dir)?;
        let recovery = registry.store.recover_head()?;
        let hex = |(size, root): (u64, Hash)| format!("size {size} root {}", hex::encode(root));
        let line = format!(
            "{} recover: ledger head was {}, now {}\n",
            now_unix(),
            recovery.previous.map_or("none".to_string(), hex),
            hex(recovery.current)
        );
        let path = dir.join(RECOVER_LOG_FILE);
        let io = |source| KeysError::Io {
            path: path.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut log = options.open(&path).map_err(io)?;
        std::io::Write::write_all(&mut log, line.as_bytes()).map_err(io)?;
        log.sync_all().map_err(io)?;
        eprint!("registry: {line}");
        Ok(recovery)
    }

    /// A registry over any store implementation.
    pub fn with_store(keys: RegistryKeys, store: Box<dyn RegistryStore>) -> Registry {
        let trust = keys.trust_bundle();
        Registry {
            keys,
            store,
            trust,
            status_cache: std::sync::Mutex::new(None),
        }
    }

    /// The public trust bundle.
    pub fn trust_bundle(&self) -> &TrustBundle {
        &self.trust
    }

    fn signer(&self) -> impl Fn(u64, &Hash) -> Result<String, LedgerError> + '_ {
        move |size, root| {
            sign_checkpoint(
                self.keys.note_signer(),
                &Checkpoint {
                    origin: self.keys.origin.clone(),
                    size,
                    root_hash: *root,
                    extensions: vec![],
                },
            )
        }
    }

    /// Creates a one-time enrolment token for `worker_id` in `region`, valid `ttl_secs`.
    /// Only its id and binding key are stored (`wire::enrol_token_id`, `wire::enrol_token_key`).
    pub fn create_token(
        &self,
        worker_id: &str,
        region: &str,
        ttl_secs: i64,
    ) -> Result<String, ServiceError> {
        if worker_id.is_empty()
            || worker_id.len() > birthright_core::device::MAX_WORKER_ID_LEN
            || !worker_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ServiceError::new(
                400,
                "bad_worker",
                "worker id must be 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        if region.is_empty() || region.len() > 16 || region.chars().any(char::is_whitespace) {
            return Err(ServiceError::new(
                400,
                "bad_region",
                "region must be a short code without spaces, e.g. UA-46",
            ));
        }
        let mut bytes = [0u8; 16];
        os_random(&mut bytes).map_err(ServiceError::internal)?;
        let token = hex::encode(bytes);
        let now = now_unix();
        self.store.insert_token(
            &wire::enrol_token_id(&token),
            &wire::enrol_token_key(&token),
            worker_id,
            region,
            now,
            now.saturating_add(ttl_secs),
        )?;
        Ok(token)
    }

    /// Handles `POST /v1/enrol`: returns the CBOR `EnrolResponse`.
    pub fn enrol(&self, body: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let request: EnrolRequest = codec::from_slice(body, 16 * 1024)
            .map_err(|e| ServiceError::new(400, "malformed", format!("enrolment request: {e}")))?;
        let public: [u8; 32] = request
            .device_public_key
            .as_slice()
            .try_into()
            .map_err(|_| {
                ServiceError::new(400, "malformed", "device public key must be 32 bytes")
            })?;
        let key = verifying_key(&public).ok_or_else(|| {
            ServiceError::new(
                400,
                "malformed",
                "device public key is not a valid Ed25519 key",
            )
        })?;
        let proof = ed25519_dalek::Signature::from_slice(&request.proof).map_err(|_| {
            ServiceError::new(400, "malformed", "proof must be a 64-byte signature")
        })?;
        let token_id: [u8; 32] = request
            .token_id
            .as_slice()
            .try_into()
            .map_err(|_| ServiceError::new(400, "malformed", "token id must be 32 bytes"))?;
        key.verify_strict(&wire::enrol_proof_message(&token_id, &public), &proof)
            .map_err(|_| {
                ServiceError::new(400, "bad_proof", "the proof of possession does not verify")
            })?;
        let now = now_unix();
        let kid = KeyId::of(&public);
        crate::http::log_device_kid(&kid);
        let origin = self.keys.origin.clone();
        let outcome = self.store.enrol(
            &token_id,
            now,
            &mut |binding_key| {
                wire::verify_enrol_binding(binding_key, &origin, &public, &request.binding)
            },
            &mut |worker, region| DeviceRow {
                kid,
                public_key: public,
                worker_id: worker.into(),
                region: region.into(),
                enrolled_at: now,
                not_before: now,
                not_after: now.saturating_add(CERTIFICATE_LIFETIME_SECS),
                revoked_at: None,
                revoke_reason: None,
                revoke_note: None,
            },
        )?;
        let device = outcome.map_err(|problem| match problem {
            TokenProblem::Unknown => {
                ServiceError::new(403, "token_unknown", "unknown enrolment token")
            }
            TokenProblem::Used => ServiceError::new(
                409,
                "token_used",
                "this enrolment token has already been used",
            ),
            TokenProblem::Expired => ServiceError::new(
                410,
                "token_expired",
                "this enrolment token has expired: ask your supervisor for a new one",
            ),
            TokenProblem::DeviceExists => {
                ServiceError::new(409, "device_exists", "this device key is already enrolled")
            }
            // Said like an unknown token: a wrong binding tells a prober nothing more.
            TokenProblem::BadBinding => ServiceError::new(
                403,
                "token_unknown",
                "unknown enrolment token, or one issued by another registry",
            ),
        })?;
        let certificate = DeviceCertificate {
            version: 1,
            origin: self.keys.origin.clone(),
            device_public_key: ByteBuf::from(public.to_vec()),
            worker_id: device.worker_id,
            region: device.region,
            not_before: device.not_before,
            not_after: device.not_after,
        }
        .sign(&self.keys.signing)
        .map_err(ServiceError::internal)?;
        codec::to_vec(&EnrolResponse {
            certificate: ByteBuf::from(certificate),
            trust_bundle: self.trust.to_json(),
        })
        .map_err(ServiceError::internal)
    }

    /// Handles `POST /v1/batches`: opens, verifies, validates, sequences and answers (sealed).
    pub fn ingest(&self, body: &[u8]) -> Result<Vec<u8>, ServiceError> {
        self.ingest_at(body, now_unix())
    }

    /// [`Self::ingest`] at an explicit time (tests, benchmarks).
    pub fn ingest_at(&self, body: &[u8], now: i64) -> Result<Vec<u8>, ServiceError> {
        let (batch, response_key) = wire::open_batch(body, &self.keys.hpke_secret)
            .map_err(|e| ServiceError::new(400, "malformed_batch", e.to_string()))?;
        let response = self.process(&batch, now)?;
        response.seal(&response_key).map_err(ServiceError::internal)
    }

    fn process(&self, batch: &Batch, now: i64) -> Result<BatchResponse, ServiceError> {
        let kid = KeyId::from_slice(&batch.device_kid).ok_or_else(|| {
            ServiceError::new(400, "malformed_batch", "device key id must be 8 bytes")
        })?;
        crate::http::log_device_kid(&kid);
        let device = self.store.device(&kid)?.ok_or_else(|| {
            ServiceError::new(
                403,
                "unknown_device",
                format!("device {kid} is not enrolled with this registry"),
            )
        })?;
        let size_now = self.store.tree_size()?;
        if batch.known_tree_size > size_now {
            return Err(ServiceError::new(
                400,
                "bad_tree_size",
                format!(
                    "known tree size {} is beyond the ledger's size {size_now}",
                    batch.known_tree_size
                ),
            ));
        }
        let device_key = verifying_key(&device.public_key)
            .ok_or_else(|| ServiceError::internal("stored device key is invalid"))?;
        // Verify and validate outside the sequencer; only good records are sequenced.
        let mut results: Vec<Option<RecordResult>> = Vec::with_capacity(batch.records.len());
        let mut candidates = Vec::new();
        let mut slots = Vec::new();
        for (i, bytes) in batch.records.iter().enumerate() {
            match self.check_record(bytes, &kid, &device, &device_key, now)? {
                Ok(candidate) => {
                    results.push(None);
                    slots.push(i);
                    candidates.push(candidate);
                }
                Err((id, rejection)) => results.push(Some(RecordResult {
                    record_id: id,
                    outcome: Outcome::Rejected,
                    leaf: None,
                    rejection: Some(rejection),
                    credential: None,
                })),
            }
        }
        let signer = self.signer();
        let sequenced = if candidates.is_empty() {
            // Nothing verified: nothing is written (not even the batch id).
            let (size, checkpoint) = self.store.latest_checkpoint(&signer)?;
            SequencedBatch {
                results: Vec::new(),
                size,
                checkpoint,
                collisions: Vec::new(),
            }
        } else {
            self.store
                .sequence(&batch.batch_id, &candidates, now, &signer)?
        };
        for (position, other) in &sequenced.collisions {
            if let Some(candidate) = candidates.get(*position) {
                // For the registrar: one of the two devices copied the other's record id.
                eprintln!(
                    "registry: record id collision: record {} from device {kid} is also \
                     registered by device {other}; both are kept under their own device, check them",
                    candidate.id
                );
            }
        }
        for ((slot, candidate), outcome) in slots.iter().zip(&candidates).zip(sequenced.results) {
            let refused = |code: &str, message: &str| {
                Some(RecordResult {
                    record_id: candidate.id,
                    outcome: Outcome::Rejected,
                    leaf: None,
                    rejection: Some(reject(code, message)),
                    credential: None,
                })
            };
            let (kind, placement) = match outcome {
                Sequenced::Accepted(p) => (Outcome::Accepted, p),
                Sequenced::Duplicate(p) => (Outcome::Duplicate, p),
                Sequenced::Conflict => {
                    results[*slot] = refused(
                        "conflicting_record",
                        "another record with this id but different content is already registered",
                    );
                    continue;
                }
                Sequenced::Removed => {
                    results[*slot] = refused(
                        "record_removed",
                        "a record with this id from this device is already on the ledger but was \
                         removed from the registry: it cannot be registered again",
                    );
                    continue;
                }
                Sequenced::UnknownOriginal => {
                    results[*slot] = refused(
                        "unknown_original",
                        "the record this corrects is not registered from this device: a \
                         record the registry refused is captured again, not corrected",
                    );
                    continue;
                }
                Sequenced::NotOwner(owner) => {
                    eprintln!(
                        "registry: device {kid} sent a correction ({}) of record {} of device \
                         {owner}: refused",
                        candidate.id,
                        candidate.supersedes.unwrap_or_default()
                    );
                    results[*slot] = refused(
                        "not_record_owner",
                        "only the device that captured a record can correct it",
                    );
                    continue;
                }
                Sequenced::AlreadyCorrected => {
                    results[*slot] = refused(
                        "already_corrected",
                        "this version of the record has already been corrected: correct the \
                         newest version instead",
                    );
                    continue;
                }
            };
            let proof = self
                .store
                .inclusion_proof(placement.index, sequenced.size)?;
            results[*slot] = Some(RecordResult {
                record_id: candidate.id,
                outcome: kind,
                leaf: Some(LeafReceipt {
                    index: placement.index,
                    salt: ByteBuf::from(placement.salt.to_vec()),
                    sequenced_at: placement.sequenced_at,
                    inclusion_proof: wire::hash_bufs(&proof),
                }),
                rejection: None,
                credential: self.issue_registered_credential(candidate, placement.index, now),
            });
        }
        let consistency = self
            .store
            .consistency_proof(batch.known_tree_size, sequenced.size)?;
        Ok(BatchResponse {
            version: wire::WIRE_VERSION,
            batch_id: batch.batch_id,
            checkpoint: sequenced.checkpoint,
            known_tree_size: batch.known_tree_size,
            consistency_proof: wire::hash_bufs(&consistency),
            results: results.into_iter().flatten().collect(),
        })
    }

    /// The registry-signed credential of an accepted (or duplicate) record, returned in the
    /// sync answer so the device can give it to the caregiver.
    fn issue_registered_credential(
        &self,
        candidate: &Candidate,
        leaf_index: u64,
        now: i64,
    ) -> Option<ByteBuf> {
        // The candidate's bytes were decoded moments ago in `check_record`; should issuing
        // fail, the record stays accepted and the device keeps its provisional credential.
        let signed = SignedRecord::decode(&candidate.bytes).ok()?;
        credential::issue_registered(&self.keys.signing, &signed.record, leaf_index, now)
            .ok()
            .map(|c| ByteBuf::from(c.bytes))
    }

    /// Checks one signed record: decodes, verifies against the enrolled key, checks device
    /// validity and revocation at capture time, re-validates. Returns the candidate to sequence
    /// or the record id (nil if unreadable) with the reason it is rejected.
    fn check_record(
        &self,
        bytes: &[u8],
        kid: &KeyId,
        device: &DeviceRow,
        device_key: &ed25519_dalek::VerifyingKey,
        now: i64,
    ) -> Result<Result<Candidate, (Uuid, Rejection)>, ServiceError> {
        let signed = match SignedRecord::decode(bytes) {
            Ok(signed) => signed,
            Err(e) => {
                let why = reject("malformed", format!("unreadable record: {e}"));
                return Ok(Err((Uuid::nil(), why)));
            }
        };
        let id = signed.record.id;
        if &signed.kid != kid {
            return Ok(Err((
                id,
                reject(
                    "device_mismatch",
                    "the record was signed by another device than the batch's",
                ),
            )));
        }
        if signed.verify(device_key).is_err() {
            return Ok(Err((
                id,
                reject("bad_signature", "the record's signature does not verify"),
            )));
        }
        if signed.record.worker_id != device.worker_id {
            return Ok(Err((
                id,
                reject(
                    "worker_mismatch",
                    "the record names another field worker than the one this device is \
                     enrolled for",
                ),
            )));
        }
        let captured_at = signed.record.captured_at;
        if captured_at > now.saturating_add(MAX_CLOCK_AHEAD_SECS) {
            return Ok(Err((
                id,
                reject(
                    "captured_in_future",
                    "the record's capture time is ahead of the registry's clock: check the \
                     device's date and time, then capture the record again",
                ),
            )));
        }
        if let Some(revoked_at) = device.revoked_at {
            // A revoked key may be in a thief's hands and can claim any capture time: once the
            // revocation is in force nothing new from the device is taken, whatever its
            // capture time says. Re-sends of records already on the ledger stay duplicates.
            let in_force = now >= revoked_at || captured_at >= revoked_at;
            if in_force && !self.already_registered(kid, &id, &signed.bytes)? {
                return Ok(Err((
                    id,
                    reject(
                        "revoked_device",
                        "this device has been revoked; records it sends are no longer accepted",
                    ),
                )));
            }
        }
        // Expiry, like revocation, is judged by the registry's clock (ADR 0002): a retired
        // phone's key can backdate. Records captured while the certificate was valid are taken
        // for a grace period after it ends; then nothing new is, only re-sends.
        let grace_over = now > device.not_after.saturating_add(EXPIRED_SYNC_GRACE_SECS);
        if grace_over && !self.already_registered(kid, &id, &signed.bytes)? {
            return Ok(Err((
                id,
                reject(
                    "device_expired",
                    "the device's certificate expired more than 30 days ago: nothing new from \
                     it is accepted; enrol the device again",
                ),
            )));
        }
        if captured_at > device.not_after {
            return Ok(Err((
                id,
                reject(
                    "device_expired",
                    "the device's certificate had expired when this record was captured",
                ),
            )));
        }
        // A worker may capture offline on a new phone before its enrolment: the certificate
        // vouches for the key, including its signatures of the weeks before.
        if captured_at < device.not_before.saturating_sub(PRE_ENROLMENT_CAPTURE_SECS) {
            return Ok(Err((
                id,
                reject(
                    "device_expired",
                    "the record claims a capture time long before the device was enrolled",
                ),
            )));
        }
        let Ok(at) = OffsetDateTime::from_unix_timestamp(captured_at) else {
            return Ok(Err((
                id,
                reject("invalid_record", "capture time out of range"),
            )));
        };
        match validate::validate(&signed.record.enrolment, at) {
            Ok(normal) if normal == signed.record.enrolment => {}
            Ok(_) => {
                return Ok(Err((
                    id,
                    reject("invalid_record", "the record is not in normalised form"),
                )));
            }
            Err(errors) => {
                return Ok(Err((id, reject("invalid_record", errors.to_string()))));
            }
        }
        Ok(Ok(Candidate {
            id,
            kid: *kid,
            supersedes: signed.record.supersedes,
            bytes: signed.bytes,
        }))
    }

    /// Whether device `kid`'s record `id` is already stored with exactly these bytes (a
    /// re-send).
    fn already_registered(
        &self,
        kid: &KeyId,
        id: &Uuid,
        bytes: &[u8],
    ) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .record_bytes(kid, id)?
            .is_some_and(|stored| stored == bytes))
    }

    /// The latest signed checkpoint (text).
    pub fn checkpoint(&self) -> Result<String, ServiceError> {
        Ok(self.store.latest_checkpoint(&self.signer())?.1)
    }

    /// The current tree size.
    pub fn tree_size(&self) -> Result<u64, ServiceError> {
        Ok(self.store.tree_size()?)
    }

    /// An inclusion proof for the auditors' API.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ServiceError> {
        let current = self.store.tree_size()?;
        if size > current || index >= size {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need index < size <= {current}"),
            ));
        }
        Ok(self.store.inclusion_proof(index, size)?)
    }

    /// A consistency proof for the auditors' API.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ServiceError> {
        let current = self.store.tree_size()?;
        if from > to || to > current {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need from <= to <= {current}"),
            ));
        }
        Ok(self.store.consistency_proof(from, to)?)
    }

    /// Leaf data `[start, end)` (at most [`MAX_LEAVES_PER_CALL`]).
    pub fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, ServiceError> {
        let current = self.store.tree_size()?;
        if start >= end || end > current {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need start < end <= {current}"),
            ));
        }
        if end - start > MAX_LEAVES_PER_CALL {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("at most {MAX_LEAVES_PER_CALL} leaves per call"),
            ));
        }
        Ok(self.store.leaves(start, end)?)
    }

    /// The revocation list, signed now.
    pub fn revocation_list(&self) -> Result<Vec<u8>, ServiceError> {
        RevocationList {
            version: 1,
            origin: self.keys.origin.clone(),
            issued_at: now_unix(),
            entries: self.store.revocations()?,
        }
        .sign(&self.keys.signing)
        .map_err(ServiceError::internal)
    }

    /// The signed status list of registered credentials (`docs/PROTOCOL.md` §15): built from
    /// the ledger's records and the credential revocations, and cached until the ledger grows,
    /// a credential is revoked, or half its `ttl` has passed. Reads only (never the
    /// sequencer's connection).
    pub fn status_list(&self) -> Result<std::sync::Arc<Vec<u8>>, ServiceError> {
        self.status_list_at(now_unix())
    }

    /// [`Self::status_list`] at time `now`.
    pub fn status_list_at(&self, now: i64) -> Result<std::sync::Arc<Vec<u8>>, ServiceError> {
        use birthright_core::status_list::{
            LeafStatus, StatusList, StatusListToken, TTL_SECS, VALIDITY_SECS,
        };
        // Held while building, so that a burst of requests builds the list once.
        let mut cache = self.status_cache.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.store.status_version()?;
        if let Some(c) = cache.as_ref()
            && c.version == version
            && (0..TTL_SECS / 2).contains(&now.saturating_sub(c.signed_at))
        {
            return Ok(c.bytes.clone());
        }
        let statuses = self.store.leaf_statuses()?;
        let mut list = StatusList::new(statuses.size);
        for &i in &statuses.superseded {
            list.set(i, LeafStatus::Superseded);
        }
        // A revoked credential is revoked, corrected or not.
        for &i in &statuses.revoked {
            list.set(i, LeafStatus::Revoked);
        }
        let bytes = std::sync::Arc::new(
            StatusListToken {
                origin: self.keys.origin.clone(),
                issued_at: now,
                expires_at: now.saturating_add(VALIDITY_SECS),
                ttl: TTL_SECS,
                list,
            }
            .sign(&self.keys.signing)
            .map_err(ServiceError::internal)?,
        );
        // The version read before building: if the ledger grew meanwhile, the next request
        // sees a new version and rebuilds.
        *cache = Some(StatusCache {
            version,
            signed_at: now,
            bytes: bytes.clone(),
        });
        Ok(bytes)
    }

    /// Revokes the registered credential at ledger leaf `leaf_index`: from the next status
    /// list on, it verifies as revoked. `reason` is one of
    /// [`birthright_core::trust::REVOCATION_REASONS`]; `note` stays in the database.
    /// Returns false if it was revoked already.
    pub fn revoke_credential(
        &self,
        leaf_index: u64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<bool, ServiceError> {
        check_reason(reason)?;
        match self
            .store
            .revoke_credential(leaf_index, now_unix(), reason, note)?
        {
            crate::store::CredentialRevocation::Revoked => Ok(true),
            crate::store::CredentialRevocation::AlreadyRevoked => Ok(false),
            crate::store::CredentialRevocation::NoSuchLeaf => Err(ServiceError::new(
                404,
                "unknown_leaf",
                format!("no registered record at ledger index {leaf_index}"),
            )),
        }
    }

    /// Revokes device `kid` from now on, with a public reason code (published in the signed
    /// revocation list) and a private note (kept in the database only).
    pub fn revoke(
        &self,
        kid: &KeyId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.revoke_at(kid, reason, note, now_unix())
    }

    /// Revokes device `kid` from `at`.
    pub fn revoke_at(
        &self,
        kid: &KeyId,
        reason: &str,
        note: Option<&str>,
        at: i64,
    ) -> Result<(), ServiceError> {
        check_reason(reason)?;
        if self.store.revoke(kid, at, reason, note)? {
            Ok(())
        } else {
            Err(ServiceError::new(
                404,
                "unknown_device",
                format!("no device {kid}"),
            ))
        }
    }

    /// All enrolled devices.
    pub fn devices(&self) -> Result<Vec<Device>, ServiceError> {
        Ok(self.store.devices()?)
    }

    /// The decrypted signed record `id`, if stored (for registrars): the first sequenced if
    /// several devices sent a record under this id (see [`Self::record_owners`]).
    pub fn record_bytes(&self, id: &Uuid) -> Result<Option<Vec<u8>>, ServiceError> {
        match self.store.record_owners(id)?.first() {
            Some(kid) => self.record_bytes_of(kid, id),
            None => Ok(None),
        }
    }

    /// The decrypted signed record `id` of device `kid`, if stored.
    pub fn record_bytes_of(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.store.record_bytes(kid, id)?)
    }

    /// The devices with a record `id` on the ledger, first sequenced first (more than one only
    /// if a device copied another's record id).
    pub fn record_owners(&self, id: &Uuid) -> Result<Vec<KeyId>, ServiceError> {
        Ok(self.store.record_owners(id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_capped_at_30_days_without_overflow() {
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl(" 12h "), Ok(43_200));
        assert_eq!(parse_ttl("30d"), Ok(MAX_TOKEN_TTL_SECS));
        // The reported overflow, and values just past the cap.
        for too_long in [
            "9223372036854775807s",
            "9223372036854775807d",
            "99999999999999999999999s",
            "31d",
            "721h",
            "2592001s",
        ] {
            assert_eq!(parse_ttl(too_long), Err(TtlError::TooLong), "{too_long}");
        }
        for bad in ["", "d", "0d", "-1d", "+1d", "7", "7w", "1.5h", "7дн", "1 d"] {
            assert_eq!(parse_ttl(bad), Err(TtlError::Format), "{bad}");
        }
    }
}
