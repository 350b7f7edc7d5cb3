//! Known-answer vectors for every wire format (docs/vectors/formats.json).
//!
//! Every vector is rebuilt here from fixed keys, ids and times and compared byte for byte with
//! the committed file, so a change to any format fails this test and names the vectors that
//! moved. To change a format deliberately, regenerate the file and review its diff:
//!
//! ```text
//! BIRTHRIGHT_UPDATE_VECTORS=1 cargo test -p birthright-core --test golden
//! ```
//!
//! Ed25519 (RFC 8032) is deterministic, so signed objects have fixed bytes. HPKE sealing draws a
//! fresh ephemeral key, so a batch is vectored as the plaintext that is sealed (with its AAD and
//! the envelope's layout separately); the response seal is vectored with a fixed nonce.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::{
    codec,
    credential::{self, Credential},
    fixtures::reference_input,
    keys::{Ed25519Key, KeyId},
    ledger::{
        checkpoint::{Checkpoint, sign_checkpoint},
        merkle,
        note::NoteSigner,
    },
    record::{Caregiver, Parent, Record, RegistrationForm},
    signed::SignedRecord,
    store::RecordDecision,
    sync::Receipt,
    trust::{DeviceCertificate, HPKE_SUITE, TRUST_BUNDLE_FORMAT, TrustBundle},
    wire::{
        self, Batch, BatchResponse, DecidedBy, DecisionKind, DecisionLeaf, DecisionReason,
        EnrolRequest, EnrolResponse, Held, HeldCandidate, LeafReceipt, LedgerLeaf, Notice,
        NoticesRequest, NoticesResponse, Outcome, RecordResult, Rejection, SealedBatch,
        WIRE_VERSION,
    },
};
use serde_bytes::ByteBuf;
use serde_json::{Value as Json, json};
use uuid::Uuid;

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/formats.json");

/// The fixed inputs every vector is built from.
struct Inputs {
    registry: Ed25519Key,
    device: Ed25519Key,
    hpke_public: [u8; 32],
    origin: &'static str,
    record: Record,
    correction: Record,
    bundle: TrustBundle,
    certificate: DeviceCertificate,
}

const REGISTRY_SEED: [u8; 32] = [0x2a; 32];
const DEVICE_SEED: [u8; 32] = [0x01; 32];
const HPKE_PUBLIC: [u8; 32] = [0x07; 32];
const ORIGIN: &str = "registry.test/births";
const RECORD_ID: u128 = 0x019c_ea6e_0a00_7abc_8def_0123_4567_89ab;
const CORRECTION_ID: u128 = 0x019c_ea6e_0a01_7abc_8def_0123_4567_89ac;
const BATCH_ID: u128 = 0x019c_ea70_0000_7000_8000_0000_0000_0001;
const NOTICES_ID: u128 = 0x019c_ea70_0000_7000_8000_0000_0000_0002;
const DECIDED_AT: i64 = SEQUENCED_AT + 86_400;
const CAPTURED_AT: i64 = 1_773_462_900; // 2026-03-14T04:35:00Z
const CORRECTED_AT: i64 = 1_773_466_500;
const SEQUENCED_AT: i64 = 1_773_500_000;
const NOT_BEFORE: i64 = 1_772_323_200; // 2026-03-01T00:00:00Z
const NOT_AFTER: i64 = 1_803_859_200; // 2027-03-01T00:00:00Z
const TOKEN: &str = "00112233445566778899aabbccddeeff";
const SALT: [u8; 32] = [0x11; 32];
const LEAF_INDEX: u64 = 1234;

fn inputs() -> Inputs {
    let registry = Ed25519Key::from_secret(&REGISTRY_SEED);
    let device = Ed25519Key::from_secret(&DEVICE_SEED);
    let record = Record {
        schema_version: 1,
        id: Uuid::from_u128(RECORD_ID),
        captured_at: CAPTURED_AT,
        worker_id: "w-0042".into(),
        device_kid: device.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    // A correction exercising what the reference record leaves out: supersedes, notes,
    // custom fields, a facility, a national id, a caregiver's phone; and the other way round,
    // no father, no time of birth, no coordinates.
    let mut enrolment: RegistrationForm = reference_input();
    enrolment.child.time_of_birth = None;
    enrolment.place_of_birth.kind = Some(birthright_core::record::PlaceKind::HealthFacility);
    enrolment.place_of_birth.facility = Some("Пустомитівська лікарня".into());
    enrolment.place_of_birth.latitude = None;
    enrolment.place_of_birth.longitude = None;
    enrolment.mother = Parent {
        national_id: Some("AA123456".into()),
        ..enrolment.mother
    };
    enrolment.father = None;
    enrolment.caregivers = vec![Caregiver {
        phone: Some("+380501234567".into()),
        ..enrolment.caregivers[0].clone()
    }];
    enrolment.notes = Some("Виправлено місце народження".into());
    enrolment.custom = BTreeMap::from([
        ("village_code".to_string(), "ZV-12".to_string()),
        ("camp".to_string(), "B".to_string()),
    ]);
    let correction = Record {
        schema_version: 1,
        id: Uuid::from_u128(CORRECTION_ID),
        captured_at: CORRECTED_AT,
        worker_id: "w-0042".into(),
        device_kid: device.key_id().0.to_vec(),
        supersedes: Some(Uuid::from_u128(RECORD_ID)),
        enrolment,
    };
    let bundle = TrustBundle {
        format: TRUST_BUNDLE_FORMAT.into(),
        origin: ORIGIN.into(),
        checkpoint_vkey: NoteSigner::new(ORIGIN, registry.signing_key().clone())
            .expect("valid origin")
            .verifier_key(),
        registry_public_key: B64.encode(registry.public_bytes()),
        registry_key_id: registry.key_id().to_hex(),
        hpke_public_key: B64.encode(HPKE_PUBLIC),
        hpke_key_id: KeyId::of(&HPKE_PUBLIC).to_hex(),
        hpke_suite: HPKE_SUITE.into(),
        witnesses: Vec::new(),
        witness_quorum: 0,
    };
    let certificate = DeviceCertificate {
        version: 1,
        origin: ORIGIN.into(),
        device_public_key: ByteBuf::from(device.public_bytes().to_vec()),
        worker_id: "w-0042".into(),
        region: "UA-46".into(),
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
    };
    Inputs {
        registry,
        device,
        hpke_public: HPKE_PUBLIC,
        origin: ORIGIN,
        record,
        correction,
        bundle,
        certificate,
    }
}

const RESPONSE_SECRET: [u8; 32] = [0x33; 32];
const RESPONSE_ENC: [u8; 32] = [0x55; 32];
const RESPONSE_NONCE: [u8; 32] = [0x44; 32];

fn response_key() -> wire::ResponseKey {
    wire::ResponseKey {
        secret: zeroize::Zeroizing::new(RESPONSE_SECRET),
        enc: RESPONSE_ENC,
    }
}

/// §9's key schedule, written out from the text so the vector shows its intermediate values
/// (the test of the vector checks them against the product's seal).
fn response_aead(key: &wire::ResponseKey, nonce: &[u8]) -> ([u8; 32], [u8; 12]) {
    let salt = [&key.enc[..], nonce].concat();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), key.secret.as_ref());
    let mut aead_key = [0u8; 32];
    let mut aead_nonce = [0u8; 12];
    hk.expand(b"key", &mut aead_key).expect("32 bytes");
    hk.expand(b"nonce", &mut aead_nonce).expect("12 bytes");
    (aead_key, aead_nonce)
}

/// One vector: a name, the PROTOCOL.md section, what it is built from, and its bytes.
struct Vector {
    name: &'static str,
    section: &'static str,
    inputs: Json,
    hex: Vec<u8>,
    text: Option<String>,
}

fn vector(name: &'static str, section: &'static str, inputs: Json, bytes: &[u8]) -> Vector {
    Vector {
        name,
        section,
        inputs,
        hex: bytes.to_vec(),
        text: None,
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    codec::to_vec(value).expect("encodes")
}

/// Builds every vector from [`inputs`].
fn vectors() -> Vec<Vector> {
    let i = inputs();
    let mut out = Vec::new();
    let device_kid = i.device.key_id();
    let registry_kid = i.registry.key_id();

    out.push(vector(
        "key_id",
        "§3",
        json!({ "public_key": hex::encode(i.device.public_bytes()),
                "note": "Ed25519 public key of the device seed 01 x 32" }),
        &device_kid.0,
    ));

    out.push(vector(
        "record",
        "§1",
        json!({ "record": "the reference registration (docs/PROTOCOL.md §1 JSON, two caregivers)",
                "id": Uuid::from_u128(RECORD_ID).to_string(), "captured_at": CAPTURED_AT,
                "worker_id": "w-0042", "device_kid": device_kid.to_hex(), "json": &i.record.enrolment }),
        &cbor(&i.record),
    ));
    out.push(vector(
        "record_correction",
        "§1",
        json!({ "note": "a correction of `record`: supersedes, notes, custom fields, facility and national id present; father, time of birth and coordinates absent",
                "id": Uuid::from_u128(CORRECTION_ID).to_string(), "captured_at": CORRECTED_AT,
                "supersedes": Uuid::from_u128(RECORD_ID).to_string(),
                "worker_id": "w-0042", "device_kid": device_kid.to_hex(), "json": &i.correction.enrolment }),
        &cbor(&i.correction),
    ));

    let signed = SignedRecord::sign(&i.record, &i.device).expect("signs");
    out.push(vector(
        "signed_record",
        "§2",
        json!({ "payload": "vector `record`", "device_seed": hex::encode(DEVICE_SEED) }),
        &signed.bytes,
    ));
    let signed_correction = SignedRecord::sign(&i.correction, &i.device).expect("signs");
    out.push(vector(
        "signed_record_correction",
        "§2",
        json!({ "payload": "vector `record_correction`", "device_seed": hex::encode(DEVICE_SEED) }),
        &signed_correction.bytes,
    ));

    out.push(Vector {
        text: Some(i.bundle.fingerprint().expect("valid bundle")),
        ..vector(
            "trust_bundle",
            "§5",
            json!({ "origin": ORIGIN, "registry_seed": hex::encode(REGISTRY_SEED),
                    "hpke_public_key": hex::encode(i.hpke_public),
                    "note": "hex: the bundle's JSON as `registry init` writes it (UTF-8); text: its fingerprint" }),
            i.bundle.to_json().as_bytes(),
        )
    });

    out.push(vector(
        "device_certificate_payload",
        "§6",
        json!({ "version": 1, "origin": ORIGIN,
                "device_public_key": hex::encode(i.device.public_bytes()),
                "worker_id": "w-0042", "region": "UA-46",
                "not_before": NOT_BEFORE, "not_after": NOT_AFTER }),
        &cbor(&i.certificate),
    ));
    let certificate = i.certificate.sign(&i.registry).expect("signs");
    out.push(vector(
        "device_certificate",
        "§6",
        json!({ "payload": "vector `device_certificate_payload`", "content_type": 65000,
                "registry_seed": hex::encode(REGISTRY_SEED) }),
        &certificate,
    ));

    let token_id = wire::enrol_token_id(TOKEN);
    let token_key = wire::enrol_token_key(TOKEN);
    let binding = wire::enrol_binding(&token_key, ORIGIN, &i.device.public_bytes());
    let proof = i.device.sign(&wire::enrol_proof_message(
        &token_id,
        &i.device.public_bytes(),
    ));
    out.push(vector(
        "enrol_token_key",
        "§7",
        json!({ "token": TOKEN, "note": "token_key (never sent); token_id is field 1 of `enrol_request`" }),
        token_key.as_ref(),
    ));
    let request = EnrolRequest {
        version: WIRE_VERSION,
        token_id: ByteBuf::from(token_id.to_vec()),
        device_public_key: ByteBuf::from(i.device.public_bytes().to_vec()),
        binding: ByteBuf::from(binding.to_vec()),
        proof: ByteBuf::from(proof.to_vec()),
    };
    out.push(vector(
        "enrol_request",
        "§7",
        json!({ "token": TOKEN, "origin": ORIGIN, "device_seed": hex::encode(DEVICE_SEED) }),
        &cbor(&request),
    ));
    let response = EnrolResponse {
        certificate: ByteBuf::from(certificate.clone()),
        trust_bundle: i.bundle.to_json(),
    };
    out.push(vector(
        "enrol_response",
        "§7",
        json!({ "certificate": "vector `device_certificate`", "trust_bundle": "vector `trust_bundle` (its JSON text)" }),
        &cbor(&response),
    ));

    let batch = Batch {
        version: WIRE_VERSION,
        batch_id: Uuid::from_u128(BATCH_ID),
        device_kid: ByteBuf::from(device_kid.0.to_vec()),
        certificate: Some(ByteBuf::from(certificate.clone())),
        known_tree_size: 0,
        records: vec![
            ByteBuf::from(signed.bytes.clone()),
            ByteBuf::from(signed_correction.bytes.clone()),
        ],
    };
    out.push(vector(
        "batch",
        "§8",
        json!({ "batch_id": Uuid::from_u128(BATCH_ID).to_string(), "device_kid": device_kid.to_hex(),
                "certificate": "vector `device_certificate`", "known_tree_size": 0,
                "records": ["vector `signed_record`", "vector `signed_record_correction`"],
                "note": "the plaintext before sealing (sealing is randomised: HPKE ephemeral key); sealed with the `compressed` flag when zlib of it is shorter" }),
        &cbor(&batch),
    ));
    let mut aad = wire::HPKE_INFO.to_vec();
    aad.extend_from_slice(Uuid::from_u128(BATCH_ID).as_bytes());
    aad.extend_from_slice(&KeyId::of(&i.hpke_public).0);
    aad.push(0);
    out.push(vector(
        "batch_aad",
        "§8",
        json!({ "batch_id": Uuid::from_u128(BATCH_ID).to_string(),
                "recipient_kid": KeyId::of(&i.hpke_public).to_hex(), "compressed": false }),
        &aad,
    ));
    let envelope = SealedBatch {
        version: WIRE_VERSION,
        batch_id: Uuid::from_u128(BATCH_ID),
        recipient_kid: ByteBuf::from(KeyId::of(&i.hpke_public).0.to_vec()),
        enc: ByteBuf::from(vec![0x55; 32]),
        ciphertext: ByteBuf::from(b"ciphertext and tag".to_vec()),
        compressed: false,
    };
    out.push(vector(
        "sealed_batch_envelope",
        "§8",
        json!({ "batch_id": Uuid::from_u128(BATCH_ID).to_string(),
                "recipient_kid": KeyId::of(&i.hpke_public).to_hex(),
                "enc": hex::encode([0x55; 32]), "ciphertext": hex::encode(b"ciphertext and tag"),
                "compressed": false, "note": "the envelope's layout only: enc and ciphertext are placeholders" }),
        &cbor(&envelope),
    ));

    // The ledger: the two records at leaves 1234 and 1235 of a tree of 1236 leaves whose other
    // leaves hash to SHA-256(0x00 || u64be(index)).
    let leaf = |signed: &[u8]| LedgerLeaf {
        commitment: wire::record_commitment(&SALT, signed),
        device_kid,
        sequenced_at: SEQUENCED_AT,
    };
    let leaf_bytes = leaf(&signed.bytes).to_bytes();
    out.push(vector(
        "ledger_leaf",
        "§10",
        json!({ "salt": hex::encode(SALT), "signed_record": "vector `signed_record`",
                "device_kid": device_kid.to_hex(), "sequenced_at": SEQUENCED_AT }),
        &leaf_bytes,
    ));
    let decision = DecisionLeaf {
        record_index: LEAF_INDEX,
        commitment: wire::record_commitment(&SALT, &signed.bytes),
        decision: DecisionKind::Rejected,
        reason: DecisionReason::MissingInformation,
        decided_by: DecidedBy::Registrar,
        decided_at: SEQUENCED_AT + 86_400,
    };
    out.push(vector(
        "decision_leaf",
        "§10.1",
        json!({ "record_index": LEAF_INDEX, "commitment": "the commitment of vector `ledger_leaf`",
                "decision": "rejected (2)", "reason": "missing_information (4)",
                "decided_by": "registrar (1)", "decided_at": SEQUENCED_AT + 86_400 }),
        &decision.to_bytes(),
    ));
    let size = LEAF_INDEX + 2;
    let leaf_hashes: Vec<[u8; 32]> = (0..size)
        .map(|n| match n {
            LEAF_INDEX => merkle::leaf_hash(&leaf_bytes),
            n if n == LEAF_INDEX + 1 => {
                merkle::leaf_hash(&leaf(&signed_correction.bytes).to_bytes())
            }
            n => merkle::leaf_hash(&n.to_be_bytes()),
        })
        .collect();
    let root = merkle::root_from_leaf_hashes(&leaf_hashes);
    let signer = NoteSigner::new(ORIGIN, i.registry.signing_key().clone()).expect("valid origin");
    let note = sign_checkpoint(
        &signer,
        &Checkpoint {
            origin: ORIGIN.into(),
            size,
            root_hash: root,
            extensions: vec![],
        },
    )
    .expect("signs");
    out.push(Vector {
        text: Some(note.clone()),
        ..vector(
            "checkpoint",
            "§10",
            json!({ "origin": ORIGIN, "size": size, "root_hash": hex::encode(root),
                    "registry_seed": hex::encode(REGISTRY_SEED),
                    "leaves": "leaf 1234 = vector `ledger_leaf`, 1235 the same for `signed_record_correction`, every other leaf n is u64be(n)",
                    "note": "hex: the UTF-8 of the signed note (text)" }),
            note.as_bytes(),
        )
    });

    let inclusion = |index: u64| -> Vec<ByteBuf> {
        let mut tree = birthright_core::ledger::tree::MemoryTree::new();
        for h in &leaf_hashes {
            tree.push(*h);
        }
        let proof =
            birthright_core::ledger::tree::inclusion_proof(&tree, index, size).expect("proof");
        wire::hash_bufs(&proof)
    };
    let registered = credential::issue_registered(&i.registry, &i.record, LEAF_INDEX, SEQUENCED_AT)
        .expect("issues");
    let receipt = LeafReceipt {
        index: LEAF_INDEX,
        salt: ByteBuf::from(SALT.to_vec()),
        sequenced_at: SEQUENCED_AT,
        inclusion_proof: inclusion(LEAF_INDEX),
    };
    let answer = BatchResponse {
        version: WIRE_VERSION,
        batch_id: Uuid::from_u128(BATCH_ID),
        checkpoint: note.clone(),
        known_tree_size: 0,
        consistency_proof: vec![],
        results: vec![
            RecordResult {
                record_id: i.record.id,
                outcome: Outcome::Accepted,
                leaf: Some(receipt.clone()),
                rejection: None,
                credential: Some(ByteBuf::from(registered.bytes.clone())),
                held: None,
            },
            RecordResult {
                record_id: i.correction.id,
                outcome: Outcome::Rejected,
                leaf: None,
                rejection: Some(Rejection {
                    code: "invalid_record".into(),
                    message: "place_of_birth.facility: unknown facility".into(),
                }),
                credential: None,
                held: None,
            },
        ],
    };
    out.push(vector(
        "batch_response",
        "§9",
        json!({ "batch_id": Uuid::from_u128(BATCH_ID).to_string(), "checkpoint": "vector `checkpoint`",
                "known_tree_size": 0,
                "results": ["record: accepted at leaf 1234, salt 11 x 32, inclusion proof in the checkpoint's tree, credential = vector `credential_registered`",
                            "record_correction: rejected, invalid_record"],
                "note": "the plaintext before sealing (the response nonce is random)" }),
        &cbor(&answer),
    ));
    let response_key = response_key();
    let sealed_answer =
        wire::seal_response_with_nonce(&cbor(&answer), &response_key, &RESPONSE_NONCE)
            .expect("seals");
    let (aead_key, aead_nonce) = response_aead(&response_key, &RESPONSE_NONCE);
    out.push(vector(
        "sealed_batch_response",
        "§9",
        json!({ "plaintext": "vector `batch_response`",
                "secret": hex::encode(RESPONSE_SECRET), "enc": hex::encode(RESPONSE_ENC),
                "response_nonce": hex::encode(RESPONSE_NONCE),
                "aead_key": hex::encode(aead_key), "aead_nonce": hex::encode(aead_nonce),
                "note": "secret and enc stand for the HPKE export and encapsulated key of a batch (fixed here); aead_key and aead_nonce are the intermediate values of §9" }),
        &sealed_answer,
    ));
    let duplicate = RecordResult {
        record_id: i.record.id,
        outcome: Outcome::Duplicate,
        leaf: Some(receipt.clone()),
        rejection: None,
        credential: None,
        held: None,
    };
    out.push(vector(
        "record_result_duplicate",
        "§9",
        json!({ "record_id": i.record.id.to_string(), "outcome": "Duplicate", "leaf": "as in `batch_response`" }),
        &cbor(&duplicate),
    ));
    let held = RecordResult {
        record_id: i.correction.id,
        outcome: Outcome::Accepted,
        leaf: Some(receipt.clone()),
        rejection: None,
        credential: None,
        held: Some(Held {
            candidates: vec![HeldCandidate {
                level: "likely".into(),
                score: 107,
                child_name: "Олена Коваленко".into(),
                date_of_birth: "2026-03-14".into(),
                captured_at: SEQUENCED_AT - 86_400,
                reasons: vec![
                    "same mother and date of birth".into(),
                    "child's name Olena Kovalenko/Олена Коваленко".into(),
                ],
            }],
        }),
    };
    out.push(vector(
        "record_result_held",
        "§9",
        json!({ "record_id": i.correction.id.to_string(), "outcome": "Accepted", "leaf": "as in `batch_response`",
                "credential": null,
                "held": { "candidates": [{ "level": "likely", "score": 107, "child_name": "Олена Коваленко",
                          "date_of_birth": "2026-03-14", "captured_at": SEQUENCED_AT - 86_400,
                          "reasons": ["same mother and date of birth", "child's name Olena Kovalenko/Олена Коваленко"] }] },
                "note": "a record on the ledger held for a registrar's review (docs/MATCHING.md §7): no credential; field 5 names the candidates" }),
        &cbor(&held),
    ));

    let mut notices_request = NoticesRequest {
        version: WIRE_VERSION,
        request_id: Uuid::from_u128(NOTICES_ID),
        device_kid: ByteBuf::from(i.device.key_id().0.to_vec()),
        known_tree_size: size,
        from_index: LEAF_INDEX,
        signature: ByteBuf::new(),
        records: vec![i.record.id],
    };
    let signed_message = notices_request.signed_message();
    notices_request.signature = ByteBuf::from(i.device.sign(&signed_message).to_vec());
    out.push(vector(
        "notices_request",
        "§9.1",
        json!({ "request_id": Uuid::from_u128(NOTICES_ID).to_string(),
                "device_kid": i.device.key_id().to_hex(), "known_tree_size": size,
                "from_index": LEAF_INDEX, "records": [i.record.id.to_string()],
                "signed_message": hex::encode(&signed_message),
                "device_seed": hex::encode(DEVICE_SEED),
                "note": "the plaintext before sealing (HPKE info birthright/notices/v1); the signature is Ed25519 over signed_message" }),
        &cbor(&notices_request),
    ));
    let notices = NoticesResponse {
        version: WIRE_VERSION,
        request_id: Uuid::from_u128(NOTICES_ID),
        checkpoint: note.clone(),
        known_tree_size: size,
        consistency_proof: vec![],
        notices: vec![Notice {
            record_id: i.record.id,
            decision: DecisionKind::Registered,
            reason: DecisionReason::Reviewed,
            decided_by: DecidedBy::Registrar,
            decided_at: DECIDED_AT,
            leaf_index: LEAF_INDEX + 1,
            inclusion_proof: inclusion(LEAF_INDEX + 1),
            credential: Some(ByteBuf::from(registered.bytes.clone())),
        }],
    };
    out.push(vector(
        "notices_response",
        "§9.1",
        json!({ "request_id": Uuid::from_u128(NOTICES_ID).to_string(), "checkpoint": "vector `checkpoint`",
                "known_tree_size": size,
                "notices": ["record: registered, reviewed, by a registrar, at decided_at, decision leaf 1235 with its inclusion proof in the checkpoint's tree, credential = vector `credential_registered`"],
                "decided_at": DECIDED_AT,
                "note": "the plaintext before sealing (sealed as §9). An encoding vector: leaf 1235 of the vectors' tree is `signed_record_correction`'s record leaf, not this decision leaf, so a device would refuse the notice's proof" }),
        &cbor(&notices),
    ));
    out.push(vector(
        "record_decision",
        "§4",
        json!({ "decision": "registered", "reason": "reviewed", "decided_by": "registrar",
                "decided_at": DECIDED_AT, "leaf_index": LEAF_INDEX + 1,
                "note": "records.decision in the device store: the registry's decision as the device verified it" }),
        &cbor(&RecordDecision {
            decision: DecisionKind::Registered,
            reason: DecisionReason::Reviewed,
            decided_by: DecidedBy::Registrar,
            decided_at: DECIDED_AT,
            leaf_index: LEAF_INDEX + 1,
        }),
    ));

    let stored = Receipt {
        leaf_index: LEAF_INDEX,
        salt: ByteBuf::from(SALT.to_vec()),
        sequenced_at: SEQUENCED_AT,
        checkpoint: note.clone(),
        inclusion_proof: inclusion(LEAF_INDEX),
    };
    out.push(vector(
        "receipt",
        "§11",
        json!({ "leaf_index": LEAF_INDEX, "salt": hex::encode(SALT), "sequenced_at": SEQUENCED_AT,
                "checkpoint": "vector `checkpoint`", "inclusion_proof": "of leaf 1234 in the checkpoint's tree" }),
        &cbor(&stored),
    ));

    out.push(Vector {
        text: Some(registered.text.clone()),
        ..vector(
            "credential_registered",
            "§14",
            json!({ "record": "vector `record`", "leaf_index": LEAF_INDEX, "issued_at": SEQUENCED_AT,
                    "registry_seed": hex::encode(REGISTRY_SEED) }),
            &registered.bytes,
        )
    });
    let provisional: Credential =
        credential::issue_provisional(&i.device, &certificate, &i.record, CAPTURED_AT)
            .expect("issues");
    out.push(Vector {
        text: Some(provisional.text.clone()),
        ..vector(
            "credential_provisional",
            "§14",
            json!({ "record": "vector `record`", "certificate": "vector `device_certificate`",
                    "issued_at": CAPTURED_AT, "device_seed": hex::encode(DEVICE_SEED) }),
            &provisional.bytes,
        )
    });

    out.push(vector(
        "registry_key_id",
        "§3",
        json!({ "public_key": hex::encode(i.registry.public_bytes()),
                "note": "Ed25519 public key of the registry seed 2a x 32" }),
        &registry_kid.0,
    ));
    out
}

fn document(vectors: &[Vector]) -> String {
    let list: Vec<Json> = vectors
        .iter()
        .map(|v| {
            let mut entry = json!({
                "name": v.name,
                "section": v.section,
                "inputs": v.inputs,
                "hex": hex::encode(&v.hex),
            });
            if let Some(text) = &v.text {
                entry["text"] = json!(text);
            }
            entry
        })
        .collect();
    let doc = json!({
        "about": "Known-answer vectors for every Birthright wire format (docs/PROTOCOL.md). Each entry is built from the fixed inputs below; `hex` is the exact bytes, `text` a text form where the format has one. Rebuilt and compared byte for byte by core/tests/golden.rs. To change a format deliberately: BIRTHRIGHT_UPDATE_VECTORS=1 cargo test -p birthright-core --test golden, then review the diff. Not covered here: the revocation list and the status list (being changed), sealed batches (randomised by the HPKE ephemeral key; the plaintext, AAD and envelope layout are).",
        "fixed_inputs": {
            "registry_ed25519_seed": hex::encode(REGISTRY_SEED),
            "registry_public_key": hex::encode(Ed25519Key::from_secret(&REGISTRY_SEED).public_bytes()),
            "device_ed25519_seed": hex::encode(DEVICE_SEED),
            "device_public_key": hex::encode(Ed25519Key::from_secret(&DEVICE_SEED).public_bytes()),
            "hpke_public_key": hex::encode(HPKE_PUBLIC),
            "origin": ORIGIN,
            "enrolment_token": TOKEN,
        },
        "vectors": list,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON");
    text.push('\n');
    text
}

#[test]
fn golden_vectors_match_the_committed_file() {
    let vectors = vectors();
    let built = document(&vectors);
    if std::env::var_os("BIRTHRIGHT_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(VECTORS_PATH).parent().unwrap()).unwrap();
        std::fs::write(VECTORS_PATH, &built).unwrap();
        eprintln!("wrote {VECTORS_PATH}");
        return;
    }
    let committed = std::fs::read_to_string(VECTORS_PATH).unwrap_or_else(|e| {
        panic!("{VECTORS_PATH}: {e}; create it with BIRTHRIGHT_UPDATE_VECTORS=1")
    });
    if committed == built {
        return;
    }
    // Name every vector that moved, with the first differing byte.
    let file: Json = serde_json::from_str(&committed).expect("the vectors file is JSON");
    let mut report = String::new();
    let empty = vec![];
    let listed = file["vectors"].as_array().unwrap_or(&empty);
    for v in &vectors {
        let now = hex::encode(&v.hex);
        let entry = listed.iter().find(|e| e["name"] == v.name);
        let was = entry.and_then(|e| e["hex"].as_str()).unwrap_or("");
        if was != now {
            let at = was
                .bytes()
                .zip(now.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(was.len().min(now.len()))
                / 2;
            report.push_str(&format!(
                "\n{} ({}): differs from byte {at}\n  file:  {was}\n  built: {now}\n",
                v.name, v.section
            ));
        } else if entry.map(|e| &e["text"])
            != Some(&v.text.as_deref().map_or(Json::Null, |t| json!(t)))
        {
            report.push_str(&format!("\n{} ({}): text differs\n", v.name, v.section));
        }
    }
    for e in listed {
        if !vectors.iter().any(|v| e["name"] == v.name) {
            report.push_str(&format!("\n{}: in the file, no longer built\n", e["name"]));
        }
    }
    if report.is_empty() {
        report = "\nthe inputs or the layout of the file changed (no vector's bytes did)".into();
    }
    panic!(
        "a wire format changed (docs/vectors/formats.json):{report}\nIf intended, regenerate: \
         BIRTHRIGHT_UPDATE_VECTORS=1 cargo test -p birthright-core --test golden"
    );
}

/// Every vector decodes, under the strict decoder, to what it was built from, and verifies.
#[test]
fn golden_vectors_decode_and_verify() {
    let i = inputs();
    let v = vectors();
    let bytes = |name: &str| {
        v.iter()
            .find(|x| x.name == name)
            .map(|x| x.hex.clone())
            .unwrap_or_else(|| panic!("no vector {name}"))
    };
    let record: Record = codec::from_slice(&bytes("record"), codec::MAX_RECORD_BYTES).unwrap();
    assert_eq!(record, i.record);
    let correction: Record =
        codec::from_slice(&bytes("record_correction"), codec::MAX_RECORD_BYTES).unwrap();
    assert_eq!(correction, i.correction);
    for name in ["signed_record", "signed_record_correction"] {
        let signed = SignedRecord::decode(&bytes(name)).unwrap();
        signed.verify(&i.device.verifying_key()).unwrap();
    }
    let bundle = TrustBundle::from_json(&bytes("trust_bundle")).unwrap();
    assert_eq!(bundle, i.bundle);
    let certificate = DeviceCertificate::verify(&bytes("device_certificate"), &i.bundle).unwrap();
    assert_eq!(certificate, i.certificate);
    let request: EnrolRequest = codec::from_slice(&bytes("enrol_request"), 16 * 1024).unwrap();
    assert!(wire::verify_enrol_binding(
        &wire::enrol_token_key(TOKEN),
        ORIGIN,
        &request.device_public_key,
        &request.binding
    ));
    let response: EnrolResponse = codec::from_slice(&bytes("enrol_response"), 1 << 20).unwrap();
    assert_eq!(
        response.certificate.as_slice(),
        &bytes("device_certificate")[..]
    );
    let batch: Batch = codec::from_slice(&bytes("batch"), 1 << 20).unwrap();
    assert_eq!(batch.records.len(), 2);
    let decision = DecisionLeaf::parse(&bytes("decision_leaf")).unwrap();
    assert_eq!(
        (decision.record_index, decision.decision, decision.reason),
        (
            LEAF_INDEX,
            DecisionKind::Rejected,
            DecisionReason::MissingInformation
        )
    );
    assert_eq!(
        decision.commitment,
        LedgerLeaf::parse(&bytes("ledger_leaf")).unwrap().commitment
    );
    let _: SealedBatch = codec::from_slice(&bytes("sealed_batch_envelope"), 1 << 20).unwrap();
    let request: NoticesRequest = codec::from_slice(&bytes("notices_request"), 4096).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&request.signature).unwrap();
    i.device
        .verifying_key()
        .verify_strict(&request.signed_message(), &signature)
        .unwrap();
    let notices: NoticesResponse = codec::from_slice(&bytes("notices_response"), 1 << 20).unwrap();
    assert_eq!(notices.request_id, request.request_id);
    assert_eq!(notices.notices[0].record_id, i.record.id);
    let decision: RecordDecision = codec::from_slice(&bytes("record_decision"), 256).unwrap();
    assert_eq!(decision.leaf_index, notices.notices[0].leaf_index);
    let answer: BatchResponse = codec::from_slice(&bytes("batch_response"), 1 << 20).unwrap();
    let sealed = bytes("sealed_batch_response");
    assert_eq!(
        BatchResponse::open(&sealed, &response_key()).unwrap(),
        answer
    );
    // The intermediate values given with the vector open it too.
    {
        use chacha20poly1305::{ChaCha20Poly1305, KeyInit, aead::Aead};
        let (key, nonce) = response_aead(&response_key(), &sealed[..32]);
        let plain = ChaCha20Poly1305::new(&chacha20poly1305::Key::from(key))
            .decrypt(&chacha20poly1305::Nonce::from(nonce), &sealed[32..])
            .unwrap();
        assert_eq!(plain, bytes("batch_response"));
    }
    let _: RecordResult = codec::from_slice(&bytes("record_result_duplicate"), 1 << 20).unwrap();
    let receipt: Receipt = codec::from_slice(&bytes("receipt"), 1 << 20).unwrap();
    assert_eq!(receipt.checkpoint, answer.checkpoint);
    receipt
        .verify(&bytes("signed_record"), i.device.key_id(), &i.bundle)
        .unwrap();
    for (name, now, verdict) in [
        (
            "credential_registered",
            SEQUENCED_AT + 1,
            credential::Verdict::Valid,
        ),
        (
            "credential_provisional",
            CAPTURED_AT + 1,
            credential::Verdict::ValidProvisional,
        ),
    ] {
        let text = v
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .text
            .clone()
            .unwrap();
        assert_eq!(credential::decode_text(&text).unwrap(), bytes(name));
        let result = credential::verify_text(&text, &i.bundle, None, now);
        assert_eq!(result.verdict, verdict, "{name}");
    }
    assert_eq!(i.origin, ORIGIN);
}
