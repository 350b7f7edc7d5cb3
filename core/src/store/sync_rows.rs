//! Store queries for sync: batches, receipts and verified checkpoints. Every row is tagged
//! ([`super::crypto::RowMac`]) and checked when read, like the records.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::{
    RECORD_COLUMNS, RecordDecision, RecordRow, RecordStatus, Store, StoreError, Tagged,
    crypto::RowMac, record_row, tampered, uuid_from_blob,
};
use crate::ledger::leaf::DecisionKind;

/// A batch as stored before it is first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// Batch id.
    pub id: Uuid,
    /// When it was sealed (Unix seconds, the device's clock: ordering only).
    pub created_at: i64,
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
    /// Whether its answer has been applied.
    pub done: bool,
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

/// What to write for one record when the registry's verified decision on it is applied.
#[derive(Debug, Clone)]
pub struct DecisionUpdate {
    /// Record id.
    pub id: Uuid,
    /// The decision, verified on its ledger leaf.
    pub decision: RecordDecision,
    /// The registered credential, sealed for this row (with a registration).
    pub sealed_credential: Option<Vec<u8>>,
    /// The reason for the worker (with a rejection, a duplicate or a correction asked for).
    pub message: String,
}

impl RecordUpdate {
    fn id(&self) -> &Uuid {
        match self {
            RecordUpdate::Acknowledged { id, .. } | RecordUpdate::Rejected { id, .. } => id,
        }
    }
}

const BATCH_COLUMNS: &str = "id, created_at, known_tree_size, record_count, sealed_body, \
     sealed_response_key, attempts, state, row_mac";

fn batch_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tagged<BatchRow>> {
    let state: String = row.get(7)?;
    Ok(Tagged {
        row: BatchRow {
            id: uuid_from_blob(row.get(0)?)?,
            created_at: row.get(1)?,
            known_tree_size: row.get::<_, i64>(2)? as u64,
            record_count: row.get::<_, i64>(3)? as u64,
            sealed_body: row.get(4)?,
            sealed_response_key: row.get(5)?,
            attempts: row.get::<_, i64>(6)? as u64,
            done: state == "done",
        },
        tag: row.get(8)?,
    })
}

fn batch_state(done: bool) -> &'static str {
    if done { "done" } else { "open" }
}

impl Store {
    pub(super) fn batch_tag(&self, b: &BatchRow) -> RowMac {
        RowMac::new(&self.mac, "batches")
            .bytes(Some(b.id.as_bytes()))
            .int(Some(b.created_at))
            .int(Some(b.known_tree_size as i64))
            .int(Some(b.record_count as i64))
            .bytes(Some(&b.sealed_body))
            .bytes(Some(&b.sealed_response_key))
            .int(Some(b.attempts as i64))
            .bytes(Some(batch_state(b.done).as_bytes()))
    }

    fn verified_batch(&self, tagged: Tagged<BatchRow>) -> Result<BatchRow, StoreError> {
        match &tagged.tag {
            Some(tag) if self.batch_tag(&tagged.row).verify(tag) => Ok(tagged.row),
            _ => Err(tampered(format!("batch {}", tagged.row.id))),
        }
    }

    pub(super) fn untrusted_batches(&self, conn: &Connection) -> Result<Vec<BatchRow>, StoreError> {
        let mut stmt = conn.prepare(&format!("SELECT {BATCH_COLUMNS} FROM batches"))?;
        let rows = stmt
            .query_map([], batch_row)?
            .map(|r| r.map(|t| t.row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub(super) fn checkpoint_tag(&self, c: &VerifiedCheckpoint, verified_at: i64) -> RowMac {
        RowMac::new(&self.mac, "checkpoints")
            .int(Some(c.size as i64))
            .bytes(Some(&c.root_hash))
            .bytes(Some(c.note.as_bytes()))
            .int(Some(verified_at))
    }

    pub(super) fn untrusted_checkpoints(
        &self,
        conn: &Connection,
    ) -> Result<Vec<(VerifiedCheckpoint, i64)>, StoreError> {
        let mut stmt =
            conn.prepare("SELECT size, root_hash, note, verified_at, row_mac FROM checkpoints")?;
        let rows = stmt
            .query_map([], checkpoint_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(t, at)| Ok((t?.row, at))).collect()
    }

    /// Up to `limit` rows in `status` after capture sequence `after_seq`, in capture order.
    pub fn records_page(
        &self,
        conn: &Connection,
        status: RecordStatus,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE status = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![status.as_str(), after_seq, limit as i64],
            record_row,
        )?;
        self.verified_records(rows)
    }

    /// Every row captured after sequence `after_seq` (all of them from 0), in capture order.
    pub fn records_after(
        &self,
        conn: &Connection,
        after_seq: i64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq > ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![after_seq], record_row)?;
        self.verified_records(rows)
    }

    /// Stores a new batch and moves its records from pending to in flight, atomically.
    pub fn insert_batch(
        &self,
        tx: &Transaction<'_>,
        batch: &BatchRow,
        record_ids: &[Uuid],
    ) -> Result<(), StoreError> {
        let batch = BatchRow {
            attempts: 0,
            done: false,
            ..batch.clone()
        };
        tx.execute(
            &format!(
                "INSERT INTO batches({BATCH_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                batch.id.as_bytes().as_slice(),
                batch.created_at,
                batch.known_tree_size as i64,
                batch.record_count as i64,
                batch.sealed_body,
                batch.sealed_response_key,
                0i64,
                batch_state(false),
                self.batch_tag(&batch).finish().as_slice(),
            ],
        )?;
        self.update_manifest(tx, |m| m.open_batches += 1)?;
        for id in record_ids {
            let row = self
                .record(tx, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("record {id} is missing")))?;
            if row.status != RecordStatus::Pending {
                return Err(StoreError::Corrupt(format!(
                    "record {id} is no longer pending"
                )));
            }
            let sent = RecordRow {
                status: RecordStatus::InFlight,
                batch_id: Some(batch.id),
                ..row.clone()
            };
            self.put_record(tx, &row, &sent)?;
        }
        Ok(())
    }

    /// Batch `id`, verified.
    pub fn batch(&self, conn: &Connection, id: &Uuid) -> Result<Option<BatchRow>, StoreError> {
        conn.query_row(
            &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1"),
            [id.as_bytes().as_slice()],
            batch_row,
        )
        .optional()?
        .map(|t| self.verified_batch(t))
        .transpose()
    }

    /// The oldest batch not yet answered, if any.
    pub fn open_batch(&self, conn: &Connection) -> Result<Option<BatchRow>, StoreError> {
        conn.query_row(
            &format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE state = 'open'
                 ORDER BY created_at, rowid LIMIT 1"
            ),
            [],
            batch_row,
        )
        .optional()?
        .map(|t| self.verified_batch(t))
        .transpose()
    }

    fn put_batch(
        &self,
        tx: &Transaction<'_>,
        old: &BatchRow,
        new: &BatchRow,
    ) -> Result<(), StoreError> {
        let changed = tx.execute(
            "UPDATE batches SET attempts = ?2, state = ?3, row_mac = ?4 WHERE id = ?1",
            params![
                new.id.as_bytes().as_slice(),
                new.attempts as i64,
                batch_state(new.done),
                self.batch_tag(new).finish().as_slice(),
            ],
        )?;
        if changed != 1 {
            return Err(tampered(format!("batch {} (deleted)", old.id)));
        }
        if old.done != new.done {
            self.update_manifest(tx, |m| {
                m.open_batches = m.open_batches.saturating_sub(1);
                m.done_batches += 1;
            })?;
        }
        Ok(())
    }

    fn existing_batch(&self, conn: &Connection, id: &Uuid) -> Result<BatchRow, StoreError> {
        self.batch(conn, id)?
            .ok_or_else(|| tampered(format!("batch {id} (deleted)")))
    }

    /// Counts one more send of batch `id`.
    pub fn count_batch_attempt(&self, tx: &Transaction<'_>, id: &Uuid) -> Result<(), StoreError> {
        let batch = self.existing_batch(tx, id)?;
        let counted = BatchRow {
            attempts: batch.attempts.saturating_add(1),
            ..batch.clone()
        };
        self.put_batch(tx, &batch, &counted)
    }

    /// Ids of the records in `batch`, in capture order; exactly as many as it was sealed with.
    pub fn batch_record_ids(
        &self,
        conn: &Connection,
        batch: &BatchRow,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt =
            conn.prepare_cached("SELECT id FROM records WHERE batch_id = ?1 ORDER BY seq")?;
        let ids = stmt
            .query_map([batch.id.as_bytes().as_slice()], |row| {
                uuid_from_blob(row.get(0)?)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if ids.len() as u64 != batch.record_count {
            return Err(tampered(format!(
                "batch {} (it was sealed with {} records, {} point to it)",
                batch.id,
                batch.record_count,
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// Applies a verified answer: every record update, the checkpoint, and the batch marked
    /// done, in the caller's transaction.
    pub fn apply_batch_answer(
        &self,
        tx: &Transaction<'_>,
        batch_id: &Uuid,
        updates: &[RecordUpdate],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        for update in updates {
            let id = update.id();
            let row = self
                .record(tx, id)?
                .ok_or_else(|| tampered(format!("record {id} (deleted)")))?;
            if row.batch_id != Some(*batch_id) {
                return Err(StoreError::Corrupt(format!(
                    "record {id} is not in batch {batch_id}"
                )));
            }
            let new = match update {
                RecordUpdate::Acknowledged {
                    leaf_index,
                    receipt,
                    sealed_credential,
                    ..
                } => {
                    let sealed_credential = sealed_credential
                        .clone()
                        .or_else(|| row.sealed_credential.clone());
                    RecordRow {
                        // With its registered credential, the review policy registered it at
                        // once; without, it is declared and waits for a registrar.
                        status: match sealed_credential {
                            Some(_) => RecordStatus::Registered,
                            None => RecordStatus::Acknowledged,
                        },
                        leaf_index: Some(*leaf_index),
                        receipt: Some(receipt.clone()),
                        sealed_credential,
                        reject_code: None,
                        reject_message: None,
                        ..row.clone()
                    }
                }
                RecordUpdate::Rejected { code, message, .. } => RecordRow {
                    status: RecordStatus::Rejected,
                    reject_code: Some(code.clone()),
                    reject_message: Some(message.clone()),
                    ..row.clone()
                },
            };
            self.put_record(tx, &row, &new)?;
        }
        self.save_checkpoint(tx, checkpoint, now)?;
        let batch = self.existing_batch(tx, batch_id)?;
        let done = BatchRow {
            done: true,
            ..batch.clone()
        };
        self.put_batch(tx, &batch, &done)
    }

    /// Applies the registry's verified decisions and keeps the checkpoint they were proved
    /// against, in the caller's transaction. Only a record still waiting for a decision
    /// (acknowledged) changes: a decision is never taken back, and one applied before (an
    /// answer fetched twice) changes nothing.
    pub fn apply_decisions(
        &self,
        tx: &Transaction<'_>,
        updates: &[DecisionUpdate],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        for update in updates {
            let id = &update.id;
            let row = self
                .record(tx, id)?
                .ok_or_else(|| tampered(format!("record {id} (deleted)")))?;
            if row.status != RecordStatus::Acknowledged {
                continue;
            }
            let new = match update.decision.decision {
                DecisionKind::Registered => RecordRow {
                    status: RecordStatus::Registered,
                    sealed_credential: update
                        .sealed_credential
                        .clone()
                        .or_else(|| row.sealed_credential.clone()),
                    decision: Some(update.decision),
                    ..row.clone()
                },
                decided => RecordRow {
                    status: RecordStatus::Rejected,
                    reject_code: Some(decided.as_str().to_owned()),
                    reject_message: Some(update.message.clone()),
                    decision: Some(update.decision),
                    ..row.clone()
                },
            };
            self.put_record(tx, &row, &new)?;
        }
        self.save_checkpoint(tx, checkpoint, now)
    }

    /// Remembers a verified checkpoint (a size already stored is left as it is).
    pub fn save_checkpoint(
        &self,
        tx: &Transaction<'_>,
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), StoreError> {
        let inserted = tx.execute(
            "INSERT INTO checkpoints(size, root_hash, note, verified_at, row_mac)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(size) DO NOTHING",
            params![
                checkpoint.size as i64,
                checkpoint.root_hash.as_slice(),
                checkpoint.note,
                now,
                self.checkpoint_tag(checkpoint, now).finish().as_slice(),
            ],
        )?;
        if inserted == 1 {
            self.update_manifest(tx, |m| m.checkpoints += 1)?;
        }
        Ok(())
    }

    /// The largest verified checkpoint.
    pub fn latest_checkpoint(
        &self,
        conn: &Connection,
    ) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        self.checkpoint_query(conn, "ORDER BY size DESC LIMIT 1", None)
    }

    /// The verified checkpoint of exactly `size`.
    pub fn checkpoint_at(
        &self,
        conn: &Connection,
        size: u64,
    ) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        self.checkpoint_query(conn, "WHERE size = ?1", Some(size))
    }

    fn checkpoint_query(
        &self,
        conn: &Connection,
        clause: &str,
        size: Option<u64>,
    ) -> Result<Option<VerifiedCheckpoint>, StoreError> {
        let sql =
            format!("SELECT size, root_hash, note, verified_at, row_mac FROM checkpoints {clause}");
        let found = match size {
            Some(size) => conn
                .query_row(&sql, [size as i64], checkpoint_row)
                .optional()?,
            None => conn.query_row(&sql, [], checkpoint_row).optional()?,
        };
        let Some((tagged, verified_at)) = found else {
            return Ok(None);
        };
        let tagged = tagged?;
        match &tagged.tag {
            Some(tag) if self.checkpoint_tag(&tagged.row, verified_at).verify(tag) => {
                Ok(Some(tagged.row))
            }
            _ => Err(tampered(format!("checkpoint of size {}", tagged.row.size))),
        }
    }

    /// The stored receipt (CBOR) of record `id`.
    pub fn receipt(&self, conn: &Connection, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.record(conn, id)?.and_then(|r| r.receipt))
    }

    /// The sealed registered credential of record `id`: `None` if there is no such record,
    /// `Some(None)` if it has no credential yet.
    pub fn sealed_credential(
        &self,
        conn: &Connection,
        id: &Uuid,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(self.record(conn, id)?.map(|r| r.sealed_credential))
    }
}

type CheckpointRow = (Result<Tagged<VerifiedCheckpoint>, StoreError>, i64);

fn checkpoint_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointRow> {
    let size: i64 = row.get(0)?;
    let root: Vec<u8> = row.get(1)?;
    let note: String = row.get(2)?;
    let verified_at: i64 = row.get(3)?;
    let tag: Option<Vec<u8>> = row.get(4)?;
    let tagged = <[u8; 32]>::try_from(root.as_slice())
        .map(|root_hash| Tagged {
            row: VerifiedCheckpoint {
                size: size as u64,
                root_hash,
                note,
            },
            tag,
        })
        .map_err(|_| tampered(format!("checkpoint of size {size} (root is not 32 bytes)")));
    Ok((tagged, verified_at))
}
