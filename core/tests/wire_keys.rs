//! The wire key of every field of every packed struct, pinned by name.
//!
//! A packed struct's CBOR key is the field's position in its Rust struct (`codec`), so moving a
//! field in the source silently renumbers the wire. The tables below are the key tables of
//! docs/PROTOCOL.md; the test encodes each struct with every field present, in serde's named
//! form, and checks that the n-th field written is the one the table gives key n. A reorder,
//! insertion or rename fails here with the field's name and both numbers (the known-answer
//! vectors of `golden.rs` fail too, but only with bytes). Enumerations are pinned the same way
//! by their variant numbers. The revocation list is being reworked and is not pinned here yet.

use std::collections::BTreeMap;

use birthright_core::{
    codec,
    fixtures::reference_input,
    record::{DatePrecision, PlaceKind, Record, RegistrationForm, Sex},
    sync::Receipt,
    trust::DeviceCertificate,
    wire::{
        Batch, BatchResponse, EnrolRequest, EnrolResponse, LeafReceipt, Outcome, RecordResult,
        Rejection, SealedBatch,
    },
};
use serde::Serialize;
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// The text keys of the top-level map of `value` in serde's named form, in the order written.
fn field_names<T: Serialize>(value: &T) -> Vec<String> {
    let bytes = serde_cbor::to_vec(value).unwrap();
    let mut de = serde_cbor::Deserializer::from_slice(&bytes);
    // Decode the map as an ordered list of (key, value) pairs.
    struct Ordered(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Ordered(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    let Ordered(keys) = serde::Deserialize::deserialize(&mut de).unwrap();
    keys
}

fn pinned<T: Serialize>(what: &str, value: &T, table: &[(u64, &str)]) {
    let names = field_names(value);
    for (n, name) in names.iter().enumerate() {
        let documented = table.iter().find(|(_, f)| f == name);
        assert_eq!(
            documented.map(|(k, _)| *k),
            Some(n as u64),
            "{what}.{name} is written as key {n}, but PROTOCOL.md gives it {}: fields were \
             reordered, inserted or renamed (a wire change: bump the version, update the table \
             and the vectors)",
            documented.map_or("no key".to_string(), |(k, _)| k.to_string())
        );
    }
    assert_eq!(
        names.len(),
        table.len(),
        "{what}: {} fields written with every field present, {} in the table",
        names.len(),
        table.len()
    );
    // And the packed form really uses those numbers: its keys are 0, 1, 2, ...
    let packed = codec::to_vec(value).unwrap();
    let value: serde_cbor::Value = serde_cbor::from_slice(&packed).unwrap();
    let serde_cbor::Value::Map(map) = value else {
        panic!("{what} is not a map")
    };
    let keys: Vec<_> = map.keys().cloned().collect();
    let expected: Vec<_> = (0..table.len() as i128)
        .map(serde_cbor::Value::Integer)
        .collect();
    assert_eq!(keys, expected, "{what}: packed keys");
}

/// A record with every optional field present.
fn full_record() -> Record {
    let mut enrolment: RegistrationForm = reference_input();
    enrolment.place_of_birth.facility = Some("Пустомитівська лікарня".into());
    enrolment.mother.national_id = Some("AA123456".into());
    enrolment.caregivers[0].phone = Some("+380501234567".into());
    enrolment.notes = Some("n".into());
    enrolment.custom = BTreeMap::from([("village_code".to_string(), "ZV-12".to_string())]);
    Record {
        schema_version: 1,
        id: Uuid::from_u128(1),
        captured_at: 1,
        worker_id: "w".into(),
        device_kid: vec![0; 8],
        supersedes: Some(Uuid::from_u128(2)),
        enrolment,
    }
}

#[test]
fn record_keys_are_pinned() {
    let r = full_record();
    let e = &r.enrolment;
    pinned(
        "Record",
        &r,
        &[
            (0, "schema_version"),
            (1, "id"),
            (2, "captured_at"),
            (3, "worker_id"),
            (4, "device_kid"),
            (5, "supersedes"),
            (6, "enrolment"),
        ],
    );
    pinned(
        "RegistrationForm",
        e,
        &[
            (0, "child"),
            (1, "place_of_birth"),
            (2, "mother"),
            (3, "father"),
            (4, "informant"),
            (5, "caregivers"),
            (6, "consent"),
            (7, "notes"),
            (8, "custom"),
        ],
    );
    pinned(
        "Child",
        &e.child,
        &[
            (0, "given_names"),
            (1, "family_name"),
            (2, "sex"),
            (3, "date_of_birth"),
            (4, "date_of_birth_precision"),
            (5, "time_of_birth"),
            (6, "plurality"),
            (7, "birth_order"),
        ],
    );
    pinned(
        "PlaceOfBirth",
        &e.place_of_birth,
        &[
            (0, "kind"),
            (1, "admin_area"),
            (2, "locality"),
            (3, "facility"),
            (4, "latitude"),
            (5, "longitude"),
        ],
    );
    let mut mother = e.mother.clone();
    mother.date_of_birth = Some("1998-07-02".into());
    pinned(
        "Parent",
        &mother,
        &[
            (0, "given_names"),
            (1, "family_name"),
            (2, "date_of_birth"),
            (3, "national_id"),
            (4, "nationality"),
        ],
    );
    let person = [
        (0, "given_names"),
        (1, "family_name"),
        (2, "relationship"),
        (3, "phone"),
    ];
    pinned("Informant", &e.informant, &person);
    pinned("Caregiver", &e.caregivers[0], &person);
    pinned(
        "Consent",
        &e.consent,
        &[(0, "given"), (1, "by_relationship")],
    );
}

/// The packed encoding of a unit variant, as its number.
fn number<T: Serialize>(variant: T) -> u8 {
    let bytes = codec::to_vec(&variant).unwrap();
    assert!(
        bytes.len() == 1 && bytes[0] < 24,
        "a small unsigned integer"
    );
    bytes[0]
}

#[test]
fn enumerations_are_pinned() {
    assert_eq!(
        [Sex::Female, Sex::Male, Sex::Unknown].map(number),
        [0, 1, 2]
    );
    assert_eq!(
        [
            DatePrecision::Day,
            DatePrecision::Month,
            DatePrecision::Year
        ]
        .map(number),
        [0, 1, 2]
    );
    assert_eq!(
        [PlaceKind::HealthFacility, PlaceKind::Home, PlaceKind::Other].map(number),
        [0, 1, 2]
    );
    assert_eq!(
        [Outcome::Accepted, Outcome::Duplicate, Outcome::Rejected].map(number),
        [0, 1, 2]
    );
}

fn bytes(n: usize) -> ByteBuf {
    ByteBuf::from(vec![0; n])
}

#[test]
fn message_keys_are_pinned() {
    pinned(
        "Batch",
        &Batch {
            version: 1,
            batch_id: Uuid::from_u128(1),
            device_kid: bytes(8),
            certificate: Some(bytes(1)),
            known_tree_size: 0,
            records: vec![],
        },
        &[
            (0, "version"),
            (1, "batch_id"),
            (2, "device_kid"),
            (3, "certificate"),
            (4, "known_tree_size"),
            (5, "records"),
        ],
    );
    pinned(
        "SealedBatch",
        &SealedBatch {
            version: 1,
            batch_id: Uuid::from_u128(1),
            recipient_kid: bytes(8),
            enc: bytes(32),
            ciphertext: bytes(1),
            compressed: false,
        },
        &[
            (0, "version"),
            (1, "batch_id"),
            (2, "recipient_kid"),
            (3, "enc"),
            (4, "ciphertext"),
            (5, "compressed"),
        ],
    );
    let leaf = LeafReceipt {
        index: 0,
        salt: bytes(32),
        sequenced_at: 0,
        inclusion_proof: vec![],
    };
    pinned(
        "LeafReceipt",
        &leaf,
        &[
            (0, "index"),
            (1, "salt"),
            (2, "sequenced_at"),
            (3, "inclusion_proof"),
        ],
    );
    let rejection = Rejection {
        code: "c".into(),
        message: "m".into(),
    };
    pinned("Rejection", &rejection, &[(0, "code"), (1, "message")]);
    let result = RecordResult {
        record_id: Uuid::from_u128(1),
        outcome: Outcome::Accepted,
        leaf: Some(leaf),
        rejection: Some(rejection),
        credential: Some(bytes(1)),
        held: None,
    };
    let candidate = birthright_core::wire::HeldCandidate {
        level: "likely".into(),
        score: 1,
        child_name: String::new(),
        date_of_birth: String::new(),
        captured_at: 0,
        reasons: vec![],
    };
    pinned(
        "HeldCandidate",
        &candidate,
        &[
            (0, "level"),
            (1, "score"),
            (2, "child_name"),
            (3, "date_of_birth"),
            (4, "captured_at"),
            (5, "reasons"),
        ],
    );
    let held = birthright_core::wire::Held {
        candidates: vec![candidate],
    };
    pinned("Held", &held, &[(0, "candidates")]);
    pinned(
        "RecordResult",
        &RecordResult {
            held: Some(held),
            ..result.clone()
        },
        &[
            (0, "record_id"),
            (1, "outcome"),
            (2, "leaf"),
            (3, "rejection"),
            (4, "credential"),
            (5, "held"),
        ],
    );
    pinned(
        "BatchResponse",
        &BatchResponse {
            version: 1,
            batch_id: Uuid::from_u128(1),
            checkpoint: String::new(),
            known_tree_size: 0,
            consistency_proof: vec![],
            results: vec![result],
        },
        &[
            (0, "version"),
            (1, "batch_id"),
            (2, "checkpoint"),
            (3, "known_tree_size"),
            (4, "consistency_proof"),
            (5, "results"),
        ],
    );
    pinned(
        "Receipt",
        &Receipt {
            leaf_index: 0,
            salt: bytes(32),
            sequenced_at: 0,
            checkpoint: String::new(),
            inclusion_proof: vec![],
        },
        &[
            (0, "leaf_index"),
            (1, "salt"),
            (2, "sequenced_at"),
            (3, "checkpoint"),
            (4, "inclusion_proof"),
        ],
    );
    pinned(
        "EnrolRequest",
        &EnrolRequest {
            version: 1,
            token_id: bytes(32),
            device_public_key: bytes(32),
            binding: bytes(32),
            proof: bytes(64),
        },
        &[
            (0, "version"),
            (1, "token_id"),
            (2, "device_public_key"),
            (3, "binding"),
            (4, "proof"),
        ],
    );
    pinned(
        "EnrolResponse",
        &EnrolResponse {
            certificate: bytes(1),
            trust_bundle: String::new(),
        },
        &[(0, "certificate"), (1, "trust_bundle")],
    );
    pinned(
        "DeviceCertificate",
        &DeviceCertificate {
            version: 1,
            origin: String::new(),
            device_public_key: bytes(32),
            worker_id: String::new(),
            region: String::new(),
            not_before: 0,
            not_after: 0,
        },
        &[
            (0, "version"),
            (1, "origin"),
            (2, "device_public_key"),
            (3, "worker_id"),
            (4, "region"),
            (5, "not_before"),
            (6, "not_after"),
        ],
    );
}
