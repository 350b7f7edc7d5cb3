//! The SQLite helper both stores share, the device store ([`crate::store`]) and the
//! registry's: the pragmas set at open, numbered migrations in `PRAGMA user_version`, the
//! write-transaction helper, and (for tests) the check that every old schema version upgrades
//! to the fresh schema, as mozilla/application-services' `support/sql` does.
//!
//! `migrations[i]` upgrades a database from version `i` to `i + 1`; a fresh database runs
//! them all, so every table has exactly one definition. Add a migration, never edit one that
//! has shipped.

use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The pragmas a store sets on each connection it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pragmas {
    /// How long a writer waits for another process's write lock.
    pub busy_timeout: Duration,
    /// Page cache size in KiB (`None`: SQLite's default).
    pub cache_kib: Option<i64>,
    /// Overwrite freed pages, so deleted data leaves no trace in the file.
    pub secure_delete: bool,
    /// Bytes of the file read through memory-mapped I/O (`None`: none, SQLite's default):
    /// a page read is then a memory access, not a system call and a copy.
    pub mmap_bytes: Option<i64>,
}

impl Pragmas {
    /// Sets the pragmas on `conn`: WAL, `synchronous=FULL` (a committed write survives power
    /// loss, not only a killed process), foreign keys, temporary tables in memory (Android has
    /// no usable temp directory), a bounded WAL file, and the options of `self`.
    pub fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", 2)?;
        conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
        if let Some(kib) = self.cache_kib {
            // A negative cache_size is in KiB.
            conn.pragma_update(None, "cache_size", -kib)?;
        }
        if self.secure_delete {
            conn.pragma_update(None, "secure_delete", "ON")?;
        }
        if let Some(bytes) = self.mmap_bytes {
            conn.pragma_update(None, "mmap_size", bytes)?;
        }
        Ok(())
    }
}

/// The schema version of `conn` (`PRAGMA user_version`; 0 for a new database).
pub fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema in `tx` to version `migrations.len()` and returns the version it had.
/// A version newer than this code knows is `too_new(version)`, and nothing is changed.
/// `after(tx, version)` runs right after the migration to `version`, in the same
/// transaction: the place for data a migration cannot fill in SQL alone.
pub fn migrate<E: From<rusqlite::Error>>(
    tx: &Transaction<'_>,
    migrations: &[&str],
    too_new: impl FnOnce(i64) -> E,
    mut after: impl FnMut(&Transaction<'_>, usize) -> Result<(), E>,
) -> Result<i64, E> {
    let current = schema_version(tx)?;
    if current > migrations.len() as i64 {
        return Err(too_new(current));
    }
    for (from, sql) in migrations.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql)?;
        after(tx, from + 1)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
    }
    Ok(current)
}

/// Runs `f` in one `IMMEDIATE` transaction on `conn` (the write lock is taken at the start,
/// so two writers never deadlock upgrading a read lock), committed only if `f` succeeds and
/// rolled back otherwise.
pub fn write<T, E: From<rusqlite::Error>>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

/// The schema of `conn` (every table's, index's and trigger's SQL, by name), for comparing a
/// migrated database with a fresh one.
pub fn schema_of(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// The upgrade test of a store: for every version `v` from 1 to the newest, a database built
/// by `migrations[..v]` alone (as a program of version `v` left it) is upgraded by `upgrade`
/// (the store's own migration path) and must then have exactly the schema and version of a
/// fresh database upgraded the same way. Panics naming the first version that does not.
#[cfg(any(test, feature = "fixtures"))]
pub fn assert_every_version_upgrades_to_fresh(
    migrations: &[&str],
    upgrade: impl Fn(&mut Connection),
) {
    let mut fresh = Connection::open_in_memory().expect("in-memory database");
    upgrade(&mut fresh);
    let fresh_schema = schema_of(&fresh).expect("fresh schema");
    assert_eq!(
        schema_version(&fresh).expect("fresh version"),
        migrations.len() as i64
    );
    for version in 1..=migrations.len() {
        let mut old = Connection::open_in_memory().expect("in-memory database");
        for (i, sql) in migrations[..version].iter().enumerate() {
            old.execute_batch(sql)
                .unwrap_or_else(|e| panic!("migration {} fails: {e}", i + 1));
            old.pragma_update(None, "user_version", i as i64 + 1)
                .expect("user_version");
        }
        upgrade(&mut old);
        assert_eq!(
            schema_of(&old).expect("schema"),
            fresh_schema,
            "a database of version {version} upgrades to another schema than a fresh one"
        );
        assert_eq!(
            schema_version(&old).expect("version"),
            migrations.len() as i64,
            "upgrade from version {version}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE a (x INTEGER) STRICT;",
        "ALTER TABLE a ADD COLUMN y TEXT;",
        "CREATE INDEX a_by_y ON a(y);",
    ];

    fn upgrade(conn: &mut Connection) {
        write(conn, |tx| {
            migrate(tx, STEPS, |_| rusqlite::Error::InvalidQuery, |_, _| Ok(()))
        })
        .unwrap();
    }

    #[test]
    fn every_version_upgrades_and_hooks_run_once_in_order() {
        assert_every_version_upgrades_to_fresh(STEPS, upgrade);
        let mut conn = Connection::open_in_memory().unwrap();
        let mut seen = Vec::new();
        let before = write(&mut conn, |tx| {
            migrate(
                tx,
                STEPS,
                |_| rusqlite::Error::InvalidQuery,
                |_, v| {
                    seen.push(v);
                    Ok::<_, rusqlite::Error>(())
                },
            )
        })
        .unwrap();
        assert_eq!((before, seen), (0, vec![1, 2, 3]));
    }

    #[test]
    fn a_newer_schema_is_refused_untouched_and_a_failed_write_rolls_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 9).unwrap();
        let refused = write(&mut conn, |tx| {
            migrate(
                tx,
                STEPS,
                |v| rusqlite::Error::IntegralValueOutOfRange(0, v),
                |_, _| Ok(()),
            )
        });
        assert!(matches!(
            refused,
            Err(rusqlite::Error::IntegralValueOutOfRange(0, 9))
        ));
        assert!(schema_of(&conn).unwrap().is_empty());

        let mut conn = Connection::open_in_memory().unwrap();
        upgrade(&mut conn);
        let failed: Result<(), rusqlite::Error> = write(&mut conn, |tx| {
            tx.execute("INSERT INTO a(x) VALUES (1)", [])?;
            Err(rusqlite::Error::InvalidQuery)
        });
        assert!(failed.is_err());
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("p.db")).unwrap();
        Pragmas {
            busy_timeout: Duration::from_secs(1),
            cache_kib: Some(2048),
            secure_delete: true,
            mmap_bytes: Some(1 << 20),
        }
        .apply(&conn)
        .unwrap();
        let text = |name: &str| -> String {
            conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(text("journal_mode"), "Text(\"wal\")");
        assert_eq!(text("synchronous"), "Integer(2)");
        assert_eq!(text("foreign_keys"), "Integer(1)");
        assert_eq!(text("temp_store"), "Integer(2)");
        assert_eq!(text("cache_size"), "Integer(-2048)");
        assert_eq!(text("secure_delete"), "Integer(1)");
        assert_eq!(text("mmap_size"), "Integer(1048576)");
    }
}
