//! Offline-to-online sync, sans-IO (in the manner of quinn-proto): [`SyncMachine`] says which
//! HTTP request to make next and digests each answer; it never touches a socket, reads the
//! clock or draws OS randomness inside the protocol (the driver passes the time in, and the
//! randomness comes from a generator seeded once per sync, [`SyncConfig::rng_seed`]). Its state
//! lives in the device store, which it reads and writes only through the narrow [`SyncStore`]
//! trait, in transactions: that is what lets a sync killed at any point resume.
//! [`Device::sync`] drives it with a host-supplied [`Transport`] (OkHttp on Android, URLSession
//! on iOS, ureq in the CLI).
//!
//! The parts: [`machine`] (the state machine), [`backoff`] (the documented retry waits),
//! [`verify`] (receipts, checkpoints, consistency, registered credentials), [`storage`] (what
//! the machine needs of the store, implemented by [`Device`]), [`driver`] (the blocking loop
//! over a [`Transport`], and the retried single request enrolment uses).
//!
//! [`Device`]: crate::device::Device
//! [`Device::sync`]: crate::device::Device::sync
//!
//! Guarantees:
//! - A batch is sealed and stored, and its records moved to `in_flight`, in one transaction
//!   *before* it is first sent; every retry resends the identical bytes, so the registry
//!   answers a repeat idempotently and a record can never reach the ledger twice.
//! - An answer is applied in one transaction, and only after the checkpoint signature, the
//!   consistency of the registry's history with everything this device verified before, and
//!   every record's inclusion proof all check out. Otherwise nothing is marked acknowledged.
//! - A sync killed at any point resumes on the next call: open batches are resent first.
//!
//! The deterministic harness that runs seeded fault schedules (hundreds per test run, thousands
//! on demand) against the real registry is `registry/tests/sync_schedules.rs`
//! (docs/ARCHITECTURE.md says why it lives there).

pub mod backoff;
pub mod driver;
pub mod machine;
pub mod storage;
pub mod verify;

pub use machine::SyncMachine;
pub use storage::{NewBatch, PendingRecord, Settled, SyncStart, SyncStore};
pub use verify::{Receipt, witnessed};

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::{codec, device::DeviceError, store::StoreError, wire::ErrorBody};

/// An HTTP method (`HttpMethod` in Kotlin and Swift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum), uniffi(name = "HttpMethod"))]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A request for the host to perform against the registry base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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

/// Receives progress during [`crate::device::Device::sync`].
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
    /// Seeds the sync's random number generator (ChaCha20): the back-off jitter, the random
    /// bits of batch ids and the HPKE key encapsulation of every batch sealed in this sync all
    /// come from it, so a test replays a sync exactly (quinn-proto's `rng_seed`). `None`, the
    /// default and the only value for production, seeds it from the OS. Never set it outside
    /// tests: whoever knows the seed can open the batches sealed with it.
    pub rng_seed: Option<[u8; 32]>,
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
            rng_seed: None,
        }
    }
}

/// A record the registry refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Batches sent and answered.
    pub batches: u64,
    /// Records newly accepted onto the ledger.
    pub accepted: u64,
    /// Records the registry already had (a retried batch): acknowledged too.
    pub duplicate: u64,
    /// Records registered in this sync: at once by the review policy (their registered
    /// credential in the batch answer) or by a registrar's decision (PROTOCOL §9.1).
    pub registered: u64,
    /// Records refused, with reasons: at sync, or by a registrar's decision (rejected,
    /// `duplicate`, `correction_requested`; they stay on the ledger).
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
    /// Records answered under a checkpoint that fewer witnesses cosigned than the trust
    /// bundle's quorum: they stay waiting (not acknowledged) and a later sync resends them.
    pub awaiting_witnesses: Option<AwaitingWitnesses>,
}

/// How far the latest checkpoint the registry answered with is from the witness quorum. In
/// Kotlin and Swift its text (`awaiting witnesses (1 of 2)`) is `toString()` / `description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record), uniffi::export(Display))]
pub struct AwaitingWitnesses {
    /// Trusted witnesses whose valid cosignature it carries.
    pub cosigned: u32,
    /// How many the trust bundle asks for.
    pub quorum: u32,
}

/// JSON: `{"cosigned": 1, "quorum": 2, "summary": "awaiting witnesses (1 of 2)"}`.
impl Serialize for AwaitingWitnesses {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("AwaitingWitnesses", 3)?;
        s.serialize_field("cosigned", &self.cosigned)?;
        s.serialize_field("quorum", &self.quorum)?;
        s.serialize_field("summary", &self.to_string())?;
        s.end()
    }
}

impl std::fmt::Display for AwaitingWitnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "awaiting witnesses ({} of {})",
            self.cosigned, self.quorum
        )
    }
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
    /// This device failed to prepare a request or to record an answer (sealing a batch,
    /// encoding a receipt), through no fault of the registry. Nothing was sent or marked
    /// acknowledged for it; the next sync tries again.
    #[error("this device could not complete the sync step: {0}")]
    Local(String),
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

/// A GET request for `path`.
pub(crate) fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
    }
}

/// The registry refused `response` for good: its status and error body.
pub(crate) fn refused(response: &HttpResponse) -> SyncError {
    let (code, message) = error_body(&response.body);
    SyncError::Refused {
        status: response.status,
        code,
        message,
    }
}
