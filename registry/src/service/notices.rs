//! `POST /v1/notices` (PROTOCOL §9.1): a device learns the decisions on its records. The
//! request is sealed to the registry like a batch and signed with the device's key; the answer
//! is sealed back to it, with each decision's inclusion proof and, for a registration, the
//! registered credential (issued only now for a record a registrar registered). Only the
//! records the device names are answered: those still awaiting a decision on it.

use birthright_core::{
    credential,
    keys::{KeyId, verifying_key},
    signed::SignedRecord,
    wire::{
        self, DecisionKind, MAX_NOTICES, Notice, NoticesRequest, NoticesResponse, WIRE_VERSION,
    },
};
use serde_bytes::ByteBuf;

use super::{Registry, ServiceError, now_unix};

impl Registry {
    /// Handles `POST /v1/notices`.
    pub fn notices(&self, body: &[u8]) -> Result<Vec<u8>, ServiceError> {
        self.notices_at(body, now_unix())
    }

    /// [`Self::notices`] at an explicit time (tests).
    pub fn notices_at(&self, body: &[u8], now: i64) -> Result<Vec<u8>, ServiceError> {
        let (request, key) = NoticesRequest::open(body, &self.keys.hpke_secret)
            .map_err(|e| ServiceError::new(400, "malformed_request", e.to_string()))?;
        let kid = KeyId::from_slice(&request.device_kid).ok_or_else(|| {
            ServiceError::new(400, "malformed_request", "device key id must be 8 bytes")
        })?;
        crate::http::log_device_kid(&kid);
        let device = self.store.device(&kid)?.ok_or_else(|| {
            ServiceError::new(
                403,
                "unknown_device",
                format!("device {kid} is not enrolled with this registry"),
            )
        })?;
        let device_key = verifying_key(&device.public_key)
            .ok_or_else(|| ServiceError::internal("stored device key is invalid"))?;
        let signature = ed25519_dalek::Signature::from_slice(&request.signature)
            .map_err(|_| ServiceError::new(403, "bad_signature", "the request is not signed"))?;
        if device_key
            .verify_strict(&request.signed_message(), &signature)
            .is_err()
        {
            return Err(ServiceError::new(
                403,
                "bad_signature",
                "the request's signature does not verify with the device's key",
            ));
        }
        if device.revoked_at.is_some_and(|at| now >= at) {
            return Err(ServiceError::new(
                403,
                "revoked_device",
                "this device has been revoked",
            ));
        }
        let (size, note) = self.store.latest_checkpoint(&self.signer())?;
        if request.known_tree_size > size {
            return Err(ServiceError::new(
                400,
                "bad_tree_size",
                format!(
                    "known tree size {} is beyond the ledger's size {size}",
                    request.known_tree_size
                ),
            ));
        }
        let checkpoint = match self.witness(size, &note) {
            Ok(cosigned) => cosigned,
            Err(e) => {
                eprintln!("registry: witnessing size {size}: {e}");
                note
            }
        };
        let asked: std::collections::HashSet<&uuid::Uuid> = request.records.iter().collect();
        let mut notices = Vec::new();
        for row in self.store.decisions_of_device(&kid)? {
            if row.leaf_index < request.from_index
                || row.leaf_index >= size
                || !asked.contains(&row.id)
            {
                continue;
            }
            if notices.len() >= MAX_NOTICES {
                break;
            }
            let proof = self.store.inclusion_proof(row.leaf_index, size)?;
            let credential = match row.decision {
                DecisionKind::Registered => self
                    .store
                    .record_bytes(&kid, &row.id)?
                    .and_then(|bytes| SignedRecord::decode(&bytes).ok())
                    .and_then(|signed| {
                        credential::issue_registered(
                            &self.keys.signing,
                            &signed.record,
                            row.record_index,
                            now,
                        )
                        .ok()
                    })
                    .map(|c| ByteBuf::from(c.bytes)),
                _ => None,
            };
            notices.push(Notice {
                record_id: row.id,
                decision: row.decision,
                reason: row.reason,
                decided_by: row.decided_by,
                decided_at: row.decided_at,
                leaf_index: row.leaf_index,
                inclusion_proof: wire::hash_bufs(&proof),
                credential,
            });
        }
        let consistency = self
            .store
            .consistency_proof(request.known_tree_size, size)?;
        NoticesResponse {
            version: WIRE_VERSION,
            request_id: request.request_id,
            checkpoint,
            known_tree_size: request.known_tree_size,
            consistency_proof: wire::hash_bufs(&consistency),
            notices,
        }
        .seal(&key)
        .map_err(ServiceError::internal)
    }
}
