//! The ledger's leaves (PROTOCOL §10): a salted commitment to one signed record, the device
//! that signed it and when the registry sequenced it. Never personal data: without the salt
//! (kept off the ledger) and the record, a commitment reveals nothing about the child.

use sha2::{Digest, Sha256};

use super::{Hash, LedgerError};
use crate::keys::KeyId;

/// Domain tag of record commitments.
pub const COMMITMENT_TAG: &[u8] = b"birthright/record-commitment/v1\0";
/// Version byte that starts every ledger leaf.
pub const LEAF_VERSION: u8 = 1;
/// Length of a ledger leaf: version, commitment, device key id, sequencing time.
pub const LEAF_LEN: usize = 1 + 32 + 8 + 8;

/// The commitment to one record that goes on the ledger: SHA-256 over [`COMMITMENT_TAG`], a
/// 32-byte random salt kept off the ledger, and the signed record bytes. Without the salt and
/// the record, the commitment reveals nothing about the child.
pub fn record_commitment(salt: &[u8; 32], signed_record: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(COMMITMENT_TAG);
    h.update(salt);
    h.update(signed_record);
    h.finalize().into()
}

/// One ledger leaf: what the Merkle tree hashes (with the RFC 6962 0x00 prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLeaf {
    /// [`record_commitment`] of the record.
    pub commitment: Hash,
    /// The signing device.
    pub device_kid: KeyId,
    /// When the registry sequenced it, Unix seconds.
    pub sequenced_at: i64,
}

impl LedgerLeaf {
    /// The [`LEAF_LEN`]-byte leaf data: `0x01 || commitment || device_kid || sequenced_at
    /// (u64, big-endian)`.
    pub fn to_bytes(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        out[0] = LEAF_VERSION;
        out[1..33].copy_from_slice(&self.commitment);
        out[33..41].copy_from_slice(&self.device_kid.0);
        out[41..49].copy_from_slice(&(self.sequenced_at as u64).to_be_bytes());
        out
    }

    /// Parses leaf data.
    pub fn parse(bytes: &[u8]) -> Result<LedgerLeaf, LedgerError> {
        if bytes.len() != LEAF_LEN || bytes[0] != LEAF_VERSION {
            return Err(LedgerError::MalformedLeaf { len: bytes.len() });
        }
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&bytes[1..33]);
        let mut kid = [0u8; 8];
        kid.copy_from_slice(&bytes[33..41]);
        let mut at = [0u8; 8];
        at.copy_from_slice(&bytes[41..49]);
        Ok(LedgerLeaf {
            commitment,
            device_kid: KeyId(kid),
            sequenced_at: u64::from_be_bytes(at) as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_known_answer() {
        // Computed independently (Python hashlib) from the encoding in docs/PROTOCOL.md §10.
        let commitment = record_commitment(&[0x11; 32], b"signed record bytes");
        assert_eq!(
            hex::encode(commitment),
            "b5c01eb25655ec401094cf61a5cd6c86dbd3f7785379aad2ee7b269b9d44199d"
        );
        let leaf = LedgerLeaf {
            commitment,
            device_kid: KeyId([1, 2, 3, 4, 5, 6, 7, 8]),
            sequenced_at: 1_774_000_000,
        }
        .to_bytes();
        assert_eq!(
            hex::encode(leaf),
            "01b5c01eb25655ec401094cf61a5cd6c86dbd3f7785379aad2ee7b269b9d44199d\
             01020304050607080000000069bd1780"
        );
        assert_eq!(
            hex::encode(crate::ledger::merkle::leaf_hash(&leaf)),
            "b28f74296b8e038bdfb724e2fbe16ff59cfa7055d222acd62770134c5578d0a1"
        );
    }

    #[test]
    fn leaf_round_trip() {
        let leaf = LedgerLeaf {
            commitment: record_commitment(&[1; 32], b"x"),
            device_kid: KeyId([2; 8]),
            sequenced_at: 1_780_000_000,
        };
        let bytes = leaf.to_bytes();
        assert_eq!(bytes.len(), 49);
        assert_eq!(LedgerLeaf::parse(&bytes).unwrap(), leaf);
        assert!(LedgerLeaf::parse(&bytes[..48]).is_err());
        assert_ne!(
            record_commitment(&[1; 32], b"x"),
            record_commitment(&[2; 32], b"x")
        );
    }
}
