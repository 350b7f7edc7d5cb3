//! The device store: one SQLite database (bundled SQLite, WAL) holding the device identity and
//! every captured record, encrypted value by value under the host's [`StorageKey`].
//!
//! Everything the device decides on is authenticated under that key, so someone who can write
//! the app's files but does not hold the key (a rooted or stolen phone, a restored backup,
//! malware) cannot redirect, suppress or fake anything without it being reported as
//! [`StoreError::Tampered`]:
//! - every meta value (trust bundle, registry URL, certificate, revocation list, identity) is
//!   sealed with its key bound in;
//! - every row of `records`, `batches` and `checkpoints` carries a tag over all its columns
//!   ([`crypto::RowMac`]), checked on every read and recomputed by every write from the
//!   verified previous state;
//! - a sealed manifest counts the records in each status, the open and done batches, the
//!   checkpoints and the meta keys, so a deleted row or a changed status that no read touches
//!   is found at open and before every sync ([`Store::check_integrity`]).
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version` (see [`schema`]);
//! every multi-step write runs in one `IMMEDIATE` transaction through [`Store::write`]. A
//! database that cannot be read is reported, never deleted or recreated: it may hold unsynced
//! registrations (see `docs/adr/0001-device-store-corruption.md`).

pub mod crypto;
pub mod schema;
pub mod sync_rows;

use std::{
    collections::BTreeSet,
    path::Path,
    str::FromStr,
    sync::{Mutex, MutexGuard},
};

pub use crypto::{BadStorageKey, StorageKey};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::keys::RngError;
use crypto::{MacKey, RowMac};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage key does not open this database.
    #[error("wrong storage key: this device store was created with a different key")]
    WrongStorageKey,
    /// The file is not a SQLite database, or is damaged.
    #[error("the device store is not a valid database or is damaged: {0}")]
    Corrupt(String),
    /// There is no device store at the path (open expects one).
    #[error("there is no device store at this path: create one first")]
    NotFound,
    /// A file already exists where a new device store was to be created.
    #[error("a device store already exists at this path: open it instead")]
    AlreadyExists,
    /// The database was written by a newer version of Birthright.
    #[error(
        "the device store has schema version {found}; this app supports up to {supported}: update the app"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// A value or row failed its integrity check although the key is right: the file was
    /// changed by something other than this app.
    #[error("stored {what} failed its integrity check: the device store has been tampered with")]
    Tampered {
        /// Which value.
        what: String,
    },
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No randomness.
    #[error(transparent)]
    Rng(#[from] RngError),
}

/// A caller's error type inside [`crate::sqlite::write`], which needs SQLite's errors to
/// convert into it.
struct Lift<E>(E);

impl<E: From<StoreError>> From<rusqlite::Error> for Lift<E> {
    fn from(e: rusqlite::Error) -> Self {
        Lift(E::from(StoreError::from(e)))
    }
}

fn tampered(what: impl Into<String>) -> StoreError {
    StoreError::Tampered { what: what.into() }
}

/// Where a record is in its life on the device.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordStatus {
    /// Captured, waiting to be sent.
    Pending,
    /// Sent in a batch whose answer has not been verified yet.
    InFlight,
    /// On the registry's ledger, with a verified receipt.
    Acknowledged,
    /// Refused by the registry, at sync or later by a registrar (rejected, a duplicate, or
    /// a correction asked for); the reason is kept for the worker.
    Rejected,
    /// Registered by the registry (a legal registration, PROTOCOL §10.1), with its
    /// registered credential. An acknowledged record is only declared.
    Registered,
}

impl RecordStatus {
    /// All statuses, in the order of their codes (the sealed manifest counts them in this
    /// order, so a new status is added at the end).
    pub const ALL: [RecordStatus; 5] = [
        RecordStatus::Pending,
        RecordStatus::InFlight,
        RecordStatus::Acknowledged,
        RecordStatus::Rejected,
        RecordStatus::Registered,
    ];

    /// The name stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Pending => "pending",
            RecordStatus::InFlight => "in_flight",
            RecordStatus::Acknowledged => "acknowledged",
            RecordStatus::Rejected => "rejected",
            RecordStatus::Registered => "registered",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for RecordStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown status '{s}': expected pending, in_flight, acknowledged, rejected \
                     or registered"
                )
            })
    }
}

impl std::fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the `records` table, still sealed, after its tag checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Record id.
    pub id: Uuid,
    /// Capture order on this device.
    pub seq: i64,
    /// Capture time, Unix seconds.
    pub captured_at: i64,
    /// Current status.
    pub status: RecordStatus,
    /// The record this one corrects.
    pub supersedes: Option<Uuid>,
    /// The record that corrects this one.
    pub superseded_by: Option<Uuid>,
    /// Machine-readable rejection reason.
    pub reject_code: Option<String>,
    /// Human-readable rejection reason.
    pub reject_message: Option<String>,
    /// Ledger leaf index once acknowledged.
    pub leaf_index: Option<u64>,
    /// Sealed COSE_Sign1 bytes of the signed record.
    pub sealed_record: Vec<u8>,
    /// Sealed CBOR summary (names and date of birth) for listing and search.
    pub sealed_summary: Vec<u8>,
    /// The batch that carries it, once sent.
    pub batch_id: Option<Uuid>,
    /// The verified ledger receipt (CBOR, public data), once acknowledged.
    pub receipt: Option<Vec<u8>>,
    /// The registered credential, sealed for this row, once the registry issued it.
    pub sealed_credential: Option<Vec<u8>>,
    /// The registry's decision on it, verified on its ledger leaf (PROTOCOL §9.1).
    pub decision: Option<RecordDecision>,
}

/// A registry's decision on one of the device's records, as the device verified it: the
/// fields of its decision leaf (PROTOCOL §10.1) and that leaf's index. Public ledger data,
/// kept as CBOR (packed struct: 0 decision · 1 reason · 2 decided_by · 3 decided_at ·
/// 4 leaf_index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDecision {
    /// What was decided.
    pub decision: crate::ledger::leaf::DecisionKind,
    /// Why.
    pub reason: crate::ledger::leaf::DecisionReason,
    /// The review policy or a registrar (never which one).
    pub decided_by: crate::ledger::leaf::DecidedBy,
    /// When, Unix seconds (the registry's clock).
    pub decided_at: i64,
    /// The decision leaf's index.
    pub leaf_index: u64,
}

impl RecordDecision {
    /// What the field worker is told, in plain language: `The registrar asked for a
    /// correction (missing information): correct the record and sync again.`
    pub fn explanation(&self) -> String {
        use crate::ledger::leaf::{DecisionKind, DecisionReason};
        let why = match self.reason {
            DecisionReason::None | DecisionReason::Timely | DecisionReason::Reviewed => None,
            DecisionReason::IncorrectInformation => Some("incorrect information"),
            DecisionReason::MissingInformation => Some("missing information"),
            DecisionReason::InsufficientEvidence => Some("insufficient evidence"),
            DecisionReason::SuspectedFraud => Some("suspected fraud"),
            DecisionReason::AlreadyRegistered => Some("the child is already registered"),
            DecisionReason::Other => Some("another reason: ask the registry"),
        };
        let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
        match self.decision {
            DecisionKind::Registered => format!("The registry registered this birth{why}."),
            DecisionKind::Rejected => format!("The registrar rejected this registration{why}."),
            DecisionKind::Duplicate => format!(
                "The registrar found this child already registered in another record{why}: \
                 do not capture it again."
            ),
            DecisionKind::CorrectionRequested => format!(
                "The registrar asked for a correction{why}: correct the record and sync again."
            ),
        }
    }
}

impl RecordRow {
    /// A new pending row (its `seq` is assigned when it is inserted).
    pub fn pending(
        id: Uuid,
        captured_at: i64,
        supersedes: Option<Uuid>,
        sealed_record: Vec<u8>,
        sealed_summary: Vec<u8>,
    ) -> RecordRow {
        RecordRow {
            id,
            seq: 0,
            captured_at,
            status: RecordStatus::Pending,
            supersedes,
            superseded_by: None,
            reject_code: None,
            reject_message: None,
            leaf_index: None,
            sealed_record,
            sealed_summary,
            batch_id: None,
            receipt: None,
            sealed_credential: None,
            decision: None,
        }
    }
}

pub(crate) const RECORD_COLUMNS: &str = "id, seq, captured_at, status, supersedes, superseded_by, \
     reject_code, reject_message, leaf_index, sealed_record, sealed_summary, batch_id, receipt, \
     sealed_credential, row_mac, decision";

pub(crate) fn uuid_from_blob(blob: Vec<u8>) -> rusqlite::Result<Uuid> {
    Uuid::from_slice(&blob).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn optional_uuid(blob: Option<Vec<u8>>) -> rusqlite::Result<Option<Uuid>> {
    blob.map(uuid_from_blob).transpose()
}

fn uuid_bytes(id: &Option<Uuid>) -> Option<&[u8]> {
    id.as_ref().map(|u| u.as_bytes().as_slice())
}

/// A row as read, with the tag it carries (not yet checked).
pub(crate) struct Tagged<T> {
    pub(crate) row: T,
    pub(crate) tag: Option<Vec<u8>>,
}

pub(crate) fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tagged<RecordRow>> {
    let status: String = row.get(3)?;
    Ok(Tagged {
        row: RecordRow {
            id: uuid_from_blob(row.get(0)?)?,
            seq: row.get(1)?,
            captured_at: row.get(2)?,
            status: status.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
            })?,
            supersedes: optional_uuid(row.get(4)?)?,
            superseded_by: optional_uuid(row.get(5)?)?,
            reject_code: row.get(6)?,
            reject_message: row.get(7)?,
            leaf_index: row.get::<_, Option<i64>>(8)?.map(|i| i as u64),
            sealed_record: row.get(9)?,
            sealed_summary: row.get(10)?,
            batch_id: optional_uuid(row.get(11)?)?,
            receipt: row.get(12)?,
            sealed_credential: row.get(13)?,
            decision: row
                .get::<_, Option<Vec<u8>>>(15)?
                .map(|bytes| {
                    crate::codec::from_slice(&bytes, 256).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            15,
                            rusqlite::types::Type::Blob,
                            e.to_string().into(),
                        )
                    })
                })
                .transpose()?,
        },
        tag: row.get(14)?,
    })
}

fn decision_bytes(decision: &Option<RecordDecision>) -> Result<Option<Vec<u8>>, StoreError> {
    decision
        .as_ref()
        .map(|d| crate::codec::to_vec(d).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Meta key of the encrypted canary checked at every open.
const META_CANARY: &str = "canary";
const CANARY_PLAINTEXT: &[u8] = b"birthright device store";
/// Meta key of the sealed [`Manifest`].
const META_MANIFEST: &str = "manifest";
/// Meta values that schema version 2 already sealed (the others were plaintext then).
const V2_SEALED_META: [&str; 2] = [META_CANARY, "device_secret"];

/// What the store holds, counted: sealed in `meta`, updated in the same transaction as every
/// insert and status change, and compared with the tables at open and before every sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Records in each status, in [`RecordStatus::ALL`] order (a manifest written before a
    /// status existed is shorter: the missing counts are 0).
    records: Vec<u64>,
    /// Batches still open.
    open_batches: u64,
    /// Batches answered.
    done_batches: u64,
    /// Verified checkpoints.
    checkpoints: u64,
    /// Meta keys present (besides the canary and the manifest).
    meta: BTreeSet<String>,
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            records: vec![0; RecordStatus::ALL.len()],
            open_batches: 0,
            done_batches: 0,
            checkpoints: 0,
            meta: BTreeSet::new(),
        }
    }
}

/// An open device store.
pub struct Store {
    conn: Mutex<Connection>,
    key: StorageKey,
    mac: MacKey,
    /// The database file (`None` in memory): its `.sync-lock` sibling serialises syncs.
    path: Option<std::path::PathBuf>,
    /// Serialises syncs of an in-memory store (a file store also locks its lock file).
    sync_gate: Mutex<()>,
}

/// Held while a sync runs; dropping it lets the next one start.
pub struct SyncLock<'s> {
    _gate: MutexGuard<'s, ()>,
    _file: Option<std::fs::File>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(..)")
    }
}

fn classify_open_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt(e.to_string())
        }
        Some(rusqlite::ErrorCode::CannotOpen) => StoreError::NotFound,
        _ => StoreError::Sqlite(e),
    }
}

/// Creates `path` as a new, empty file readable by its owner only (SQLite gives its WAL and
/// shared-memory files the same mode); fails if anything exists there.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists),
        Err(e) => Err(StoreError::Corrupt(format!(
            "cannot create the store file: {e}"
        ))),
    }
}

impl Store {
    /// Opens the existing store at `path`. A missing file is [`StoreError::NotFound`]; an empty
    /// one (truncated to zero bytes, with or without its WAL) or one without a Birthright
    /// schema is [`StoreError::Corrupt`]: it is never recreated, since the lost file may have
    /// held unsynced registrations. The key is checked before anything is written; a wrong key
    /// fails with [`StoreError::WrongStorageKey`] and leaves the file untouched. The store's
    /// integrity (row counts, meta keys) is checked too.
    pub fn open(path: &Path, key: StorageKey) -> Result<Store, StoreError> {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NotFound),
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "cannot read the store file: {e}"
                )));
            }
        };
        if !metadata.is_file() {
            return Err(StoreError::Corrupt(
                "the store path is not a regular file".into(),
            ));
        }
        if metadata.len() == 0 {
            return Err(StoreError::Corrupt(
                "the store file is empty (0 bytes): it was truncated; restore it from a backup"
                    .into(),
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify_open_error)?;
        Self::setup(conn, key, false, Some(path))
    }

    /// Creates a new store at `path`, which must not exist yet (the file is made 0600).
    pub fn create(path: &Path, key: StorageKey) -> Result<Store, StoreError> {
        create_private_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify_open_error)?;
        Self::setup(conn, key, true, Some(path))
    }

    /// An in-memory store (tests and benchmarks).
    pub fn open_in_memory(key: StorageKey) -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, key, true, None)
    }

    fn setup(
        conn: Connection,
        key: StorageKey,
        creating: bool,
        path: Option<&Path>,
    ) -> Result<Store, StoreError> {
        // Reading the schema version is the first touch of the file: it fails cleanly on a
        // file that is not a database, before anything is written.
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(classify_open_error)?;
        if version > schema::VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: schema::VERSION,
            });
        }
        if version == 0 && !creating {
            return Err(StoreError::Corrupt(
                "the file holds no device store (no schema): it was emptied or replaced".into(),
            ));
        }
        if version >= 1 {
            check_canary(&conn, &key)?;
        }
        // FULL synchronous: a captured record must survive power loss, not only a killed
        // process; freed pages are overwritten, so deleted data leaves no trace either.
        crate::sqlite::Pragmas {
            busy_timeout: std::time::Duration::from_secs(10),
            cache_kib: None,
            secure_delete: true,
            mmap_bytes: None,
        }
        .apply(&conn)
        .map_err(classify_open_error)?;
        let store = Store {
            conn: Mutex::new(conn),
            mac: key.mac_key(),
            key,
            path: path.map(Path::to_path_buf),
            sync_gate: Mutex::new(()),
        };
        store.write(|tx| -> Result<(), StoreError> {
            schema::migrate(tx)?;
            if version == 0 {
                let sealed =
                    store.seal("meta", "value", META_CANARY.as_bytes(), CANARY_PLAINTEXT)?;
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                    params![META_CANARY, sealed],
                )?;
                store.put_manifest(tx, &Manifest::default())?;
            } else if version < 3 {
                store.authenticate_v2_state(tx)?;
            }
            store.check_integrity(tx)
        })?;
        Ok(store)
    }

    /// Takes the store's sync lock: `Ok(None)` if another sync holds it (in this process or,
    /// for a file store, in another one: an OS file lock on `<store>.sync-lock`) and `wait`
    /// is false; with `wait`, blocks until it is free.
    pub fn sync_lock(&self, wait: bool) -> Result<Option<SyncLock<'_>>, StoreError> {
        let gate = if wait {
            self.sync_gate.lock().unwrap_or_else(|e| e.into_inner())
        } else {
            match self.sync_gate.try_lock() {
                Ok(gate) => gate,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
            }
        };
        let Some(path) = &self.path else {
            return Ok(Some(SyncLock {
                _gate: gate,
                _file: None,
            }));
        };
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".sync-lock");
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&lock_path)
            .map_err(|e| StoreError::Corrupt(format!("cannot open the sync lock file: {e}")))?;
        if wait {
            file.lock()
                .map_err(|e| StoreError::Corrupt(format!("cannot lock the sync lock file: {e}")))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Corrupt(format!(
                        "cannot lock the sync lock file: {e}"
                    )));
                }
            }
        }
        Ok(Some(SyncLock {
            _gate: gate,
            _file: Some(file),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the connection for reading.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        f(&self.lock())
    }

    /// Runs `f` in one `IMMEDIATE` transaction, committed only if `f` succeeds.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.lock();
        crate::sqlite::write(&mut conn, |tx| f(tx).map_err(Lift)).map_err(|Lift(e)| e)
    }

    /// Encrypts a value for `table.column` of row `row`.
    pub fn seal(
        &self,
        table: &str,
        column: &str,
        row: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .key
            .seal(&crypto::context(table, column, row), plaintext)?)
    }

    /// Decrypts a value of `table.column` of row `row`.
    pub fn unseal(
        &self,
        table: &str,
        column: &str,
        row: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.key
            .open(&crypto::context(table, column, row), sealed)
            .ok_or_else(|| tampered(format!("{table}.{column}")))
    }

    /// Reads and decrypts a meta value. A key the manifest lists but the table lacks (a
    /// deleted value) is [`StoreError::Tampered`].
    pub fn meta(
        &self,
        conn: &Connection,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match raw_meta(conn, key)? {
            Some(sealed) => Ok(Some(self.unseal(
                "meta",
                "value",
                key.as_bytes(),
                &sealed,
            )?)),
            None if self.manifest(conn)?.meta.contains(key) => {
                Err(tampered(format!("meta value '{key}' (deleted)")))
            }
            None => Ok(None),
        }
    }

    /// A meta value as UTF-8 text.
    pub fn meta_text(&self, conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
        self.meta(conn, key)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| tampered(format!("meta value '{key}'")))
            })
            .transpose()
    }

    /// Encrypts and writes a meta value (its key is bound into the ciphertext).
    pub fn set_meta(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let sealed = self.seal("meta", "value", key.as_bytes(), value)?;
        set_raw_meta(tx, key, &sealed)?;
        let mut manifest = self.manifest(tx)?;
        if manifest.meta.insert(key.to_string()) {
            self.put_manifest(tx, &manifest)?;
        }
        Ok(())
    }

    fn manifest(&self, conn: &Connection) -> Result<Manifest, StoreError> {
        let sealed = raw_meta(conn, META_MANIFEST)?
            .ok_or_else(|| tampered("manifest of the store (deleted)"))?;
        let plain = self.unseal("meta", "value", META_MANIFEST.as_bytes(), &sealed)?;
        let mut manifest: Manifest = crate::codec::from_slice(&plain, 1024 * 1024)
            .map_err(|_| tampered("manifest of the store"))?;
        if manifest.records.len() > RecordStatus::ALL.len() {
            return Err(tampered("manifest of the store (unknown statuses)"));
        }
        manifest.records.resize(RecordStatus::ALL.len(), 0);
        Ok(manifest)
    }

    fn put_manifest(&self, tx: &Transaction<'_>, manifest: &Manifest) -> Result<(), StoreError> {
        let plain = Zeroizing::new(
            crate::codec::to_vec(manifest).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        let sealed = self.seal("meta", "value", META_MANIFEST.as_bytes(), &plain)?;
        set_raw_meta(tx, META_MANIFEST, &sealed)
    }

    fn update_manifest(
        &self,
        tx: &Transaction<'_>,
        f: impl FnOnce(&mut Manifest),
    ) -> Result<(), StoreError> {
        let mut manifest = self.manifest(tx)?;
        f(&mut manifest);
        self.put_manifest(tx, &manifest)
    }

    /// Compares the tables with the sealed manifest: a record deleted or moved to another
    /// status, a batch or checkpoint deleted, a meta value deleted or added is
    /// [`StoreError::Tampered`]. Cheap (counts only); run at open and before every sync.
    pub fn check_integrity(&self, conn: &Connection) -> Result<(), StoreError> {
        let manifest = self.manifest(conn)?;
        let mut records = vec![0u64; RecordStatus::ALL.len()];
        let mut stmt =
            conn.prepare_cached("SELECT status, COUNT(*) FROM records GROUP BY status")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (status, count) = row?;
            let status: RecordStatus = status.parse().map_err(|_| tampered("record status"))?;
            records[status.index()] = count as u64;
        }
        if records != manifest.records {
            return Err(tampered(
                "record list (a record was deleted or its status changed)",
            ));
        }
        let count = |sql: &str| -> Result<u64, StoreError> {
            Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        if count("SELECT COUNT(*) FROM batches WHERE state = 'open'")? != manifest.open_batches
            || count("SELECT COUNT(*) FROM batches WHERE state = 'done'")? != manifest.done_batches
        {
            return Err(tampered(
                "batch list (a batch was deleted or its state changed)",
            ));
        }
        if count("SELECT COUNT(*) FROM checkpoints")? != manifest.checkpoints {
            return Err(tampered("verified checkpoints (one was deleted)"));
        }
        let mut stmt = conn.prepare_cached("SELECT key FROM meta WHERE key NOT IN (?1, ?2)")?;
        let keys = stmt
            .query_map([META_CANARY, META_MANIFEST], |r| r.get::<_, String>(0))?
            .collect::<Result<BTreeSet<_>, _>>()?;
        if keys != manifest.meta {
            return Err(tampered("device settings (a value was deleted or added)"));
        }
        Ok(())
    }

    /// Seals the meta values schema 2 kept in plaintext and tags every row, when a store
    /// older than version 3 is opened. What was on disk before is taken as it was (an older
    /// version could not tell a change); from here on every change is detected.
    fn authenticate_v2_state(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut manifest = Manifest::default();
        let meta: Vec<(String, Vec<u8>)> = {
            let mut stmt = tx.prepare("SELECT key, value FROM meta")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (key, value) in meta {
            if key == META_CANARY {
                continue;
            }
            if !V2_SEALED_META.contains(&key.as_str()) {
                let sealed = self.seal("meta", "value", key.as_bytes(), &value)?;
                set_raw_meta(tx, &key, &sealed)?;
            }
            manifest.meta.insert(key);
        }
        for row in self.untrusted_records(tx)? {
            manifest.records[row.status.index()] += 1;
            tx.execute(
                "UPDATE records SET row_mac = ?2 WHERE id = ?1",
                params![
                    row.id.as_bytes().as_slice(),
                    self.record_tag(&row).finish().as_slice()
                ],
            )?;
        }
        for batch in self.untrusted_batches(tx)? {
            if batch.done {
                manifest.done_batches += 1;
            } else {
                manifest.open_batches += 1;
            }
            tx.execute(
                "UPDATE batches SET row_mac = ?2 WHERE id = ?1",
                params![
                    batch.id.as_bytes().as_slice(),
                    self.batch_tag(&batch).finish().as_slice()
                ],
            )?;
        }
        for (checkpoint, verified_at) in self.untrusted_checkpoints(tx)? {
            manifest.checkpoints += 1;
            tx.execute(
                "UPDATE checkpoints SET row_mac = ?2 WHERE size = ?1",
                params![
                    checkpoint.size as i64,
                    self.checkpoint_tag(&checkpoint, verified_at)
                        .finish()
                        .as_slice()
                ],
            )?;
        }
        self.put_manifest(tx, &manifest)
    }

    fn untrusted_records(&self, conn: &Connection) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare(&format!("SELECT {RECORD_COLUMNS} FROM records"))?;
        let rows = stmt
            .query_map([], record_row)?
            .map(|r| r.map(|t| t.row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn record_tag(&self, r: &RecordRow) -> RowMac {
        let mac = RowMac::new(&self.mac, "records")
            .bytes(Some(r.id.as_bytes()))
            .int(Some(r.seq))
            .int(Some(r.captured_at))
            .bytes(Some(r.status.as_str().as_bytes()))
            .bytes(uuid_bytes(&r.supersedes))
            .bytes(uuid_bytes(&r.superseded_by))
            .bytes(r.reject_code.as_deref().map(str::as_bytes))
            .bytes(r.reject_message.as_deref().map(str::as_bytes))
            .int(r.leaf_index.map(|i| i as i64))
            .bytes(Some(&r.sealed_record))
            .bytes(Some(&r.sealed_summary))
            .bytes(uuid_bytes(&r.batch_id))
            .bytes(r.receipt.as_deref())
            .bytes(r.sealed_credential.as_deref());
        // Tagged only when present, so the tags of rows written before decisions existed
        // still check out; a decision removed from a row no longer matches its tag.
        match r
            .decision
            .as_ref()
            .and_then(|d| crate::codec::to_vec(d).ok())
        {
            Some(decision) => mac.bytes(Some(&decision)),
            None => mac,
        }
    }

    pub(crate) fn verified_record(
        &self,
        tagged: Tagged<RecordRow>,
    ) -> Result<RecordRow, StoreError> {
        match &tagged.tag {
            Some(tag) if self.record_tag(&tagged.row).verify(tag) => Ok(tagged.row),
            _ => Err(tampered(format!("record {}", tagged.row.id))),
        }
    }

    fn verified_records(
        &self,
        tagged: impl Iterator<Item = rusqlite::Result<Tagged<RecordRow>>>,
    ) -> Result<Vec<RecordRow>, StoreError> {
        tagged.map(|t| self.verified_record(t?)).collect()
    }

    /// Inserts a new record row (its status as given, normally pending); `seq` is assigned
    /// here and returned.
    pub fn insert_record(&self, tx: &Transaction<'_>, row: &RecordRow) -> Result<i64, StoreError> {
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM records", [], |r| {
            r.get(0)
        })?;
        let row = RecordRow { seq, ..row.clone() };
        tx.execute(
            &format!(
                "INSERT INTO records({RECORD_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ),
            params![
                row.id.as_bytes().as_slice(),
                row.seq,
                row.captured_at,
                row.status.as_str(),
                uuid_bytes(&row.supersedes),
                uuid_bytes(&row.superseded_by),
                row.reject_code,
                row.reject_message,
                row.leaf_index.map(|i| i as i64),
                row.sealed_record,
                row.sealed_summary,
                uuid_bytes(&row.batch_id),
                row.receipt,
                row.sealed_credential,
                self.record_tag(&row).finish().as_slice(),
                decision_bytes(&row.decision)?,
            ],
        )?;
        self.update_manifest(tx, |m| m.records[row.status.index()] += 1)?;
        Ok(seq)
    }

    /// Writes the new state of a record read (and verified) as `old` in this transaction:
    /// its mutable columns and a fresh tag; the manifest follows a status change.
    pub(crate) fn put_record(
        &self,
        tx: &Transaction<'_>,
        old: &RecordRow,
        new: &RecordRow,
    ) -> Result<(), StoreError> {
        let immutable_changed = old.id != new.id
            || old.seq != new.seq
            || old.captured_at != new.captured_at
            || old.supersedes != new.supersedes
            || old.sealed_record != new.sealed_record
            || old.sealed_summary != new.sealed_summary;
        if immutable_changed {
            return Err(StoreError::Corrupt(format!(
                "record {}: an immutable column was about to change",
                old.id
            )));
        }
        let changed = tx.execute(
            "UPDATE records SET status = ?2, superseded_by = ?3, reject_code = ?4,
                 reject_message = ?5, leaf_index = ?6, batch_id = ?7, receipt = ?8,
                 sealed_credential = ?9, row_mac = ?10, decision = ?11
             WHERE id = ?1",
            params![
                new.id.as_bytes().as_slice(),
                new.status.as_str(),
                uuid_bytes(&new.superseded_by),
                new.reject_code,
                new.reject_message,
                new.leaf_index.map(|i| i as i64),
                uuid_bytes(&new.batch_id),
                new.receipt,
                new.sealed_credential,
                self.record_tag(new).finish().as_slice(),
                decision_bytes(&new.decision)?,
            ],
        )?;
        if changed != 1 {
            return Err(tampered(format!("record {} (deleted)", old.id)));
        }
        if old.status != new.status {
            self.update_manifest(tx, |m| {
                m.records[old.status.index()] = m.records[old.status.index()].saturating_sub(1);
                m.records[new.status.index()] += 1;
            })?;
        }
        Ok(())
    }

    /// Marks `old` as superseded by `new`.
    pub fn set_superseded_by(
        &self,
        tx: &Transaction<'_>,
        old: &Uuid,
        new: &Uuid,
    ) -> Result<(), StoreError> {
        let row = self
            .record(tx, old)?
            .ok_or_else(|| StoreError::Corrupt(format!("record {old} is missing")))?;
        let updated = RecordRow {
            superseded_by: Some(*new),
            ..row.clone()
        };
        self.put_record(tx, &row, &updated)
    }

    /// The row of record `id`, verified.
    pub fn record(&self, conn: &Connection, id: &Uuid) -> Result<Option<RecordRow>, StoreError> {
        conn.query_row(
            &format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1"),
            [id.as_bytes().as_slice()],
            record_row,
        )
        .optional()?
        .map(|t| self.verified_record(t))
        .transpose()
    }

    /// Rows in capture order, optionally only those with `status`, each verified.
    pub fn records(
        &self,
        conn: &Connection,
        status: Option<RecordStatus>,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE (?1 IS NULL OR status = ?1) ORDER BY seq"
        ))?;
        let rows = stmt.query_map([status.map(RecordStatus::as_str)], record_row)?;
        self.verified_records(rows)
    }

    /// Number of records in each status, from the sealed manifest.
    pub fn counts(&self, conn: &Connection) -> Result<Vec<(RecordStatus, u64)>, StoreError> {
        let manifest = self.manifest(conn)?;
        Ok(RecordStatus::ALL
            .into_iter()
            .map(|status| (status, manifest.records[status.index()]))
            .collect())
    }
}

fn raw_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()?)
}

fn set_raw_meta(tx: &Transaction<'_>, key: &str, value: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn check_canary(conn: &Connection, key: &StorageKey) -> Result<(), StoreError> {
    let sealed = raw_meta(conn, META_CANARY)
        .map_err(|e| StoreError::Corrupt(format!("canary unreadable: {e}")))?
        .ok_or_else(|| StoreError::Corrupt("the key check value is missing".into()))?;
    match key.open(
        &crypto::context("meta", "value", META_CANARY.as_bytes()),
        &sealed,
    ) {
        Some(plain) if plain.as_slice() == CANARY_PLAINTEXT => Ok(()),
        _ => Err(StoreError::WrongStorageKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let key = StorageKey::generate().unwrap();
        let store = Store::create(&path, key.clone()).unwrap();
        store.write(|tx| store.set_meta(tx, "s", b"value")).unwrap();
        drop(store);
        let before = std::fs::read(&path).unwrap();
        let wrong = StorageKey::generate().unwrap();
        let err = Store::open(&path, wrong).unwrap_err();
        assert!(matches!(err, StoreError::WrongStorageKey), "{err}");
        assert_eq!(
            err.to_string(),
            "wrong storage key: this device store was created with a different key"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let store = Store::open(&path, key).unwrap();
        let value = store.read(|c| store.meta(c, "s")).unwrap().unwrap();
        assert_eq!(value.as_slice(), b"value");
    }

    #[test]
    fn not_a_database_is_corrupt_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        std::fs::write(&path, b"this is not sqlite, and it is much longer than a header would be ............................................................").unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path, StorageKey::generate().unwrap()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn moved_ciphertext_does_not_decrypt() {
        let store = Store::open_in_memory(StorageKey::generate().unwrap()).unwrap();
        let sealed = store.seal("records", "sealed_record", b"a", b"x").unwrap();
        assert!(
            store
                .unseal("records", "sealed_record", b"b", &sealed)
                .is_err()
        );
        assert!(
            store
                .unseal("records", "sealed_summary", b"a", &sealed)
                .is_err()
        );
    }

    fn pending_row(store: &Store, n: u8) -> RecordRow {
        let id = Uuid::from_bytes([n; 16]);
        RecordRow::pending(
            id,
            1_700_000_000 + n as i64,
            None,
            store
                .seal("records", "sealed_record", id.as_bytes(), b"record")
                .unwrap(),
            store
                .seal("records", "sealed_summary", id.as_bytes(), b"summary")
                .unwrap(),
        )
    }

    /// A store file with two records, a meta value and a checkpoint, closed.
    fn populated(dir: &Path, key: &StorageKey) -> std::path::PathBuf {
        let path = dir.join("device.db");
        let store = Store::create(&path, key.clone()).unwrap();
        store
            .write(|tx| -> Result<(), StoreError> {
                store.insert_record(tx, &pending_row(&store, 1))?;
                store.insert_record(tx, &pending_row(&store, 2))?;
                store.set_meta(tx, "trust_bundle", b"{\"pinned\": true}")?;
                store.save_checkpoint(
                    tx,
                    &sync_rows::VerifiedCheckpoint {
                        size: 5,
                        root_hash: [9; 32],
                        note: "note".into(),
                    },
                    1,
                )
            })
            .unwrap();
        path
    }

    fn raw(path: &Path, sql: &str) {
        Connection::open(path).unwrap().execute_batch(sql).unwrap();
    }

    fn assert_tampered<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
        match result {
            Err(StoreError::Tampered { what: found }) => {
                assert!(found.contains(what), "{found}")
            }
            other => panic!("expected Tampered({what}), got {other:?}"),
        }
    }

    #[test]
    fn a_status_changed_behind_the_apps_back_is_found_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().unwrap();
        let path = populated(dir.path(), &key);
        // (c) of the security review: mark a pending record acknowledged so it is never sent.
        raw(
            &path,
            "UPDATE records SET status = 'acknowledged', leaf_index = 0 WHERE seq = 1",
        );
        assert_tampered(Store::open(&path, key.clone()), "record list");
        // Compensating with another row moved back to pending is caught by that row's tag.
        raw(&path, "UPDATE records SET status = 'pending' WHERE seq = 1");
        let store = Store::open(&path, key).unwrap();
        raw(&path, "UPDATE records SET reject_code = 'x' WHERE seq = 2");
        assert_tampered(store.read(|c| store.records(c, None)), "record ");
        assert_tampered(
            store.read(|c| store.records_page(c, RecordStatus::Pending, 0, 10)),
            "record ",
        );
    }

    #[test]
    fn rows_cannot_be_swapped_copied_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().unwrap();
        let path = populated(dir.path(), &key);
        // A whole row's columns copied onto another id: its tag names the first id.
        raw(
            &path,
            "UPDATE records SET row_mac = (SELECT row_mac FROM records WHERE seq = 1) WHERE seq = 2",
        );
        let store = Store::open(&path, key.clone()).unwrap();
        let second = Uuid::from_bytes([2; 16]);
        assert_tampered(store.read(|c| store.record(c, &second)), "record ");
        drop(store);
        let path = populated(&dir.path().join("b").tap_mkdir(), &key);
        raw(&path, "DELETE FROM records WHERE seq = 2");
        assert_tampered(Store::open(&path, key.clone()), "record list");
        let path = populated(&dir.path().join("c").tap_mkdir(), &key);
        // (d): forget the verified checkpoints so fork detection starts from zero.
        raw(&path, "DELETE FROM checkpoints");
        assert_tampered(Store::open(&path, key.clone()), "checkpoints");
        let path = populated(&dir.path().join("d").tap_mkdir(), &key);
        raw(&path, "UPDATE checkpoints SET root_hash = zeroblob(32)");
        let store = Store::open(&path, key).unwrap();
        assert_tampered(
            store.read(|c| store.latest_checkpoint(c)),
            "checkpoint of size 5",
        );
    }

    #[test]
    fn meta_values_are_sealed_bound_to_their_key_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().unwrap();
        let path = populated(dir.path(), &key);
        // (a): a trust bundle written in plaintext (the attacker's) is refused.
        raw(
            &path,
            "UPDATE meta SET value = CAST('{}' AS BLOB) WHERE key = 'trust_bundle'",
        );
        let store = Store::open(&path, key.clone()).unwrap();
        assert_tampered(store.read(|c| store.meta(c, "trust_bundle")), "meta.value");
        drop(store);
        // A sealed value moved to another key does not open there.
        let path = populated(&dir.path().join("b").tap_mkdir(), &key);
        raw(
            &path,
            "INSERT INTO meta(key, value) SELECT 'registry_url', value FROM meta WHERE key = 'trust_bundle'",
        );
        assert_tampered(Store::open(&path, key.clone()), "device settings");
        let path = populated(&dir.path().join("c").tap_mkdir(), &key);
        raw(&path, "DELETE FROM meta WHERE key = 'trust_bundle'");
        assert_tampered(Store::open(&path, key.clone()), "device settings");
        let path = populated(&dir.path().join("d").tap_mkdir(), &key);
        raw(&path, "DELETE FROM meta WHERE key = 'manifest'");
        assert_tampered(Store::open(&path, key), "manifest");
    }

    #[test]
    fn an_empty_or_missing_file_is_never_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().unwrap();
        let path = dir.path().join("device.db");
        assert!(matches!(
            Store::open(&path, key.clone()),
            Err(StoreError::NotFound)
        ));
        assert!(!path.exists(), "open never creates");
        let path = populated(dir.path().join("a").tap_mkdir().as_path(), &key);
        // Truncated to zero bytes, with its WAL and without.
        let wal = path.with_extension("db-wal");
        std::fs::write(&wal, vec![1u8; 4096]).unwrap();
        std::fs::write(&path, b"").unwrap();
        let err = Store::open(&path, key.clone()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("empty")),
            "{err}"
        );
        std::fs::remove_file(&wal).unwrap();
        assert!(matches!(
            Store::open(&path, key.clone()),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left as found");
        assert!(matches!(
            Store::create(&path, key.clone()),
            Err(StoreError::AlreadyExists)
        ));
        // A SQLite file without a Birthright schema is not taken as a new store either.
        let other = dir.path().join("other.db");
        raw(&other, "CREATE TABLE t(x)");
        assert!(matches!(
            Store::open(&other, key),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_store_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path(), &StorageKey::generate().unwrap());
        for file in [path.clone(), path.with_extension("db-wal")] {
            if file.exists() {
                let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", file.display());
            }
        }
    }

    /// A version-2 store (plaintext meta values, untagged rows) is authenticated on upgrade
    /// and every value reads back as before.
    #[test]
    fn a_version_2_store_is_authenticated_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let key = StorageKey::generate().unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            for (i, sql) in schema::MIGRATIONS.iter().take(2).enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            let canary = key
                .seal(
                    &crypto::context("meta", "value", b"canary"),
                    CANARY_PLAINTEXT,
                )
                .unwrap();
            let secret = key
                .seal(
                    &crypto::context("meta", "value", b"device_secret"),
                    &[5; 32],
                )
                .unwrap();
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('canary', ?1), ('device_secret', ?2),
                     ('registry_url', CAST('http://127.0.0.1:1' AS BLOB))",
                params![canary, secret],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO records(id, seq, captured_at, status, sealed_record, sealed_summary)
                 VALUES (zeroblob(16), 1, 10, 'pending', x'00', x'00')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO checkpoints(size, root_hash, note, verified_at)
                 VALUES (3, zeroblob(32), 'n', 1)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path, key.clone()).unwrap();
        let url = store.read(|c| store.meta_text(c, "registry_url")).unwrap();
        assert_eq!(url.as_deref(), Some("http://127.0.0.1:1"));
        let secret = store
            .read(|c| store.meta(c, "device_secret"))
            .unwrap()
            .unwrap();
        assert_eq!(secret.as_slice(), &[5; 32]);
        assert_eq!(store.read(|c| store.records(c, None)).unwrap().len(), 1);
        assert_eq!(
            store
                .read(|c| store.latest_checkpoint(c))
                .unwrap()
                .unwrap()
                .size,
            3
        );
        drop(store);
        // From now on a change is found.
        raw(
            &path,
            "UPDATE meta SET value = CAST('http://evil' AS BLOB) WHERE key = 'registry_url'",
        );
        let store = Store::open(&path, key).unwrap();
        assert_tampered(
            store.read(|c| store.meta_text(c, "registry_url")),
            "meta.value",
        );
    }

    trait TapMkdir {
        fn tap_mkdir(self) -> Self;
    }

    impl TapMkdir for std::path::PathBuf {
        fn tap_mkdir(self) -> Self {
            std::fs::create_dir_all(&self).unwrap();
            self
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in RecordStatus::ALL {
            assert_eq!(status.as_str().parse::<RecordStatus>(), Ok(status));
        }
        assert!("done".parse::<RecordStatus>().is_err());
    }
}
