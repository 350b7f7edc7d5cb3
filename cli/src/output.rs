//! How results and errors reach the terminal, in one place: text for people, and with `--json`
//! one JSON document on standard output, times as RFC 3339 UTC (`2026-12-01T14:12:19Z`), and
//! errors as one line on standard error:
//!
//! ```text
//! {"error":{"code":"not_found","message":"no record … on this device"}}
//! ```
//!
//! The `code` is stable snake_case, for scripts; the `message` is for people. The exit code is
//! the same with or without `--json`.

use std::io::Write;

use birthright_core::{
    device::DeviceError,
    record::FormError,
    store::StoreError as DeviceStoreError,
    sync::{SyncCounts, SyncError},
};
use birthright_registry::{
    keys::KeysError,
    service::{OpenError, ServiceError, TtlError},
    store::StoreError as RegistryStoreError,
};
use serde::Serialize;

/// An error with its stable code, for the CLI's own checks (a bad argument, a missing file).
#[derive(Debug)]
pub(crate) struct Coded {
    /// Stable snake_case code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Fields for scripts beside `code` and `message` in the JSON error (e.g. `problems`).
    pub details: Option<serde_json::Value>,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// An error with the code `code`.
pub(crate) fn coded(code: &'static str, message: impl Into<String>) -> anyhow::Error {
    Coded {
        code,
        message: message.into(),
        details: None,
    }
    .into()
}

/// An error with the code `code` and `details` for scripts (an object whose fields go beside
/// `code` and `message`).
pub(crate) fn coded_with(
    code: &'static str,
    message: impl Into<String>,
    details: serde_json::Value,
) -> anyhow::Error {
    Coded {
        code,
        message: message.into(),
        details: Some(details),
    }
    .into()
}

/// A sync that stopped part of the way: how far it got (for the partial summary).
#[derive(Debug)]
pub(crate) struct PartialSync {
    /// The counts when it stopped.
    pub counts: SyncCounts,
    /// Why it stopped.
    pub error: SyncError,
}

impl std::fmt::Display for PartialSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

// No `source`: the message is the sync error's own, and `{:#}` would repeat it.
impl std::error::Error for PartialSync {}

fn device_code(e: &DeviceError) -> &'static str {
    match e {
        DeviceError::Validation(_) | DeviceError::InvalidJson(_) => "invalid_form",
        DeviceError::WrongStorageKey => "wrong_storage_key",
        DeviceError::NotInitialised => "not_initialised",
        DeviceError::AlreadyInitialised(_) => "already_initialised",
        DeviceError::InvalidWorkerId => "usage",
        DeviceError::NotFound(_) => "not_found",
        DeviceError::AlreadySuperseded { .. } => "already_corrected",
        DeviceError::NotEnrolled => "not_enrolled",
        DeviceError::Revoked => "revoked",
        DeviceError::Credential(_) => "credential",
        DeviceError::Enrolment(_) => "enrolment_refused",
        DeviceError::Store(e) => device_store_code(e),
        DeviceError::Damaged(_) => "store_damaged",
        DeviceError::Rng(_) => "internal",
    }
}

fn device_store_code(e: &DeviceStoreError) -> &'static str {
    match e {
        DeviceStoreError::WrongStorageKey => "wrong_storage_key",
        DeviceStoreError::Corrupt(_) | DeviceStoreError::Tampered { .. } => "store_damaged",
        DeviceStoreError::NotFound => "not_initialised",
        DeviceStoreError::AlreadyExists => "already_initialised",
        DeviceStoreError::SchemaTooNew { .. } => "store_too_new",
        DeviceStoreError::Sqlite(_) => "storage",
        DeviceStoreError::Rng(_) => "internal",
    }
}

fn sync_code(e: &SyncError) -> &'static str {
    match e {
        SyncError::NotEnrolled => "not_enrolled",
        SyncError::LedgerInconsistent(_) => "ledger_inconsistent",
        SyncError::InvalidResponse(_) => "invalid_response",
        SyncError::Local(_) => "internal",
        SyncError::Refused { .. } => "refused",
        SyncError::Unreachable { .. } => "network_unreachable",
        SyncError::InProgress => "sync_in_progress",
        SyncError::Cancelled => "cancelled",
        SyncError::Device(e) => device_code(e),
    }
}

fn registry_store_code(e: &RegistryStoreError) -> &'static str {
    match e {
        RegistryStoreError::Restored(_) => "ledger_restored",
        RegistryStoreError::Fork(_) => "ledger_fork",
        RegistryStoreError::SchemaTooNew(_) => "store_too_new",
        RegistryStoreError::Unavailable(_) => "database_unavailable",
        RegistryStoreError::Damaged(_) | RegistryStoreError::Ledger(_) => "store_damaged",
        _ => "storage",
    }
}

fn keys_code(e: &KeysError) -> &'static str {
    match e {
        KeysError::AlreadyExists(_) => "already_initialised",
        KeysError::Missing(_) => "not_initialised",
        KeysError::BadOrigin => "usage",
        KeysError::Malformed(_) => "store_damaged",
        KeysError::Io { .. } => "io",
        KeysError::Rng(_) => "internal",
    }
}

/// The stable code of an error: the first error in its chain the CLI knows.
pub(crate) fn error_code(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<Coded>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<PartialSync>() {
            return sync_code(&e.error);
        }
        if let Some(e) = cause.downcast_ref::<SyncError>() {
            return sync_code(e);
        }
        if let Some(e) = cause.downcast_ref::<DeviceError>() {
            return device_code(e);
        }
        if let Some(e) = cause.downcast_ref::<DeviceStoreError>() {
            return device_store_code(e);
        }
        if cause.downcast_ref::<FormError>().is_some() {
            return "invalid_form";
        }
        if let Some(e) = cause.downcast_ref::<ServiceError>() {
            return e.code;
        }
        if cause.downcast_ref::<TtlError>().is_some() {
            return "usage";
        }
        if let Some(e) = cause.downcast_ref::<OpenError>() {
            return match e {
                OpenError::Keys(e) => keys_code(e),
                OpenError::Store(e) => registry_store_code(e),
                OpenError::BadDatabase(_) => "bad_database",
                OpenError::Backfill(e) => e.code,
            };
        }
        if let Some(e) = cause.downcast_ref::<KeysError>() {
            return keys_code(e);
        }
        if let Some(e) = cause.downcast_ref::<RegistryStoreError>() {
            return registry_store_code(e);
        }
        if let Some(e) = cause.downcast_ref::<birthright_registry::tiles::ExportError>() {
            use birthright_registry::tiles::ExportError;
            match e {
                ExportError::Io { .. } => return "io",
                ExportError::Missing(_) | ExportError::Checkpoint(_) => return "store_damaged",
                // The others are transparent: the next cause in the chain says.
                _ => {}
            }
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            return match e.kind() {
                std::io::ErrorKind::NotFound => "file_not_found",
                std::io::ErrorKind::PermissionDenied => "permission_denied",
                _ => "io",
            };
        }
    }
    "failed"
}

/// The one-line JSON error: `{"error":{"code":"...","message":"..."}}`, with `extra` fields
/// (such as a sync's partial counts) beside `code` and `message`.
pub(crate) fn error_json(code: &str, message: &str, extra: Option<serde_json::Value>) -> String {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let (Some(serde_json::Value::Object(extra)), Some(object)) = (extra, error.as_object_mut()) {
        for (k, v) in extra {
            object.insert(k, v);
        }
    }
    serde_json::json!({ "error": error }).to_string()
}

/// Prints `error` on standard error: `error: ...` for people, or the JSON line.
pub(crate) fn print_error(error: &anyhow::Error, json: bool) {
    let message = format!("{error:#}");
    let partial = error.chain().find_map(|c| c.downcast_ref::<PartialSync>());
    if json {
        let details = error
            .chain()
            .find_map(|c| c.downcast_ref::<Coded>())
            .and_then(|c| c.details.clone());
        let extra = partial
            .map(|p| serde_json::json!({ "progress": p.counts }))
            .or(details);
        eprintln!("{}", error_json(error_code(error), &message, extra));
    } else {
        eprintln!("error: {message}");
        if let Some(p) = partial {
            eprintln!("{}", crate::sync_cmd::partial_summary(&p.counts, &p.error));
        }
    }
}

/// Prints `value` as pretty JSON on standard output.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A Unix time as RFC 3339 UTC (`2026-12-01T14:12:19Z`), or the number as text if it is out of
/// range.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_796_134_339), "2026-12-01T14:12:19Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn errors_are_one_json_line_with_a_code() {
        let e = coded("usage", "bad \"thing\"\nhere");
        let line = error_json(error_code(&e), &format!("{e:#}"), None);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["error"]["code"], "usage");
        assert_eq!(v["error"]["message"], "bad \"thing\"\nhere");
        let e: anyhow::Error = DeviceError::NotFound(uuid::Uuid::nil()).into();
        assert_eq!(error_code(&e.context("showing")), "not_found");
        let e: anyhow::Error = SyncError::Unreachable {
            attempts: 6,
            last_error: "x".into(),
        }
        .into();
        assert_eq!(error_code(&e), "network_unreachable");
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(error_code(&anyhow::Error::from(io)), "file_not_found");
        assert_eq!(error_code(&anyhow::anyhow!("plain")), "failed");
    }
}
