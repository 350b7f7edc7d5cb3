//! The device store: one SQLite database (bundled SQLite, WAL) holding the device identity and
//! every captured record, encrypted value by value under the host's [`StorageKey`].
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version` (see [`schema`]);
//! every multi-step write runs in one `IMMEDIATE` transaction through [`Store::write`]. A
//! database that cannot be read is reported, never deleted or recreated: it may hold unsynced
//! registrations (see `docs/adr/0001-device-store-corruption.md`).

pub mod crypto;
pub mod schema;
pub mod sync_rows;

use std::{
    path::Path,
    str::FromStr,
    sync::{Mutex, MutexGuard},
};

pub use crypto::{BadStorageKey, StorageKey};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::keys::RngError;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage key does not open this database.
    #[error("wrong storage key: this device store was created with a different key")]
    WrongStorageKey,
    /// The file is not a SQLite database, or is damaged.
    #[error("the device store is not a valid database or is damaged: {0}")]
    Corrupt(String),
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
    /// A value failed to decrypt although the key is right: the row was tampered with.
    #[error("stored {what} could not be decrypted: the device store has been tampered with")]
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

/// Where a record is in its life on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordStatus {
    /// Captured, waiting to be sent.
    Pending,
    /// Sent in a batch whose answer has not been verified yet.
    InFlight,
    /// On the registry's ledger, with a verified receipt.
    Acknowledged,
    /// Refused by the registry; the reason is kept for the worker.
    Rejected,
}

impl RecordStatus {
    /// All statuses, in life-cycle order.
    pub const ALL: [RecordStatus; 4] = [
        RecordStatus::Pending,
        RecordStatus::InFlight,
        RecordStatus::Acknowledged,
        RecordStatus::Rejected,
    ];

    /// The name stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Pending => "pending",
            RecordStatus::InFlight => "in_flight",
            RecordStatus::Acknowledged => "acknowledged",
            RecordStatus::Rejected => "rejected",
        }
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
                    "unknown status '{s}': expected pending, in_flight, acknowledged or rejected"
                )
            })
    }
}

impl std::fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the `records` table, still sealed.
#[derive(Debug, Clone)]
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
}

pub(crate) const RECORD_COLUMNS: &str = "id, seq, captured_at, status, supersedes, superseded_by, \
     reject_code, reject_message, leaf_index, sealed_record, sealed_summary";

pub(crate) fn uuid_from_blob(blob: Vec<u8>) -> rusqlite::Result<Uuid> {
    Uuid::from_slice(&blob).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

pub(crate) fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    let status: String = row.get(3)?;
    Ok(RecordRow {
        id: uuid_from_blob(row.get(0)?)?,
        seq: row.get(1)?,
        captured_at: row.get(2)?,
        status: status.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?,
        supersedes: row
            .get::<_, Option<Vec<u8>>>(4)?
            .map(uuid_from_blob)
            .transpose()?,
        superseded_by: row
            .get::<_, Option<Vec<u8>>>(5)?
            .map(uuid_from_blob)
            .transpose()?,
        reject_code: row.get(6)?,
        reject_message: row.get(7)?,
        leaf_index: row.get::<_, Option<i64>>(8)?.map(|i| i as u64),
        sealed_record: row.get(9)?,
        sealed_summary: row.get(10)?,
    })
}

/// Meta key of the encrypted canary checked at every open.
const META_CANARY: &str = "canary";
const CANARY_PLAINTEXT: &[u8] = b"birthright device store";

/// An open device store.
pub struct Store {
    conn: Mutex<Connection>,
    key: StorageKey,
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
        _ => StoreError::Sqlite(e),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`. An existing store is checked against
    /// `key` before anything is written; a wrong key fails with [`StoreError::WrongStorageKey`]
    /// and leaves the file untouched.
    pub fn open(path: &Path, key: StorageKey) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify_open_error)?;
        Self::setup(conn, key)
    }

    /// An in-memory store (tests and benchmarks).
    pub fn open_in_memory(key: StorageKey) -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, key)
    }

    fn setup(conn: Connection, key: StorageKey) -> Result<Store, StoreError> {
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
        if version >= 1 {
            check_canary(&conn, &key)?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(classify_open_error)?;
        // FULL: a captured record must survive power loss, not only a killed process.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", 2)?;
        conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
        // Freed pages are overwritten, so deleted plaintext-free data leaves no trace either.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let store = Store {
            conn: Mutex::new(conn),
            key,
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
            }
            Ok(())
        })?;
        Ok(store)
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
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
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
            .ok_or_else(|| StoreError::Tampered {
                what: format!("{table}.{column}"),
            })
    }

    /// Reads a plaintext meta value.
    pub fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Writes a plaintext meta value (public data only: keys, certificates, checkpoints).
    pub fn set_meta(tx: &Transaction<'_>, key: &str, value: &[u8]) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Reads and decrypts a secret meta value.
    pub fn secret_meta(
        &self,
        conn: &Connection,
        key: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Self::meta(conn, key)?
            .map(|sealed| self.unseal("meta", "value", key.as_bytes(), &sealed))
            .transpose()
    }

    /// Encrypts and writes a secret meta value.
    pub fn set_secret_meta(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let sealed = self.seal("meta", "value", key.as_bytes(), value)?;
        Self::set_meta(tx, key, &sealed)
    }

    /// Inserts a new record row (status pending); `seq` is assigned here.
    pub fn insert_record(tx: &Transaction<'_>, row: &RecordRow) -> Result<i64, StoreError> {
        tx.execute(
            "INSERT INTO records(id, seq, captured_at, status, supersedes, sealed_record, sealed_summary)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM records), ?2, ?3, ?4, ?5, ?6)",
            params![
                row.id.as_bytes().as_slice(),
                row.captured_at,
                row.status.as_str(),
                row.supersedes.map(|u| u.as_bytes().to_vec()),
                row.sealed_record,
                row.sealed_summary,
            ],
        )?;
        Ok(tx.query_row(
            "SELECT seq FROM records WHERE id = ?1",
            [row.id.as_bytes().as_slice()],
            |r| r.get(0),
        )?)
    }

    /// Marks `old` as superseded by `new`.
    pub fn set_superseded_by(
        tx: &Transaction<'_>,
        old: &Uuid,
        new: &Uuid,
    ) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE records SET superseded_by = ?2 WHERE id = ?1",
            params![old.as_bytes().as_slice(), new.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    /// The row of record `id`.
    pub fn record(conn: &Connection, id: &Uuid) -> Result<Option<RecordRow>, StoreError> {
        Ok(conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = ?1"),
                [id.as_bytes().as_slice()],
                record_row,
            )
            .optional()?)
    }

    /// Rows in capture order, optionally only those with `status`.
    pub fn records(
        conn: &Connection,
        status: Option<RecordStatus>,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE (?1 IS NULL OR status = ?1) ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map([status.map(RecordStatus::as_str)], record_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Number of records in each status.
    pub fn counts(conn: &Connection) -> Result<Vec<(RecordStatus, u64)>, StoreError> {
        let mut stmt =
            conn.prepare_cached("SELECT status, COUNT(*) FROM records GROUP BY status")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (status, count) = row?;
            if let Ok(status) = status.parse() {
                out.push((status, count as u64));
            }
        }
        Ok(out)
    }
}

fn check_canary(conn: &Connection, key: &StorageKey) -> Result<(), StoreError> {
    let sealed = Store::meta(conn, META_CANARY)
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
        let store = Store::open(&path, key.clone()).unwrap();
        store
            .write(|tx| store.set_secret_meta(tx, "s", b"value"))
            .unwrap();
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
        let value = store.read(|c| store.secret_meta(c, "s")).unwrap().unwrap();
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

    #[test]
    fn status_names_round_trip() {
        for status in RecordStatus::ALL {
            assert_eq!(status.as_str().parse::<RecordStatus>(), Ok(status));
        }
        assert!("done".parse::<RecordStatus>().is_err());
    }
}
