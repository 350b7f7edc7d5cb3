//! What the registrars' workspace needs of storage, behind its own trait ([`RegistrarStore`]),
//! beside (not inside) the ledger's [`crate::store::RegistryStore`]: users, sessions, login
//! failures, the audit log, and a read-only index of the stored records (ids, devices, regions
//! and ledger places; never their contents, which stay sealed until the service opens them).
//!
//! Each backend numbers its own migrations in its own table (`registrar_schema`), apart from
//! the ledger's schema version, so the two evolve independently.

use birthright_core::keys::KeyId;
use uuid::Uuid;

use crate::store::StoreError;

/// A user as stored. The TOTP secrets are sealed under the registry's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role codes (`registrar`, `supervisor`, `auditor`, `admin`).
    pub roles: Vec<String>,
    /// Region codes the user is limited to; empty: every region.
    pub regions: Vec<String>,
    /// The password is a one-time password: it must be changed before anything else.
    pub must_change_password: bool,
    /// Disabled users cannot log in; their sessions are gone.
    pub disabled: bool,
    /// The confirmed TOTP secret, sealed.
    pub totp_secret: Option<Vec<u8>>,
    /// A TOTP secret being enrolled (not yet confirmed), sealed.
    pub totp_pending: Option<Vec<u8>>,
    /// The last TOTP step accepted (a code is never accepted twice).
    pub totp_last_step: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A session as stored: the SHA-256 of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session token.
    pub token_hash: [u8; 32],
    /// Whose.
    pub user_id: i64,
    /// Login time.
    pub created_at: i64,
    /// Last request.
    pub last_seen: i64,
}

/// One audit log entry: who, what, when, from where; never a child's or a parent's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Position in the log.
    pub seq: i64,
    /// Unix time.
    pub at: i64,
    /// The user (login name), if known; for a failed login, the name tried.
    pub actor: Option<String>,
    /// What, e.g. `login`, `login_failed`, `logout`, `record_view`, `user_add`.
    pub action: String,
    /// On what: a record id, a login name, a search's result count.
    pub target: Option<String>,
    /// The client's address.
    pub address: Option<String>,
}

/// A record stored at the registry, as the index shows it (no contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// The capturing device.
    pub kid: KeyId,
    /// Record id.
    pub id: Uuid,
    /// Ledger leaf.
    pub leaf_index: u64,
    /// When it was sequenced.
    pub sequenced_at: i64,
    /// The record it corrects.
    pub supersedes: Option<Uuid>,
    /// The capturing device's region.
    pub region: String,
    /// The capturing device's field worker.
    pub worker_id: String,
    /// A later record of the same device corrects it.
    pub superseded: bool,
    /// Its registered credential was revoked.
    pub revoked: bool,
}

/// The registrars' workspace's storage.
pub trait RegistrarStore: Send + Sync {
    /// Adds a user; `None` if the login name is taken.
    fn insert_user(&self, user: &UserRow) -> Result<Option<i64>, StoreError>;
    /// The user with login name `username`.
    fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError>;
    /// The user with row id `id`.
    fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError>;
    /// Every user, oldest first.
    fn users(&self) -> Result<Vec<UserRow>, StoreError>;
    /// Writes every mutable field of `user` (by id).
    fn update_user(&self, user: &UserRow) -> Result<(), StoreError>;
    /// Records that TOTP step `step` was used by `user_id`: false if it (or a later one) was
    /// used already, so two requests racing with one code cannot both pass.
    fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;

    /// Stores a new session.
    fn insert_session(&self, session: &SessionRow) -> Result<(), StoreError>;
    /// The session whose token hashes to `token_hash`.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError>;
    /// Marks a session used at `now`.
    fn touch_session(&self, token_hash: &[u8; 32], now: i64) -> Result<(), StoreError>;
    /// Ends one session.
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Ends every session of `user_id` but `keep`.
    fn delete_sessions_of(&self, user_id: i64, keep: Option<&[u8; 32]>) -> Result<(), StoreError>;
    /// Ends every session last used before `before`.
    fn delete_idle_sessions(&self, before: i64) -> Result<(), StoreError>;

    /// Counts a failed login for `key` (a login name or an address) at `now`, starting again
    /// from one when the last failure was before `reset_before`; returns the count.
    fn record_failure(&self, key: &str, now: i64, reset_before: i64) -> Result<u32, StoreError>;
    /// The failure count of `key` and the time of its last failure.
    fn failures(&self, key: &str) -> Result<Option<(u32, i64)>, StoreError>;
    /// Forgets `key`'s failures.
    fn clear_failures(&self, key: &str) -> Result<(), StoreError>;

    /// Appends to the audit log.
    fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// At most `limit` audit entries after position `after`, in order.
    fn audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every stored record (not erased ones), in ledger order.
    fn record_index(&self) -> Result<Vec<RecordMeta>, StoreError>;

    /// Records that a new registered credential for the record at ledger leaf `leaf_index`
    /// was issued at `at` (a reissue for a lost paper). Only the time is stored: the
    /// credential, which holds names, is signed again from the sealed record when shown.
    fn add_credential_issue(&self, leaf_index: u64, at: i64) -> Result<(), StoreError>;

    /// The latest reissue time of the registered credential of leaf `leaf_index`.
    fn latest_credential_issue(&self, leaf_index: u64) -> Result<Option<i64>, StoreError>;
}

/// Joins codes for a text column.
pub(crate) fn join(codes: &[String]) -> String {
    codes.join(",")
}

/// Splits a text column of codes.
pub(crate) fn split(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn key_id(bytes: &[u8]) -> Result<KeyId, StoreError> {
    KeyId::from_slice(bytes).ok_or_else(|| StoreError::Damaged("a device key id".into()))
}

pub(crate) fn uuid(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::Damaged("a record id".into()))
}

pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Damaged("a session hash is not 32 bytes".into()))
}
