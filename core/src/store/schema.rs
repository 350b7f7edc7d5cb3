//! Device store schema and its numbered migrations (`PRAGMA user_version`), run by the shared
//! [`crate::sqlite`] helper.
//!
//! `MIGRATIONS[i]` upgrades a database from version `i` to `i + 1`; a fresh database runs them
//! all, so there is exactly one definition of every table. Add a migration, never edit one
//! that has shipped.

use rusqlite::Transaction;

use super::StoreError;

/// The schema version this code writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: identity, records.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;
    CREATE TABLE records (
        id             BLOB PRIMARY KEY CHECK (length(id) = 16),
        seq            INTEGER NOT NULL UNIQUE,
        captured_at    INTEGER NOT NULL,
        status         TEXT NOT NULL
                       CHECK (status IN ('pending', 'in_flight', 'acknowledged', 'rejected')),
        supersedes     BLOB REFERENCES records(id),
        superseded_by  BLOB REFERENCES records(id),
        reject_code    TEXT,
        reject_message TEXT,
        leaf_index     INTEGER,
        sealed_record  BLOB NOT NULL,
        sealed_summary BLOB NOT NULL
    ) STRICT;
    CREATE INDEX records_by_status ON records(status, seq);",
    // 2: sync. Batches are stored sealed (to the registry) before they are sent, so a retry
    // resends identical bytes; receipts and registered credentials are kept per record.
    "CREATE TABLE batches (
        id                  BLOB PRIMARY KEY CHECK (length(id) = 16),
        created_at          INTEGER NOT NULL,
        known_tree_size     INTEGER NOT NULL,
        record_count        INTEGER NOT NULL,
        sealed_body         BLOB NOT NULL,
        sealed_response_key BLOB NOT NULL,
        attempts            INTEGER NOT NULL DEFAULT 0,
        state               TEXT NOT NULL CHECK (state IN ('open', 'done'))
    ) STRICT;
    ALTER TABLE records ADD COLUMN batch_id BLOB REFERENCES batches(id);
    ALTER TABLE records ADD COLUMN receipt BLOB;
    ALTER TABLE records ADD COLUMN sealed_credential BLOB;
    CREATE INDEX records_by_batch ON records(batch_id);
    CREATE TABLE checkpoints (
        size        INTEGER PRIMARY KEY,
        root_hash   BLOB NOT NULL CHECK (length(root_hash) = 32),
        note        TEXT NOT NULL,
        verified_at INTEGER NOT NULL
    ) STRICT;",
    // 3: authenticated state. Every row of records, batches and checkpoints carries an
    // HMAC-SHA256 tag over all its columns; meta values are all sealed and a sealed manifest
    // counts the rows. The tags of rows written before are computed by `Store::setup` in the
    // same transaction (see `store::authenticate_v2_state`).
    "ALTER TABLE records ADD COLUMN row_mac BLOB;
    ALTER TABLE batches ADD COLUMN row_mac BLOB;
    ALTER TABLE checkpoints ADD COLUMN row_mac BLOB;",
    // 4: the registry's decisions (PROTOCOL §9.1). A record the registry registered is
    // `registered`; the verified decision (CBOR, public ledger data, in the row's tag when
    // present) is kept with the record. SQLite cannot change a CHECK, so the table is rebuilt
    // (its self-references point at the new table, which takes the old name).
    "CREATE TABLE records_v4 (
        id                BLOB PRIMARY KEY CHECK (length(id) = 16),
        seq               INTEGER NOT NULL UNIQUE,
        captured_at       INTEGER NOT NULL,
        status            TEXT NOT NULL
                          CHECK (status IN ('pending', 'in_flight', 'acknowledged', 'rejected',
                                            'registered')),
        supersedes        BLOB REFERENCES records_v4(id),
        superseded_by     BLOB REFERENCES records_v4(id),
        reject_code       TEXT,
        reject_message    TEXT,
        leaf_index        INTEGER,
        sealed_record     BLOB NOT NULL,
        sealed_summary    BLOB NOT NULL,
        batch_id          BLOB REFERENCES batches(id),
        receipt           BLOB,
        sealed_credential BLOB,
        decision          BLOB,
        row_mac           BLOB
    ) STRICT;
    INSERT INTO records_v4(id, seq, captured_at, status, supersedes, superseded_by,
            reject_code, reject_message, leaf_index, sealed_record, sealed_summary, batch_id,
            receipt, sealed_credential, row_mac)
        SELECT id, seq, captured_at, status, supersedes, superseded_by, reject_code,
            reject_message, leaf_index, sealed_record, sealed_summary, batch_id, receipt,
            sealed_credential, row_mac
        FROM records ORDER BY seq;
    DROP TABLE records;
    ALTER TABLE records_v4 RENAME TO records;
    CREATE INDEX records_by_status ON records(status, seq);
    CREATE INDEX records_by_batch ON records(batch_id);",
];

/// Brings the schema to [`VERSION`] inside `tx` (the caller refuses newer versions first).
pub fn migrate(tx: &Transaction<'_>) -> Result<(), StoreError> {
    crate::sqlite::migrate(
        tx,
        MIGRATIONS,
        |found| StoreError::SchemaTooNew {
            found,
            supported: VERSION,
        },
        |_, _| Ok(()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_upgrades_to_the_fresh_schema() {
        crate::sqlite::assert_every_version_upgrades_to_fresh(MIGRATIONS, |conn| {
            crate::sqlite::write(conn, migrate).unwrap()
        });
    }
}
