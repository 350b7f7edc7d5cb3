//! Signed records: a [`Record`] encoded with [`crate::codec`] and wrapped in a COSE_Sign1 by the
//! capturing device's key. [`SignedRecord::verify`] is what the registry runs on ingest.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::{
    codec::{self, CodecError},
    cose::{self, CoseError, CoseSign1, HeaderProfile},
    keys::{Ed25519Key, KeyId},
    record::{Record, SCHEMA_VERSION},
};

/// Largest signed record (COSE_Sign1 bytes) accepted.
pub const MAX_SIGNED_RECORD_BYTES: usize = codec::MAX_RECORD_BYTES + 256;

/// The headers of a signed record (`docs/PROTOCOL.md` §2): protected `{1: -8, 4: kid}`, no
/// content type, an empty unprotected header.
pub const RECORD_HEADERS: HeaderProfile = HeaderProfile {
    content_type: None,
    unprotected: &[],
};

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
        let cose = CoseSign1::parse_strict(bytes, MAX_SIGNED_RECORD_BYTES, &RECORD_HEADERS)?;
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
    use proptest::{collection::vec, option::of, prelude::*};

    use super::*;
    use crate::record::{
        Caregiver, Child, Consent, DatePrecision, Informant, Parent, PlaceKind, PlaceOfBirth,
        RegistrationForm, Sex,
    };

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    /// A well-formed COSE_Sign1 by `key` around any `payload`.
    fn signed_envelope(key: &Ed25519Key, payload: &[u8]) -> Vec<u8> {
        crate::cose::sign1(
            &key.key_id().0,
            std::collections::BTreeMap::new(),
            std::collections::BTreeMap::new(),
            payload,
            |m| key.sign(m),
        )
    }

    fn parent() -> impl Strategy<Value = Parent> {
        (text(), text(), of(text()), of(text()), of("[A-Z]{2}")).prop_map(
            |(given_names, family_name, date_of_birth, national_id, nationality)| Parent {
                given_names,
                family_name,
                date_of_birth,
                national_id,
                nationality,
            },
        )
    }

    fn caregiver() -> impl Strategy<Value = Caregiver> {
        (text(), text(), text(), of("\\+[0-9]{8,15}")).prop_map(
            |(given_names, family_name, relationship, phone)| Caregiver {
                given_names,
                family_name,
                relationship,
                phone,
            },
        )
    }

    /// Any record the types can hold (valid or not: encoding does not validate).
    fn arbitrary_record() -> impl Strategy<Value = Record> {
        let child = (
            (
                text(),
                text(),
                of(prop_oneof![
                    Just(Sex::Female),
                    Just(Sex::Male),
                    Just(Sex::Unknown)
                ]),
            ),
            (
                text(),
                of(prop_oneof![
                    Just(DatePrecision::Day),
                    Just(DatePrecision::Month),
                    Just(DatePrecision::Year)
                ]),
            ),
            (of(text()), any::<u8>(), any::<u8>()),
        )
            .prop_map(
                |(
                    (given_names, family_name, sex),
                    (date_of_birth, date_of_birth_precision),
                    (time_of_birth, plurality, birth_order),
                )| Child {
                    given_names,
                    family_name,
                    sex,
                    date_of_birth,
                    date_of_birth_precision,
                    time_of_birth,
                    plurality,
                    birth_order,
                },
            );
        let place = (
            of(prop_oneof![
                Just(PlaceKind::HealthFacility),
                Just(PlaceKind::Home),
                Just(PlaceKind::Other)
            ]),
            text(),
            text(),
            of(text()),
            of(-90.0f64..90.0),
            of(-180.0f64..180.0),
        )
            .prop_map(
                |(kind, admin_area, locality, facility, latitude, longitude)| PlaceOfBirth {
                    kind,
                    admin_area,
                    locality,
                    facility,
                    latitude,
                    longitude,
                },
            );
        let people = (
            parent(),
            of(parent()),
            (text(), text(), text(), of(text())),
            vec(caregiver(), 0..4),
            (any::<bool>(), text()),
        );
        let extra = (
            of(text()),
            proptest::collection::btree_map(text(), text(), 0..4),
        );
        (
            child,
            place,
            people,
            extra,
            any::<[u8; 16]>(),
            any::<i64>(),
            text(),
        )
            .prop_map(
                |(
                    child,
                    place_of_birth,
                    (mother, father, informant, caregivers, consent),
                    (notes, custom),
                    id,
                    captured_at,
                    worker_id,
                )| Record {
                    schema_version: SCHEMA_VERSION,
                    id: uuid::Uuid::from_bytes(id),
                    captured_at,
                    worker_id,
                    device_kid: vec![0; 8],
                    supersedes: None,
                    enrolment: RegistrationForm {
                        child,
                        place_of_birth,
                        mother,
                        father,
                        informant: Informant {
                            given_names: informant.0,
                            family_name: informant.1,
                            relationship: informant.2,
                            phone: informant.3,
                        },
                        caregivers,
                        consent: Consent {
                            given: consent.0,
                            by_relationship: consent.1,
                        },
                        notes,
                        custom,
                    },
                },
            )
    }

    fn sample(key: &Ed25519Key) -> Record {
        let mut enrolment = RegistrationForm::default();
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

    /// Copies of a genuine signed record that a third party (or the device itself) could make
    /// without changing what the signature covers, or with the kid moved out of the signed
    /// header: every one is refused, so no second byte form of a record exists to upload first
    /// and get the genuine one refused as a conflicting duplicate.
    #[test]
    fn re_encoded_copies_of_a_record_are_refused() {
        use crate::codec::Value;
        let key = Ed25519Key::from_secret(&[5; 32]);
        let genuine = SignedRecord::sign(&sample(&key), &key).unwrap();
        let cose = &genuine.cose;
        let kid = key.key_id().0.to_vec();
        let encode = |protected: &[u8], unprotected: Vec<(i64, Value)>, signature: &[u8]| {
            let body = codec::value_to_vec(&Value::Array(vec![
                Value::Bytes(protected.to_vec()),
                Value::Map(
                    unprotected
                        .into_iter()
                        .map(|(k, v)| (Value::Integer(k.into()), v))
                        .collect(),
                ),
                Value::Bytes(cose.payload.clone()),
                Value::Bytes(signature.to_vec()),
            ]))
            .unwrap();
            [&[0xD2][..], &body].concat()
        };
        // The genuine bytes are exactly this encoding.
        assert_eq!(
            encode(&cose.protected_bytes, vec![], &cose.signature),
            genuine.bytes
        );
        // 1. Extra unprotected entries (not signed: the signature still verifies).
        let extra = encode(
            &cose.protected_bytes,
            vec![(99, Value::Text("x".into()))],
            &cose.signature,
        );
        // 2. The kid repeated in the unprotected header.
        let repeated = encode(
            &cose.protected_bytes,
            vec![(cose::HEADER_KID, Value::Bytes(kid.clone()))],
            &cose.signature,
        );
        // 3. The kid moved to the unprotected header, re-signed by the device's key.
        let protected = codec::value_to_vec(&Value::Map(
            [(Value::Integer(1), Value::Integer(cose::ALG_EDDSA.into()))].into(),
        ))
        .unwrap();
        let sig_structure = codec::value_to_vec(&Value::Array(vec![
            Value::Text("Signature1".into()),
            Value::Bytes(protected.clone()),
            Value::Bytes(vec![]),
            Value::Bytes(cose.payload.clone()),
        ]))
        .unwrap();
        let moved = encode(
            &protected,
            vec![(cose::HEADER_KID, Value::Bytes(kid.clone()))],
            &key.sign(&sig_structure),
        );
        // 4. The payload's length in a longer form than needed (0x5A + 4 bytes).
        let len = cose.payload.len();
        let head = match len {
            0..24 => 1,
            24..256 => 2,
            _ => 3,
        };
        let at = genuine.bytes.len() - 66 - len - head;
        let long_length = [
            &genuine.bytes[..at],
            &[0x5A],
            &(len as u32).to_be_bytes(),
            &genuine.bytes[at + head..],
        ]
        .concat();
        for (name, copy, expected) in [
            (
                "extra unprotected entry",
                extra,
                CoseError::UnexpectedHeader {
                    header: "unprotected",
                    label: 99,
                },
            ),
            (
                "kid repeated unprotected",
                repeated,
                CoseError::UnexpectedHeader {
                    header: "unprotected",
                    label: cose::HEADER_KID,
                },
            ),
            (
                "kid moved unprotected",
                moved,
                CoseError::MissingHeader {
                    header: "protected",
                    label: cose::HEADER_KID,
                },
            ),
            (
                "long payload length",
                long_length,
                CoseError::NotCanonical("COSE message"),
            ),
        ] {
            assert_ne!(copy, genuine.bytes);
            match SignedRecord::decode(&copy) {
                Err(SignedRecordError::Cose(e)) => assert_eq!(e, expected, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // The genuine record is unaffected.
        SignedRecord::decode(&genuine.bytes)
            .unwrap()
            .verify(&key.verifying_key())
            .unwrap();
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

        /// A valid record's CBOR with a byte changed, inside a valid envelope: the decoder sees
        /// nearly-right structures and must still never panic.
        #[test]
        fn a_damaged_record_payload_decodes_or_fails_cleanly(
            record in arbitrary_record(),
            at in any::<usize>(),
            value in any::<u8>(),
        ) {
            let key = Ed25519Key::from_secret(&[7; 32]);
            let mut payload = codec::to_vec(&Record { device_kid: key.key_id().0.to_vec(), ..record }).unwrap();
            let at = at % payload.len();
            payload[at] = value;
            let _ = SignedRecord::decode(&signed_envelope(&key, &payload));
        }

        #[test]
        fn whole_records_round_trip(record in arbitrary_record(), supersedes in proptest::option::of(proptest::prelude::any::<[u8; 16]>())) {
            let key = Ed25519Key::from_secret(&[7; 32]);
            let record = Record {
                device_kid: key.key_id().0.to_vec(),
                supersedes: supersedes.map(uuid::Uuid::from_bytes),
                ..record
            };
            let signed = SignedRecord::sign(&record, &key).unwrap();
            let back = SignedRecord::decode(&signed.bytes).unwrap();
            proptest::prop_assert_eq!(&back.record, &record);
            back.verify(&key.verifying_key()).unwrap();
        }

        /// Random payloads inside a well-formed, correctly signed envelope reach the record
        /// decoder (random bytes alone almost never get past the COSE tag).
        #[test]
        fn any_payload_in_a_valid_envelope_decodes_or_fails_cleanly(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
        ) {
            let key = Ed25519Key::from_secret(&[7; 32]);
            let _ = SignedRecord::decode(&signed_envelope(&key, &payload));
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
