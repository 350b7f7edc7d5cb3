//! The registry's logic, independent of HTTP: enrolment, ingest of sealed batches, the
//! ledger's read side and revocation. The HTTP layer ([`crate::http`]) only maps requests to
//! these calls.

use std::path::{Path, PathBuf};

use birthright_core::{
    keys::{KeyId, verifying_key},
    ledger::{Hash, LedgerError, checkpoint::Checkpoint, checkpoint::sign_checkpoint},
    trust::TrustBundle,
    wire::{RejectCode, Rejection},
};
use time::OffsetDateTime;

mod admin;
pub mod decisions;
mod duplicates;
mod enrolment;
mod ingest;
mod ledger_read;
mod notices;
mod tiles;
mod witnesses;

pub use witnesses::{Submission, WITNESS_TIMEOUT, check_witness_url};

pub use duplicates::{
    BACKFILL_STEP_LEAVES, Backfill, Decision, DuplicateView, MAX_CANDIDATE_BYTES, StoredCandidate,
    candidate_context,
};

use crate::{
    head::HEAD_FILE,
    keys::{DB_FILE, KeysError, RegistryKeys, TRUST_FILE},
    store::{DeviceRow, Recovery, RegistryStore, SqliteStore, StoreError},
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
        // The detail (a database or key error) is for the operator's log; the client learns
        // only that the registry failed. Storage errors never carry personal data (values are
        // encrypted).
        tracing::error!(detail = %e, "internal error");
        ServiceError::new(
            500,
            "internal",
            "internal error in the registry; it has been logged for the operator",
        )
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Restored(_) => ServiceError::new(503, "ledger_restored", e.to_string()),
            StoreError::Unavailable(detail) => {
                // Where the database is (host, database name) is for the operator's log, not
                // for every client on the network.
                tracing::warn!(%detail, "database unavailable");
                ServiceError::new(
                    503,
                    "database_unavailable",
                    "the registry's database is unavailable; try again shortly",
                )
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
    /// The back-fill of duplicate detection's keys could not finish (it resumes where it
    /// stopped at the next open).
    #[error("giving older records their duplicate-detection keys failed: {0}")]
    Backfill(ServiceError),
}

/// A running registry: its keys and store.
pub struct Registry {
    keys: RegistryKeys,
    store: Box<dyn RegistryStore>,
    trust: TrustBundle,
    status_cache: std::sync::Mutex<Option<StatusCache>>,
    /// Held while checkpoints are submitted to the witnesses (one round at a time).
    witness_lock: std::sync::Mutex<()>,
    /// The last checkpoint size resubmitted on a read, and when.
    witness_retry: std::sync::Mutex<Option<(u64, std::time::Instant)>>,
    /// The blocking index of duplicate detection, built at its first use.
    match_index: std::sync::Mutex<duplicates::MatchIndex>,
    /// Tests: run once at ingest between matching a batch and storing its rows (another
    /// request landing in between).
    #[cfg(test)]
    after_matching_hook: std::sync::Mutex<Option<AfterMatching>>,
}

/// Tests: what runs between a batch's matching and its storing.
#[cfg(test)]
type AfterMatching = Box<dyn FnOnce(&Registry) + Send>;

/// The signed status list as last built, and the state it was built from.
struct StatusCache {
    version: (u64, u64),
    signed_at: i64,
    bytes: std::sync::Arc<Vec<u8>>,
}

/// A device as listed for administrators.
pub type Device = DeviceRow;

/// The enrolled device a device's request names: its key id, its stored row and its key.
struct EnrolledDevice {
    kid: KeyId,
    row: DeviceRow,
    key: ed25519_dalek::VerifyingKey,
}

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

fn reject(code: RejectCode, message: impl Into<String>) -> Rejection {
    Rejection::new(code, message)
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

fn bundle_of(keys: &RegistryKeys, store: &dyn RegistryStore) -> Result<TrustBundle, StoreError> {
    let witnesses = store.witnesses()?.into_iter().map(|w| w.vkey).collect();
    Ok(keys
        .trust_bundle()
        .with_witnesses(witnesses, store.witness_quorum()?))
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
        let registry = Registry::with_store(keys, store)?;
        registry.store.latest_checkpoint(&registry.signer())?;
        Ok((registry, dir.join(TRUST_FILE)))
    }

    /// Opens the registry in `dir`, on the database `registry init` recorded.
    pub fn open(dir: &Path) -> Result<Registry, OpenError> {
        Registry::open_on(dir, &Database::recorded(dir)?)
    }

    /// Opens the registry in `dir` on `database`, and gives the records sequenced before
    /// duplicate detection their keys ([`Registry::backfill_match_keys`]; once done, it only
    /// looks at the leaves appended since the last open).
    pub fn open_on(dir: &Path, database: &Database) -> Result<Registry, OpenError> {
        let keys = RegistryKeys::load(dir)?;
        let store = open_store(dir, &keys, database)?;
        let registry = Registry::with_store(keys, store)?;
        let backfill = registry
            .backfill_match_keys()
            .map_err(OpenError::Backfill)?;
        if backfill.keyed + backfill.matched > 0 {
            tracing::info!(
                keyed = backfill.keyed,
                matched = backfill.matched,
                "older records given their duplicate-detection keys"
            );
        }
        Ok(registry)
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

    /// A registry over any store implementation. Its trust bundle lists the store's witnesses
    /// and quorum (v2), or none (v1).
    pub fn with_store(
        keys: RegistryKeys,
        store: Box<dyn RegistryStore>,
    ) -> Result<Registry, StoreError> {
        let trust = bundle_of(&keys, store.as_ref())?;
        Ok(Registry {
            keys,
            store,
            trust,
            status_cache: std::sync::Mutex::new(None),
            witness_lock: std::sync::Mutex::new(()),
            witness_retry: std::sync::Mutex::new(None),
            match_index: std::sync::Mutex::new(duplicates::MatchIndex::default()),
            #[cfg(test)]
            after_matching_hook: std::sync::Mutex::new(None),
        })
    }

    /// The public trust bundle, as it was when the registry was opened.
    pub fn trust_bundle(&self) -> &TrustBundle {
        &self.trust
    }

    /// The trust bundle as the store's witnesses and quorum make it now (after `registry
    /// witness add` or `quorum`), and writes it to `trust.json` in `dir`.
    pub fn write_trust_file(&self, dir: &Path) -> Result<TrustBundle, OpenError> {
        let trust = bundle_of(&self.keys, self.store.as_ref())?;
        let path = dir.join(TRUST_FILE);
        std::fs::write(&path, trust.to_json()).map_err(|source| KeysError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(trust)
    }

    /// The enrolled device whose key id a device's request carries (`kid`, its raw bytes),
    /// with its verifying key. Refuses with 400 `malformed` (the request kind's code) a key id
    /// that is not 8 bytes, and with 403 `unknown_device` a device this registry never
    /// enrolled; revocation and the request's signature are the caller's to judge.
    fn enrolled_device(
        &self,
        kid: &[u8],
        malformed: &'static str,
    ) -> Result<EnrolledDevice, ServiceError> {
        let kid = KeyId::from_slice(kid)
            .ok_or_else(|| ServiceError::new(400, malformed, "device key id must be 8 bytes"))?;
        crate::http::log_device_kid(&kid);
        let row = self.store.device(&kid)?.ok_or_else(|| {
            ServiceError::new(
                403,
                "unknown_device",
                format!("device {kid} is not enrolled with this registry"),
            )
        })?;
        let key = verifying_key(&row.public_key)
            .ok_or_else(|| ServiceError::internal("stored device key is invalid"))?;
        Ok(EnrolledDevice { kid, row, key })
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
