//! The witness's SQLite database: the logs it follows and what it last cosigned for each.
//! WAL, `synchronous=FULL`, numbered migrations in `PRAGMA user_version`; every decision is one
//! IMMEDIATE transaction that reads the state, decides, writes and commits before the caller
//! answers. `cosigned` keeps one row per (origin, size) ever cosigned, so a bug that tried to
//! cosign a second root for a size would fail the transaction rather than answer.

use std::path::Path;

use birthright_core::ledger::Hash;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{FollowedLog, WitnessError};

/// A database error of the witness.
#[derive(Debug, thiserror::Error)]
pub enum WitnessStoreError {
    /// SQLite failed.
    #[error("witness database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database is from a newer version.
    #[error("the witness database has schema version {0}, newer than this program knows")]
    SchemaTooNew(i64),
    /// A stored row that cannot be right.
    #[error("the witness database is damaged: {0}")]
    Damaged(String),
}

const MIGRATIONS: &[&str] = &[
    // 1: logs, the latest cosigned checkpoint per log, and every (size, root) cosigned.
    "CREATE TABLE log_keys (
        origin TEXT NOT NULL,
        vkey TEXT NOT NULL,
        PRIMARY KEY (origin, vkey)
    ) WITHOUT ROWID;
    CREATE TABLE latest (
        origin TEXT PRIMARY KEY,
        size INTEGER NOT NULL CHECK (size >= 0),
        root BLOB NOT NULL CHECK (length(root) = 32),
        note TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE cosigned (
        origin TEXT NOT NULL,
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        PRIMARY KEY (origin, size)
    ) WITHOUT ROWID;",
];

pub(super) struct WitnessStore {
    conn: Connection,
}

impl WitnessStore {
    pub(super) fn open(path: &Path) -> Result<WitnessStore, WitnessStoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "temp_store", 2)?;
        let mut store = WitnessStore { conn };
        let tx = store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(WitnessStoreError::SchemaTooNew(version));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(store)
    }

    pub(super) fn add_log(&mut self, origin: &str, vkey: &str) -> Result<(), WitnessStoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO log_keys (origin, vkey) VALUES (?1, ?2)",
            params![origin, vkey],
        )?;
        Ok(())
    }

    pub(super) fn log_count(&self) -> Result<usize, WitnessStoreError> {
        let n: i64 =
            self.conn
                .query_row("SELECT COUNT(DISTINCT origin) FROM log_keys", [], |r| {
                    r.get(0)
                })?;
        Ok(n as usize)
    }

    pub(super) fn log_keys(&self, origin: &str) -> Result<Vec<String>, WitnessStoreError> {
        log_keys(&self.conn, origin)
    }

    pub(super) fn logs(&self) -> Result<Vec<FollowedLog>, WitnessStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT k.origin, k.vkey, l.size FROM log_keys k LEFT JOIN latest l
             ON l.origin = k.origin ORDER BY k.origin, k.vkey",
        )?;
        let mut out: Vec<FollowedLog> = Vec::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        for row in rows {
            let (origin, vkey, size) = row?;
            match out.last_mut() {
                Some(last) if last.origin == origin => last.vkeys.push(vkey),
                _ => out.push(FollowedLog {
                    origin,
                    vkeys: vec![vkey],
                    cosigned_size: size.map(|s| s as u64),
                }),
            }
        }
        Ok(out)
    }

    pub(super) fn latest_note(&self, origin: &str) -> Result<Option<String>, WitnessStoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT note FROM latest WHERE origin = ?1",
                params![origin],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// In one IMMEDIATE transaction: reads the log's keys and latest (size, root), lets
    /// `decide` check the request and cosign, records its (size, root, note) and commits. The
    /// line `decide` returns is handed back only once the commit is durable.
    pub(super) fn update(
        &mut self,
        origin: &str,
        decide: impl FnOnce(
            &[String],
            Option<(u64, Hash)>,
        ) -> Result<(u64, Hash, String, String), WitnessError>,
    ) -> Result<String, WitnessError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(WitnessStoreError::from)?;
        let keys = log_keys(&tx, origin)?;
        let latest: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT size, root FROM latest WHERE origin = ?1",
                params![origin],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(WitnessStoreError::from)?;
        let latest = match latest {
            None => None,
            Some((size, root)) => {
                let root: Hash = root
                    .try_into()
                    .map_err(|_| WitnessStoreError::Damaged("a root is not 32 bytes".into()))?;
                Some((size as u64, root))
            }
        };
        let (size, root, note, line) = decide(&keys, latest)?;
        let size = size as i64;
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT root FROM cosigned WHERE origin = ?1 AND size = ?2",
                params![origin, size],
                |r| r.get(0),
            )
            .optional()
            .map_err(WitnessStoreError::from)?;
        match existing {
            Some(r) if r.as_slice() != root.as_slice() => {
                return Err(WitnessStoreError::Damaged(format!(
                    "refusing to cosign a second root for size {size}"
                ))
                .into());
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO cosigned (origin, size, root) VALUES (?1, ?2, ?3)",
                    params![origin, size, root.as_slice()],
                )
                .map_err(WitnessStoreError::from)?;
            }
        }
        tx.execute(
            "INSERT INTO latest (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (origin) DO UPDATE SET size = ?2, root = ?3, note = ?4",
            params![origin, size, root.as_slice(), note],
        )
        .map_err(WitnessStoreError::from)?;
        tx.commit().map_err(WitnessStoreError::from)?;
        Ok(line)
    }
}

fn log_keys(conn: &Connection, origin: &str) -> Result<Vec<String>, WitnessStoreError> {
    let mut stmt = conn.prepare("SELECT vkey FROM log_keys WHERE origin = ?1 ORDER BY vkey")?;
    let keys = stmt
        .query_map(params![origin], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(keys)
}
