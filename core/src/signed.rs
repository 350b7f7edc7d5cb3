//! Signed records: a [`Record`] encoded with [`crate::codec`] and wrapped in a COSE_Sign1 by the
//! capturing device's key. [`SignedRecord::verify`] is what the registry runs on ingest.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::{
    codec::{self, CodecError},
    cose::{self, CoseError, CoseSign1},
    keys::{Ed25519Key, KeyId},
    record::{Record, SCHEMA_VERSION},
};

/// Largest signed record (COSE_Sign1 bytes) accepted.
pub const MAX_SIGNED_RECORD_BYTES: usize = codec::MAX_RECORD_BYTES + 256;

/// A signed record that cannot be decoded or verified.
#[derive(Debug, thiserror::Error)]
pub enum SignedRecordError {
    /// The COSE envelope is malformed or its signature is wrong.
    #[error("signed record: {0}")]
    Cose(#[from] CoseError),
    /// The payload is not a valid record.
    #[error("record payload: {0}")]
    Payload(#[from] CodecError),
    /// The COSE kid is missing or differs from the record's device key id.
    #[error("the signing key id does not match the record's device key id")]
    KeyIdMismatch,
    /// The key offered for verification is not the one named by the record.
    #[error("the record names device key {named}, not {offered}")]
    WrongKey {
        /// Key id in the record.
        named: KeyId,
        /// Key id of the key offered.
        offered: KeyId,
    },
    /// The record uses a schema this code does not know.
    #[error("unsupported record schema version {0}")]
    UnsupportedSchema(u16),
}

/// A record with its COSE_Sign1 envelope, decoded but verified only once [`Self::verify`] says so.
#[derive(Debug, Clone)]
pub struct SignedRecord {
    /// The exact COSE_Sign1 bytes (what is stored, sent and committed to the ledger).
    pub bytes: Vec<u8>,
    /// The decoded record.
    pub record: Record,
    /// The signing device's key id.
    pub kid: KeyId,
    cose: CoseSign1,
}

impl SignedRecord {
    /// Encodes and signs `record` with `key`, whose key id must be `record.device_kid`.
    pub fn sign(record: &Record, key: &Ed25519Key) -> Result<SignedRecord, SignedRecordError> {
        let kid = key.key_id();
        if record.device_kid != kid.0 {
            return Err(SignedRecordError::KeyIdMismatch);
        }
        let payload = codec::to_vec(record)?;
        let bytes = cose::sign1(&kid.0, BTreeMap::new(), BTreeMap::new(), &payload, |m| {
            key.sign(m)
        });
        Self::decode(&bytes)
    }

    /// Decodes a signed record without checking its signature (size-limited, strict).
    pub fn decode(bytes: &[u8]) -> Result<SignedRecord, SignedRecordError> {
        let cose = CoseSign1::parse(bytes, MAX_SIGNED_RECORD_BYTES)?;
        let kid = cose
            .kid()
            .and_then(KeyId::from_slice)
            .ok_or(SignedRecordError::KeyIdMismatch)?;
        let record: Record = codec::from_slice(&cose.payload, codec::MAX_RECORD_BYTES)?;
        if record.schema_version != SCHEMA_VERSION {
            return Err(SignedRecordError::UnsupportedSchema(record.schema_version));
        }
        if record.device_kid != kid.0 {
            return Err(SignedRecordError::KeyIdMismatch);
        }
        Ok(SignedRecord {
            bytes: bytes.to_vec(),
            record,
            kid,
            cose,
        })
    }

    /// Verifies the signature under the device key `key`, which must be the key named by the
    /// record.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SignedRecordError> {
        let offered = KeyId::of(&key.to_bytes());
        if offered != self.kid {
            return Err(SignedRecordError::WrongKey {
                named: self.kid,
                offered,
            });
        }
        Ok(self.cose.verify(key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EnrolmentInput;

    fn sample(key: &Ed25519Key) -> Record {
        let mut enrolment = EnrolmentInput::default();
        enrolment.child.given_names = "Олена".into();
        Record {
            schema_version: SCHEMA_VERSION,
            id: uuid::Uuid::now_v7(),
            captured_at: 1_773_900_000,
            worker_id: "worker-7".into(),
            device_kid: key.key_id().0.to_vec(),
            supersedes: None,
            enrolment,
        }
    }

    #[test]
    fn sign_decode_verify() {
        let key = Ed25519Key::generate().unwrap();
        let record = sample(&key);
        let signed = SignedRecord::sign(&record, &key).unwrap();
        let decoded = SignedRecord::decode(&signed.bytes).unwrap();
        assert_eq!(decoded.record, record);
        decoded.verify(&key.verifying_key()).unwrap();
        let other = Ed25519Key::generate().unwrap();
        assert!(matches!(
            decoded.verify(&other.verifying_key()),
            Err(SignedRecordError::WrongKey { .. })
        ));
    }

    #[test]
    fn refuses_a_record_signed_for_another_kid() {
        let key = Ed25519Key::generate().unwrap();
        let mut record = sample(&key);
        record.device_kid = vec![0; 8];
        assert!(matches!(
            SignedRecord::sign(&record, &key),
            Err(SignedRecordError::KeyIdMismatch)
        ));
    }

    #[test]
    fn every_single_byte_tamper_fails() {
        let key = Ed25519Key::generate().unwrap();
        let signed = SignedRecord::sign(&sample(&key), &key).unwrap();
        for i in 0..signed.bytes.len() {
            let mut tampered = signed.bytes.clone();
            tampered[i] = tampered[i].wrapping_add(1);
            let result =
                SignedRecord::decode(&tampered).and_then(|s| s.verify(&key.verifying_key()));
            assert!(result.is_err(), "tampered byte {i} verified");
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = SignedRecord::decode(&bytes);
        }

        #[test]
        fn round_trips(given in "\\PC{1,40}", family in "\\PC{0,40}", at in 0i64..4_000_000_000) {
            let key = Ed25519Key::from_secret(&[9; 32]);
            let mut record = sample(&key);
            record.enrolment.child.given_names = given;
            record.enrolment.child.family_name = family;
            record.captured_at = at;
            let signed = SignedRecord::sign(&record, &key).unwrap();
            let back = SignedRecord::decode(&signed.bytes).unwrap();
            proptest::prop_assert_eq!(&back.record, &record);
            back.verify(&key.verifying_key()).unwrap();
        }
    }
}
