//! The SQLite backend of [`RegistrarStore`]: its own connection to the registry's database
//! file (WAL lets it write beside the ledger's connection; `busy_timeout` waits for the
//! ledger's write lock), its own numbered migrations in `registrar_schema`.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::store::{
    AuditEntry, RecordMeta, RegistrarStore, SessionRow, UserRow, hash32, join, key_id, split, uuid,
};
use crate::store::StoreError;

/// The registrar schema, by version: migration `i` brings it from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, login failures, the audit log.
    "CREATE TABLE registrar_users (
        id             INTEGER PRIMARY KEY,
        username       TEXT NOT NULL UNIQUE,
        password_hash  TEXT NOT NULL,
        roles          TEXT NOT NULL,
        regions        TEXT NOT NULL,
        must_change    INTEGER NOT NULL,
        disabled       INTEGER NOT NULL,
        totp_secret    BLOB,
        totp_pending   BLOB,
        totp_last_step INTEGER,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE registrar_sessions (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES registrar_users(id),
        created_at INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX registrar_sessions_by_user ON registrar_sessions(user_id);
    CREATE TABLE registrar_login_failures (
        key      TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE registrar_audit (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        actor   TEXT,
        action  TEXT NOT NULL,
        target  TEXT,
        address TEXT
    ) STRICT;
    CREATE TRIGGER registrar_audit_is_kept BEFORE DELETE ON registrar_audit
        BEGIN SELECT RAISE(ABORT, 'audit log entries are never deleted'); END;
    CREATE TRIGGER registrar_audit_is_not_rewritten BEFORE UPDATE ON registrar_audit
        BEGIN SELECT RAISE(ABORT, 'audit log entries are never changed'); END;",
    // 2: reissued registered credentials (certificates for a lost paper): when, by leaf.
    "CREATE TABLE registrar_credential_issues (
        leaf_index INTEGER NOT NULL,
        issued_at  INTEGER NOT NULL,
        PRIMARY KEY (leaf_index, issued_at)
    ) STRICT, WITHOUT ROWID;",
];

/// The registrars' tables in the registry's SQLite database.
pub struct SqliteRegistrarStore {
    conn: Mutex<Connection>,
}

const USER_COLUMNS: &str = "id, username, password_hash, roles, regions, must_change, disabled, \
                            totp_secret, totp_pending, totp_last_step, created_at, updated_at";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        roles: split(&r.get::<_, String>(3)?),
        regions: split(&r.get::<_, String>(4)?),
        must_change_password: r.get::<_, i64>(5)? != 0,
        disabled: r.get::<_, i64>(6)? != 0,
        totp_secret: r.get(7)?,
        totp_pending: r.get(8)?,
        totp_last_step: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

impl SqliteRegistrarStore {
    /// Opens the registrar tables in the registry database at `path` (which
    /// [`crate::store::SqliteStore::open`] has created), migrating them.
    pub fn open(path: &Path) -> Result<SqliteRegistrarStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Backend(format!(
                "{}: no registry database",
                path.display()
            )));
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = SqliteRegistrarStore {
            conn: Mutex::new(conn),
        };
        store.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS registrar_schema (version INTEGER NOT NULL) STRICT",
            )?;
            let version: Option<i64> = tx
                .query_row("SELECT version FROM registrar_schema", [], |r| r.get(0))
                .optional()?;
            let version = version.unwrap_or(0);
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::SchemaTooNew(version));
            }
            for sql in MIGRATIONS.iter().skip(version.max(0) as usize) {
                tx.execute_batch(sql)?;
            }
            tx.execute("DELETE FROM registrar_schema", [])?;
            tx.execute(
                "INSERT INTO registrar_schema(version) VALUES (?1)",
                [MIGRATIONS.len() as i64],
            )?;
            Ok(())
        })?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// The schema version (for tests).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT version FROM registrar_schema", [], |r| r.get(0))?)
    }
}

impl RegistrarStore for SqliteRegistrarStore {
    fn insert_user(&self, u: &UserRow) -> Result<Option<i64>, StoreError> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO registrar_users(username, password_hash, roles, regions, must_change,
                     disabled, totp_secret, totp_pending, totp_last_step, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(username) DO NOTHING",
                params![
                    u.username,
                    u.password_hash,
                    join(&u.roles),
                    join(&u.regions),
                    i64::from(u.must_change_password),
                    i64::from(u.disabled),
                    u.totp_secret,
                    u.totp_pending,
                    u.totp_last_step,
                    u.created_at,
                    u.updated_at
                ],
            )?;
            Ok((inserted == 1).then(|| tx.last_insert_rowid()))
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM registrar_users WHERE username = ?1"),
                [username],
                user_row,
            )
            .optional()?)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM registrar_users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM registrar_users ORDER BY id"
        ))?;
        let rows = stmt.query_map([], user_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn update_user(&self, u: &UserRow) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE registrar_users SET password_hash = ?2, roles = ?3, regions = ?4,
                     must_change = ?5, disabled = ?6, totp_secret = ?7, totp_pending = ?8,
                     totp_last_step = ?9, updated_at = ?10
                 WHERE id = ?1",
                params![
                    u.id,
                    u.password_hash,
                    join(&u.roles),
                    join(&u.regions),
                    i64::from(u.must_change_password),
                    i64::from(u.disabled),
                    u.totp_secret,
                    u.totp_pending,
                    u.totp_last_step,
                    u.updated_at
                ],
            )?;
            Ok(())
        })
    }

    fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE registrar_users SET totp_last_step = ?2
                 WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
                params![user_id, step],
            )? == 1)
        })
    }

    fn insert_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO registrar_sessions(token_hash, user_id, created_at, last_seen)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    s.token_hash.as_slice(),
                    s.user_id,
                    s.created_at,
                    s.last_seen
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        let row: Option<(Vec<u8>, i64, i64, i64)> = self
            .lock()
            .query_row(
                "SELECT token_hash, user_id, created_at, last_seen FROM registrar_sessions
                 WHERE token_hash = ?1",
                [token_hash.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(hash, user_id, created_at, last_seen)| {
            Ok(SessionRow {
                token_hash: hash32(&hash)?,
                user_id,
                created_at,
                last_seen,
            })
        })
        .transpose()
    }

    fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE registrar_sessions SET last_seen = MAX(last_seen, ?2) WHERE token_hash = ?1",
                params![token_hash.as_slice(), now],
            )?;
            Ok(())
        })
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM registrar_sessions WHERE token_hash = ?1",
                [token_hash.as_slice()],
            )?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, user_id: i64, keep: Option<&[u8; 32]>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM registrar_sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
                params![user_id, keep.map(|k| k.as_slice())],
            )?;
            Ok(())
        })
    }

    fn delete_idle_sessions(&self, before: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM registrar_sessions WHERE last_seen < ?1",
                [before],
            )?;
            Ok(())
        })
    }

    fn record_failure(&self, key: &str, now: i64, reset_before: i64) -> Result<u32, StoreError> {
        self.write(|tx| {
            let failures: i64 = tx.query_row(
                "INSERT INTO registrar_login_failures(key, failures, last_at) VALUES (?1, 1, ?2)
                 ON CONFLICT(key) DO UPDATE SET
                     failures = CASE WHEN last_at < ?3 THEN 1 ELSE failures + 1 END,
                     last_at = MAX(last_at, ?2)
                 RETURNING failures",
                params![key, now, reset_before],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(failures).unwrap_or(u32::MAX))
        })
    }

    fn failures(&self, key: &str) -> Result<Option<(u32, i64)>, StoreError> {
        let row: Option<(i64, i64)> = self
            .lock()
            .query_row(
                "SELECT failures, last_at FROM registrar_login_failures WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(f, at)| (u32::try_from(f).unwrap_or(u32::MAX), at)))
    }

    fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM registrar_login_failures WHERE key = ?1", [key])?;
            Ok(())
        })
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO registrar_audit(at, actor, action, target, address)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.at, e.actor, e.action, e.target, e.address],
            )?;
            Ok(())
        })
    }

    fn audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT seq, at, actor, action, target, address FROM registrar_audit
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![after, i64::from(limit)], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    address: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn record_index(&self) -> Result<Vec<RecordMeta>, StoreError> {
        type Row = (
            Vec<u8>,
            Vec<u8>,
            i64,
            i64,
            Option<Vec<u8>>,
            String,
            String,
            bool,
            bool,
        );
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT r.device_kid, r.id, r.leaf_index, r.sequenced_at, r.supersedes, d.region,
                    d.worker_id,
                    EXISTS(SELECT 1 FROM ledger_records l
                           WHERE l.device_kid = r.device_kid AND l.supersedes = r.id),
                    EXISTS(SELECT 1 FROM credential_revocations c WHERE c.leaf_index = r.leaf_index)
             FROM records r JOIN devices d ON d.kid = r.device_kid
             ORDER BY r.leaf_index",
        )?;
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(
                |(kid, id, leaf, at, supersedes, region, worker_id, superseded, revoked)| {
                    Ok(RecordMeta {
                        kid: key_id(&kid)?,
                        id: uuid(&id)?,
                        leaf_index: u64::try_from(leaf).unwrap_or(0),
                        sequenced_at: at,
                        supersedes: supersedes.as_deref().map(uuid).transpose()?,
                        region,
                        worker_id,
                        superseded,
                        revoked,
                    })
                },
            )
            .collect()
    }

    fn add_credential_issue(&self, leaf_index: u64, at: i64) -> Result<(), StoreError> {
        let leaf = i64::try_from(leaf_index)
            .map_err(|_| StoreError::Backend("leaf index out of range".into()))?;
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO registrar_credential_issues(leaf_index, issued_at)
                 VALUES (?1, ?2)",
                params![leaf, at],
            )?;
            Ok(())
        })
    }

    fn latest_credential_issue(&self, leaf_index: u64) -> Result<Option<i64>, StoreError> {
        let Ok(leaf) = i64::try_from(leaf_index) else {
            return Ok(None);
        };
        Ok(self.lock().query_row(
            "SELECT MAX(issued_at) FROM registrar_credential_issues WHERE leaf_index = ?1",
            [leaf],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_gains_the_credential_issues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "CREATE TABLE registrar_schema (version INTEGER NOT NULL) STRICT;
                 INSERT INTO registrar_schema(version) VALUES (1);
                 INSERT INTO registrar_audit(at, action) VALUES (5, 'login');",
            )
            .unwrap();
        }
        let store = SqliteRegistrarStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(store.audit(0, 10).unwrap().len(), 1, "kept");
        assert_eq!(store.latest_credential_issue(7).unwrap(), None);
        store.add_credential_issue(7, 100).unwrap();
        store.add_credential_issue(7, 300).unwrap();
        store.add_credential_issue(7, 300).unwrap();
        store.add_credential_issue(8, 900).unwrap();
        assert_eq!(store.latest_credential_issue(7).unwrap(), Some(300));
        drop(store);
        let again = SqliteRegistrarStore::open(&path).unwrap();
        assert_eq!(again.latest_credential_issue(8).unwrap(), Some(900));
    }
}
