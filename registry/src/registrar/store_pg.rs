//! The PostgreSQL backend of [`RegistrarStore`]: one connection of its own (opened again when
//! found closed), behind a mutex; its own numbered migrations in `registrar_schema`, applied
//! under an advisory lock so two processes starting at once migrate once.

use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls};

use super::store::{
    AuditEntry, RecordMeta, RegistrarStore, SessionRow, UserRow, hash32, join, key_id, split, uuid,
};
use crate::store::StoreError;

/// The advisory lock key of registrar migrations ("brregist").
const MIGRATION_LOCK: i64 = 0x6272_7265_6769_7374;

/// The registrar schema, by version.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, login failures, the audit log.
    "CREATE TABLE registrar_users (
        id             BIGSERIAL PRIMARY KEY,
        username       TEXT NOT NULL UNIQUE,
        password_hash  TEXT NOT NULL,
        roles          TEXT NOT NULL,
        regions        TEXT NOT NULL,
        must_change    BOOLEAN NOT NULL,
        disabled       BOOLEAN NOT NULL,
        totp_secret    BYTEA,
        totp_pending   BYTEA,
        totp_last_step BIGINT,
        created_at     BIGINT NOT NULL,
        updated_at     BIGINT NOT NULL
    );
    CREATE TABLE registrar_sessions (
        token_hash BYTEA PRIMARY KEY,
        user_id    BIGINT NOT NULL REFERENCES registrar_users(id),
        created_at BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL
    );
    CREATE INDEX registrar_sessions_by_user ON registrar_sessions(user_id);
    CREATE TABLE registrar_login_failures (
        key      TEXT PRIMARY KEY,
        failures BIGINT NOT NULL,
        last_at  BIGINT NOT NULL
    );
    CREATE TABLE registrar_audit (
        seq     BIGSERIAL PRIMARY KEY,
        at      BIGINT NOT NULL,
        actor   TEXT,
        action  TEXT NOT NULL,
        target  TEXT,
        address TEXT
    );
    CREATE FUNCTION registrar_audit_is_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit log entries are never changed or deleted'; END $$;
    CREATE TRIGGER registrar_audit_is_kept BEFORE UPDATE OR DELETE ON registrar_audit
        FOR EACH ROW EXECUTE FUNCTION registrar_audit_is_kept();",
    // 2: reissued registered credentials (certificates for a lost paper): when, by leaf.
    "CREATE TABLE registrar_credential_issues (
        leaf_index BIGINT NOT NULL,
        issued_at  BIGINT NOT NULL,
        PRIMARY KEY (leaf_index, issued_at)
    );",
];

/// The registrars' tables in the registry's PostgreSQL database.
pub struct PgRegistrarStore {
    url: String,
    client: Mutex<Option<Client>>,
}

const USER_COLUMNS: &str = "id, username, password_hash, roles, regions, must_change, disabled, \
                            totp_secret, totp_pending, totp_last_step, created_at, updated_at";

fn user_row(r: &postgres::Row) -> UserRow {
    UserRow {
        id: r.get(0),
        username: r.get(1),
        password_hash: r.get(2),
        roles: split(r.get(3)),
        regions: split(r.get(4)),
        must_change_password: r.get(5),
        disabled: r.get(6),
        totp_secret: r.get(7),
        totp_pending: r.get(8),
        totp_last_step: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
    }
}

impl PgRegistrarStore {
    /// Connects to `url` (which holds the registry's tables) and migrates the registrar
    /// tables.
    pub fn open(url: &str) -> Result<PgRegistrarStore, StoreError> {
        let store = PgRegistrarStore {
            url: url.to_string(),
            client: Mutex::new(None),
        };
        store.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS registrar_schema (version BIGINT NOT NULL)",
            )?;
            let version: i64 = tx
                .query_opt("SELECT version FROM registrar_schema", &[])?
                .map_or(0, |r| r.get(0));
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::SchemaTooNew(version));
            }
            for sql in MIGRATIONS.iter().skip(version.max(0) as usize) {
                tx.batch_execute(sql)?;
            }
            tx.execute("DELETE FROM registrar_schema", &[])?;
            tx.execute(
                "INSERT INTO registrar_schema(version) VALUES ($1)",
                &[&(MIGRATIONS.len() as i64)],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the connection, connecting first if there is none or it was closed.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(Client::connect(&self.url, NoTls).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    crate::pg::redact_url(&self.url)
                ))
            })?);
        }
        match guard.as_mut() {
            Some(client) => f(client),
            None => Err(StoreError::Unavailable("PostgreSQL: no connection".into())),
        }
    }
}

impl RegistrarStore for PgRegistrarStore {
    fn insert_user(&self, u: &UserRow) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            let row = c.query_opt(
                "INSERT INTO registrar_users(username, password_hash, roles, regions, must_change,
                     disabled, totp_secret, totp_pending, totp_last_step, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT(username) DO NOTHING RETURNING id",
                &[
                    &u.username,
                    &u.password_hash,
                    &join(&u.roles),
                    &join(&u.regions),
                    &u.must_change_password,
                    &u.disabled,
                    &u.totp_secret,
                    &u.totp_pending,
                    &u.totp_last_step,
                    &u.created_at,
                    &u.updated_at,
                ],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM registrar_users WHERE username = $1"),
                &[&username],
            )?
            .map(|r| user_row(&r)))
        })
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM registrar_users WHERE id = $1"),
                &[&id],
            )?
            .map(|r| user_row(&r)))
        })
    }

    fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.with(|c| {
            Ok(c.query(
                &format!("SELECT {USER_COLUMNS} FROM registrar_users ORDER BY id"),
                &[],
            )?
            .iter()
            .map(user_row)
            .collect())
        })
    }

    fn update_user(&self, u: &UserRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE registrar_users SET password_hash = $2, roles = $3, regions = $4,
                     must_change = $5, disabled = $6, totp_secret = $7, totp_pending = $8,
                     totp_last_step = $9, updated_at = $10
                 WHERE id = $1",
                &[
                    &u.id,
                    &u.password_hash,
                    &join(&u.roles),
                    &join(&u.regions),
                    &u.must_change_password,
                    &u.disabled,
                    &u.totp_secret,
                    &u.totp_pending,
                    &u.totp_last_step,
                    &u.updated_at,
                ],
            )?;
            Ok(())
        })
    }

    fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE registrar_users SET totp_last_step = $2
                 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                &[&user_id, &step],
            )? == 1)
        })
    }

    fn insert_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO registrar_sessions(token_hash, user_id, created_at, last_seen)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &s.token_hash.as_slice(),
                    &s.user_id,
                    &s.created_at,
                    &s.last_seen,
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        self.with(|c| {
            c.query_opt(
                "SELECT token_hash, user_id, created_at, last_seen FROM registrar_sessions
                 WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )?
            .map(|r| {
                Ok(SessionRow {
                    token_hash: hash32(r.get(0))?,
                    user_id: r.get(1),
                    created_at: r.get(2),
                    last_seen: r.get(3),
                })
            })
            .transpose()
        })
    }

    fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE registrar_sessions SET last_seen = GREATEST(last_seen, $2)
                 WHERE token_hash = $1",
                &[&token_hash.as_slice(), &now],
            )?;
            Ok(())
        })
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM registrar_sessions WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, user_id: i64, keep: Option<&[u8; 32]>) -> Result<(), StoreError> {
        let keep = keep.map(|k| k.to_vec());
        self.with(|c| {
            c.execute(
                "DELETE FROM registrar_sessions
                 WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2",
                &[&user_id, &keep],
            )?;
            Ok(())
        })
    }

    fn delete_idle_sessions(&self, before: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM registrar_sessions WHERE last_seen < $1",
                &[&before],
            )?;
            Ok(())
        })
    }

    fn record_failure(&self, key: &str, now: i64, reset_before: i64) -> Result<u32, StoreError> {
        self.with(|c| {
            let failures: i64 = c
                .query_one(
                    "INSERT INTO registrar_login_failures(key, failures, last_at) VALUES ($1, 1, $2)
                     ON CONFLICT(key) DO UPDATE SET
                         failures = CASE WHEN registrar_login_failures.last_at < $3 THEN 1
                                    ELSE registrar_login_failures.failures + 1 END,
                         last_at = GREATEST(registrar_login_failures.last_at, $2)
                     RETURNING failures",
                    &[&key, &now, &reset_before],
                )?
                .get(0);
            Ok(u32::try_from(failures).unwrap_or(u32::MAX))
        })
    }

    fn failures(&self, key: &str) -> Result<Option<(u32, i64)>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT failures, last_at FROM registrar_login_failures WHERE key = $1",
                &[&key],
            )?
            .map(|r| {
                (
                    u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX),
                    r.get(1),
                )
            }))
        })
    }

    fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM registrar_login_failures WHERE key = $1",
                &[&key],
            )?;
            Ok(())
        })
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO registrar_audit(at, actor, action, target, address)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&e.at, &e.actor, &e.action, &e.target, &e.address],
            )?;
            Ok(())
        })
    }

    fn audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            Ok(c.query(
                "SELECT seq, at, actor, action, target, address FROM registrar_audit
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &i64::from(limit)],
            )?
            .iter()
            .map(|r| AuditEntry {
                seq: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                address: r.get(5),
            })
            .collect())
        })
    }

    fn record_index(&self) -> Result<Vec<RecordMeta>, StoreError> {
        self.with(|c| {
            c.query(
                "SELECT r.device_kid, r.id, r.leaf_index, r.sequenced_at, r.supersedes, d.region,
                        d.worker_id,
                        EXISTS(SELECT 1 FROM ledger_records l
                               WHERE l.device_kid = r.device_kid AND l.supersedes = r.id),
                        EXISTS(SELECT 1 FROM credential_revocations v
                               WHERE v.leaf_index = r.leaf_index)
                 FROM records r JOIN devices d ON d.kid = r.device_kid
                 ORDER BY r.leaf_index",
                &[],
            )?
            .iter()
            .map(|r| {
                let supersedes: Option<Vec<u8>> = r.get(4);
                Ok(RecordMeta {
                    kid: key_id(r.get(0))?,
                    id: uuid(r.get(1))?,
                    leaf_index: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                    sequenced_at: r.get(3),
                    supersedes: supersedes.as_deref().map(uuid).transpose()?,
                    region: r.get(5),
                    worker_id: r.get(6),
                    superseded: r.get(7),
                    revoked: r.get(8),
                })
            })
            .collect()
        })
    }

    fn add_credential_issue(&self, leaf_index: u64, at: i64) -> Result<(), StoreError> {
        let leaf = i64::try_from(leaf_index)
            .map_err(|_| StoreError::Backend("leaf index out of range".into()))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO registrar_credential_issues(leaf_index, issued_at) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&leaf, &at],
            )?;
            Ok(())
        })
    }

    fn latest_credential_issue(&self, leaf_index: u64) -> Result<Option<i64>, StoreError> {
        let Ok(leaf) = i64::try_from(leaf_index) else {
            return Ok(None);
        };
        self.with(|c| {
            Ok(c.query_one(
                "SELECT MAX(issued_at) FROM registrar_credential_issues WHERE leaf_index = $1",
                &[&leaf],
            )?
            .get(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing::{TestDatabase, available};

    #[test]
    fn a_version_1_database_gains_the_credential_issues() {
        if !available() {
            return;
        }
        let db = TestDatabase::create();
        {
            let mut c = Client::connect(&db.url, NoTls).unwrap();
            c.batch_execute(MIGRATIONS[0]).unwrap();
            c.batch_execute(
                "CREATE TABLE registrar_schema (version BIGINT NOT NULL);
                 INSERT INTO registrar_schema(version) VALUES (1);
                 INSERT INTO registrar_audit(at, action) VALUES (5, 'login');",
            )
            .unwrap();
        }
        let store = PgRegistrarStore::open(&db.url).unwrap();
        assert_eq!(store.audit(0, 10).unwrap().len(), 1, "kept");
        assert_eq!(store.latest_credential_issue(7).unwrap(), None);
        store.add_credential_issue(7, 100).unwrap();
        store.add_credential_issue(7, 300).unwrap();
        store.add_credential_issue(7, 300).unwrap();
        assert_eq!(store.latest_credential_issue(7).unwrap(), Some(300));
        drop(store);
        let again = PgRegistrarStore::open(&db.url).unwrap();
        assert_eq!(again.latest_credential_issue(7).unwrap(), Some(300));
        let version: i64 = Client::connect(&db.url, NoTls)
            .unwrap()
            .query_one("SELECT version FROM registrar_schema", &[])
            .unwrap()
            .get(0);
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
