//! The sync state machine: [`SyncMachine::poll`] says what to do next (send a request, wait,
//! or done), [`SyncMachine::handle`] digests the outcome of the request last sent. No socket,
//! no clock (the caller passes the time, [`SyncMachine::set_now`]), no OS randomness after
//! [`SyncMachine::new`]: everything random comes from the generator of
//! [`SyncConfig::rng_seed`]. The store is reached through [`SyncStore`] only.
//!
//! The phases of one sync: the revocation list; then batch after batch (an open one first,
//! resent as stored; each answer verified, sometimes after one more consistency proof, and
//! applied in one transaction); then the checkpoint (with a consistency proof from the newest
//! one verified before); then, if records wait for the registry's decision, the notices of
//! decisions on them (PROTOCOL §9.1), each checked on the ledger before it is applied; then
//! the status list.

use std::time::Duration;

use chacha20::ChaCha20Rng;
use hpke::rand_core::{Rng, SeedableRng};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use super::{
    HttpRequest, HttpResponse, Method, RejectedRecord, Step, SyncConfig, SyncCounts, SyncError,
    SyncReport, TransportError,
    backoff::{Retry, SyncBackoff},
    error_body, get,
    storage::{Decided, NewBatch, Settled, SyncStore},
    verify::{
        Receipt, check_consistency, check_notice, check_registered_credential, check_same_root,
        parse_consistency_json, pinned_checkpoint_verifier, pinned_hpke_key, signed_checkpoint,
        witnessed,
    },
};
use crate::{
    codec,
    device::DeviceError,
    keys::KeyId,
    ledger::{checkpoint::Checkpoint, note::NoteVerifier},
    status_list::StatusListToken,
    store::{
        StoreError,
        sync_rows::{BatchRow, VerifiedCheckpoint},
    },
    trust::{RevocationList, TrustBundle},
    wire::{
        self, Batch, BatchResponse, MAX_NOTICE_RECORDS, NoticesRequest, NoticesResponse, Outcome,
        RecordResult, ResponseKey,
    },
};

#[derive(Debug)]
enum Phase {
    FetchRevocations,
    NextBatch,
    SendBatch {
        batch: BatchRow,
    },
    /// An answer that needs one more consistency proof (from `from` to the new size) before
    /// it can be applied.
    ExtraConsistency {
        batch: BatchRow,
        response: Box<BatchResponse>,
        checkpoint: Checkpoint,
        from: VerifiedCheckpoint,
    },
    FetchCheckpoint,
    /// After the checkpoint, while records wait for a decision: the notices of decisions on
    /// them (the request sealed once; a retry resends its bytes).
    FetchNotices {
        call: Box<NoticesCall>,
    },
    /// After the checkpoint: the status list, which then covers this sync's corrections.
    FetchStatusList,
    CheckpointConsistency {
        note: String,
        checkpoint: Checkpoint,
        from: VerifiedCheckpoint,
    },
    Done,
}

/// A notices request as sent, and what opens and checks its answer.
#[derive(Debug)]
struct NoticesCall {
    request_id: Uuid,
    known_tree_size: u64,
    body: Vec<u8>,
    key: ResponseKey,
}

/// The sync's random number generator: seeded from [`SyncConfig::rng_seed`], else from the OS.
fn sync_rng(config: &SyncConfig) -> Result<ChaCha20Rng, SyncError> {
    let seed = match config.rng_seed {
        Some(seed) => seed,
        None => {
            let mut seed = [0u8; 32];
            crate::keys::os_random(&mut seed).map_err(DeviceError::from)?;
            seed
        }
    };
    Ok(ChaCha20Rng::from_seed(seed))
}

/// The sync state machine for one device. Create it, then alternate [`Self::poll`] and
/// [`Self::handle`] until `poll` returns [`Step::Done`] or an error.
pub struct SyncMachine<S> {
    store: S,
    trust: TrustBundle,
    verifier: NoteVerifier,
    kid: KeyId,
    certificate: Vec<u8>,
    config: SyncConfig,
    backoff: SyncBackoff,
    rng: ChaCha20Rng,
    phase: Phase,
    /// Consecutive failures of the request being retried.
    attempts: u32,
    wait: Option<Duration>,
    now: i64,
    counts: SyncCounts,
    report: SyncReport,
    /// Seq of the last record already put into a batch in this sync.
    batched_up_to: i64,
    /// The batch whose records were last counted as sent (a resend is not counted again).
    counted_batch: Option<Uuid>,
    /// Whether a batch answered below the witness quorum was already resent in this sync.
    resent_for_witnesses: bool,
    /// The records awaiting a decision not yet asked about in this sync (ledger order).
    awaiting: Vec<(u64, Uuid)>,
}

impl<S: SyncStore> SyncMachine<S> {
    /// Prepares a sync of the device behind `store`, which must be enrolled. `now` is the
    /// current Unix time.
    pub fn new(store: S, config: SyncConfig, now: i64) -> Result<Self, SyncError> {
        let start = store.sync_start()?;
        let verifier = pinned_checkpoint_verifier(&start.trust)?;
        let rng = sync_rng(&config)?;
        Ok(SyncMachine {
            store,
            trust: start.trust,
            verifier,
            kid: start.kid,
            certificate: start.certificate,
            backoff: SyncBackoff::of(&config),
            config,
            rng,
            phase: Phase::FetchRevocations,
            attempts: 0,
            wait: None,
            now,
            counts: SyncCounts {
                queued: start.queued,
                ..SyncCounts::default()
            },
            report: SyncReport {
                tree_size: start.latest_checkpoint.as_ref().map_or(0, |c| c.size),
                checkpoint: start.latest_checkpoint.map(|c| c.note),
                ..SyncReport::default()
            },
            batched_up_to: 0,
            counted_batch: None,
            resent_for_witnesses: false,
            awaiting: Vec::new(),
        })
    }

    /// Progress so far.
    pub fn counts(&self) -> SyncCounts {
        self.counts
    }

    /// Updates the current time (the driver calls this after waiting).
    pub fn set_now(&mut self, now: i64) {
        self.now = now;
    }

    /// The store this machine syncs.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Result<Step, SyncError> {
        if let Some(wait) = self.wait.take() {
            return Ok(Step::Wait(wait));
        }
        self.counts.retry_in_ms = 0;
        loop {
            let request = match &self.phase {
                Phase::FetchRevocations => get("/v1/revocations"),
                Phase::NextBatch => {
                    self.phase = self.next_batch()?;
                    continue;
                }
                Phase::SendBatch { batch } => {
                    if self.counted_batch != Some(batch.id) {
                        self.counted_batch = Some(batch.id);
                        self.counts.sent += batch.record_count;
                    }
                    self.counts.bytes_sent = self
                        .counts
                        .bytes_sent
                        .saturating_add(batch.sealed_body.len() as u64);
                    HttpRequest {
                        method: Method::Post,
                        path: "/v1/batches".into(),
                        content_type: Some("application/cbor".into()),
                        body: batch.sealed_body.clone(),
                    }
                }
                Phase::ExtraConsistency {
                    checkpoint, from, ..
                }
                | Phase::CheckpointConsistency {
                    checkpoint, from, ..
                } => get(&format!(
                    "/v1/proof/consistency?from={}&to={}",
                    from.size, checkpoint.size
                )),
                Phase::FetchCheckpoint => get("/v1/checkpoint"),
                Phase::FetchNotices { call } => {
                    self.counts.bytes_sent = self
                        .counts
                        .bytes_sent
                        .saturating_add(call.body.len() as u64);
                    HttpRequest {
                        method: Method::Post,
                        path: "/v1/notices".into(),
                        content_type: Some("application/cbor".into()),
                        body: call.body.clone(),
                    }
                }
                Phase::FetchStatusList => get("/v1/status-list"),
                Phase::Done => return Ok(Step::Done(self.report.clone())),
            };
            return Ok(Step::Send(request));
        }
    }

    /// Digests the outcome of the request last returned by [`Self::poll`].
    pub fn handle(
        &mut self,
        outcome: Result<HttpResponse, TransportError>,
    ) -> Result<(), SyncError> {
        let response = match outcome {
            Ok(r) if (200..300).contains(&r.status) => r,
            // A registry from before status lists: nothing to cache, the sync is complete.
            Ok(r) if r.status == 404 && matches!(self.phase, Phase::FetchStatusList) => {
                self.phase = Phase::Done;
                return Ok(());
            }
            // A registry from before notices: its records are registered at once or never.
            Ok(r) if r.status == 404 && matches!(self.phase, Phase::FetchNotices { .. }) => {
                self.phase = Phase::FetchStatusList;
                return Ok(());
            }
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 => {
                let (code, message) = error_body(&r.body);
                return self.retry(
                    format!("HTTP {} {code}: {message}", r.status),
                    r.retry_after_secs.map(Duration::from_secs),
                );
            }
            Ok(r) => return Err(super::refused(&r)),
            Err(e) => return self.retry(e.message, None),
        };
        self.attempts = 0;
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        self.phase = self.advance(phase, &response.body)?;
        Ok(())
    }

    /// The phase after `phase`, given its successful answer `body`.
    fn advance(&mut self, phase: Phase, body: &[u8]) -> Result<Phase, SyncError> {
        Ok(match phase {
            Phase::FetchRevocations => {
                self.store_revocations(body)?;
                Phase::NextBatch
            }
            Phase::SendBatch { batch } => self.digest_batch_answer(batch, body)?,
            Phase::ExtraConsistency {
                batch,
                response,
                checkpoint,
                from,
            } => {
                check_consistency(&from, &checkpoint, &parse_consistency_json(body)?)?;
                self.apply_if_witnessed(batch, *response, checkpoint)?
            }
            Phase::FetchCheckpoint => self.digest_checkpoint(body)?,
            Phase::CheckpointConsistency {
                note,
                checkpoint,
                from,
            } => {
                check_consistency(&from, &checkpoint, &parse_consistency_json(body)?)?;
                self.save_checkpoint(&checkpoint, note)?;
                self.after_checkpoint()?
            }
            Phase::FetchNotices { call } => self.digest_notices(*call, body)?,
            Phase::FetchStatusList => {
                self.store_status_list(body)?;
                Phase::Done
            }
            Phase::NextBatch | Phase::Done => Phase::Done,
        })
    }

    /// A failed request: wait as [`super::backoff`] documents, or give up for now.
    fn retry(&mut self, error: String, retry_after: Option<Duration>) -> Result<(), SyncError> {
        self.attempts += 1;
        let k = self.rng.next_u64();
        let wait = match self.backoff.after_failure(self.attempts, retry_after, k) {
            Retry::Wait(wait) => wait,
            Retry::GiveUp => {
                return Err(SyncError::Unreachable {
                    attempts: self.attempts,
                    last_error: error,
                });
            }
            // Asked to come back later than this sync is willing to wait: stop now and let the
            // next sync (a later call) try, rather than knock early.
            Retry::TooLongAsked(asked) => {
                return Err(SyncError::Unreachable {
                    attempts: self.attempts,
                    last_error: format!(
                        "{error}; the registry asked to retry after {} s",
                        asked.as_secs()
                    ),
                });
            }
        };
        self.counts.retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.wait = Some(wait);
        Ok(())
    }

    /// Keeps the newest valid revocation list: one signed before the list already cached (a
    /// replay of an older list, which could un-revoke a device) is ignored without alarm.
    fn store_revocations(&mut self, body: &[u8]) -> Result<(), SyncError> {
        let list = RevocationList::verify(body, &self.trust)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        let cached = self
            .store
            .revocations()?
            .and_then(|bytes| RevocationList::verify(&bytes, &self.trust).ok());
        let list = match cached {
            Some(cached) if cached.issued_at > list.issued_at => cached,
            _ => {
                self.store.save_revocations(body, self.now)?;
                self.report.revocations_refreshed = true;
                list
            }
        };
        if let Some(revocation) = list.find(&self.kid) {
            self.store.mark_revoked(revocation.revoked_at)?;
        }
        self.report.device_revoked = self.store.revoked_at()?.is_some();
        Ok(())
    }

    /// Keeps the newest valid status list: one signed (`iat`, the registry's clock) before the
    /// one already cached is a replay and is ignored. The device's own clock judges nothing.
    fn store_status_list(&mut self, body: &[u8]) -> Result<(), SyncError> {
        let token = StatusListToken::verify(body, &self.trust)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        let cached = self
            .store
            .status_list()?
            .and_then(|bytes| StatusListToken::verify(&bytes, &self.trust).ok());
        if cached.is_some_and(|c| c.issued_at > token.issued_at) {
            return Ok(());
        }
        self.store.save_status_list(body, self.now)?;
        self.report.status_list_refreshed = true;
        Ok(())
    }

    /// Picks the next batch to send: an open one first (resent as stored), else a new one from
    /// pending records, else moves on to refreshing the checkpoint.
    fn next_batch(&mut self) -> Result<Phase, SyncError> {
        if let Some(batch) = self.store.open_batch()? {
            return Ok(Phase::SendBatch { batch });
        }
        let (records, ids, after) = self.fill_batch()?;
        if records.is_empty() {
            return Ok(Phase::FetchCheckpoint);
        }
        let batch = self.seal_batch(records, &ids)?;
        self.batched_up_to = after;
        Ok(Phase::SendBatch { batch })
    }

    /// Pending records in capture order up to the batch limits: their signed bytes, their ids
    /// and the capture sequence of the last one.
    fn fill_batch(&mut self) -> Result<(Vec<ByteBuf>, Vec<Uuid>, i64), SyncError> {
        let mut records = Vec::new();
        let mut ids = Vec::new();
        let mut bytes = 0usize;
        let mut after = self.batched_up_to;
        while records.len() < self.config.max_batch_records {
            let page = self.store.pending_records(after, 64)?;
            if page.is_empty() {
                break;
            }
            for record in page {
                if !records.is_empty() && bytes + record.signed.len() > self.config.max_batch_bytes
                {
                    // This record opens the next batch: the cursor stays before it.
                    return Ok((records, ids, after));
                }
                after = record.seq;
                bytes += record.signed.len();
                ids.push(record.id);
                records.push(ByteBuf::from(record.signed));
                if records.len() >= self.config.max_batch_records {
                    return Ok((records, ids, after));
                }
            }
        }
        Ok((records, ids, after))
    }

    /// Seals `records` into a new batch and stores it, moving them to in flight, before it is
    /// first sent.
    fn seal_batch(&mut self, records: Vec<ByteBuf>, ids: &[Uuid]) -> Result<BatchRow, SyncError> {
        let known_tree_size = self.store.latest_checkpoint()?.map_or(0, |c| c.size);
        let batch = Batch {
            version: wire::WIRE_VERSION,
            batch_id: self.batch_id(),
            device_kid: ByteBuf::from(self.kid.0.to_vec()),
            certificate: Some(ByteBuf::from(self.certificate.clone())),
            known_tree_size,
            records,
        };
        let hpke_public = pinned_hpke_key(&self.trust)?;
        let (sealed_body, response_key) = batch
            .seal_with_rng(&hpke_public, &mut self.rng)
            .map_err(|e| SyncError::Local(format!("sealing a batch: {e}")))?;
        self.store.insert_batch(
            NewBatch {
                id: batch.batch_id,
                created_at: self.now,
                known_tree_size,
                sealed_body,
                response_key: &response_key,
            },
            ids,
        )
    }

    /// A UUIDv7 batch id: the machine's time and random bits from the sync's generator.
    fn batch_id(&mut self) -> Uuid {
        let mut random = [0u8; 10];
        self.rng.fill_bytes(&mut random);
        let millis = u64::try_from(self.now).unwrap_or(0).saturating_mul(1000);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    fn digest_batch_answer(&mut self, batch: BatchRow, body: &[u8]) -> Result<Phase, SyncError> {
        self.store.count_batch_attempt(&batch.id)?;
        let key = self.store.response_key(&batch)?;
        let response = BatchResponse::open(body, &key)
            .map_err(|e| SyncError::InvalidResponse(format!("batch answer: {e}")))?;
        if response.batch_id != batch.id || response.known_tree_size != batch.known_tree_size {
            return Err(SyncError::InvalidResponse(
                "the answer is for another batch".into(),
            ));
        }
        let checkpoint =
            signed_checkpoint(&self.verifier, &response.checkpoint, &self.trust.origin)?;
        // History check 1: from the size the batch was sealed with.
        let known = self.sealed_against(&batch)?;
        let proof = wire::hashes(&response.consistency_proof)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        check_consistency(&known, &checkpoint, &proof)?;
        // History check 2: the newest checkpoint verified since, if newer than that.
        let latest = self.store.latest_checkpoint()?;
        if let Some(latest) = latest.filter(|l| l.size > known.size) {
            check_same_root(&latest, &checkpoint)?;
            if latest.size != checkpoint.size {
                return Ok(Phase::ExtraConsistency {
                    batch,
                    response: Box::new(response),
                    checkpoint,
                    from: latest,
                });
            }
        }
        self.apply_if_witnessed(batch, response, checkpoint)
    }

    /// Applies a verified answer if its checkpoint carries the witness quorum. Below it
    /// nothing is acknowledged: the batch stays open (its records in flight) and is resent
    /// later, when the registry answers with the records' placements under a checkpoint the
    /// witnesses have cosigned.
    fn apply_if_witnessed(
        &mut self,
        batch: BatchRow,
        response: BatchResponse,
        checkpoint: Checkpoint,
    ) -> Result<Phase, SyncError> {
        let witnesses = witnessed(&self.trust, &response.checkpoint)?;
        if witnesses.cosigned < witnesses.quorum {
            self.report.awaiting_witnesses = Some(witnesses);
            return Ok(Phase::FetchCheckpoint);
        }
        self.apply_answer(batch, response, checkpoint)?;
        Ok(Phase::NextBatch)
    }

    /// The checkpoint `batch` was sealed against (the empty tree for size 0).
    fn sealed_against(&self, batch: &BatchRow) -> Result<VerifiedCheckpoint, SyncError> {
        if batch.known_tree_size == 0 {
            return Ok(VerifiedCheckpoint {
                size: 0,
                root_hash: [0; 32],
                note: String::new(),
            });
        }
        self.store
            .checkpoint_at(batch.known_tree_size)?
            .ok_or_else(|| {
                SyncError::Device(DeviceError::Store(StoreError::Tampered {
                    what: "checkpoint the batch was sealed against (missing)".into(),
                }))
            })
    }

    /// Verifies every record's result and applies them all in one transaction.
    fn apply_answer(
        &mut self,
        batch: BatchRow,
        response: BatchResponse,
        checkpoint: Checkpoint,
    ) -> Result<(), SyncError> {
        let ids = self.store.batch_record_ids(&batch)?;
        if response.results.len() != ids.len()
            || response
                .results
                .iter()
                .zip(&ids)
                .any(|(r, id)| &r.record_id != id)
        {
            return Err(SyncError::InvalidResponse(
                "the answer does not list exactly the batch's records".into(),
            ));
        }
        let settled = response
            .results
            .iter()
            .map(|result| self.settle(result, &response.checkpoint))
            .collect::<Result<Vec<_>, _>>()?;
        let verified = VerifiedCheckpoint {
            size: checkpoint.size,
            root_hash: checkpoint.root_hash,
            note: response.checkpoint,
        };
        self.store
            .apply_batch_answer(&batch.id, &settled, &verified, self.now)?;
        // The batch that waited for the witnesses (the oldest open one) is this one.
        self.report.awaiting_witnesses = None;
        self.count_settled(&response.results, &settled);
        self.note_checkpoint(&verified);
        Ok(())
    }

    /// One record's result, verified: its receipt against the answer's checkpoint `note` and
    /// its registered credential, or the registry's reason for refusing it.
    fn settle(&self, result: &RecordResult, note: &str) -> Result<Settled, SyncError> {
        match (result.outcome, &result.leaf, &result.rejection) {
            (Outcome::Accepted | Outcome::Duplicate, Some(leaf), _) => {
                let signed = self.store.signed_record(&result.record_id)?;
                let receipt = Receipt {
                    leaf_index: leaf.index,
                    salt: leaf.salt.clone(),
                    sequenced_at: leaf.sequenced_at,
                    checkpoint: note.to_owned(),
                    inclusion_proof: leaf.inclusion_proof.clone(),
                };
                receipt
                    .verify_with(&signed, self.kid, &self.verifier, &self.trust.origin)
                    .map_err(|e| {
                        SyncError::InvalidResponse(format!("record {}: {e}", result.record_id))
                    })?;
                if let Some(credential) = &result.credential {
                    check_registered_credential(
                        credential,
                        &result.record_id,
                        leaf.index,
                        &self.trust,
                        self.now,
                    )?;
                }
                if result
                    .held
                    .as_ref()
                    .is_some_and(|h| h.candidates.len() > wire::MAX_HELD_CANDIDATES)
                {
                    return Err(SyncError::InvalidResponse(format!(
                        "record {}: more candidates of a held record than the {} allowed",
                        result.record_id,
                        wire::MAX_HELD_CANDIDATES
                    )));
                }
                Ok(Settled::Acknowledged {
                    id: result.record_id,
                    held: result.held.clone(),
                    leaf_index: leaf.index,
                    receipt: codec::to_vec(&receipt)
                        .map_err(|e| SyncError::Local(format!("encoding a receipt: {e}")))?,
                    credential: result.credential.as_ref().map(|c| c.to_vec()),
                })
            }
            (Outcome::Rejected, _, Some(rejection)) => Ok(Settled::Rejected {
                id: result.record_id,
                code: rejection.code.clone(),
                message: rejection.message.clone(),
            }),
            _ => Err(SyncError::InvalidResponse(format!(
                "record {}: result without its leaf or reason",
                result.record_id
            ))),
        }
    }

    /// Adds an applied answer to the report and the counts.
    fn count_settled(&mut self, results: &[RecordResult], settled: &[Settled]) {
        for (result, settled) in results.iter().zip(settled) {
            match settled {
                Settled::Acknowledged { credential, .. } => {
                    if credential.is_some() {
                        self.report.registered += 1;
                    }
                    if result.outcome == Outcome::Accepted {
                        self.report.accepted += 1;
                    } else {
                        self.report.duplicate += 1;
                    }
                    self.counts.acknowledged += 1;
                }
                Settled::Rejected { id, code, message } => {
                    self.report.rejected.push(RejectedRecord {
                        id: *id,
                        code: code.clone(),
                        message: message.clone(),
                    });
                    self.counts.rejected += 1;
                }
            }
        }
        self.report.batches += 1;
    }

    fn note_checkpoint(&mut self, checkpoint: &VerifiedCheckpoint) {
        if checkpoint.size >= self.report.tree_size {
            self.report.tree_size = checkpoint.size;
            self.report.checkpoint = Some(checkpoint.note.clone());
        }
    }

    fn digest_checkpoint(&mut self, body: &[u8]) -> Result<Phase, SyncError> {
        let note = String::from_utf8(body.to_vec())
            .map_err(|_| SyncError::InvalidResponse("checkpoint is not UTF-8".into()))?;
        let checkpoint = signed_checkpoint(&self.verifier, &note, &self.trust.origin)?;
        // A checkpoint below the witness quorum is not kept: the device's history holds only
        // checkpoints the witnesses vouched for.
        let witnesses = witnessed(&self.trust, &note)?;
        if witnesses.cosigned < witnesses.quorum {
            if self.store.open_batch()?.is_some() {
                self.report.awaiting_witnesses = Some(witnesses);
            }
            return Ok(Phase::FetchStatusList);
        }
        // The witnesses caught up since a batch was answered below the quorum: resend it once
        // now (the answer then places its records under a witnessed checkpoint).
        if self.report.awaiting_witnesses.is_some()
            && !self.resent_for_witnesses
            && self.store.open_batch()?.is_some()
        {
            self.resent_for_witnesses = true;
            return Ok(Phase::NextBatch);
        }
        match self.store.latest_checkpoint()? {
            // An older checkpoint (a replay, or a lagging mirror): the newer one stays; only a
            // different root for a size this device verified is evidence of a fork.
            Some(latest) if latest.size > checkpoint.size => {
                if let Some(seen) = self.store.checkpoint_at(checkpoint.size)? {
                    check_same_root(&seen, &checkpoint)?;
                }
                self.after_checkpoint()
            }
            Some(latest) if latest.size == checkpoint.size => {
                check_same_root(&latest, &checkpoint)?;
                self.after_checkpoint()
            }
            Some(latest) if latest.size > 0 => Ok(Phase::CheckpointConsistency {
                note,
                checkpoint,
                from: latest,
            }),
            _ => {
                self.save_checkpoint(&checkpoint, note)?;
                self.after_checkpoint()
            }
        }
    }

    /// After the checkpoint: the notices of decisions if records wait for one (not for a
    /// revoked device, which the registry no longer answers), else the status list.
    fn after_checkpoint(&mut self) -> Result<Phase, SyncError> {
        if self.report.device_revoked {
            return Ok(Phase::FetchStatusList);
        }
        self.awaiting = self.store.awaiting_decisions()?;
        self.notices_request()
    }

    /// Signs and seals a notices request for the decisions on the next records awaiting one
    /// (at most [`MAX_NOTICE_RECORDS`]), against the newest checkpoint this device verified;
    /// the status list when none is left.
    fn notices_request(&mut self) -> Result<Phase, SyncError> {
        if self.awaiting.is_empty() {
            return Ok(Phase::FetchStatusList);
        }
        let take = self.awaiting.len().min(MAX_NOTICE_RECORDS);
        let asked: Vec<(u64, Uuid)> = self.awaiting.drain(..take).collect();
        let known_tree_size = self.store.latest_checkpoint()?.map_or(0, |c| c.size);
        let mut request = NoticesRequest {
            version: wire::WIRE_VERSION,
            request_id: self.batch_id(),
            device_kid: ByteBuf::from(self.kid.0.to_vec()),
            known_tree_size,
            from_index: asked.first().map_or(0, |(index, _)| *index),
            signature: ByteBuf::new(),
            records: asked.iter().map(|(_, id)| *id).collect(),
        };
        let signature = self.store.sign_request(&request.signed_message())?;
        request.signature = ByteBuf::from(signature.to_vec());
        let hpke_public = pinned_hpke_key(&self.trust)?;
        let (body, key) = request
            .seal_with_rng(&hpke_public, &mut self.rng)
            .map_err(|e| SyncError::Local(format!("sealing a notices request: {e}")))?;
        Ok(Phase::FetchNotices {
            call: Box::new(NoticesCall {
                request_id: request.request_id,
                known_tree_size,
                body,
                key,
            }),
        })
    }

    /// Verifies a notices answer (its checkpoint like a batch answer's, each decision on the
    /// ledger against the device's own record) and applies the decisions with the checkpoint
    /// in one transaction. Below the witness quorum nothing is applied: a later sync asks
    /// again. The records not asked about yet are asked next.
    fn digest_notices(&mut self, call: NoticesCall, body: &[u8]) -> Result<Phase, SyncError> {
        let response = NoticesResponse::open(body, &call.key)
            .map_err(|e| SyncError::InvalidResponse(format!("notices answer: {e}")))?;
        if response.request_id != call.request_id
            || response.known_tree_size != call.known_tree_size
        {
            return Err(SyncError::InvalidResponse(
                "the notices answer is for another request".into(),
            ));
        }
        let checkpoint =
            signed_checkpoint(&self.verifier, &response.checkpoint, &self.trust.origin)?;
        let known = match call.known_tree_size {
            0 => VerifiedCheckpoint {
                size: 0,
                root_hash: [0; 32],
                note: String::new(),
            },
            size => self.store.checkpoint_at(size)?.ok_or_else(|| {
                SyncError::Device(DeviceError::Store(StoreError::Tampered {
                    what: "checkpoint the notices were asked against (missing)".into(),
                }))
            })?,
        };
        let proof = wire::hashes(&response.consistency_proof)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        check_consistency(&known, &checkpoint, &proof)?;
        if let Some(seen) = self.store.checkpoint_at(checkpoint.size)? {
            check_same_root(&seen, &checkpoint)?;
        }
        let witnesses = witnessed(&self.trust, &response.checkpoint)?;
        if witnesses.cosigned < witnesses.quorum {
            return Ok(Phase::FetchStatusList);
        }
        let mut decided = Vec::new();
        for notice in &response.notices {
            // Decided before (applied by an earlier answer), or not a record of this device.
            let Some(record) = self.store.awaiting_record(&notice.record_id)? else {
                continue;
            };
            // A decided record is never decided again (PROTOCOL §10.1).
            if decided.iter().any(|d: &Decided| d.id == notice.record_id) {
                return Err(SyncError::InvalidResponse(format!(
                    "two decisions on record {} in one answer",
                    notice.record_id
                )));
            }
            let decision = check_notice(
                notice,
                &record.receipt,
                &record.signed,
                &checkpoint,
                &self.trust,
                self.now,
            )?;
            decided.push(Decided {
                id: notice.record_id,
                decision,
                credential: notice.credential.as_ref().map(|c| c.to_vec()),
            });
        }
        let verified = VerifiedCheckpoint {
            size: checkpoint.size,
            root_hash: checkpoint.root_hash,
            note: response.checkpoint,
        };
        self.store.apply_decisions(&decided, &verified, self.now)?;
        self.note_checkpoint(&verified);
        for d in &decided {
            match d.decision.decision {
                crate::ledger::leaf::DecisionKind::Registered => self.report.registered += 1,
                kind => self.report.rejected.push(RejectedRecord {
                    id: d.id,
                    code: kind.as_str().to_owned(),
                    message: d.decision.explanation(),
                }),
            }
        }
        self.notices_request()
    }

    fn save_checkpoint(&mut self, checkpoint: &Checkpoint, note: String) -> Result<(), SyncError> {
        let verified = VerifiedCheckpoint {
            size: checkpoint.size,
            root_hash: checkpoint.root_hash,
            note,
        };
        self.store.save_checkpoint(&verified, self.now)?;
        self.note_checkpoint(&verified);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_bytes::ByteBuf;

    use super::*;
    use crate::{
        device::Device,
        store::StorageKey,
        sync::backoff::{JITTER_STEPS, SyncBackoff},
        trust::DeviceCertificate,
        wire::EnrolResponse,
    };

    const NOW: i64 = 1_800_000_000;

    /// A device in memory, enrolled with the test registry of `trust::tests`.
    fn enrolled() -> Device {
        let device = Device::open_in_memory(StorageKey::from_bytes([3; 32])).unwrap();
        let identity = device.init("w-1").unwrap();
        let (key, bundle) = crate::trust::tests::registry();
        let certificate = DeviceCertificate {
            version: 1,
            origin: bundle.origin.clone(),
            device_public_key: ByteBuf::from(identity.public_key.to_vec()),
            worker_id: "w-1".into(),
            region: "UA-46".into(),
            not_before: NOW - 86_400,
            not_after: NOW + 86_400,
        }
        .sign(&key)
        .unwrap();
        let answer = EnrolResponse {
            certificate: ByteBuf::from(certificate),
            trust_bundle: bundle.to_json(),
        };
        device
            .complete_enrolment(&codec::to_vec(&answer).unwrap(), &bundle)
            .unwrap();
        device
    }

    fn lost() -> Result<HttpResponse, TransportError> {
        Err(TransportError {
            message: "no signal".into(),
        })
    }

    /// The waits of a sync whose every request is lost, and how it ended.
    fn waits(device: &Device, seed: [u8; 32]) -> (Vec<Duration>, SyncError) {
        let config = SyncConfig {
            rng_seed: Some(seed),
            ..SyncConfig::default()
        };
        let mut machine = SyncMachine::new(device, config, NOW).unwrap();
        let mut waits = Vec::new();
        loop {
            match machine.poll().unwrap() {
                Step::Send(request) => {
                    assert_eq!(request.path, "/v1/revocations");
                    if let Err(e) = machine.handle(lost()) {
                        return (waits, e);
                    }
                }
                Step::Wait(d) => waits.push(d),
                Step::Done(_) => panic!("a sync with no answer finished"),
            }
        }
    }

    #[test]
    fn a_seeded_sync_waits_the_same_documented_jittered_delays() {
        let device = enrolled();
        let (a, end) = waits(&device, [1; 32]);
        assert!(
            matches!(end, SyncError::Unreachable { attempts: 6, .. }),
            "{end}"
        );
        assert_eq!(a.len(), 5, "one wait after each failure but the last");
        let schedule = SyncBackoff::of(&SyncConfig::default());
        for (n, wait) in (1..).zip(&a) {
            assert!(
                (0..JITTER_STEPS).any(|k| schedule.jittered(n, k) == *wait),
                "wait {n} ({wait:?}) is not on the documented grid"
            );
        }
        assert_eq!(
            waits(&device, [1; 32]).0,
            a,
            "the same seed, the same waits"
        );
        assert_ne!(waits(&device, [2; 32]).0, a, "another seed, other waits");
    }

    #[test]
    fn an_answer_resets_the_failures_and_a_refusal_ends_the_sync() {
        let device = enrolled();
        let config = SyncConfig {
            rng_seed: Some([5; 32]),
            ..SyncConfig::default()
        };
        let mut machine = SyncMachine::new(&device, config, NOW).unwrap();
        let Step::Send(_) = machine.poll().unwrap() else {
            panic!("no first request")
        };
        machine
            .handle(Ok(HttpResponse {
                status: 503,
                retry_after_secs: Some(7),
                body: br#"{"code":"busy","message":"later"}"#.to_vec(),
            }))
            .unwrap();
        let Step::Wait(wait) = machine.poll().unwrap() else {
            panic!("no wait after a busy answer")
        };
        assert_eq!(
            wait,
            Duration::from_secs(7),
            "the Retry-After, above the jitter"
        );
        assert_eq!(machine.counts().retry_in_ms, 7000);
        let Step::Send(_) = machine.poll().unwrap() else {
            panic!("no resend after the wait")
        };
        assert_eq!(machine.counts().retry_in_ms, 0);
        let e = machine
            .handle(Ok(HttpResponse {
                status: 403,
                retry_after_secs: None,
                body: br#"{"code":"unknown_device","message":"who are you"}"#.to_vec(),
            }))
            .unwrap_err();
        assert!(
            matches!(&e, SyncError::Refused { status: 403, code, .. } if code == "unknown_device"),
            "{e}"
        );
    }

    #[test]
    fn an_unsigned_revocation_list_is_the_registrys_fault_and_changes_nothing() {
        let device = enrolled();
        let mut machine = SyncMachine::new(&device, SyncConfig::default(), NOW).unwrap();
        machine.poll().unwrap();
        let e = machine
            .handle(Ok(HttpResponse {
                status: 200,
                retry_after_secs: None,
                body: b"not a list".to_vec(),
            }))
            .unwrap_err();
        assert!(matches!(e, SyncError::InvalidResponse(_)), "{e}");
        assert!(SyncStore::revocations(&device).unwrap().is_none());
    }
}
