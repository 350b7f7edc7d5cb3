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

    /// The QR module matrix of record `id`'s credential (the one `credential` gives), to draw
    /// natively.
    pub fn credential_qr(&self, id: String) -> Result<QrMatrix, BirthrightError> {
        let credential = self.inner.credential(&parse_id(&id)?)?;
        qr_matrix(&credential)
    }

    /// A PNG of record `id`'s credential QR code, `scale` pixels a module (1 to 32), with its
    /// quiet zone: to share, save or print.
    pub fn credential_png(&self, id: String, scale: u32) -> Result<Vec<u8>, BirthrightError> {
        let credential = self.inner.credential(&parse_id(&id)?)?;
        core::credential::qr::to_png(&credential, scale).map_err(|e| invalid(e.to_string()))
    }

    /// The pinned trust bundle (JSON), once enrolled: verifiers on this phone use it.
    pub fn trust_bundle(&self) -> Result<Option<String>, BirthrightError> {
        Ok(self.inner.trust_bundle()?.map(|t| t.to_json()))
    }

    /// The cached, registry-signed revocation list, once synced.
    pub fn revocation_list(&self) -> Result<Option<Vec<u8>>, BirthrightError> {
        Ok(self.inner.revocations()?.map(|(list, _)| list))
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
    Ok(verifier.verify_text(&text, now).into())
}

fn qr_matrix(credential: &core::credential::Credential) -> Result<QrMatrix, BirthrightError> {
    Ok(core::credential::qr::matrix(credential)
        .map_err(|e| invalid(e.to_string()))?
        .into())
}

fn credential_from_text(text: &str) -> Result<core::credential::Credential, BirthrightError> {
    core::credential::Credential::from_text(text).map_err(|e| invalid(e.to_string()))
}

/// The QR module matrix of a credential's text (`BR1:…`, as stored or received), to draw it
/// again. The text must be a well-formed credential; it is not verified here.
#[uniffi::export]
pub fn credential_qr_from_text(text: String) -> Result<QrMatrix, BirthrightError> {
    qr_matrix(&credential_from_text(&text)?)
}

/// A PNG of a credential text's QR code, `scale` pixels a module (1 to 32), with its quiet
/// zone. The text must be a well-formed credential; it is not verified here.
#[uniffi::export]
pub fn credential_png_from_text(text: String, scale: u32) -> Result<Vec<u8>, BirthrightError> {
    core::credential::qr::to_png(&credential_from_text(&text)?, scale)
        .map_err(|e| invalid(e.to_string()))
}

/// The reference sample registration (Олена Коваленко) for app demos and tests.
#[uniffi::export]
pub fn sample_enrolment() -> EnrolmentInput {
    core::fixtures::reference_input().into()
}
