//! What the sync machine needs of the device's storage, and nothing more: [`SyncStore`]. The
//! machine decides; the store keeps. Each write is one transaction of the store, so a sync
//! killed between two calls leaves a state the next sync resumes from. [`Device`] implements
//! it over its encrypted SQLite store (the storage encryption, row tags and the manifest stay
//! inside the store); a test wraps a device's implementation to kill it at any write.

use uuid::Uuid;

use super::{SyncError, verify::Receipt};
use crate::{
    codec,
    device::{
        Device, DeviceError, META_REVOCATIONS, META_REVOCATIONS_FETCHED_AT, META_STATUS_LIST,
        META_STATUS_LIST_FETCHED_AT,
    },
    keys::KeyId,
    store::{
        RecordDecision, RecordStatus, StoreError,
        sync_rows::{BatchRow, DecisionUpdate, RecordUpdate, VerifiedCheckpoint},
    },
    trust::TrustBundle,
    wire::ResponseKey,
};

/// What a sync starts from, read once, after the store's integrity and the enrolment checked
/// out.
#[derive(Debug, Clone)]
pub struct SyncStart {
    /// The pinned trust bundle.
    pub trust: TrustBundle,
    /// This device's certificate (COSE_Sign1), sent with every batch.
    pub certificate: Vec<u8>,
    /// This device's key id.
    pub kid: KeyId,
    /// Records pending or in flight.
    pub queued: u64,
    /// The newest checkpoint verified before.
    pub latest_checkpoint: Option<VerifiedCheckpoint>,
}

/// A pending record, ready to go into a batch.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    /// Its capture sequence number (the order of batches).
    pub seq: i64,
    /// Record id.
    pub id: Uuid,
    /// The signed record (COSE_Sign1), exactly as it goes on the wire.
    pub signed: Vec<u8>,
}

/// A batch sealed and about to be stored, before it is first sent.
#[derive(Debug)]
pub struct NewBatch<'a> {
    /// Batch id.
    pub id: Uuid,
    /// When it was sealed (the machine's clock).
    pub created_at: i64,
    /// The tree size it asks a consistency proof from.
    pub known_tree_size: u64,
    /// The sealed bytes to POST.
    pub sealed_body: Vec<u8>,
    /// The key that opens its answer (stored sealed).
    pub response_key: &'a ResponseKey,
}

/// The verified outcome for one record of an answered batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// On the ledger, with a verified receipt.
    Acknowledged {
        /// Record id.
        id: Uuid,
        /// Leaf index.
        leaf_index: u64,
        /// The verified [`super::Receipt`], CBOR.
        receipt: Vec<u8>,
        /// The verified registered credential (COSE_Sign1), if the registry issued one.
        credential: Option<Vec<u8>>,
        /// Held for a registrar's review as a possible duplicate (docs/MATCHING.md §7).
        held: Option<crate::wire::Held>,
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

/// A record on the ledger still waiting for the registry's decision: what the device checks a
/// decision notice against.
#[derive(Debug, Clone)]
pub struct AwaitingRecord {
    /// Its verified receipt (leaf index and salt).
    pub receipt: Receipt,
    /// The signed record (COSE_Sign1) bytes.
    pub signed: Vec<u8>,
}

/// A verified decision on one record, to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// Record id.
    pub id: Uuid,
    /// The decision, as its ledger leaf holds it.
    pub decision: RecordDecision,
    /// The verified registered credential (COSE_Sign1), with a registration.
    pub credential: Option<Vec<u8>>,
}

/// The storage operations of a sync. Every method that writes is one transaction.
pub trait SyncStore {
    /// Checks the store's integrity and the enrolment, and reads what a sync starts from.
    fn sync_start(&self) -> Result<SyncStart, SyncError>;
    /// Up to `limit` pending records captured after `after_seq`, in capture order.
    fn pending_records(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<PendingRecord>, SyncError>;
    /// Stores `batch` and moves `records` from pending to in flight; returns the stored row.
    fn insert_batch(&self, batch: NewBatch<'_>, records: &[Uuid]) -> Result<BatchRow, SyncError>;
    /// The oldest batch not yet answered.
    fn open_batch(&self) -> Result<Option<BatchRow>, SyncError>;
    /// The key that opens `batch`'s answer.
    fn response_key(&self, batch: &BatchRow) -> Result<ResponseKey, SyncError>;
    /// Counts one more answer received for `batch`.
    fn count_batch_attempt(&self, batch: &Uuid) -> Result<(), SyncError>;
    /// The ids of `batch`'s records in capture order (exactly as many as it was sealed with).
    fn batch_record_ids(&self, batch: &BatchRow) -> Result<Vec<Uuid>, SyncError>;
    /// The signed record `id` (COSE_Sign1 bytes).
    fn signed_record(&self, id: &Uuid) -> Result<Vec<u8>, SyncError>;
    /// Applies a verified answer: every record settled, the checkpoint kept and the batch
    /// closed, in one transaction.
    fn apply_batch_answer(
        &self,
        batch: &Uuid,
        settled: &[Settled],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError>;
    /// The newest verified checkpoint.
    fn latest_checkpoint(&self) -> Result<Option<VerifiedCheckpoint>, SyncError>;
    /// The verified checkpoint of tree size `size`, if this device verified one.
    fn checkpoint_at(&self, size: u64) -> Result<Option<VerifiedCheckpoint>, SyncError>;
    /// Keeps a verified checkpoint.
    fn save_checkpoint(&self, checkpoint: &VerifiedCheckpoint, now: i64) -> Result<(), SyncError>;
    /// The cached revocation list (COSE_Sign1).
    fn revocations(&self) -> Result<Option<Vec<u8>>, SyncError>;
    /// Caches a verified revocation list fetched at `now`.
    fn save_revocations(&self, list: &[u8], now: i64) -> Result<(), SyncError>;
    /// Remembers that the registry revoked this device at `at` (kept once set).
    fn mark_revoked(&self, at: i64) -> Result<(), SyncError>;
    /// When this device was revoked, if it was.
    fn revoked_at(&self) -> Result<Option<i64>, SyncError>;
    /// The cached status list (COSE_Sign1).
    fn status_list(&self) -> Result<Option<Vec<u8>>, SyncError>;
    /// Caches a verified status list fetched at `now`.
    fn save_status_list(&self, list: &[u8], now: i64) -> Result<(), SyncError>;
    /// The records waiting for the registry's decision (acknowledged), each with its ledger
    /// index, in ledger order.
    fn awaiting_decisions(&self) -> Result<Vec<(u64, Uuid)>, SyncError>;
    /// Record `id`, if it is this device's and waits for a decision.
    fn awaiting_record(&self, id: &Uuid) -> Result<Option<AwaitingRecord>, SyncError>;
    /// The device key's signature of `message` (a notices request's signed message).
    fn sign_request(&self, message: &[u8]) -> Result<[u8; 64], SyncError>;
    /// Applies verified decisions and keeps the checkpoint they were proved against, in one
    /// transaction.
    fn apply_decisions(
        &self,
        decided: &[Decided],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError>;
}

impl<T: SyncStore + ?Sized> SyncStore for &T {
    fn sync_start(&self) -> Result<SyncStart, SyncError> {
        (**self).sync_start()
    }
    fn pending_records(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<PendingRecord>, SyncError> {
        (**self).pending_records(after_seq, limit)
    }
    fn insert_batch(&self, batch: NewBatch<'_>, records: &[Uuid]) -> Result<BatchRow, SyncError> {
        (**self).insert_batch(batch, records)
    }
    fn open_batch(&self) -> Result<Option<BatchRow>, SyncError> {
        (**self).open_batch()
    }
    fn response_key(&self, batch: &BatchRow) -> Result<ResponseKey, SyncError> {
        (**self).response_key(batch)
    }
    fn count_batch_attempt(&self, batch: &Uuid) -> Result<(), SyncError> {
        (**self).count_batch_attempt(batch)
    }
    fn batch_record_ids(&self, batch: &BatchRow) -> Result<Vec<Uuid>, SyncError> {
        (**self).batch_record_ids(batch)
    }
    fn signed_record(&self, id: &Uuid) -> Result<Vec<u8>, SyncError> {
        (**self).signed_record(id)
    }
    fn apply_batch_answer(
        &self,
        batch: &Uuid,
        settled: &[Settled],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError> {
        (**self).apply_batch_answer(batch, settled, checkpoint, now)
    }
    fn latest_checkpoint(&self) -> Result<Option<VerifiedCheckpoint>, SyncError> {
        (**self).latest_checkpoint()
    }
    fn checkpoint_at(&self, size: u64) -> Result<Option<VerifiedCheckpoint>, SyncError> {
        (**self).checkpoint_at(size)
    }
    fn save_checkpoint(&self, checkpoint: &VerifiedCheckpoint, now: i64) -> Result<(), SyncError> {
        (**self).save_checkpoint(checkpoint, now)
    }
    fn revocations(&self) -> Result<Option<Vec<u8>>, SyncError> {
        (**self).revocations()
    }
    fn save_revocations(&self, list: &[u8], now: i64) -> Result<(), SyncError> {
        (**self).save_revocations(list, now)
    }
    fn mark_revoked(&self, at: i64) -> Result<(), SyncError> {
        (**self).mark_revoked(at)
    }
    fn revoked_at(&self) -> Result<Option<i64>, SyncError> {
        (**self).revoked_at()
    }
    fn status_list(&self) -> Result<Option<Vec<u8>>, SyncError> {
        (**self).status_list()
    }
    fn save_status_list(&self, list: &[u8], now: i64) -> Result<(), SyncError> {
        (**self).save_status_list(list, now)
    }
    fn awaiting_decisions(&self) -> Result<Vec<(u64, Uuid)>, SyncError> {
        (**self).awaiting_decisions()
    }
    fn awaiting_record(&self, id: &Uuid) -> Result<Option<AwaitingRecord>, SyncError> {
        (**self).awaiting_record(id)
    }
    fn sign_request(&self, message: &[u8]) -> Result<[u8; 64], SyncError> {
        (**self).sign_request(message)
    }
    fn apply_decisions(
        &self,
        decided: &[Decided],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError> {
        (**self).apply_decisions(decided, checkpoint, now)
    }
}

/// Column names the sealed values of a sync are bound to (AAD).
const RESPONSE_KEY: (&str, &str) = ("batches", "sealed_response_key");
const CREDENTIAL: (&str, &str) = ("records", "sealed_credential");

impl SyncStore for Device {
    fn sync_start(&self) -> Result<SyncStart, SyncError> {
        // Nothing is sent or trusted from a store whose state does not check out.
        let store = self.store();
        store.read(|conn| store.check_integrity(conn))?;
        self.check_enrolment()?;
        let trust = self.trust_bundle()?.ok_or(SyncError::NotEnrolled)?;
        let certificate = self.certificate()?.ok_or(SyncError::NotEnrolled)?;
        let counts = self.counts()?;
        Ok(SyncStart {
            trust,
            certificate,
            kid: self.identity()?.key_id,
            queued: counts.pending + counts.in_flight,
            latest_checkpoint: store.read(|c| store.latest_checkpoint(c))?,
        })
    }

    fn pending_records(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<PendingRecord>, SyncError> {
        let store = self.store();
        let rows =
            store.read(|c| store.records_page(c, RecordStatus::Pending, after_seq, limit))?;
        rows.iter()
            .map(|row| {
                Ok(PendingRecord {
                    seq: row.seq,
                    id: row.id,
                    signed: Device::signed_record(self, row)?.bytes,
                })
            })
            .collect()
    }

    fn insert_batch(&self, batch: NewBatch<'_>, records: &[Uuid]) -> Result<BatchRow, SyncError> {
        let store = self.store();
        let mut key_bytes = zeroize::Zeroizing::new(Vec::with_capacity(64));
        key_bytes.extend_from_slice(batch.response_key.secret.as_ref());
        key_bytes.extend_from_slice(&batch.response_key.enc);
        let row = BatchRow {
            id: batch.id,
            created_at: batch.created_at,
            known_tree_size: batch.known_tree_size,
            record_count: records.len() as u64,
            sealed_response_key: store.seal(
                RESPONSE_KEY.0,
                RESPONSE_KEY.1,
                batch.id.as_bytes(),
                &key_bytes,
            )?,
            sealed_body: batch.sealed_body,
            attempts: 0,
            done: false,
        };
        store.write(|tx| store.insert_batch(tx, &row, records))?;
        Ok(row)
    }

    fn open_batch(&self) -> Result<Option<BatchRow>, SyncError> {
        let store = self.store();
        Ok(store.read(|c| store.open_batch(c))?)
    }

    fn response_key(&self, batch: &BatchRow) -> Result<ResponseKey, SyncError> {
        let plain = self.store().unseal(
            RESPONSE_KEY.0,
            RESPONSE_KEY.1,
            batch.id.as_bytes(),
            &batch.sealed_response_key,
        )?;
        if plain.len() != 64 {
            return Err(StoreError::Tampered {
                what: "batch response key".into(),
            }
            .into());
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&plain[..32]);
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&plain[32..]);
        Ok(ResponseKey { secret, enc })
    }

    fn count_batch_attempt(&self, batch: &Uuid) -> Result<(), SyncError> {
        let store = self.store();
        Ok(store.write(|tx| store.count_batch_attempt(tx, batch))?)
    }

    fn batch_record_ids(&self, batch: &BatchRow) -> Result<Vec<Uuid>, SyncError> {
        let store = self.store();
        Ok(store.read(|c| store.batch_record_ids(c, batch))?)
    }

    fn signed_record(&self, id: &Uuid) -> Result<Vec<u8>, SyncError> {
        let store = self.store();
        let row = store
            .read(|c| store.record(c, id))?
            .ok_or(DeviceError::NotFound(*id))?;
        Ok(Device::signed_record(self, &row)?.bytes)
    }

    fn apply_batch_answer(
        &self,
        batch: &Uuid,
        settled: &[Settled],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError> {
        let store = self.store();
        let updates = settled
            .iter()
            .map(|s| {
                Ok(match s {
                    Settled::Acknowledged {
                        id,
                        leaf_index,
                        receipt,
                        credential,
                        held: _,
                    } => RecordUpdate::Acknowledged {
                        id: *id,
                        leaf_index: *leaf_index,
                        receipt: receipt.clone(),
                        sealed_credential: credential
                            .as_ref()
                            .map(|c| store.seal(CREDENTIAL.0, CREDENTIAL.1, id.as_bytes(), c))
                            .transpose()?,
                    },
                    Settled::Rejected { id, code, message } => RecordUpdate::Rejected {
                        id: *id,
                        code: code.clone(),
                        message: message.clone(),
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(store.write(|tx| -> Result<(), StoreError> {
            store.apply_batch_answer(tx, batch, &updates, checkpoint, now)?;
            crate::device::keep_registry_hints(store, tx, settled)
        })?)
    }

    fn latest_checkpoint(&self) -> Result<Option<VerifiedCheckpoint>, SyncError> {
        let store = self.store();
        Ok(store.read(|c| store.latest_checkpoint(c))?)
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<VerifiedCheckpoint>, SyncError> {
        let store = self.store();
        Ok(store.read(|c| store.checkpoint_at(c, size))?)
    }

    fn save_checkpoint(&self, checkpoint: &VerifiedCheckpoint, now: i64) -> Result<(), SyncError> {
        let store = self.store();
        Ok(store.write(|tx| store.save_checkpoint(tx, checkpoint, now))?)
    }

    fn revocations(&self) -> Result<Option<Vec<u8>>, SyncError> {
        Ok(Device::revocations(self)?.map(|(list, _)| list))
    }

    fn save_revocations(&self, list: &[u8], now: i64) -> Result<(), SyncError> {
        let store = self.store();
        Ok(store.write(|tx| -> Result<(), StoreError> {
            store.set_meta(tx, META_REVOCATIONS, list)?;
            store.set_meta(tx, META_REVOCATIONS_FETCHED_AT, now.to_string().as_bytes())
        })?)
    }

    fn mark_revoked(&self, at: i64) -> Result<(), SyncError> {
        Ok(Device::mark_revoked(self, at)?)
    }

    fn revoked_at(&self) -> Result<Option<i64>, SyncError> {
        Ok(Device::revoked_at(self)?)
    }

    fn status_list(&self) -> Result<Option<Vec<u8>>, SyncError> {
        Ok(Device::status_list(self)?.map(|(list, _)| list))
    }

    fn save_status_list(&self, list: &[u8], now: i64) -> Result<(), SyncError> {
        let store = self.store();
        Ok(store.write(|tx| -> Result<(), StoreError> {
            store.set_meta(tx, META_STATUS_LIST, list)?;
            store.set_meta(tx, META_STATUS_LIST_FETCHED_AT, now.to_string().as_bytes())
        })?)
    }
    fn awaiting_decisions(&self) -> Result<Vec<(u64, Uuid)>, SyncError> {
        let store = self.store();
        let rows = store.read(|c| store.records(c, Some(RecordStatus::Acknowledged)))?;
        let mut awaiting: Vec<(u64, Uuid)> = rows
            .iter()
            .filter_map(|row| Some((row.leaf_index?, row.id)))
            .collect();
        awaiting.sort_unstable();
        Ok(awaiting)
    }

    fn awaiting_record(&self, id: &Uuid) -> Result<Option<AwaitingRecord>, SyncError> {
        let store = self.store();
        let Some(row) = store.read(|c| store.record(c, id))? else {
            return Ok(None);
        };
        if row.status != RecordStatus::Acknowledged {
            return Ok(None);
        }
        let receipt = row
            .receipt
            .as_deref()
            .and_then(|bytes| codec::from_slice(bytes, 1024 * 1024).ok())
            .ok_or_else(|| StoreError::Tampered {
                what: format!("receipt of record {id}"),
            })?;
        Ok(Some(AwaitingRecord {
            receipt,
            signed: Device::signed_record(self, &row)?.bytes,
        }))
    }

    fn sign_request(&self, message: &[u8]) -> Result<[u8; 64], SyncError> {
        Ok(self.sign_with_device_key(message)?)
    }

    fn apply_decisions(
        &self,
        decided: &[Decided],
        checkpoint: &VerifiedCheckpoint,
        now: i64,
    ) -> Result<(), SyncError> {
        let store = self.store();
        let updates = decided
            .iter()
            .map(|d| {
                Ok(DecisionUpdate {
                    id: d.id,
                    decision: d.decision,
                    sealed_credential: d
                        .credential
                        .as_ref()
                        .map(|c| store.seal(CREDENTIAL.0, CREDENTIAL.1, d.id.as_bytes(), c))
                        .transpose()?,
                    message: d.decision.explanation(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(store.write(|tx| store.apply_decisions(tx, &updates, checkpoint, now))?)
    }
}
