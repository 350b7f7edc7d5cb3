//! Device onboarding: one-time enrolment tokens and `POST /v1/enrol`.

use birthright_core::{
    codec,
    keys::{KeyId, os_random, verifying_key},
    trust::DeviceCertificate,
    wire::{self, EnrolRequest, EnrolResponse},
};
use serde_bytes::ByteBuf;

use crate::store::{DeviceRow, TokenProblem};

use super::{CERTIFICATE_LIFETIME_SECS, Registry, ServiceError, now_unix};

impl Registry {
    /// Creates a one-time enrolment token for `worker_id` in `region`, valid `ttl_secs`.
    /// Only its id and binding key are stored (`wire::enrol_token_id`, `wire::enrol_token_key`).
    pub fn create_token(
        &self,
        worker_id: &str,
        region: &str,
        ttl_secs: i64,
    ) -> Result<String, ServiceError> {
        self.create_token_at(worker_id, region, ttl_secs, now_unix())
            .map(|(token, _)| token)
    }

    /// [`Self::create_token`] at time `now`: the token and its public id. (The callers bound
    /// `ttl_secs` by [`super::MAX_TOKEN_TTL_SECS`].)
    pub fn create_token_at(
        &self,
        worker_id: &str,
        region: &str,
        ttl_secs: i64,
        now: i64,
    ) -> Result<(String, [u8; 32]), ServiceError> {
        if worker_id.is_empty()
            || worker_id.len() > birthright_core::device::MAX_WORKER_ID_LEN
            || !worker_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ServiceError::new(
                400,
                "bad_worker",
                "worker id must be 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        if region.is_empty() || region.len() > 16 || region.chars().any(char::is_whitespace) {
            return Err(ServiceError::new(
                400,
                "bad_region",
                "region must be a short code without spaces, e.g. UA-46",
            ));
        }
        let mut bytes = [0u8; 16];
        os_random(&mut bytes).map_err(ServiceError::internal)?;
        let token = hex::encode(bytes);
        let id = wire::enrol_token_id(&token);
        self.store.insert_token(
            &id,
            &wire::enrol_token_key(&token),
            worker_id,
            region,
            now,
            now.saturating_add(ttl_secs),
        )?;
        Ok((token, id))
    }

    /// The enrolment tokens neither used nor expired at `now`, oldest first.
    pub fn unused_tokens(&self, now: i64) -> Result<Vec<crate::store::TokenRow>, ServiceError> {
        Ok(self.store.unused_tokens(now)?)
    }

    /// Cancels the unused token with public id `id`; false if there is none (used, cancelled
    /// or never issued).
    pub fn cancel_token(&self, id: &[u8; 32]) -> Result<bool, ServiceError> {
        Ok(self.store.cancel_token(id)?)
    }

    /// Handles `POST /v1/enrol`: returns the CBOR `EnrolResponse`.
    pub fn enrol(&self, body: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let request: EnrolRequest = codec::from_slice(body, 16 * 1024)
            .map_err(|e| ServiceError::new(400, "malformed", format!("enrolment request: {e}")))?;
        let (token_id, public) = check_possession(&request)?;
        let now = now_unix();
        let kid = KeyId::of(&public);
        crate::http::log_device_kid(&kid);
        let origin = self.keys.origin.clone();
        let outcome = self.store.enrol(
            &token_id,
            now,
            &mut |binding_key| {
                wire::verify_enrol_binding(binding_key, &origin, &public, &request.binding)
            },
            &mut |worker, region| DeviceRow {
                kid,
                public_key: public,
                worker_id: worker.into(),
                region: region.into(),
                enrolled_at: now,
                not_before: now,
                not_after: now.saturating_add(CERTIFICATE_LIFETIME_SECS),
                revoked_at: None,
                revoke_reason: None,
                revoke_note: None,
            },
        )?;
        let device = outcome.map_err(token_problem)?;
        let certificate = DeviceCertificate {
            version: 1,
            origin: self.keys.origin.clone(),
            device_public_key: ByteBuf::from(public.to_vec()),
            worker_id: device.worker_id,
            region: device.region,
            not_before: device.not_before,
            not_after: device.not_after,
        }
        .sign(&self.keys.signing)
        .map_err(ServiceError::internal)?;
        codec::to_vec(&EnrolResponse {
            certificate: ByteBuf::from(certificate),
            trust_bundle: self.trust.to_json(),
        })
        .map_err(ServiceError::internal)
    }
}

/// The token id and the device's public key, once its proof of possession over them verifies.
fn check_possession(request: &EnrolRequest) -> Result<([u8; 32], [u8; 32]), ServiceError> {
    let public: [u8; 32] = request
        .device_public_key
        .as_slice()
        .try_into()
        .map_err(|_| ServiceError::new(400, "malformed", "device public key must be 32 bytes"))?;
    let key = verifying_key(&public).ok_or_else(|| {
        ServiceError::new(
            400,
            "malformed",
            "device public key is not a valid Ed25519 key",
        )
    })?;
    let proof = ed25519_dalek::Signature::from_slice(&request.proof)
        .map_err(|_| ServiceError::new(400, "malformed", "proof must be a 64-byte signature"))?;
    let token_id: [u8; 32] = request
        .token_id
        .as_slice()
        .try_into()
        .map_err(|_| ServiceError::new(400, "malformed", "token id must be 32 bytes"))?;
    key.verify_strict(&wire::enrol_proof_message(&token_id, &public), &proof)
        .map_err(|_| {
            ServiceError::new(400, "bad_proof", "the proof of possession does not verify")
        })?;
    Ok((token_id, public))
}

/// The answer for an enrolment token the store refused.
fn token_problem(problem: TokenProblem) -> ServiceError {
    match problem {
        TokenProblem::Unknown => ServiceError::new(403, "token_unknown", "unknown enrolment token"),
        TokenProblem::Used => ServiceError::new(
            409,
            "token_used",
            "this enrolment token has already been used",
        ),
        TokenProblem::Expired => ServiceError::new(
            410,
            "token_expired",
            "this enrolment token has expired: ask your supervisor for a new one",
        ),
        TokenProblem::DeviceExists => {
            ServiceError::new(409, "device_exists", "this device key is already enrolled")
        }
        // Said like an unknown token: a wrong binding tells a prober nothing more.
        TokenProblem::BadBinding => ServiceError::new(
            403,
            "token_unknown",
            "unknown enrolment token, or one issued by another registry",
        ),
    }
}
