//! The ledger's read side: checkpoint, proofs, leaves, the signed revocation and status lists.

use birthright_core::{ledger::Hash, trust::RevocationList};

use super::{MAX_LEAVES_PER_CALL, Registry, ServiceError, StatusCache, now_unix};

impl Registry {
    /// The latest signed checkpoint (text), with every witness cosignature collected for it
    /// (see [`Self::cosigned_checkpoint`]).
    pub fn checkpoint(&self) -> Result<String, ServiceError> {
        self.cosigned_checkpoint()
    }

    /// The current tree size.
    pub fn tree_size(&self) -> Result<u64, ServiceError> {
        Ok(self.store.tree_size()?)
    }

    /// An inclusion proof for the auditors' API.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ServiceError> {
        let current = self.store.tree_size()?;
        if size > current || index >= size {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need index < size <= {current}"),
            ));
        }
        Ok(self.store.inclusion_proof(index, size)?)
    }

    /// A consistency proof for the auditors' API.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ServiceError> {
        let current = self.store.tree_size()?;
        if from > to || to > current {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need from <= to <= {current}"),
            ));
        }
        Ok(self.store.consistency_proof(from, to)?)
    }

    /// Leaf data `[start, end)` (at most [`MAX_LEAVES_PER_CALL`]).
    pub fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, ServiceError> {
        let current = self.store.tree_size()?;
        if start >= end || end > current {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("need start < end <= {current}"),
            ));
        }
        if end - start > MAX_LEAVES_PER_CALL {
            return Err(ServiceError::new(
                400,
                "bad_range",
                format!("at most {MAX_LEAVES_PER_CALL} leaves per call"),
            ));
        }
        Ok(self.store.leaves(start, end)?)
    }

    /// The revocation list, signed now.
    pub fn revocation_list(&self) -> Result<Vec<u8>, ServiceError> {
        RevocationList {
            version: 1,
            origin: self.keys.origin.clone(),
            issued_at: now_unix(),
            entries: self.store.revocations()?,
        }
        .sign(&self.keys.signing)
        .map_err(ServiceError::internal)
    }

    /// The signed status list of registered credentials (`docs/PROTOCOL.md` §15): built from
    /// the ledger's records and the credential revocations, and cached until the ledger grows,
    /// a credential is revoked, or half its `ttl` has passed. Reads only (never the
    /// sequencer's connection).
    pub fn status_list(&self) -> Result<std::sync::Arc<Vec<u8>>, ServiceError> {
        self.status_list_at(now_unix())
    }

    /// [`Self::status_list`] at time `now`.
    pub fn status_list_at(&self, now: i64) -> Result<std::sync::Arc<Vec<u8>>, ServiceError> {
        use birthright_core::status_list::{
            LeafStatus, StatusList, StatusListToken, TTL_SECS, VALIDITY_SECS,
        };
        // Held while building, so that a burst of requests builds the list once.
        let mut cache = self.status_cache.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.store.status_version()?;
        if let Some(c) = cache.as_ref()
            && c.version == version
            && (0..TTL_SECS / 2).contains(&now.saturating_sub(c.signed_at))
        {
            return Ok(c.bytes.clone());
        }
        let statuses = self.store.leaf_statuses()?;
        let mut list = StatusList::new(statuses.size);
        for &i in &statuses.superseded {
            list.set(i, LeafStatus::Superseded);
        }
        // A revoked credential is revoked, corrected or not.
        for &i in &statuses.revoked {
            list.set(i, LeafStatus::Revoked);
        }
        let bytes = std::sync::Arc::new(
            StatusListToken {
                origin: self.keys.origin.clone(),
                issued_at: now,
                expires_at: now.saturating_add(VALIDITY_SECS),
                ttl: TTL_SECS,
                list,
            }
            .sign(&self.keys.signing)
            .map_err(ServiceError::internal)?,
        );
        // The version read before building: if the ledger grew meanwhile, the next request
        // sees a new version and rebuilds.
        *cache = Some(StatusCache {
            version,
            signed_at: now,
            bytes: bytes.clone(),
        });
        Ok(bytes)
    }
}
