//! The registrars' workspace, its foundations: people, roles and sessions, and the first JSON
//! API routes (`/api/registrar/v1/`, [`api`]) over the registry's stored records.
//!
//! - Users ([`users`]): roles `registrar`, `supervisor`, `auditor`, `admin`, optionally
//!   limited to regions (the capturing device's region); Argon2id passwords; one-time
//!   passwords that must be changed at first login; TOTP ([`totp`]), required for admins.
//! - Sessions ([`sessions`]): random 256-bit tokens stored as their SHA-256, an idle timeout
//!   and an absolute lifetime, a CSRF token derived from the session token; failed logins back
//!   off per login name and per address, answering the same whether the user exists or not.
//! - The audit log ([`store::AuditEntry`]): every login (ok or failed), logout, user change and
//!   record view, with who, what, when and from where; never a name.
//! - Access ([`access`]): which role may do what, and the region filter every record read
//!   goes through.
//!
//! Every operation takes the time as an argument (`now`, Unix seconds), so expiry and
//! back-off are tested without sleeping. Storage is behind [`store::RegistrarStore`], for
//! SQLite ([`store_sqlite`]) and PostgreSQL ([`store_pg`]).
//!
//! - Review ([`review`]): the queue of records awaiting review and the registrars'
//!   decisions, appended to the ledger by the registry ([`crate::service::decisions`]).
//!
//! - Devices and tokens ([`devices`]), certificates ([`certificate`]), search and record views
//!   ([`records`]), statistics ([`statistics`]), the JSON API ([`api`], [`openapi`]) and the
//!   web workspace at `/registrar/` ([`web`]: login, queue, search, record, certificate,
//!   statistics, devices and tokens, users) over the same functions.

pub mod access;
pub mod api;
pub mod certificate;
pub mod devices;
pub mod i18n;
pub mod openapi;
pub mod password;
pub mod records;
pub mod review;
pub mod sessions;
pub mod statistics;
pub mod store;
pub mod store_pg;
pub mod store_sqlite;
pub mod totp;
pub mod users;
pub mod web;

use std::{path::Path, sync::Arc};

use birthright_core::store::StorageKey;

use crate::{
    Registry, ServiceError,
    keys::{DB_FILE, RegistryKeys},
    service::{Database, OpenError},
    store::StoreError,
};

pub use access::Role;
use store::{AuditEntry, RegistrarStore, UserRow};

/// A refused access to one record, as the audit log records it: the refusal's action name,
/// the record, and when and from where it was asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusedAccess<'a> {
    /// The audit log's action for the refusal (`record_view_refused`, ...).
    pub action: &'static str,
    /// The record asked for.
    pub record: &'a uuid::Uuid,
    /// The asker's address.
    pub address: &'a str,
    /// When (Unix seconds).
    pub now: i64,
}

/// Tunables of sessions and log-in back-off.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// A session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A session ends this long after login, however busy.
    pub session_lifetime_secs: i64,
    /// Failed logins (per login name, per address) allowed before back-off starts.
    pub free_failures: u32,
    /// The first back-off; it doubles with each further failure.
    pub first_backoff_secs: i64,
    /// The longest back-off.
    pub max_backoff_secs: i64,
    /// Failures older than this are forgotten.
    pub failure_window_secs: i64,
    /// The issuer name authenticator apps show.
    pub totp_issuer: String,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            idle_timeout_secs: 30 * 60,
            session_lifetime_secs: 12 * 3600,
            free_failures: 5,
            first_backoff_secs: 30,
            max_backoff_secs: 15 * 60,
            failure_window_secs: 3600,
            totp_issuer: "Birthright registry".into(),
        }
    }
}

/// A refusal or failure of a registrar operation: the HTTP status, a stable code, a message
/// for people, and, for back-off, the seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RegistrarError {
    /// HTTP status.
    pub status: u16,
    /// Stable snake_case code.
    pub code: &'static str,
    /// For people (never a name, a password or a token).
    pub message: String,
    /// Seconds to wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl RegistrarError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        RegistrarError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401: no session, or it ended.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            401,
            "unauthenticated",
            "log in first: there is no session, or it has ended",
        )
    }

    /// 403: the role does not allow it.
    pub(crate) fn forbidden(what: &str) -> Self {
        Self::new(403, "forbidden", format!("your role does not allow {what}"))
    }

    /// 400: bad input.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
}

impl From<StoreError> for RegistrarError {
    fn from(e: StoreError) -> Self {
        let e = ServiceError::from(e);
        RegistrarError::new(e.status, e.code, e.message)
    }
}

impl From<ServiceError> for RegistrarError {
    fn from(e: ServiceError) -> Self {
        RegistrarError::new(e.status, e.code, e.message)
    }
}

/// The registrars' workspace over one registry.
pub struct Registrar {
    registry: Arc<Registry>,
    store: Box<dyn RegistrarStore>,
    data_key: StorageKey,
    config: RegistrarConfig,
    clock: api::Clock,
}

impl Registrar {
    /// The workspace of the registry in `dir` (already opened as `registry`) on `database`.
    pub fn open(
        dir: &Path,
        database: &Database,
        registry: Arc<Registry>,
    ) -> Result<Registrar, OpenError> {
        let keys = RegistryKeys::load(dir)?;
        let store: Box<dyn RegistrarStore> = match database {
            Database::Sqlite => Box::new(store_sqlite::SqliteRegistrarStore::open(
                &dir.join(DB_FILE),
            )?),
            Database::Postgres(url) => Box::new(store_pg::PgRegistrarStore::open(url)?),
        };
        Ok(Registrar::with_store(registry, store, keys.data_key))
    }

    /// A workspace over any store, sealing TOTP secrets under `data_key`.
    pub fn with_store(
        registry: Arc<Registry>,
        store: Box<dyn RegistrarStore>,
        data_key: StorageKey,
    ) -> Registrar {
        Registrar {
            registry,
            store,
            data_key,
            config: RegistrarConfig::default(),
            clock: api::system_clock(),
        }
    }

    /// The same workspace on another clock (tests move time without sleeping).
    pub fn with_clock(mut self, clock: api::Clock) -> Registrar {
        self.clock = clock;
        self
    }

    /// The time now by its clock (Unix seconds).
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The same workspace with other tunables.
    pub fn with_config(mut self, config: RegistrarConfig) -> Registrar {
        self.config = config;
        self
    }

    /// The tunables.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The store (for tests and tools).
    pub fn store(&self) -> &dyn RegistrarStore {
        self.store.as_ref()
    }

    /// Fails with 403 `region_forbidden` (saying `message`) unless `user` sees `region`, the
    /// region of a record `user` asked for; a refusal is appended to the audit log first, as
    /// `refused` says.
    pub(crate) fn refuse_outside_region(
        &self,
        user: &UserRow,
        region: &str,
        message: &str,
        refused: RefusedAccess<'_>,
    ) -> Result<(), RegistrarError> {
        if access::sees_region(user, region) {
            return Ok(());
        }
        self.audit(
            refused.now,
            Some(&user.username),
            refused.action,
            Some(refused.record.to_string()),
            Some(refused.address),
        )?;
        Err(RegistrarError::new(403, "region_forbidden", message))
    }

    /// Appends to the audit log.
    pub(crate) fn audit(
        &self,
        now: i64,
        actor: Option<&str>,
        action: &str,
        target: Option<String>,
        address: Option<&str>,
    ) -> Result<(), RegistrarError> {
        Ok(self.store.append_audit(&AuditEntry {
            seq: 0,
            at: now,
            actor: actor.map(str::to_string),
            action: action.to_string(),
            target,
            address: address.map(str::to_string),
        })?)
    }
}

/// RFC 3339 UTC text of a Unix time.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
