//! The Birthright core for Kotlin and Swift, through UniFFI.
//!
//! This crate only adapts types: every behaviour lives in `birthright-core` and is tested there.
//! All methods are blocking (SQLite, signatures, network through the app's transport): call them
//! off the UI thread. A [`Device`] may be used from any thread.

use std::sync::Arc;

use birthright_core as core;
use uuid::Uuid;

uniffi::setup_scaffolding!();

mod types;

pub use types::*;

/// The one error type apps see. Every variant carries a message a field worker's app can show in
/// `reason` (in Kotlin, show `e.reason`: `e.message` lists the fields for developers).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum BirthrightError {
    /// The registration form has problems: every one, with its field path.
    #[error("{reason}")]
    Validation {
        /// One line per problem.
        reason: String,
        /// The problems, for showing next to each field.
        errors: Vec<FieldError>,
    },
    /// The storage key does not open this device's store.
    #[error("{reason}")]
    WrongStorageKey {
        /// What to show.
        reason: String,
    },
    /// The device must be initialised or enrolled first, or the record does not exist.
    #[error("{reason}")]
    NotReady {
        /// What to show.
        reason: String,
    },
    /// Input from the app was malformed (an id, a key, JSON).
    #[error("{reason}")]
    InvalidInput {
        /// What to show.
        reason: String,
    },
    /// The registry could not be reached (no signal, a timeout, the registry down or busy);
    /// nothing was lost: try again later.
    #[error("{reason}")]
    Unreachable {
        /// What to show.
        reason: String,
    },
    /// The registry answered and refused the request for good, e.g. `token_used`,
    /// `token_expired`, `token_unknown`, `device_exists`: trying again will not help.
    #[error("{reason}")]
    Refused {
        /// What to show.
        reason: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error code (`docs/PROTOCOL.md` §13), stable for apps to branch on.
        code: String,
    },
    /// The registry's answer failed verification, or its ledger is inconsistent with what this
    /// device verified before. Nothing was marked acknowledged.
    #[error("{reason}")]
    Integrity {
        /// What to show.
        reason: String,
    },
    /// The device store could not be read or written.
    #[error("{reason}")]
    Storage {
        /// What to show.
        reason: String,
    },
    /// The registry revoked this device: no more captures or provisional credentials; the
    /// records on it stay listed for the supervisor.
    #[error("{reason}")]
    Revoked {
        /// What to show.
        reason: String,
    },
    /// Another sync of this device is running (another thread or process): nothing was done.
    #[error("{reason}")]
    SyncInProgress {
        /// What to show.
        reason: String,
    },
    /// The sync was cancelled through its `SyncCancellation`; the next sync resumes.
    #[error("{reason}")]
    Cancelled {
        /// What to show.
        reason: String,
    },
}

fn invalid(reason: impl Into<String>) -> BirthrightError {
    BirthrightError::InvalidInput {
        reason: reason.into(),
    }
}

impl From<core::device::DeviceError> for BirthrightError {
    fn from(e: core::device::DeviceError) -> Self {
        use core::device::DeviceError as E;
        let reason = e.to_string();
        match e {
            E::Validation(errors) => BirthrightError::Validation {
                reason: errors.lines(),
                errors: errors
                    .0
                    .into_iter()
                    .map(|f| FieldError {
                        path: f.path,
                        message: f.message,
                    })
                    .collect(),
            },
            E::WrongStorageKey => BirthrightError::WrongStorageKey { reason },
            E::Revoked => BirthrightError::Revoked { reason },
            E::NotInitialised
            | E::NotEnrolled
            | E::NotFound(_)
            | E::AlreadyInitialised(_)
            | E::AlreadySuperseded { .. } => BirthrightError::NotReady { reason },
            E::InvalidJson(_) | E::InvalidWorkerId | E::Credential(_) => {
                BirthrightError::InvalidInput { reason }
            }
            E::Enrolment(_) => BirthrightError::Integrity { reason },
            E::Store(
                core::store::StoreError::NotFound | core::store::StoreError::AlreadyExists,
            ) => BirthrightError::NotReady { reason },
            E::Store(_) | E::Damaged(_) | E::Rng(_) => BirthrightError::Storage { reason },
        }
    }
}

impl From<core::sync::SyncError> for BirthrightError {
    fn from(e: core::sync::SyncError) -> Self {
        use core::sync::SyncError as E;
        let reason = e.to_string();
        match e {
            E::Device(inner) => inner.into(),
            E::NotEnrolled => BirthrightError::NotReady { reason },
            E::InProgress => BirthrightError::SyncInProgress { reason },
            E::Cancelled => BirthrightError::Cancelled { reason },
            E::Refused { status, code, .. } => BirthrightError::Refused {
                reason,
                status,
                code,
            },
            E::Unreachable { .. } => BirthrightError::Unreachable { reason },
            E::LedgerInconsistent(_) | E::InvalidResponse(_) => {
                BirthrightError::Integrity { reason }
            }
        }
    }
}

/// An HTTP failure inside the app's transport (no answer at all).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// The exchange failed: timeout, connection refused or reset, no network.
    #[error("{reason}")]
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Failed {
            reason: format!("the app's transport failed unexpectedly: {}", e.reason),
        }
    }
}

/// HTTP as the app performs it (OkHttp on Android, URLSession on iOS). Implementations should
/// apply connect and read timeouts and return every answer whatever its status.
#[uniffi::export(foreign)]
pub trait Transport: Send + Sync {
    /// Performs `request` against the registry base URL the app knows.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Receives sync progress (for a progress bar). Called on the syncing thread.
#[uniffi::export(foreign)]
pub trait SyncProgress: Send + Sync {
    /// Counts changed.
    fn on_progress(&self, counts: SyncCounts);
}

struct TransportAdapter(Arc<dyn Transport>);

impl core::sync::Transport for TransportAdapter {
    fn send(
        &self,
        request: &core::sync::HttpRequest,
    ) -> Result<core::sync::HttpResponse, core::sync::TransportError> {
        self.0
            .send(request.clone().into())
            .map(Into::into)
            .map_err(|e| core::sync::TransportError {
                message: e.to_string(),
            })
    }
}

struct ProgressAdapter(Arc<dyn SyncProgress>);

impl core::sync::SyncProgress for ProgressAdapter {
    fn on_progress(&self, counts: &core::sync::SyncCounts) {
        self.0.on_progress((*counts).into());
    }
}

fn parse_id(id: &str) -> Result<Uuid, BirthrightError> {
    Uuid::parse_str(id.trim()).map_err(|_| invalid(format!("'{id}' is not a record id")))
}

/// What the app checks the registry against before an enrolment token is used. An app ships
/// its registry's bundle, or the worker types or scans the fingerprint printed with the token.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum TrustPin {
    /// Exactly this trust bundle (JSON).
    Bundle {
        /// The bundle as served at `/v1/trust`.
        json: String,
    },
    /// A bundle with this fingerprint (32 hex digits; spaces and `-` ignored).
    Fingerprint {
        /// As printed by `birthright registry enrol-token`.
        fingerprint: String,
    },
}

/// Stops a running sync from another thread: pass it to `Device::sync_cancellable`, call
/// `cancel()` from a "Stop" button. The sync ends before its next request with `Cancelled`.
#[derive(uniffi::Object, Default)]
pub struct SyncCancellation {
    inner: core::sync::SyncCancel,
}

#[uniffi::export]
impl SyncCancellation {
    /// A handle not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancellation::default())
    }

    /// Asks the sync to stop.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// A field device: its encrypted store and signing identity.
#[derive(uniffi::Object)]
pub struct Device {
    inner: core::device::Device,
}

#[uniffi::export]
impl Device {
    /// Opens the existing device store at `path` with the 32-byte `storage_key` from the
    /// Android Keystore or iOS Keychain. A missing, empty or damaged store is an error (never
    /// replaced: it may hold unsynced registrations); call `create` on first launch only.
    #[uniffi::constructor]
    pub fn open(path: String, storage_key: Vec<u8>) -> Result<Arc<Self>, BirthrightError> {
        let key = core::store::StorageKey::from_slice(&storage_key)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Arc::new(Device {
            inner: core::device::Device::open(std::path::Path::new(&path), key)?,
        }))
    }

    /// Creates a new device store at `path` (first launch); fails if a file is already there.
    #[uniffi::constructor]
    pub fn create(path: String, storage_key: Vec<u8>) -> Result<Arc<Self>, BirthrightError> {
        let key = core::store::StorageKey::from_slice(&storage_key)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Arc::new(Device {
            inner: core::device::Device::create(std::path::Path::new(&path), key)?,
        }))
    }

    /// Creates the device identity (a new Ed25519 key) for `worker_id`.
    pub fn init(&self, worker_id: String) -> Result<DeviceIdentity, BirthrightError> {
        Ok(self.inner.init(&worker_id)?.into())
    }

    /// This device's public identity.
    pub fn identity(&self) -> Result<DeviceIdentity, BirthrightError> {
        Ok(self.inner.identity()?.into())
    }

    /// Enrols with the registry behind `transport` using a one-time `token`. The registry's
    /// trust bundle is checked against `pin` before the token is used; the token itself is
    /// never sent. Safe to call again after a cut connection.
    pub fn enrol(
        &self,
        transport: Arc<dyn Transport>,
        token: String,
        pin: TrustPin,
    ) -> Result<Enrolment, BirthrightError> {
        let pin = match pin {
            TrustPin::Bundle { json } => core::registry_keys::TrustPin::Bundle(
                core::registry_keys::TrustBundle::from_json(json.as_bytes())
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            TrustPin::Fingerprint { fingerprint } => {
                core::registry_keys::TrustPin::fingerprint(&fingerprint)
                    .map_err(|e| invalid(e.to_string()))?
            }
        };
        let certificate = self
            .inner
            .enrol(&TransportAdapter(transport), &token, &pin)?;
        Ok(Enrolment {
            worker_id: certificate.worker_id,
            region: certificate.region,
            valid_until: certificate.not_after,
            registry_origin: self
                .inner
                .trust_bundle()?
                .map(|t| t.origin)
                .unwrap_or_default(),
        })
    }

    /// Validates, signs, encrypts and stores a registration; durable once this returns.
    pub fn capture(&self, input: EnrolmentInput) -> Result<RecordSummary, BirthrightError> {
        Ok(self.inner.capture(&input.into())?.into())
    }

    /// Captures the JSON interchange form (`docs/PROTOCOL.md` §1).
    pub fn capture_json(&self, json: String) -> Result<RecordSummary, BirthrightError> {
        Ok(self.inner.capture_json(&json)?.into())
    }

    /// Records a correction of record `id` (a new record that supersedes it).
    pub fn correct(
        &self,
        id: String,
        input: EnrolmentInput,
    ) -> Result<RecordSummary, BirthrightError> {
        Ok(self.inner.correct(&parse_id(&id)?, &input.into())?.into())
    }

    /// One record in full.
    pub fn get(&self, id: String) -> Result<StoredRecord, BirthrightError> {
        let stored = self.inner.get(&parse_id(&id)?)?;
        Ok(StoredRecord {
            summary: stored.summary.into(),
            input: stored.signed.record.enrolment.clone().into(),
            worker_id: stored.signed.record.worker_id.clone(),
            signed_bytes: stored.signed.bytes,
        })
    }

    /// Records matching `filter`, oldest first; `search` matches child or mother names.
    pub fn list(&self, filter: ListFilter) -> Result<Vec<RecordSummary>, BirthrightError> {
        let status = filter.status.map(Into::into);
        Ok(self
            .inner
            .list(&core::device::ListFilter {
                status,
                search: filter.search,
                current_only: filter.current_only,
                limit: filter.limit.map(|l| l as usize),
            })?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Number of records in each status.
    pub fn counts(&self) -> Result<Counts, BirthrightError> {
        Ok(self.inner.counts()?.into())
    }

    /// Sends pending records through `transport`, verifies the receipts, refreshes the
    /// revocation list and checkpoint. Safe to interrupt and call again. `options` tunes batch
    /// sizes and retries (defaults suit 2G).
    pub fn sync(
        &self,
        transport: Arc<dyn Transport>,
        progress: Arc<dyn SyncProgress>,
        options: Option<SyncOptions>,
    ) -> Result<SyncReport, BirthrightError> {
        Ok(self
            .inner
            .sync(
                &TransportAdapter(transport),
                &ProgressAdapter(progress),
                options.map(Into::into).unwrap_or_default(),
            )?
            .into())
    }

    /// `sync` that `cancellation.cancel()` (from another thread) stops before its next request
    /// or during a back-off wait, with `Cancelled`; the store stays consistent.
    pub fn sync_cancellable(
        &self,
        transport: Arc<dyn Transport>,
        progress: Arc<dyn SyncProgress>,
        options: Option<SyncOptions>,
        cancellation: Arc<SyncCancellation>,
    ) -> Result<SyncReport, BirthrightError> {
        let config = core::sync::SyncConfig {
            cancel: Some(cancellation.inner.clone()),
            ..options.map(Into::into).unwrap_or_default()
        };
        Ok(self
            .inner
            .sync(
                &TransportAdapter(transport),
                &ProgressAdapter(progress),
                config,
            )?
            .into())
    }

    /// When the registry revoked this device (Unix seconds), as learnt at a sync; `None` while
    /// it is not revoked. A revoked device captures nothing more.
    pub fn revoked_at(&self) -> Result<Option<i64>, BirthrightError> {
        Ok(self.inner.revoked_at()?)
    }

    /// The caregiver's credential for record `id` (registered once synced, else provisional).
    pub fn credential(&self, id: String) -> Result<Credential, BirthrightError> {
        let credential = self.inner.credential(&parse_id(&id)?)?;
        let svg = core::credential::qr::to_svg(&credential).map_err(|e| invalid(e.to_string()))?;
        let version =
            core::credential::qr::qr_version(&credential).map_err(|e| invalid(e.to_string()))?;
        Ok(Credential {
            kind: match credential.kind {
                core::credential::CredentialKind::Provisional => "provisional".into(),
                core::credential::CredentialKind::Registered => "registered".into(),
            },
            text: credential.text,
            svg,
            qr_version: version as u8,
        })
    }

    /// The pinned trust bundle (JSON), once enrolled: verifiers on this phone use it.
    pub fn trust_bundle(&self) -> Result<Option<String>, BirthrightError> {
        Ok(self.inner.trust_bundle()?.map(|t| t.to_json()))
    }

    /// The cached, registry-signed revocation list, once synced.
    pub fn revocation_list(&self) -> Result<Option<Vec<u8>>, BirthrightError> {
        Ok(self.inner.revocations()?.map(|(list, _)| list))
    }

    /// The cached, registry-signed status list of registered credentials, once synced.
    pub fn status_list(&self) -> Result<Option<Vec<u8>>, BirthrightError> {
        Ok(self.inner.status_list()?.map(|(list, _)| list))
    }
}

/// Verifies a credential (`BR1:…` text) offline against a trust bundle (JSON) and, when given,
/// the registry-signed revocation list. `now` is Unix seconds.
#[uniffi::export]
pub fn verify_credential(
    text: String,
    trust_bundle: String,
    revocation_list: Option<Vec<u8>>,
    now: i64,
) -> Result<Verification, BirthrightError> {
    let verifier =
        core::credential::Verifier::from_bytes(trust_bundle.as_bytes(), revocation_list.as_deref())
            .map_err(|e| invalid(e.to_string()))?;
    Ok(Verification::at(verifier.verify_text(&text, now), now))
}

/// What a list refresh kept.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ListsRefresh {
    /// The registry whose lists these are.
    pub origin: String,
    /// Whether the fetched revocation list was kept (false: the one held is newer).
    pub revocations_kept: bool,
    /// Whether the fetched status list was kept (false: the one held is newer, or the
    /// registry has none).
    pub status_list_kept: bool,
    /// The signed revocation list as fetched, for the app to cache and give back later with
    /// `add_revocation_list`.
    pub revocation_list: Vec<u8>,
    /// The signed status list as fetched (None from a registry without one).
    pub status_list: Option<Vec<u8>>,
}

/// An offline verifier for a checkpoint with no field device: one or more registries' trust
/// bundles (e.g. two countries at one border), and each registry's signed revocation and
/// status lists. Every list is verified before it is used, and an older one never replaces a
/// newer one. Safe to use from any thread.
#[derive(uniffi::Object)]
pub struct Verifier {
    inner: std::sync::RwLock<core::credential::Verifier>,
}

fn verifier_error(e: core::credential::VerifierError) -> BirthrightError {
    use core::credential::VerifierError as E;
    let reason = e.to_string();
    match e {
        E::Fetch { .. } => BirthrightError::Unreachable { reason },
        E::Trust(_) | E::Status(_) | E::UnknownRegistry(_) => BirthrightError::Integrity { reason },
        E::DuplicateRegistry(_) => BirthrightError::InvalidInput { reason },
    }
}

#[uniffi::export]
impl Verifier {
    /// A verifier trusting each registry of `trust_bundles` (each the JSON of one bundle).
    #[uniffi::constructor]
    pub fn new(trust_bundles: Vec<String>) -> Result<Arc<Verifier>, BirthrightError> {
        let mut inner = core::credential::Verifier::new();
        for json in &trust_bundles {
            inner
                .add_trust_bundle(json.as_bytes())
                .map_err(verifier_error)?;
        }
        Ok(Arc::new(Verifier {
            inner: std::sync::RwLock::new(inner),
        }))
    }

    /// The origins of the registries trusted.
    pub fn origins(&self) -> Vec<String> {
        self.read()
            .registries()
            .iter()
            .map(|r| r.trust.origin.clone())
            .collect()
    }

    /// Adds a signed revocation list (as cached by the app); returns whether it was kept.
    pub fn add_revocation_list(&self, bytes: Vec<u8>) -> Result<bool, BirthrightError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        Ok(inner.add_revocation_list(&bytes).map_err(verifier_error)?.1)
    }

    /// Adds a signed status list (as cached by the app); returns whether it was kept.
    pub fn add_status_list(&self, bytes: Vec<u8>) -> Result<bool, BirthrightError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        Ok(inner.add_status_list(&bytes).map_err(verifier_error)?.1)
    }

    /// Fetches `/v1/revocations` and `/v1/status-list` from the registry `transport` points
    /// at, verifies them and keeps them. Blocking: call it off the UI thread.
    pub fn refresh(&self, transport: Arc<dyn Transport>) -> Result<ListsRefresh, BirthrightError> {
        // Fetched without the lock held: verification goes on meanwhile.
        let mut staged = self.read().clone();
        let fetched = staged
            .refresh(&TransportAdapter(transport))
            .map_err(verifier_error)?;
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Added again to the current state (another refresh may have run meanwhile).
        inner
            .add_revocation_list(&fetched.revocations)
            .map_err(verifier_error)?;
        if let Some(list) = &fetched.status_list {
            inner.add_status_list(list).map_err(verifier_error)?;
        }
        Ok(ListsRefresh {
            origin: fetched.origin,
            revocations_kept: fetched.revocations_kept,
            status_list_kept: fetched.status_list_kept,
            revocation_list: fetched.revocations,
            status_list: fetched.status_list,
        })
    }

    /// Verifies credential text (`BR1:…`) at `now` (Unix seconds, this phone's clock).
    pub fn verify_text(&self, text: String, now: i64) -> Verification {
        Verification::at(self.read().verify_text(&text, now), now)
    }

    /// Verifies the credential in an image (PNG or JPEG bytes: a photo, a screenshot, an
    /// encoded camera frame) at `now`. No readable QR code gives `Unreadable`: scan again.
    pub fn verify_image(&self, image: Vec<u8>, now: i64) -> Verification {
        Verification::at(self.read().verify_image(&image, now), now)
    }

    /// Verifies the credential in a camera frame's greyscale pixels (the Y plane of a YUV
    /// frame, `width` × `height`, one byte per pixel, rows without padding) at `now`.
    pub fn verify_frame(&self, width: u32, height: u32, luma: Vec<u8>, now: i64) -> Verification {
        Verification::at(self.read().verify_frame(width, height, luma, now), now)
    }
}

impl Verifier {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, core::credential::Verifier> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The reference sample registration (Олена Коваленко) for app demos and tests.
#[uniffi::export]
pub fn sample_enrolment() -> EnrolmentInput {
    core::fixtures::reference_input().into()
}
