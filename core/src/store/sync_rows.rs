//! Store queries for sync: batches, receipts and verified checkpoints.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::{RECORD_COLUMNS, RecordRow, RecordStatus, Store, StoreError, record_row};

/// A batch as stored before it is first sent.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Batch id.
    pub id: Uuid,
    /// Tree size the batch asks a consistency proof from.
    pub known_tree_size: u64,
    /// Number of records in it.
    pub record_count: u64,
    /// The exact bytes to POST (HPKE-sealed to the registry).
    pub sealed_body: Vec<u8>,
    /// The response key, sealed under the storage key.
    pub sealed_response_key: Vec<u8>,
    /// How many times it was sent.
    pub attempts: u64,
}

/// A checkpoint this device has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root_hash: [u8; 32],
    /// The signed note.
    pub note: String,
}

/// What to write for one record when a batch's answer is applied.
#[derive(Debug, Clone)]
pub enum RecordUpdate {
    /// On the ledger: leaf index, receipt CBOR, sealed credential.
    Acknowledged {
        /// Record id.
        id: Uuid,
        /// Leaf index.
        leaf_index: u64,
        /// The receipt (CBOR, public data).
        receipt: Vec<u8>,
        /// The registered credential, sealed for this row.
        sealed_credential: Option<Vec<u8>>,
    },
    /// Refused by the registry.
    Rejected {
        /// Record id.
        id: Uuid,
        /// Reason code.
        code: String,
        /// Reason for the worker.
        message: String,
    },
}

impl Store {
    /// Up to `limit` rows in `status` after capture sequence `after_seq`, in capture order.
    pub fn records_page(
        conn: &Connection,
        status: RecordStatus,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE status = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(
                params![status.as_str(), after_seq, limit as i64],
                record_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a new batch and moves its records from pending to in flight, atomically.
    pub fn insert_batch(
        tx: &Transaction<'_>,
        batch: &BatchRow,
        created_at: i64,
        record_ids: &[Uuid],
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO batches(id, created_at, known_tree_size, record_count, sealed_body,
                                 sealed_response_key, attempts, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'open')",
            params![
                batch.id.as_bytes().as_slice(),
                created_at,
                batch.known_tree_size as i64,
                batch.record_count as i64,
                batch.sealed_body,
                batch.sealed_response_key,
            ],
        )?;
        let mut stmt = tx.prepare_cached(
            "UPDATE records SET status = 'in_flight', batch_id = ?2 WHERE id = ?1 AND status = 'pending'",
        )?;
        for id in record_ids {
            let changed = stmt.execute(params![
                id.as_bytes().as_slice(),
                batch.id.as_bytes().as_slice()
            ])?;
            if changed != 1 {
                return Err(StoreError::Corrupt(format!(
                    "record {id} is no longer pending"
                )));
            }
        }
        Ok(())
    }

    /// The oldest batch not yet answered, if any.
    pub fn open_batch(conn: &Connection) -> Result<Option<BatchRow>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT id, known_tree_size, record_count, sealed_body, sealed_response_key, attempts
                 FROM batches WHERE state = 'open' ORDER BY created_at, rowid LIMIT 1",
                [],
                |row| {
                    Ok(BatchRow {
                        id: super::uuid_from_blob(row.get(0)?)?,
                        known_tree_size: row.get::<_, i64>(1)? as u64,
                        record_count: row.get::<_, i64>(2)? as u64,
                        sealed_body: row.get(3)?,
                        sealed_response_key: row.get(4)?,
                        attempts: row.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Counts one more send of batch `id`.
    pub fn count_batch_attempt(tx: &Transaction<'_>, id: &Uuid) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE batches SET attempts = attempts + 1 WHERE id = ?1",
            [id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    /// Ids of the records in batch `id`, in capture order.
    pub fn batch_record_ids(conn: &Connection, id: &Uuid) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt =
            conn.prepare_cached("SELECT id FROM records WHERE batch_id = ?1 ORDER BY seq")?;
        let ids = stmt
            .query_map([id.as_bytes().as_slice()], |row| {
                super::uuid_from_blob(row.get(0)?)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    /// Applies a verified answer: every record update, the checkpoint, and the batch marked
    /// done, in the caller's transaction.
    pub fn apply_batch_answer(
        tx: &Transaction<'_>,
        batch_id: &Uuid,
        updates: &[RecordUpdate],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        for update in updates {
            match update {
                RecordUpdate::Acknowledged {
                    id,
                    leaf_index,
                    receipt,
                    sealed_credential,
                } => {
                    tx.execute(
                        "UPDATE records SET status = 'acknowledged', leaf_index = ?2, receipt = ?3,
                             sealed_credential = COALESCE(?4, sealed_credential),
                             reject_code = NULL, reject_message = NULL
                         WHERE id = ?1 AND batch_id = ?5",
                        params![
                            id.as_bytes().as_slice(),
                            *leaf_index as i64,
                            receipt,
                            sealed_credential,
                            batch_id.as_bytes().as_slice()
                        ],
                    )?;
                }
                RecordUpdate::Rejected { id, code, message } => {
                    tx.execute(
                        "UPDATE records SET status = 'rejected', reject_code = ?2, reject_message = ?3
                         WHERE id = ?1 AND batch_id = ?4",
                        params![id.as_bytes().as_slice(), code, message, batch_id.as_bytes().as_slice()],
                    )?;
                }
            }
        }
        Self::save_checkpoint(tx, checkpoint, now)?;
        tx.execute(
            "UPDATE batches SET state = 'done' WHERE id = ?1",
            [batch_id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    /// Remembers a verified checkpoint.
    pub fn save_checkpoint(
        tx: &Transaction<'_>,
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO checkpoints(size, root_hash, note, verified_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(size) DO NOTHING",
            params![
                checkpoint.size as i64,
                checkpoint.root_hash.as_slice(),
                checkpoint.note,
                now
            ],
        )?;
        Ok(())
    }

    /// The largest verified checkpoint.
    pub fn latest_checkpoint(conn: &Connection) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        Self::checkpoint_query(conn, "ORDER BY size DESC LIMIT 1", None)
    }

    /// The verified checkpoint of exactly `size`.
    pub fn checkpoint_at(
        conn: &Connection,
        size: u64,
    ) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        Self::checkpoint_query(conn, "WHERE size = ?1", Some(size))
    }

    fn checkpoint_query(
        conn: &Connection,
        clause: &str,
        size: Option<u64>,
    ) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        let sql = format!("SELECT size, root_hash, note FROM checkpoints {clause}");
        let map = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, Vec<u8>, String)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        };
        let found = match size {
            Some(size) => conn.query_row(&sql, [size as i64], map).optional()?,
            None => conn.query_row(&sql, [], map).optional()?,
        };
        found
            .map(|(size, root, note)| {
                let root_hash = <[u8; 32]>::try_from(root.as_slice()).map_err(|_| {
                    StoreError::Corrupt("stored checkpoint root is not 32 bytes".into())
                })?;
                Ok(VerifiedCheckpoint {
                    size: size as u64,
                    root_hash,
                    note,
                })
            })
            .transpose()
    }

    /// The stored receipt (CBOR) of record `id`.
    pub fn receipt(conn: &Connection, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT receipt FROM records WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |row| row.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The sealed registered credential of record `id`: `None` if there is no such record,
    /// `Some(None)` if it has no credential yet.
    pub fn sealed_credential(
        conn: &Connection,
        id: &Uuid,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT sealed_credential FROM records WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |row| row.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?)
    }
}
