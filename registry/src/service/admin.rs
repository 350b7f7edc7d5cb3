//! Administration: credential and device revocation, the device list, stored record lookups.

use birthright_core::keys::KeyId;
use uuid::Uuid;

use super::{Device, Registry, ServiceError, check_reason, now_unix};

impl Registry {
    /// Revokes the registered credential at ledger leaf `leaf_index`: from the next status
    /// list on, it verifies as revoked. `reason` is one of
    /// [`birthright_core::trust::REVOCATION_REASONS`]; `note` stays in the database.
    /// Returns false if it was revoked already.
    pub fn revoke_credential(
        &self,
        leaf_index: u64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<bool, ServiceError> {
        check_reason(reason)?;
        match self
            .store
            .revoke_credential(leaf_index, now_unix(), reason, note)?
        {
            crate::store::CredentialRevocation::Revoked => Ok(true),
            crate::store::CredentialRevocation::AlreadyRevoked => Ok(false),
            crate::store::CredentialRevocation::NoSuchLeaf => Err(ServiceError::new(
                404,
                "unknown_leaf",
                format!("no registered record at ledger index {leaf_index}"),
            )),
        }
    }

    /// Revokes device `kid` from now on, with a public reason code (published in the signed
    /// revocation list) and a private note (kept in the database only).
    pub fn revoke(
        &self,
        kid: &KeyId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.revoke_at(kid, reason, note, now_unix())
    }

    /// Revokes device `kid` from `at`.
    pub fn revoke_at(
        &self,
        kid: &KeyId,
        reason: &str,
        note: Option<&str>,
        at: i64,
    ) -> Result<(), ServiceError> {
        check_reason(reason)?;
        if self.store.revoke(kid, at, reason, note)? {
            Ok(())
        } else {
            Err(ServiceError::new(
                404,
                "unknown_device",
                format!("no device {kid}"),
            ))
        }
    }

    /// All enrolled devices.
    pub fn devices(&self) -> Result<Vec<Device>, ServiceError> {
        Ok(self.store.devices()?)
    }

    /// The decrypted signed record `id`, if stored (for registrars): the first sequenced if
    /// several devices sent a record under this id (see [`Self::record_owners`]).
    pub fn record_bytes(&self, id: &Uuid) -> Result<Option<Vec<u8>>, ServiceError> {
        match self.store.record_owners(id)?.first() {
            Some(kid) => self.record_bytes_of(kid, id),
            None => Ok(None),
        }
    }

    /// The decrypted signed record `id` of device `kid`, if stored.
    pub fn record_bytes_of(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.store.record_bytes(kid, id)?)
    }

    /// The devices with a record `id` on the ledger, first sequenced first (more than one only
    /// if a device copied another's record id).
    pub fn record_owners(&self, id: &Uuid) -> Result<Vec<KeyId>, ServiceError> {
        Ok(self.store.record_owners(id)?)
    }
}

impl Registry {
    /// A registered credential, signed with the registry's key, for the stored record `id` of
    /// device `kid` at ledger leaf `leaf_index`, issued at `issued_at`; `None` if the record is
    /// not stored. Ed25519 is deterministic: the same inputs give the same credential bytes.
    pub fn registered_credential(
        &self,
        kid: &KeyId,
        id: &Uuid,
        leaf_index: u64,
        issued_at: i64,
    ) -> Result<Option<birthright_core::credential::Credential>, ServiceError> {
        let Some(bytes) = self.store.record_bytes(kid, id)? else {
            return Ok(None);
        };
        let signed = birthright_core::signed::SignedRecord::decode(&bytes)
            .map_err(ServiceError::internal)?;
        birthright_core::credential::issue_registered(
            &self.keys.signing,
            &signed.record,
            leaf_index,
            issued_at,
        )
        .map(Some)
        .map_err(ServiceError::internal)
    }

    /// Whether record `id` of device `kid` is held for a registrar's review of a possible
    /// duplicate (no registered credential until decided).
    pub fn is_held(&self, kid: &KeyId, id: &Uuid) -> Result<bool, ServiceError> {
        Ok(!self.store.open_pairs(Some((kid, id)))?.is_empty())
    }

    /// The open duplicate pairs, oldest first, as stored (no record is opened: for counts).
    pub fn open_duplicate_pairs(&self) -> Result<Vec<crate::store::DuplicatePair>, ServiceError> {
        Ok(self.store.open_pairs(None)?)
    }
}
