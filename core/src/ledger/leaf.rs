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

/// Version byte of a decision leaf (PROTOCOL §10.1).
pub const DECISION_LEAF_VERSION: u8 = 2;
/// Event kind of a decision leaf: a decision on a registration.
pub const EVENT_DECISION: u8 = 1;
/// Length of a decision leaf: version, kind, record leaf index, record commitment, decision,
/// reason, decided by, time.
pub const DECISION_LEAF_LEN: usize = 1 + 1 + 8 + 32 + 1 + 1 + 1 + 8;

/// What a decision on a registration decided (one byte on the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The birth is registered.
    Registered = 1,
    /// The registration is refused.
    Rejected = 2,
    /// The record is the same child as another record.
    Duplicate = 3,
    /// The field worker is asked for a correction.
    CorrectionRequested = 4,
}

impl DecisionKind {
    /// Every decision, in code order.
    pub const ALL: [DecisionKind; 4] = [
        DecisionKind::Registered,
        DecisionKind::Rejected,
        DecisionKind::Duplicate,
        DecisionKind::CorrectionRequested,
    ];

    /// Its snake_case name (the registry's status of the record after it).
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Registered => "registered",
            DecisionKind::Rejected => "rejected",
            DecisionKind::Duplicate => "duplicate",
            DecisionKind::CorrectionRequested => "correction_requested",
        }
    }

    /// The decision named `name`.
    pub fn from_name(name: &str) -> Option<DecisionKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn from_byte(b: u8) -> Option<DecisionKind> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }
}

/// Why (one byte on the ledger): the reason codes of registrations, rejections and requests
/// for correction. Never personal data; a registrar's note stays at the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// No reason given (a registration).
    None = 0,
    /// Registered by the review policy at once (born recently, no duplicate, not a correction).
    Timely = 1,
    /// Registered by a registrar after review.
    Reviewed = 2,
    /// The information given is wrong.
    IncorrectInformation = 3,
    /// Information is missing.
    MissingInformation = 4,
    /// The evidence of the birth is not sufficient.
    InsufficientEvidence = 5,
    /// The registration looks fraudulent.
    SuspectedFraud = 6,
    /// The child is already registered.
    AlreadyRegistered = 7,
    /// Another reason (the registrar's note says which, at the registry).
    Other = 8,
}

impl DecisionReason {
    /// Every reason, in code order.
    pub const ALL: [DecisionReason; 9] = [
        DecisionReason::None,
        DecisionReason::Timely,
        DecisionReason::Reviewed,
        DecisionReason::IncorrectInformation,
        DecisionReason::MissingInformation,
        DecisionReason::InsufficientEvidence,
        DecisionReason::SuspectedFraud,
        DecisionReason::AlreadyRegistered,
        DecisionReason::Other,
    ];

    /// Its snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::None => "none",
            DecisionReason::Timely => "timely",
            DecisionReason::Reviewed => "reviewed",
            DecisionReason::IncorrectInformation => "incorrect_information",
            DecisionReason::MissingInformation => "missing_information",
            DecisionReason::InsufficientEvidence => "insufficient_evidence",
            DecisionReason::SuspectedFraud => "suspected_fraud",
            DecisionReason::AlreadyRegistered => "already_registered",
            DecisionReason::Other => "other",
        }
    }

    /// The reason with code `code`.
    pub fn from_name(code: &str) -> Option<DecisionReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }

    fn from_byte(b: u8) -> Option<DecisionReason> {
        Self::ALL.into_iter().find(|r| *r as u8 == b)
    }
}

/// Who decided (one byte on the ledger; never a registrar's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The review policy, at ingest.
    Policy = 0,
    /// A registrar.
    Registrar = 1,
}

/// A decision on a registration, as the ledger holds it (PROTOCOL §10.1): which record (its
/// leaf and commitment), what was decided, why, by whom (policy or a registrar), when (the
/// registry's clock). No personal data, no registrar's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionLeaf {
    /// The ledger index of the record's own (version 1) leaf.
    pub record_index: u64,
    /// The record's commitment, as in its own leaf.
    pub commitment: Hash,
    /// What was decided.
    pub decision: DecisionKind,
    /// Why.
    pub reason: DecisionReason,
    /// Who.
    pub decided_by: DecidedBy,
    /// When, Unix seconds (the registry's clock).
    pub decided_at: i64,
}

impl DecisionLeaf {
    /// The [`DECISION_LEAF_LEN`]-byte leaf data: `0x02 || 0x01 || record_index (u64 BE) ||
    /// commitment || decision || reason || decided_by || decided_at (u64 BE)`.
    pub fn to_bytes(&self) -> [u8; DECISION_LEAF_LEN] {
        let mut out = [0u8; DECISION_LEAF_LEN];
        out[0] = DECISION_LEAF_VERSION;
        out[1] = EVENT_DECISION;
        out[2..10].copy_from_slice(&self.record_index.to_be_bytes());
        out[10..42].copy_from_slice(&self.commitment);
        out[42] = self.decision as u8;
        out[43] = self.reason as u8;
        out[44] = self.decided_by as u8;
        out[45..53].copy_from_slice(&(self.decided_at as u64).to_be_bytes());
        out
    }

    /// Parses decision leaf data.
    pub fn parse(bytes: &[u8]) -> Result<DecisionLeaf, LedgerError> {
        let bad = || LedgerError::MalformedLeaf { len: bytes.len() };
        if bytes.len() != DECISION_LEAF_LEN
            || bytes[0] != DECISION_LEAF_VERSION
            || bytes[1] != EVENT_DECISION
        {
            return Err(bad());
        }
        let mut index = [0u8; 8];
        index.copy_from_slice(&bytes[2..10]);
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&bytes[10..42]);
        let decided_by = match bytes[44] {
            0 => DecidedBy::Policy,
            1 => DecidedBy::Registrar,
            _ => return Err(bad()),
        };
        let mut at = [0u8; 8];
        at.copy_from_slice(&bytes[45..53]);
        Ok(DecisionLeaf {
            record_index: u64::from_be_bytes(index),
            commitment,
            decision: DecisionKind::from_byte(bytes[42]).ok_or_else(bad)?,
            reason: DecisionReason::from_byte(bytes[43]).ok_or_else(bad)?,
            decided_by,
            decided_at: u64::from_be_bytes(at) as i64,
        })
    }
}

/// Any ledger leaf: a record (version 1) or a decision (version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerEntry {
    /// A record's commitment.
    Record(LedgerLeaf),
    /// A decision on a registration.
    Decision(DecisionLeaf),
}

impl LedgerEntry {
    /// Parses leaf data of either version.
    pub fn parse(bytes: &[u8]) -> Result<LedgerEntry, LedgerError> {
        match bytes.first() {
            Some(&DECISION_LEAF_VERSION) => DecisionLeaf::parse(bytes).map(LedgerEntry::Decision),
            _ => LedgerLeaf::parse(bytes).map(LedgerEntry::Record),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_leaf_known_answer() {
        let leaf = DecisionLeaf {
            record_index: 7,
            commitment: record_commitment(&[0x11; 32], b"signed record bytes"),
            decision: DecisionKind::Registered,
            reason: DecisionReason::Reviewed,
            decided_by: DecidedBy::Registrar,
            decided_at: 1_774_000_000,
        };
        let bytes = leaf.to_bytes();
        assert_eq!(
            hex::encode(bytes),
            "02010000000000000007\
             b5c01eb25655ec401094cf61a5cd6c86dbd3f7785379aad2ee7b269b9d44199d\
             0102010000000069bd1780"
        );
        // The leaf hash computed independently (Python hashlib) from PROTOCOL §10.1.
        assert_eq!(
            hex::encode(crate::ledger::merkle::leaf_hash(&bytes)),
            "cc535b1b14c22ad41905d48066256d2cbedd743f004f41c81d9e104b8c7ee7ee"
        );
        assert_eq!(DecisionLeaf::parse(&bytes).unwrap(), leaf);
        assert_eq!(
            LedgerEntry::parse(&bytes).unwrap(),
            LedgerEntry::Decision(leaf)
        );
        assert!(DecisionLeaf::parse(&bytes[..52]).is_err());
        let mut bad = bytes;
        bad[42] = 9;
        assert!(LedgerEntry::parse(&bad).is_err());
        let mut bad = bytes;
        bad[44] = 2;
        assert!(LedgerEntry::parse(&bad).is_err());
        let mut bad = bytes;
        bad[1] = 2;
        assert!(LedgerEntry::parse(&bad).is_err());
        for k in DecisionKind::ALL {
            assert_eq!(DecisionKind::from_name(k.as_str()), Some(k));
        }
        for r in DecisionReason::ALL {
            assert_eq!(DecisionReason::from_name(r.as_str()), Some(r));
        }
    }

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
