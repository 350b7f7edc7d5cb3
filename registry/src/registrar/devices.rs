//! Devices and enrolment tokens as supervisors manage them (auditors read): the device list
//! with each device's records and last sync, enrolment tokens (created with a QR code for the
//! phone to scan, listed while unused, cancelled), and device revocation with a public reason
//! code (the only thing the signed revocation list carries) and an internal note (kept in the
//! database). Everything is limited to the user's regions; every change is audited (never the
//! note, which may say anything).
//!
//! The server does this with the keys it already holds: no operation here needs the CLI.

use std::collections::HashMap;

use birthright_core::{credential::qr, keys::KeyId};
use serde::Serialize;

use super::{Registrar, RegistrarError, access, sessions::Session};
use crate::service::MAX_TOKEN_TTL_SECS;

/// Longest internal note on a revocation.
pub const MAX_NOTE_CHARS: usize = 1000;

/// A device as a supervisor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// Key id (hex).
    pub device_kid: String,
    /// Field worker.
    pub worker_id: String,
    /// Region.
    pub region: String,
    /// Enrolment time (RFC 3339).
    pub enrolled_at: String,
    /// End of its certificate's validity (RFC 3339).
    pub valid_until: String,
    /// Records of it stored at the registry.
    pub records: u64,
    /// When the registry last sequenced a record of it (RFC 3339): its last sync that brought
    /// a record. `None` before its first record.
    pub last_sync: Option<String>,
    /// Its records a registrar rejected.
    pub rejections: u64,
    /// Revoked.
    pub revoked: bool,
    /// Revocation time (RFC 3339).
    pub revoked_at: Option<String>,
    /// Public reason code of the revocation.
    pub revoke_reason: Option<String>,
    /// Internal note on the revocation (never published).
    pub revoke_note: Option<String>,
}

/// An unused enrolment token as listed: its public id, never the token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// The token's public id (hex of `wire::enrol_token_id`), for cancelling.
    pub id: String,
    /// Field worker it enrols.
    pub worker_id: String,
    /// Region.
    pub region: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

/// A token just created: the only time the token itself is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewToken {
    /// The one-time token the phone enrols with (`device enrol --token`).
    pub token: String,
    /// Its public id.
    pub id: String,
    /// Field worker.
    pub worker_id: String,
    /// Region.
    pub region: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// The trust bundle's fingerprint the phone checks the registry against.
    pub trust_fingerprint: String,
    /// The token as a QR code (SVG) for the phone to scan: the QR holds the token text alone.
    pub qr_svg: String,
}

fn parse_token_id(id: &str) -> Result<[u8; 32], RegistrarError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(id.trim(), &mut out).map_err(|_| {
        RegistrarError::bad_request("bad_id", "a token id is 64 hexadecimal digits")
    })?;
    Ok(out)
}

fn not_found_token() -> RegistrarError {
    RegistrarError::new(
        404,
        "unknown_token",
        "there is no unused enrolment token with this id",
    )
}

impl Registrar {
    /// The devices of `session`'s user's regions, in enrolment order (supervisors and
    /// auditors).
    pub fn devices(&self, session: &Session) -> Result<Vec<DeviceView>, RegistrarError> {
        let user = &session.user;
        access::require_device_reader(user)?;
        let mut activity: HashMap<KeyId, (u64, i64)> = HashMap::new();
        for meta in self.store.record_index()? {
            let entry = activity.entry(meta.kid).or_insert((0, i64::MIN));
            entry.0 += 1;
            entry.1 = entry.1.max(meta.sequenced_at);
        }
        let mut rejections: HashMap<KeyId, u64> = HashMap::new();
        for row in self.registry.registrations(Some("rejected"))? {
            *rejections.entry(row.kid).or_default() += 1;
        }
        Ok(self
            .registry
            .devices()?
            .into_iter()
            .filter(|d| access::sees_region(user, &d.region))
            .map(|d| {
                let (records, last) = activity.get(&d.kid).copied().unwrap_or((0, i64::MIN));
                DeviceView {
                    device_kid: d.kid.to_string(),
                    worker_id: d.worker_id,
                    region: d.region,
                    enrolled_at: super::rfc3339(d.enrolled_at),
                    valid_until: super::rfc3339(d.not_after),
                    records,
                    last_sync: (records > 0).then(|| super::rfc3339(last)),
                    rejections: rejections.get(&d.kid).copied().unwrap_or(0),
                    revoked: d.revoked_at.is_some(),
                    revoked_at: d.revoked_at.map(super::rfc3339),
                    revoke_reason: d.revoke_reason,
                    revoke_note: d.revoke_note,
                }
            })
            .collect())
    }

    /// Creates an enrolment token for `worker_id` in `region` (one of the supervisor's),
    /// valid `ttl_secs` (at most 30 days). Audited by its public id and region.
    pub fn create_token(
        &self,
        session: &Session,
        worker_id: &str,
        region: &str,
        ttl_secs: i64,
        address: &str,
        now: i64,
    ) -> Result<NewToken, RegistrarError> {
        let user = &session.user;
        access::require_supervisor(user)?;
        let region = super::users::check_region(region)?;
        access::require_region(user, &region)?;
        if !(1..=MAX_TOKEN_TTL_SECS).contains(&ttl_secs) {
            return Err(RegistrarError::bad_request(
                "bad_ttl",
                "a token stays valid from 1 second to at most 30 days (2592000 seconds)",
            ));
        }
        let (token, id) = self
            .registry
            .create_token_at(worker_id, &region, ttl_secs, now)?;
        let qr_svg = qr::text_matrix(&token)
            .map(|m| qr::matrix_svg(&m))
            .map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        let trust_fingerprint = self
            .registry
            .trust_bundle()
            .fingerprint()
            .map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        let id = hex::encode(id);
        self.audit(
            now,
            Some(&user.username),
            "token_create",
            Some(format!("{id} {region}")),
            Some(address),
        )?;
        Ok(NewToken {
            token,
            id,
            worker_id: worker_id.to_string(),
            region,
            expires_at: super::rfc3339(now.saturating_add(ttl_secs)),
            trust_fingerprint,
            qr_svg,
        })
    }

    /// The unused, unexpired tokens of the user's regions, oldest first (supervisors and
    /// auditors). The tokens themselves are not kept and never shown again.
    pub fn tokens(&self, session: &Session, now: i64) -> Result<Vec<TokenView>, RegistrarError> {
        let user = &session.user;
        access::require_device_reader(user)?;
        Ok(self
            .registry
            .unused_tokens(now)?
            .into_iter()
            .filter(|t| access::sees_region(user, &t.region))
            .map(|t| TokenView {
                id: hex::encode(t.id),
                worker_id: t.worker_id,
                region: t.region,
                created_at: super::rfc3339(t.created_at),
                expires_at: super::rfc3339(t.expires_at),
            })
            .collect())
    }

    /// Cancels the unused token `id` (hex) of one of the supervisor's regions. Audited.
    pub fn cancel_token(
        &self,
        session: &Session,
        id: &str,
        address: &str,
        now: i64,
    ) -> Result<(), RegistrarError> {
        let user = &session.user;
        access::require_supervisor(user)?;
        let id = parse_token_id(id)?;
        // Expired tokens cannot enrol anything; cancelling one is a no-op said as unknown.
        let Some(token) = self
            .registry
            .unused_tokens(now)?
            .into_iter()
            .find(|t| t.id == id)
        else {
            return Err(not_found_token());
        };
        access::require_region(user, &token.region)?;
        if !self.registry.cancel_token(&id)? {
            // Used between the look-up and the cancel.
            return Err(not_found_token());
        }
        self.audit(
            now,
            Some(&user.username),
            "token_cancel",
            Some(format!("{} {}", hex::encode(id), token.region)),
            Some(address),
        )?;
        Ok(())
    }

    /// Revokes device `kid` (hex) of one of the supervisor's regions from `now`, with a public
    /// `reason` code (published in the signed revocation list) and an internal `note` (kept in
    /// the database, never published, never in the audit log). Audited by key id and reason.
    pub fn revoke_device(
        &self,
        session: &Session,
        kid: &str,
        reason: &str,
        note: Option<&str>,
        address: &str,
        now: i64,
    ) -> Result<DeviceView, RegistrarError> {
        let user = &session.user;
        access::require_supervisor(user)?;
        let kid = KeyId::from_hex(kid.trim()).ok_or_else(|| {
            RegistrarError::bad_request("bad_id", "a device key id is 16 hexadecimal digits")
        })?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(RegistrarError::bad_request(
                "bad_note",
                format!("the note may have at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        let unknown = || RegistrarError::new(404, "unknown_device", format!("no device {kid}"));
        let device = self
            .registry
            .devices()?
            .into_iter()
            .find(|d| d.kid == kid)
            .ok_or_else(unknown)?;
        access::require_region(user, &device.region)?;
        if device.revoked_at.is_some() {
            return Err(RegistrarError::new(
                409,
                "already_revoked",
                "this device is revoked already",
            ));
        }
        self.registry.revoke_at(&kid, reason, note, now)?;
        self.audit(
            now,
            Some(&user.username),
            "device_revoke",
            Some(format!("{kid} {reason}")),
            Some(address),
        )?;
        self.devices(session)?
            .into_iter()
            .find(|d| d.device_kid == kid.to_string())
            .ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_64_hex_digits() {
        assert_eq!(parse_token_id(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(parse_token_id(bad).unwrap_err().code, "bad_id");
        }
    }
}
