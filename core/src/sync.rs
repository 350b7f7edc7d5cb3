//! Offline-to-online sync, sans-IO (in the manner of quinn-proto): [`SyncMachine`] says which
//! HTTP request to make next and digests each answer; it never touches a socket or reads the
//! clock (the driver passes the time in). Its state lives in the device store, which it reads
//! and writes in transactions: that is what lets a sync killed at any point resume.
//! [`Device::sync`] drives it with a host-supplied [`Transport`] (OkHttp on Android,
//! URLSession on iOS, ureq in the CLI).
//!
//! Guarantees:
//! - A batch is sealed and stored, and its records moved to `in_flight`, in one transaction
//!   *before* it is first sent; every retry resends the identical bytes, so the registry
//!   answers a repeat idempotently and a record can never reach the ledger twice.
//! - An answer is applied in one transaction, and only after the checkpoint signature, the
//!   consistency of the registry's history with everything this device verified before, and
//!   every record's inclusion proof all check out. Otherwise nothing is marked acknowledged.
//! - A sync killed at any point resumes on the next call: open batches are resent first.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::{
    codec,
    device::{
        Device, DeviceError, META_REVOCATIONS, META_REVOCATIONS_FETCHED_AT, META_STATUS_LIST,
        META_STATUS_LIST_FETCHED_AT,
    },
    keys::KeyId,
    ledger::{
        Hash,
        checkpoint::{Checkpoint, verify_checkpoint},
        merkle,
        note::NoteVerifier,
    },
    store::{
        RecordStatus, StoreError,
        sync_rows::{BatchRow, RecordUpdate, VerifiedCheckpoint},
    },
    trust::{RevocationList, TrustBundle, TrustPin},
    wire::{self, Batch, BatchResponse, ErrorBody, LedgerLeaf, Outcome, ResponseKey},
};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A request for the host to perform against the registry base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// Path and query, starting with `/`, e.g. `/v1/batches`.
    pub path: String,
    /// Content type of the body (POST only).
    pub content_type: Option<String>,
    /// The body (empty for GET).
    pub body: Vec<u8>,
}

/// The registry's answer as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Retry-After` header in seconds, if present.
    pub retry_after_secs: Option<u64>,
    /// The body.
    pub body: Vec<u8>,
}

/// The host could not complete an exchange (no answer at all): always worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What went wrong (connection refused, timeout, reset, ...).
    pub message: String,
}

/// How the host performs HTTP for the sync. Implemented by the app (OkHttp, URLSession) or the
/// CLI (ureq). Should apply its own connect and read timeouts.
pub trait Transport {
    /// Performs `request` against the registry and returns its answer, whatever its status.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Counts reported while syncing (for a progress bar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    /// Records waiting to be sent when the sync started (pending + in flight).
    pub queued: u64,
    /// Records sent so far in this sync.
    pub sent: u64,
    /// Records acknowledged so far in this sync (accepted or duplicate).
    pub acknowledged: u64,
    /// Records rejected so far in this sync.
    pub rejected: u64,
    /// Bytes of sealed batches sent so far in this sync, every attempt counted (for a rate
    /// and an estimate of the time left).
    pub bytes_sent: u64,
    /// While the sync waits to retry a request that failed: how long, in milliseconds, from
    /// when this was reported; 0 otherwise.
    pub retry_in_ms: u64,
}

/// Receives progress during [`Device::sync`].
pub trait SyncProgress {
    /// Called whenever a count changes.
    fn on_progress(&self, counts: &SyncCounts);
}

/// Cancels a running sync from another thread (a "Stop" button, the app going to the
/// background). The sync stops before its next request or wait, leaving the store consistent:
/// the next sync resumes where this one stopped.
#[derive(Debug, Clone, Default)]
pub struct SyncCancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl SyncCancel {
    /// A handle not yet cancelled.
    pub fn new() -> SyncCancel {
        SyncCancel::default()
    }

    /// Asks the sync to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl PartialEq for SyncCancel {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SyncCancel {}

/// Tuning of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Most bytes of signed records per batch (default 32 KiB: about 3 s on a 2G link).
    pub max_batch_bytes: usize,
    /// Most records per batch.
    pub max_batch_records: usize,
    /// Consecutive failed attempts of one request before the sync gives up for now.
    pub max_attempts: u32,
    /// First back-off delay.
    pub initial_backoff: Duration,
    /// Longest back-off delay. A `Retry-After` longer than this ends the sync (to be called
    /// again later) instead of being cut short.
    pub max_backoff: Duration,
    /// When another sync of the same store is running (another thread or process): wait for it
    /// to end (`true`) or fail at once with [`SyncError::InProgress`] (`false`, the default).
    pub wait_for_other_sync: bool,
    /// A handle that stops this sync when cancelled.
    pub cancel: Option<SyncCancel>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_batch_bytes: 32 * 1024,
            max_batch_records: 100,
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            wait_for_other_sync: false,
            cancel: None,
        }
    }
}

/// A record the registry refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    /// Record id.
    pub id: Uuid,
    /// Machine-readable reason.
    pub code: String,
    /// Reason for the worker.
    pub message: String,
}

/// What a finished sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Batches sent and answered.
    pub batches: u64,
    /// Records newly accepted onto the ledger.
    pub accepted: u64,
    /// Records the registry already had (a retried batch): acknowledged too.
    pub duplicate: u64,
    /// Records refused, with reasons.
    pub rejected: Vec<RejectedRecord>,
    /// Size of the newest verified checkpoint.
    pub tree_size: u64,
    /// The newest verified checkpoint (signed note).
    pub checkpoint: Option<String>,
    /// Whether the revocation list was refreshed.
    pub revocations_refreshed: bool,
    /// Whether the status list of registered credentials was refreshed.
    pub status_list_refreshed: bool,
    /// Whether this device itself is on the revocation list.
    pub device_revoked: bool,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The device must be enrolled first.
    #[error("this device is not enrolled with a registry: run device enrol first")]
    NotEnrolled,
    /// The registry's history does not extend what this device verified before: it forked or
    /// rewrote its ledger. Nothing was marked acknowledged.
    #[error("the registry's ledger is inconsistent with what this device verified before: {0}")]
    LedgerInconsistent(String),
    /// The registry's answer failed verification (bad signature or proof). Nothing was marked
    /// acknowledged.
    #[error("the registry's answer failed verification: {0}")]
    InvalidResponse(String),
    /// The registry refused the request for good (not worth retrying as is).
    #[error("the registry refused the request ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Error code from the body.
        code: String,
        /// Message from the body.
        message: String,
    },
    /// The registry could not be reached after several attempts; try again later. Nothing is
    /// lost: the next sync resumes where this one stopped.
    #[error("the registry could not be reached after {attempts} attempts: {last_error}")]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last_error: String,
    },
    /// Another sync of this device is running (a background sync, another tap on "Sync
    /// now", another process): nothing was done.
    #[error("another sync of this device is running: try again when it has finished")]
    InProgress,
    /// The sync was cancelled; nothing is lost and the next sync resumes where this one
    /// stopped.
    #[error("the sync was cancelled; the next sync resumes where this one stopped")]
    Cancelled,
    /// A device or storage error.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Device(e.into())
    }
}

/// Proof that a record is on the ledger, stored with it on the device (CBOR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Leaf index.
    pub leaf_index: u64,
    /// The commitment salt.
    pub salt: ByteBuf,
    /// Sequencing time, Unix seconds.
    pub sequenced_at: i64,
    /// The signed checkpoint the proof is against.
    pub checkpoint: String,
    /// Inclusion proof of the leaf in that checkpoint.
    pub inclusion_proof: Vec<ByteBuf>,
}

impl Receipt {
    /// Checks this receipt for `signed_record` (its COSE bytes) from device `kid` against the
    /// registry in `trust`: checkpoint signature and inclusion proof.
    pub fn verify(
        &self,
        signed_record: &[u8],
        kid: KeyId,
        trust: &TrustBundle,
    ) -> Result<Checkpoint, SyncError> {
        let verifier = NoteVerifier::from_vkey(&trust.checkpoint_vkey)
            .map_err(|e| SyncError::InvalidResponse(format!("trust bundle checkpoint key: {e}")))?;
        let checkpoint = verify_checkpoint(&verifier, &self.checkpoint, &trust.origin)
            .map_err(|e| SyncError::InvalidResponse(format!("checkpoint: {e}")))?;
        let salt = <[u8; 32]>::try_from(self.salt.as_slice())
            .map_err(|_| SyncError::InvalidResponse("salt is not 32 bytes".into()))?;
        let leaf = LedgerLeaf {
            commitment: wire::record_commitment(&salt, signed_record),
            device_kid: kid,
            sequenced_at: self.sequenced_at,
        };
        let proof = wire::hashes(&self.inclusion_proof)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(&leaf.to_bytes()),
            self.leaf_index,
            checkpoint.size,
            &proof,
            &checkpoint.root_hash,
        )
        .map_err(|e| SyncError::InvalidResponse(format!("inclusion proof: {e}")))?;
        Ok(checkpoint)
    }
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Step {
    /// Perform this request and pass the outcome to [`SyncMachine::handle`].
    Send(HttpRequest),
    /// Wait this long (back-off), then call [`SyncMachine::poll`] again.
    Wait(Duration),
    /// The sync is complete.
    Done(SyncReport),
}

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
    /// After the checkpoint: the status list, which then covers this sync's corrections.
    FetchStatusList,
    CheckpointConsistency {
        note: String,
        checkpoint: Checkpoint,
        from: VerifiedCheckpoint,
    },
    Done,
}

/// The sync state machine for one device. Create it, then alternate [`Self::poll`] and
/// [`Self::handle`] until `poll` returns [`Step::Done`] or an error.
pub struct SyncMachine<'d> {
    device: &'d Device,
    trust: TrustBundle,
    verifier: NoteVerifier,
    kid: KeyId,
    certificate: Vec<u8>,
    config: SyncConfig,
    phase: Phase,
    attempts: u32,
    wait: Option<Duration>,
    now: i64,
    counts: SyncCounts,
    report: SyncReport,
    /// Seq of the last record already put into a batch in this sync.
    batched_up_to: i64,
    /// The batch whose records were last counted as sent (a resend is not counted again).
    counted_batch: Option<Uuid>,
}

fn error_body(body: &[u8]) -> (String, String) {
    serde_json::from_slice::<ErrorBody>(body)
        .or_else(|_| codec::from_slice::<ErrorBody>(body, 64 * 1024).map_err(|_| ()))
        .map(|e| (e.code, e.message))
        .unwrap_or_else(|_| {
            (
                "unknown".into(),
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            )
        })
}

/// Consistency proof as served by `GET /v1/proof/consistency` (JSON).
#[derive(Deserialize)]
struct ConsistencyJson {
    proof: Vec<String>,
}

fn parse_consistency_json(body: &[u8]) -> Result<Vec<Hash>, SyncError> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let parsed: ConsistencyJson = serde_json::from_slice(body)
        .map_err(|e| SyncError::InvalidResponse(format!("consistency proof: {e}")))?;
    parsed
        .proof
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    SyncError::InvalidResponse("consistency proof hash is not 32 bytes".into())
                })
        })
        .collect()
}

/// A registered credential in a batch answer must be the pinned registry's, for this record
/// and its leaf, before the device stores it to hand to a caregiver.
fn check_registered_credential(
    bytes: &[u8],
    record_id: &Uuid,
    leaf_index: u64,
    trust: &TrustBundle,
    now: i64,
) -> Result<(), SyncError> {
    let verification = crate::credential::verify_bytes(bytes, trust, None, now);
    let fits = |r: &crate::credential::Registration| {
        &r.record_id == record_id && r.leaf_index == Some(leaf_index)
    };
    match (&verification.verdict, &verification.registration) {
        (crate::credential::Verdict::Valid, Some(r)) if fits(r) => Ok(()),
        (verdict, _) => {
            use crate::credential::Verdict;
            let why = match verdict {
                Verdict::Valid | Verdict::ValidProvisional => "it names another record or leaf",
                Verdict::Revoked(why)
                | Verdict::Expired(why)
                | Verdict::Superseded(why)
                | Verdict::Invalid(why)
                | Verdict::Unreadable(why) => why,
            };
            Err(SyncError::InvalidResponse(format!(
                "record {record_id}: the registered credential is not the registry's for this \
                 record and leaf ({why})"
            )))
        }
    }
}

fn check_consistency(
    from: &VerifiedCheckpoint,
    to: &Checkpoint,
    proof: &[Hash],
) -> Result<(), SyncError> {
    if to.size < from.size {
        return Err(SyncError::LedgerInconsistent(format!(
            "the registry's tree shrank from {} to {} leaves",
            from.size, to.size
        )));
    }
    if from.size == 0 {
        return Ok(());
    }
    merkle::verify_consistency(from.size, to.size, proof, &from.root_hash, &to.root_hash).map_err(
        |e| {
            SyncError::LedgerInconsistent(format!(
                "no valid consistency proof from size {} to {}: {e}",
                from.size, to.size
            ))
        },
    )
}

/// The trust bundle a sync uses is the device's own stored copy, checked when it was stored
/// and again when it is read ([`Device::trust_bundle`]): a key in it that does not parse is a
/// damaged store, not a bad answer from the registry.
fn damaged_trust_bundle() -> SyncError {
    SyncError::Device(DeviceError::Store(StoreError::Tampered {
        what: "trust bundle".into(),
    }))
}

/// The checkpoint verifier of the stored trust bundle.
fn pinned_checkpoint_verifier(trust: &TrustBundle) -> Result<NoteVerifier, SyncError> {
    NoteVerifier::from_vkey(&trust.checkpoint_vkey).map_err(|_| damaged_trust_bundle())
}

/// The registry's HPKE key from the stored trust bundle.
fn pinned_hpke_key(trust: &TrustBundle) -> Result<[u8; 32], SyncError> {
    trust.hpke_public_key().map_err(|_| damaged_trust_bundle())
}

impl<'d> SyncMachine<'d> {
    /// Prepares a sync of `device`, which must be enrolled. `now` is the current Unix time.
    pub fn new(device: &'d Device, config: SyncConfig, now: i64) -> Result<Self, SyncError> {
        // Nothing is sent or trusted from a store whose state does not check out.
        device
            .store()
            .read(|conn| device.store().check_integrity(conn))?;
        device.check_enrolment()?;
        let trust = device.trust_bundle()?.ok_or(SyncError::NotEnrolled)?;
        let certificate = device.certificate()?.ok_or(SyncError::NotEnrolled)?;
        let verifier = pinned_checkpoint_verifier(&trust)?;
        let kid = device.identity()?.key_id;
        let counts = device.counts()?;
        let latest = device
            .store()
            .read(|c| device.store().latest_checkpoint(c))?;
        Ok(SyncMachine {
            device,
            trust,
            verifier,
            kid,
            certificate,
            config,
            phase: Phase::FetchRevocations,
            attempts: 0,
            wait: None,
            now,
            counts: SyncCounts {
                queued: counts.pending + counts.in_flight,
                ..SyncCounts::default()
            },
            report: SyncReport {
                tree_size: latest.as_ref().map_or(0, |c| c.size),
                checkpoint: latest.map(|c| c.note),
                ..SyncReport::default()
            },
            batched_up_to: 0,
            counted_batch: None,
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
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 => {
                let (code, message) = error_body(&r.body);
                return self.retry(
                    format!("HTTP {} {code}: {message}", r.status),
                    r.retry_after_secs.map(Duration::from_secs),
                );
            }
            Ok(r) => {
                let (code, message) = error_body(&r.body);
                return Err(SyncError::Refused {
                    status: r.status,
                    code,
                    message,
                });
            }
            Err(e) => return self.retry(e.message, None),
        };
        self.attempts = 0;
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        self.phase = match phase {
            Phase::FetchRevocations => {
                self.store_revocations(&response.body)?;
                Phase::NextBatch
            }
            Phase::SendBatch { batch } => self.digest_batch_answer(batch, &response.body)?,
            Phase::ExtraConsistency {
                batch,
                response: answer,
                checkpoint,
                from,
            } => {
                check_consistency(&from, &checkpoint, &parse_consistency_json(&response.body)?)?;
                self.apply_answer(batch, *answer, checkpoint)?;
                Phase::NextBatch
            }
            Phase::FetchCheckpoint => self.digest_checkpoint(&response.body)?,
            Phase::CheckpointConsistency {
                note,
                checkpoint,
                from,
            } => {
                check_consistency(&from, &checkpoint, &parse_consistency_json(&response.body)?)?;
                self.save_checkpoint(&checkpoint, note)?;
                Phase::FetchStatusList
            }
            Phase::FetchStatusList => {
                self.store_status_list(&response.body)?;
                Phase::Done
            }
            Phase::NextBatch | Phase::Done => Phase::Done,
        };
        Ok(())
    }

    fn retry(&mut self, error: String, retry_after: Option<Duration>) -> Result<(), SyncError> {
        self.attempts += 1;
        if self.attempts >= self.config.max_attempts {
            return Err(SyncError::Unreachable {
                attempts: self.attempts,
                last_error: error,
            });
        }
        let exponential = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << (self.attempts - 1).min(16));
        let base = exponential.min(self.config.max_backoff);
        // Full jitter on the upper half, so many phones coming back online together spread out.
        let mut r = [0u8; 8];
        let fraction = match crate::keys::os_random(&mut r) {
            Ok(()) => 0.5 + (u64::from_le_bytes(r) % 1000) as f64 / 2000.0,
            Err(_) => 1.0,
        };
        let jittered = base.mul_f64(fraction);
        let wait = match retry_after {
            // Asked to come back later than this sync is willing to wait: stop now and let the
            // next sync (a later call) try, rather than knock early.
            Some(asked) if asked > self.config.max_backoff => {
                return Err(SyncError::Unreachable {
                    attempts: self.attempts,
                    last_error: format!(
                        "{error}; the registry asked to retry after {} s",
                        asked.as_secs()
                    ),
                });
            }
            Some(asked) => asked.max(jittered),
            None => jittered,
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
            .device
            .revocations()?
            .and_then(|(bytes, _)| RevocationList::verify(&bytes, &self.trust).ok());
        let list = match cached {
            Some(cached) if cached.issued_at > list.issued_at => cached,
            _ => {
                let now = self.now;
                let store = self.device.store();
                store.write(|tx| -> Result<(), StoreError> {
                    store.set_meta(tx, META_REVOCATIONS, body)?;
                    store.set_meta(tx, META_REVOCATIONS_FETCHED_AT, now.to_string().as_bytes())
                })?;
                self.report.revocations_refreshed = true;
                list
            }
        };
        if let Some(revocation) = list.find(&self.kid) {
            self.device.mark_revoked(revocation.revoked_at)?;
        }
        self.report.device_revoked = self.device.revoked_at()?.is_some();
        Ok(())
    }

    /// Keeps the newest valid status list: one signed (`iat`, the registry's clock) before the
    /// one already cached is a replay and is ignored. The device's own clock judges nothing.
    fn store_status_list(&mut self, body: &[u8]) -> Result<(), SyncError> {
        use crate::status_list::StatusListToken;
        let token = StatusListToken::verify(body, &self.trust)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        let cached = self
            .device
            .status_list()?
            .and_then(|(bytes, _)| StatusListToken::verify(&bytes, &self.trust).ok());
        if cached.is_some_and(|c| c.issued_at > token.issued_at) {
            return Ok(());
        }
        let now = self.now;
        let store = self.device.store();
        store.write(|tx| -> Result<(), StoreError> {
            store.set_meta(tx, META_STATUS_LIST, body)?;
            store.set_meta(tx, META_STATUS_LIST_FETCHED_AT, now.to_string().as_bytes())
        })?;
        self.report.status_list_refreshed = true;
        Ok(())
    }

    /// Picks the next batch to send: an open one first (resent as stored), else a new one from
    /// pending records, else moves on to refreshing the checkpoint.
    fn next_batch(&mut self) -> Result<Phase, SyncError> {
        let store = self.device.store();
        if let Some(batch) = store.read(|c| store.open_batch(c))? {
            return Ok(Phase::SendBatch { batch });
        }
        let mut records = Vec::new();
        let mut ids = Vec::new();
        let mut bytes = 0usize;
        let mut after = self.batched_up_to;
        'fill: while records.len() < self.config.max_batch_records {
            let page = store.read(|c| store.records_page(c, RecordStatus::Pending, after, 64))?;
            if page.is_empty() {
                break;
            }
            for row in page {
                let signed = self.device.signed_record(&row)?;
                if !records.is_empty() && bytes + signed.bytes.len() > self.config.max_batch_bytes {
                    // This record opens the next batch: the cursor stays before it.
                    break 'fill;
                }
                after = row.seq;
                bytes += signed.bytes.len();
                ids.push(row.id);
                records.push(ByteBuf::from(signed.bytes));
                if records.len() >= self.config.max_batch_records {
                    break 'fill;
                }
            }
        }
        if records.is_empty() {
            return Ok(Phase::FetchCheckpoint);
        }
        let known_tree_size = store
            .read(|c| store.latest_checkpoint(c))?
            .map_or(0, |c| c.size);
        let batch = Batch {
            version: wire::WIRE_VERSION,
            batch_id: Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                u64::try_from(self.now).unwrap_or(0),
                0,
            )),
            device_kid: ByteBuf::from(self.kid.0.to_vec()),
            certificate: Some(ByteBuf::from(self.certificate.clone())),
            known_tree_size,
            records,
        };
        let hpke_public = pinned_hpke_key(&self.trust)?;
        let (sealed_body, response_key) = batch
            .seal(&hpke_public)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        let mut key_bytes = zeroize::Zeroizing::new(Vec::with_capacity(64));
        key_bytes.extend_from_slice(response_key.secret.as_ref());
        key_bytes.extend_from_slice(&response_key.enc);
        let row = BatchRow {
            id: batch.batch_id,
            created_at: self.now,
            known_tree_size,
            record_count: ids.len() as u64,
            sealed_response_key: store.seal(
                "batches",
                "sealed_response_key",
                batch.batch_id.as_bytes(),
                &key_bytes,
            )?,
            sealed_body,
            attempts: 0,
            done: false,
        };
        store.write(|tx| store.insert_batch(tx, &row, &ids))?;
        self.batched_up_to = after;
        Ok(Phase::SendBatch { batch: row })
    }

    fn response_key(&self, batch: &BatchRow) -> Result<ResponseKey, SyncError> {
        let plain = self.device.store().unseal(
            "batches",
            "sealed_response_key",
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

    fn digest_batch_answer(&mut self, batch: BatchRow, body: &[u8]) -> Result<Phase, SyncError> {
        let store = self.device.store();
        store.write(|tx| store.count_batch_attempt(tx, &batch.id))?;
        let key = self.response_key(&batch)?;
        let response = BatchResponse::open(body, &key)
            .map_err(|e| SyncError::InvalidResponse(format!("batch answer: {e}")))?;
        if response.batch_id != batch.id || response.known_tree_size != batch.known_tree_size {
            return Err(SyncError::InvalidResponse(
                "the answer is for another batch".into(),
            ));
        }
        let checkpoint =
            verify_checkpoint(&self.verifier, &response.checkpoint, &self.trust.origin)
                .map_err(|e| SyncError::InvalidResponse(format!("checkpoint: {e}")))?;
        // History check 1: from the size the batch was sealed with.
        let store = self.device.store();
        let known = if batch.known_tree_size == 0 {
            VerifiedCheckpoint {
                size: 0,
                root_hash: [0; 32],
                note: String::new(),
            }
        } else {
            store
                .read(|c| store.checkpoint_at(c, batch.known_tree_size))?
                .ok_or_else(|| {
                    SyncError::Device(DeviceError::Store(StoreError::Tampered {
                        what: "checkpoint the batch was sealed against (missing)".into(),
                    }))
                })?
        };
        let proof = wire::hashes(&response.consistency_proof)
            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?;
        check_consistency(&known, &checkpoint, &proof)?;
        // History check 2: the newest checkpoint verified since, if newer than that.
        let latest = store.read(|c| store.latest_checkpoint(c))?;
        if let Some(latest) = latest.filter(|l| l.size > known.size) {
            if latest.size == checkpoint.size && latest.root_hash != checkpoint.root_hash {
                return Err(SyncError::LedgerInconsistent(format!(
                    "two different checkpoints for size {}",
                    latest.size
                )));
            }
            if latest.size != checkpoint.size {
                return Ok(Phase::ExtraConsistency {
                    batch,
                    response: Box::new(response),
                    checkpoint,
                    from: latest,
                });
            }
        }
        self.apply_answer(batch, response, checkpoint)?;
        Ok(Phase::NextBatch)
    }

    /// Verifies every record's result and applies them all in one transaction.
    fn apply_answer(
        &mut self,
        batch: BatchRow,
        response: BatchResponse,
        checkpoint: Checkpoint,
    ) -> Result<(), SyncError> {
        let store = self.device.store();
        let ids = store.read(|c| store.batch_record_ids(c, &batch))?;
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
        let mut updates = Vec::with_capacity(ids.len());
        let mut accepted = 0;
        let mut duplicate = 0;
        let mut rejected = Vec::new();
        for result in &response.results {
            match (result.outcome, &result.leaf, &result.rejection) {
                (Outcome::Accepted | Outcome::Duplicate, Some(leaf), _) => {
                    let row = store
                        .read(|c| store.record(c, &result.record_id))?
                        .ok_or(DeviceError::NotFound(result.record_id))?;
                    let signed = self.device.signed_record(&row)?;
                    let receipt = Receipt {
                        leaf_index: leaf.index,
                        salt: leaf.salt.clone(),
                        sequenced_at: leaf.sequenced_at,
                        checkpoint: response.checkpoint.clone(),
                        inclusion_proof: leaf.inclusion_proof.clone(),
                    };
                    receipt
                        .verify(&signed.bytes, self.kid, &self.trust)
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
                    let sealed_credential = result
                        .credential
                        .as_ref()
                        .map(|c| {
                            store.seal(
                                "records",
                                "sealed_credential",
                                result.record_id.as_bytes(),
                                c,
                            )
                        })
                        .transpose()?;
                    updates.push(RecordUpdate::Acknowledged {
                        id: result.record_id,
                        leaf_index: leaf.index,
                        receipt: codec::to_vec(&receipt)
                            .map_err(|e| SyncError::InvalidResponse(e.to_string()))?,
                        sealed_credential,
                    });
                    if result.outcome == Outcome::Accepted {
                        accepted += 1;
                    } else {
                        duplicate += 1;
                    }
                }
                (Outcome::Rejected, _, Some(rejection)) => {
                    updates.push(RecordUpdate::Rejected {
                        id: result.record_id,
                        code: rejection.code.clone(),
                        message: rejection.message.clone(),
                    });
                    rejected.push(RejectedRecord {
                        id: result.record_id,
                        code: rejection.code.clone(),
                        message: rejection.message.clone(),
                    });
                }
                _ => {
                    return Err(SyncError::InvalidResponse(format!(
                        "record {}: result without its leaf or reason",
                        result.record_id
                    )));
                }
            }
        }
        let verified = VerifiedCheckpoint {
            size: checkpoint.size,
            root_hash: checkpoint.root_hash,
            note: response.checkpoint.clone(),
        };
        let now = self.now;
        store.write(|tx| store.apply_batch_answer(tx, &batch.id, &updates, &verified, now))?;
        self.report.batches += 1;
        self.report.accepted += accepted;
        self.report.duplicate += duplicate;
        self.report.rejected.extend(rejected.iter().cloned());
        self.note_checkpoint(&verified);
        self.counts.acknowledged += accepted + duplicate;
        self.counts.rejected += rejected.len() as u64;
        Ok(())
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
        let checkpoint = verify_checkpoint(&self.verifier, &note, &self.trust.origin)
            .map_err(|e| SyncError::InvalidResponse(format!("checkpoint: {e}")))?;
        let store = self.device.store();
        let latest = store.read(|c| store.latest_checkpoint(c))?;
        match latest {
            // An older checkpoint (a replay, or a lagging mirror): the newer one stays; only a
            // different root for a size this device verified is evidence of a fork.
            Some(latest) if latest.size > checkpoint.size => {
                match store.read(|c| store.checkpoint_at(c, checkpoint.size))? {
                    Some(seen) if seen.root_hash != checkpoint.root_hash => {
                        Err(SyncError::LedgerInconsistent(format!(
                            "two different checkpoints for size {}",
                            checkpoint.size
                        )))
                    }
                    _ => Ok(Phase::FetchStatusList),
                }
            }
            Some(latest) if latest.size == checkpoint.size => {
                if latest.root_hash != checkpoint.root_hash {
                    return Err(SyncError::LedgerInconsistent(format!(
                        "two different checkpoints for size {}",
                        latest.size
                    )));
                }
                Ok(Phase::FetchStatusList)
            }
            Some(latest) if latest.size > 0 => Ok(Phase::CheckpointConsistency {
                note,
                checkpoint,
                from: latest,
            }),
            _ => {
                self.save_checkpoint(&checkpoint, note)?;
                Ok(Phase::FetchStatusList)
            }
        }
    }

    fn save_checkpoint(&mut self, checkpoint: &Checkpoint, note: String) -> Result<(), SyncError> {
        let verified = VerifiedCheckpoint {
            size: checkpoint.size,
            root_hash: checkpoint.root_hash,
            note,
        };
        let now = self.now;
        let store = self.device.store();
        store.write(|tx| store.save_checkpoint(tx, &verified, now))?;
        self.note_checkpoint(&verified);
        Ok(())
    }
}

fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Device {
    /// Sends every pending record to the registry through `transport`, verifies the receipts,
    /// and refreshes the revocation list and checkpoint. Blocking (it sleeps between retries):
    /// call it off the UI thread. Safe to interrupt at any point and call again.
    pub fn sync(
        &self,
        transport: &dyn Transport,
        progress: &dyn SyncProgress,
        config: SyncConfig,
    ) -> Result<SyncReport, SyncError> {
        let cancel = config.cancel.clone().unwrap_or_default();
        // Back-off waits in slices, so a cancellation during a long one is seen soon.
        let mut sleep = |duration: Duration| {
            let mut left = duration;
            while !left.is_zero() && !cancel.is_cancelled() {
                let slice = left.min(Duration::from_millis(100));
                std::thread::sleep(slice);
                left = left.saturating_sub(slice);
            }
        };
        self.sync_with_sleep(transport, progress, config, &mut sleep)
    }

    /// [`Self::sync`] with the waiting done by `sleep` (tests use a virtual clock).
    pub fn sync_with_sleep(
        &self,
        transport: &dyn Transport,
        progress: &dyn SyncProgress,
        config: SyncConfig,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<SyncReport, SyncError> {
        // One sync at a time per store, across threads and processes.
        let _lock = self
            .store()
            .sync_lock(config.wait_for_other_sync)?
            .ok_or(SyncError::InProgress)?;
        let cancel = config.cancel.clone().unwrap_or_default();
        let cancelled = || -> Result<(), SyncError> {
            if cancel.is_cancelled() {
                Err(SyncError::Cancelled)
            } else {
                Ok(())
            }
        };
        let mut machine = SyncMachine::new(self, config.clone(), unix_now())?;
        let mut reported = machine.counts();
        progress.on_progress(&reported);
        let mut report_change = |machine: &SyncMachine<'_>| {
            if machine.counts() != reported {
                reported = machine.counts();
                progress.on_progress(&reported);
            }
        };
        loop {
            cancelled()?;
            match machine.poll()? {
                Step::Send(request) => {
                    report_change(&machine);
                    let outcome = transport.send(&request);
                    machine.handle(outcome)?;
                    report_change(&machine);
                }
                Step::Wait(duration) => {
                    sleep(duration);
                    cancelled()?;
                    machine.set_now(unix_now());
                }
                Step::Done(report) => return Ok(report),
            }
        }
    }

    /// The verified ledger receipt of record `id`, once acknowledged.
    pub fn receipt(&self, id: &Uuid) -> Result<Option<Receipt>, DeviceError> {
        self.store()
            .read(|c| self.store().receipt(c, id))?
            .map(|bytes| {
                codec::from_slice(&bytes, 1024 * 1024).map_err(|_| {
                    DeviceError::Store(StoreError::Tampered {
                        what: "receipt".into(),
                    })
                })
            })
            .transpose()
    }
}

/// Attempts of each enrolment request before giving up for now.
const ENROL_ATTEMPTS: u32 = 4;

/// Sends `request`, retrying a lost connection or a registry that is busy (408, 429, 5xx) with
/// exponential back-off (0.5 s, 1 s, 2 s, or the `Retry-After` it asks, up to 30 s). Safe for
/// enrolment because the registry answers a repeated enrolment of the same key with the same
/// token with the same certificate.
fn send_with_retry(
    transport: &dyn Transport,
    request: &HttpRequest,
    sleep: &mut dyn FnMut(Duration),
) -> Result<HttpResponse, SyncError> {
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let (error, asked) = match transport.send(request) {
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 => {
                let (code, message) = error_body(&r.body);
                (
                    format!("HTTP {} {code}: {message}", r.status),
                    r.retry_after_secs.map(Duration::from_secs),
                )
            }
            Ok(r) => return Ok(r),
            Err(e) => (e.message, None),
        };
        if attempt >= ENROL_ATTEMPTS || asked.is_some_and(|a| a > Duration::from_secs(30)) {
            return Err(SyncError::Unreachable {
                attempts: attempt,
                last_error: error,
            });
        }
        sleep(asked.unwrap_or(backoff).max(backoff));
        backoff = backoff.saturating_mul(2);
        attempt += 1;
    }
}

fn refused(response: &HttpResponse) -> SyncError {
    let (code, message) = error_body(&response.body);
    SyncError::Refused {
        status: response.status,
        code,
        message,
    }
}

impl Device {
    /// Enrols this device with the registry behind `transport` using a supervisor's one-time
    /// `token`. The registry's trust bundle (`GET /v1/trust`) is fetched and checked against
    /// `pin` first; only then is a request that uses the token sent, and the token itself
    /// never is (see [`wire::EnrolRequest`]). Stores the certificate and trust bundle.
    /// Blocking; retried with back-off, and safe to call again after a cut connection.
    pub fn enrol(
        &self,
        transport: &dyn Transport,
        token: &str,
        pin: &TrustPin,
    ) -> Result<crate::trust::DeviceCertificate, SyncError> {
        self.enrol_with_sleep(transport, token, pin, &mut std::thread::sleep)
    }

    /// [`Self::enrol`] with the waiting done by `sleep` (tests use a virtual clock).
    pub fn enrol_with_sleep(
        &self,
        transport: &dyn Transport,
        token: &str,
        pin: &TrustPin,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<crate::trust::DeviceCertificate, SyncError> {
        self.identity()?;
        let trust = send_with_retry(transport, &get("/v1/trust"), sleep)?;
        if trust.status != 200 {
            return Err(refused(&trust));
        }
        let bundle = TrustBundle::from_json(&trust.body)
            .map_err(|e| SyncError::InvalidResponse(format!("the registry's {e}")))?;
        pin.check(&bundle)
            .map_err(|e| DeviceError::Enrolment(e.to_string()))?;
        self.check_can_enrol_with(&bundle)?;
        let request = HttpRequest {
            method: Method::Post,
            path: "/v1/enrol".into(),
            content_type: Some("application/cbor".into()),
            body: self.enrolment_request(token, &bundle.origin)?,
        };
        let response = send_with_retry(transport, &request, sleep)?;
        if response.status != 200 {
            return Err(refused(&response));
        }
        Ok(self.complete_enrolment(&response.body, &bundle)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_damaged_trust_bundle(e: &SyncError) -> bool {
        matches!(
            e,
            SyncError::Device(DeviceError::Store(StoreError::Tampered { what })) if what == "trust bundle"
        )
    }

    #[test]
    fn an_unparsable_stored_checkpoint_key_is_a_store_error_not_the_registrys() {
        let (_, mut bundle) = crate::trust::tests::registry();
        assert!(pinned_checkpoint_verifier(&bundle).is_ok());
        bundle.checkpoint_vkey = "not a vkey".into();
        let Err(e) = pinned_checkpoint_verifier(&bundle) else {
            panic!("a bad checkpoint key was accepted")
        };
        assert!(is_damaged_trust_bundle(&e), "{e:?}");
        assert!(!e.to_string().contains("registry's answer"), "{e}");
    }

    #[test]
    fn an_unparsable_stored_hpke_key_is_a_store_error_not_the_registrys() {
        let (_, mut bundle) = crate::trust::tests::registry();
        assert_eq!(pinned_hpke_key(&bundle).ok(), Some([7u8; 32]));
        bundle.hpke_public_key = "AAAA".into();
        let Err(e) = pinned_hpke_key(&bundle) else {
            panic!("a bad HPKE key was accepted")
        };
        assert!(is_damaged_trust_bundle(&e), "{e:?}");
    }
}
