//! What the fuzz targets share: fixed keys, a fixed registry (trust bundle, certificate,
//! revocation list), the signing and sealing done inside the harness so that fuzz input reaches
//! the decoders behind the signature and HPKE checks, and the device set-ups of the batch-answer
//! and notices-answer targets. The seed generator (`src/bin/seeds.rs`) builds its corpora from the same pieces, so
//! the seeds pass every check a target makes before the decoder under test.
//!
//! Nothing here is secret: every key is a fixed test key.

use std::{collections::BTreeMap, sync::OnceLock};

use base64::{Engine, engine::general_purpose::STANDARD};
use birthright_core::{
    codec::{self, Value},
    cose,
    credential::{self, CONTENT_TYPE_CWT, HEADER_DEVICE_CERTIFICATE},
    device::Device,
    keys::{Ed25519Key, KeyId},
    ledger::{
        checkpoint::{Checkpoint, sign_checkpoint},
        merkle,
        note::NoteSigner,
    },
    record::Record,
    store::StorageKey,
    sync::{HttpResponse, Step, SyncConfig, SyncMachine},
    trust::{
        CONTENT_TYPE_DEVICE_CERTIFICATE, CONTENT_TYPE_REVOCATIONS, DeviceCertificate, HPKE_SUITE,
        Revocation, RevocationList, TRUST_BUNDLE_FORMAT, TrustBundle,
    },
    wire::{
        self, Batch, BatchResponse, DecidedBy, DecisionKind, DecisionLeaf, DecisionReason,
        LeafReceipt, LedgerLeaf, NoticesRequest, Outcome, RecordResult, ResponseKey,
    },
};
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// The registry's origin.
pub const ORIGIN: &str = "fuzz.test/births";
/// Capture time of every record the harness makes (2026-03-31), Unix seconds.
pub const CAPTURED_AT: i64 = 1_775_000_000;
/// "Now" for every verification: an hour after capture.
pub const NOW: i64 = CAPTURED_AT + 3600;
/// Validity window of the fixed device certificate.
pub const NOT_BEFORE: i64 = 1_770_000_000;
/// End of the validity window.
pub const NOT_AFTER: i64 = 1_800_000_000;
/// The batch id every sealed batch of the harness carries.
pub const BATCH_ID: Uuid = Uuid::from_bytes([0xB1; 16]);
/// In batch-answer input, replaced by the id of the batch the device sent.
pub const PLACEHOLDER_BATCH_ID: [u8; 16] = [0xB2; 16];
/// In batch-answer input, replaced by the id of the record the device sent.
pub const PLACEHOLDER_RECORD_ID: [u8; 16] = [0xA1; 16];
/// In enrolment-answer input, replaced by the enrolling device's public key.
pub const PLACEHOLDER_DEVICE_KEY: [u8; 32] = [0xD5; 32];
/// Salt and sequencing time of the one leaf of the harness's ledger.
pub const LEAF_SALT: [u8; 32] = [0x5A; 32];
/// Sequencing time of that leaf.
pub const SEQUENCED_AT: i64 = CAPTURED_AT + 60;

/// The registry's Ed25519 key.
pub fn registry_key() -> Ed25519Key {
    Ed25519Key::from_secret(&[1; 32])
}

/// A device key for the targets that sign as a device.
pub fn device_key() -> Ed25519Key {
    Ed25519Key::from_secret(&[2; 32])
}

/// The registry's HPKE secret key.
pub const HPKE_SECRET: [u8; 32] = [3; 32];

/// The registry's HPKE public key.
pub fn hpke_public() -> [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    *KEY.get_or_init(|| wire::hpke_public_key(&HPKE_SECRET).unwrap_or([0; 32]))
}

/// The fixed registry's trust bundle (a valid one: `TrustBundle::from_json` accepts it).
pub fn trust() -> TrustBundle {
    static TRUST: OnceLock<TrustBundle> = OnceLock::new();
    TRUST.get_or_init(make_trust).clone()
}

fn make_trust() -> TrustBundle {
    let key = registry_key();
    let hpke = hpke_public();
    TrustBundle {
        format: TRUST_BUNDLE_FORMAT.into(),
        origin: ORIGIN.into(),
        checkpoint_vkey: note_signer().verifier_key(),
        registry_public_key: STANDARD.encode(key.public_bytes()),
        registry_key_id: key.key_id().to_hex(),
        hpke_public_key: STANDARD.encode(hpke),
        hpke_key_id: KeyId::of(&hpke).to_hex(),
        hpke_suite: HPKE_SUITE.into(),
        witnesses: Vec::new(),
        witness_quorum: 0,
    }
}

/// The registry's checkpoint signer.
pub fn note_signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, registry_key().signing_key().clone())
        .unwrap_or_else(|e| panic!("fixed origin is a valid key name: {e}"))
}

/// The claims of a device certificate for `device_public_key`.
pub fn certificate_claims(device_public_key: &[u8]) -> DeviceCertificate {
    DeviceCertificate {
        version: 1,
        origin: ORIGIN.into(),
        device_public_key: ByteBuf::from(device_public_key.to_vec()),
        worker_id: "worker-7".into(),
        region: "UA-46".into(),
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
    }
}

/// Signs `payload` as the registry object of `content_type` (certificate, revocation list), with
/// exactly the documented headers.
pub fn sign_registry_object(content_type: u16, payload: &[u8]) -> Vec<u8> {
    let key = registry_key();
    let mut protected = BTreeMap::new();
    protected.insert(
        cose::HEADER_CONTENT_TYPE,
        Value::Integer(content_type.into()),
    );
    cose::sign1(&key.key_id().0, protected, BTreeMap::new(), payload, |m| {
        key.sign(m)
    })
}

/// Signs a certificate payload (any bytes) with the registry key.
pub fn sign_certificate_payload(payload: &[u8]) -> Vec<u8> {
    sign_registry_object(CONTENT_TYPE_DEVICE_CERTIFICATE, payload)
}

/// Signs a revocation-list payload (any bytes) with the registry key.
pub fn sign_revocations_payload(payload: &[u8]) -> Vec<u8> {
    sign_registry_object(CONTENT_TYPE_REVOCATIONS, payload)
}

/// The CBOR of [`certificate_claims`] for `device_public_key`.
pub fn certificate_payload(device_public_key: &[u8]) -> Vec<u8> {
    codec::to_vec(&certificate_claims(device_public_key)).unwrap_or_default()
}

/// The fixed device's certificate, signed by the registry.
pub fn device_certificate() -> Vec<u8> {
    static CERT: OnceLock<Vec<u8>> = OnceLock::new();
    CERT.get_or_init(|| {
        sign_certificate_payload(&certificate_payload(&device_key().public_bytes()))
    })
    .clone()
}

/// The claims of a revocation list revoking one unrelated device.
pub fn revocation_claims() -> RevocationList {
    RevocationList {
        version: 1,
        origin: ORIGIN.into(),
        issued_at: CAPTURED_AT - 86_400,
        entries: vec![Revocation {
            device_kid: ByteBuf::from(vec![9; 8]),
            revoked_at: CAPTURED_AT - 86_400,
            reason: "lost".into(),
        }],
    }
}

/// The signed revocation list.
pub fn revocation_list() -> Vec<u8> {
    static LIST: OnceLock<Vec<u8>> = OnceLock::new();
    LIST.get_or_init(|| {
        sign_revocations_payload(&codec::to_vec(&revocation_claims()).unwrap_or_default())
    })
    .clone()
}

/// Signs CWT claims `payload` (any bytes) as a credential: by the registry when
/// `device_certificate` is `None` (registered), else by the fixed device with that certificate
/// in the unprotected header (provisional).
pub fn sign_credential_payload(payload: &[u8], device_certificate: Option<&[u8]>) -> Vec<u8> {
    let key = if device_certificate.is_some() {
        device_key()
    } else {
        registry_key()
    };
    let mut protected = BTreeMap::new();
    protected.insert(
        cose::HEADER_CONTENT_TYPE,
        Value::Integer(CONTENT_TYPE_CWT.into()),
    );
    let mut unprotected = BTreeMap::new();
    if let Some(cert) = device_certificate {
        unprotected.insert(HEADER_DEVICE_CERTIFICATE, Value::Bytes(cert.to_vec()));
    }
    cose::sign1(&key.key_id().0, protected, unprotected, payload, |m| {
        key.sign(m)
    })
}

/// A record of the reference registration, as the fixed device would sign it.
pub fn sample_record() -> Record {
    Record {
        schema_version: birthright_core::record::SCHEMA_VERSION,
        id: Uuid::from_bytes([0x17; 16]),
        captured_at: CAPTURED_AT,
        worker_id: "worker-7".into(),
        device_kid: device_key().key_id().0.to_vec(),
        supersedes: None,
        enrolment: birthright_core::fixtures::reference_input(),
    }
}

/// The CWT claims of the registered credential of `record` at leaf 0 (the payload only).
pub fn credential_claims(record: &Record) -> Vec<u8> {
    credential::issue_registered(&registry_key(), record, 0, NOW)
        .ok()
        .and_then(|c| cose::CoseSign1::parse(&c.bytes, 1 << 20).ok())
        .map(|c| c.payload)
        .unwrap_or_default()
}

/// Replaces every occurrence of `from` in `data` by `to` (same length).
pub fn substitute(data: &mut [u8], from: &[u8], to: &[u8]) {
    if from.is_empty() || from.len() != to.len() || data.len() < from.len() {
        return;
    }
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// The checkpoint of a one-leaf ledger whose root (the leaf's hash) is `root_hash`, signed by
/// the registry.
pub fn one_leaf_checkpoint(root_hash: [u8; 32]) -> String {
    checkpoint_note(1, root_hash)
}

/// The checkpoint of a ledger of `size` leaves with root `root_hash`, signed by the registry.
pub fn checkpoint_note(size: u64, root_hash: [u8; 32]) -> String {
    sign_checkpoint(
        &note_signer(),
        &Checkpoint {
            origin: ORIGIN.into(),
            size,
            root_hash,
            extensions: vec![],
        },
    )
    .unwrap_or_default()
}

/// In batch-answer input, replaced by the real checkpoint (the same length: only the root and
/// the signature differ).
pub fn placeholder_checkpoint() -> String {
    static NOTE: OnceLock<String> = OnceLock::new();
    NOTE.get_or_init(|| one_leaf_checkpoint([0; 32])).clone()
}

/// What the batch-answer target knows once the device has sent its batch.
pub struct AnswerParts {
    /// The batch the device sent, as the registry opened it.
    pub batch: Batch,
    /// The key that seals the answer to that batch.
    pub response_key: ResponseKey,
    /// The checkpoint of the one-leaf ledger holding the record (salt [`LEAF_SALT`],
    /// sequenced at [`SEQUENCED_AT`]).
    pub checkpoint: String,
    /// The registered credential of the record at leaf 0, issued at [`NOW`].
    pub credential: Vec<u8>,
    /// The credential of the same record with the id [`PLACEHOLDER_RECORD_ID`] (same length).
    pub placeholder_credential: Vec<u8>,
    /// The record's id.
    pub record_id: Uuid,
    /// The record's leaf (index 0; salt [`LEAF_SALT`], sequenced at [`SEQUENCED_AT`]).
    pub leaf: LedgerLeaf,
}

impl AnswerParts {
    /// `data` with the placeholders replaced by this batch's values: the answer plaintext the
    /// fuzzer wrote, made about this device's batch.
    pub fn fill_in(&self, data: &[u8]) -> Vec<u8> {
        let mut data = data.to_vec();
        substitute(&mut data, &self.placeholder_credential, &self.credential);
        substitute(
            &mut data,
            placeholder_checkpoint().as_bytes(),
            self.checkpoint.as_bytes(),
        );
        substitute(
            &mut data,
            &PLACEHOLDER_BATCH_ID,
            self.batch.batch_id.as_bytes(),
        );
        substitute(&mut data, &PLACEHOLDER_RECORD_ID, self.record_id.as_bytes());
        data
    }
}

/// Runs `f` on a fresh in-memory device, enrolled with a certificate the harness signs for its
/// (random) key, holding one captured reference record, whose sync has just sent the batch:
/// the state in which the device reads the registry's answer. `None` if a set-up step fails
/// (it never should).
pub fn with_answer_context<T>(
    f: impl FnOnce(&mut SyncMachine<&Device>, &AnswerParts) -> T,
) -> Option<T> {
    let device = Device::open_in_memory(StorageKey::from_bytes([4; 32])).ok()?;
    let identity = device.init("worker-7").ok()?;
    let answer = wire::EnrolResponse {
        certificate: ByteBuf::from(sign_certificate_payload(&certificate_payload(
            &identity.public_key,
        ))),
        trust_bundle: trust().to_json(),
    };
    device
        .complete_enrolment(&codec::to_vec(&answer).ok()?, &trust())
        .ok()?;
    let at = time::OffsetDateTime::from_unix_timestamp(CAPTURED_AT).ok()?;
    let summary = device
        .capture_at(&birthright_core::fixtures::reference_input(), at, None)
        .ok()?;
    let mut machine = SyncMachine::new(&device, SyncConfig::default(), NOW).ok()?;
    // Revocations first, then the batch.
    let Step::Send(_) = machine.poll().ok()? else {
        return None;
    };
    machine.handle(Ok(ok(revocation_list()))).ok()?;
    let Step::Send(request) = machine.poll().ok()? else {
        return None;
    };
    let (batch, response_key) = wire::open_batch(&request.body, &HPKE_SECRET).ok()?;
    let signed = batch.records.first()?.clone();
    let record = birthright_core::signed::SignedRecord::decode(&signed).ok()?;
    let leaf = LedgerLeaf {
        commitment: wire::record_commitment(&LEAF_SALT, &signed),
        device_kid: identity.key_id,
        sequenced_at: SEQUENCED_AT,
    };
    let checkpoint = one_leaf_checkpoint(merkle::leaf_hash(&leaf.to_bytes()));
    let credential = credential::issue_registered(&registry_key(), &record.record, 0, NOW)
        .ok()?
        .bytes;
    let placeholder = Record {
        id: Uuid::from_bytes(PLACEHOLDER_RECORD_ID),
        ..record.record.clone()
    };
    let placeholder_credential =
        credential::issue_registered(&registry_key(), &placeholder, 0, NOW)
            .ok()?
            .bytes;
    let parts = AnswerParts {
        batch,
        response_key,
        checkpoint,
        credential,
        placeholder_credential,
        record_id: summary.id,
        leaf,
    };
    Some(f(&mut machine, &parts))
}

/// Hands the device the sealed answer `plaintext` and then plays the registry for the rest of
/// the sync (the checkpoint), for at most a few steps. Errors are the expected outcome for most
/// inputs; returns whether the device accepted the answer (the seed generator checks its seeds).
pub fn drive_answer(
    machine: &mut SyncMachine<&Device>,
    parts: &AnswerParts,
    plaintext: &[u8],
) -> bool {
    let Ok(sealed) = wire::seal_response_plaintext(plaintext, &parts.response_key) else {
        return false;
    };
    if machine.handle(Ok(ok(sealed))).is_err() {
        return false;
    }
    for _ in 0..4 {
        let request = match machine.poll() {
            Ok(Step::Send(request)) => request,
            _ => break,
        };
        let body = if request.path.starts_with("/v1/checkpoint") {
            parts.checkpoint.clone().into_bytes()
        } else if request.path.starts_with("/v1/proof/consistency") {
            br#"{"proof":[]}"#.to_vec()
        } else {
            break;
        };
        if machine.handle(Ok(ok(body))).is_err() {
            break;
        }
    }
    true
}

/// In notices-answer input, replaced by the id of the notices request the device sent.
pub const PLACEHOLDER_REQUEST_ID: [u8; 16] = [0xC1; 16];
/// In notices-answer input, replaced by the hash of the record's own leaf (leaf 0): the
/// inclusion proof of a decision leaf at index 1 of a two-leaf ledger.
pub const PLACEHOLDER_RECORD_LEAF_HASH: [u8; 32] = [0xC3; 32];
/// Decision time of the decision leaves the notices-answer target puts on its ledgers.
pub const DECIDED_AT: i64 = SEQUENCED_AT + 600;
/// The decisions of the notices-answer target, with their reasons: for each, a two-leaf
/// ledger whose second leaf decides the record of leaf 0 so (all by a registrar, at
/// [`DECIDED_AT`]).
pub const DECISIONS: [(DecisionKind, DecisionReason); 4] = [
    (DecisionKind::Registered, DecisionReason::Reviewed),
    (DecisionKind::Rejected, DecisionReason::IncorrectInformation),
    (DecisionKind::Duplicate, DecisionReason::AlreadyRegistered),
    (
        DecisionKind::CorrectionRequested,
        DecisionReason::MissingInformation,
    ),
];

/// In notices-answer input, replaced by the checkpoint of the two-leaf ledger of decision
/// `i` of [`DECISIONS`] (the same length as the real one); empty for another `i`.
pub fn placeholder_decision_checkpoint(i: usize) -> String {
    static NOTES: OnceLock<Vec<String>> = OnceLock::new();
    NOTES
        .get_or_init(|| {
            (0..DECISIONS.len())
                .map(|i| checkpoint_note(2, [0xD0 + i as u8; 32]))
                .collect()
        })
        .get(i)
        .cloned()
        .unwrap_or_default()
}

/// In notices-answer input, replaced by the hash of the decision leaf of decision `i` of
/// [`DECISIONS`]: the consistency proof from the one-leaf ledger to its two-leaf ledger.
pub fn placeholder_decision_leaf_hash(i: usize) -> [u8; 32] {
    [0xE0_u8.wrapping_add(i as u8); 32]
}

/// A two-leaf ledger: the record's leaf, then a decision on it.
pub struct DecisionLedger {
    /// The decision leaf (index 1).
    pub leaf: DecisionLeaf,
    /// Its leaf hash.
    pub leaf_hash: [u8; 32],
    /// The checkpoint of the two-leaf ledger.
    pub checkpoint: String,
}

/// What the notices-answer target knows once the device has asked for its notices.
pub struct NoticesParts {
    /// The notices request the device sent, as the registry opened it.
    pub request: NoticesRequest,
    /// The key that seals the answer to that request.
    pub response_key: ResponseKey,
    /// The checkpoint of the one-leaf ledger holding the record (the device's newest).
    pub checkpoint: String,
    /// The hash of the record's leaf (index 0).
    pub record_leaf_hash: [u8; 32],
    /// One two-leaf ledger for each of [`DECISIONS`], in that order.
    pub ledgers: Vec<DecisionLedger>,
    /// The registered credential of the record at leaf 0, issued at [`NOW`].
    pub credential: Vec<u8>,
    /// The credential of the same record with the id [`PLACEHOLDER_RECORD_ID`] (same length).
    pub placeholder_credential: Vec<u8>,
    /// The record's id.
    pub record_id: Uuid,
}

impl NoticesParts {
    /// `data` with the placeholders replaced by this device's values: the notices answer
    /// plaintext the fuzzer wrote, made about this device's request, record and ledgers.
    pub fn fill_in(&self, data: &[u8]) -> Vec<u8> {
        let mut data = data.to_vec();
        substitute(&mut data, &self.placeholder_credential, &self.credential);
        substitute(
            &mut data,
            placeholder_checkpoint().as_bytes(),
            self.checkpoint.as_bytes(),
        );
        for (i, ledger) in self.ledgers.iter().enumerate() {
            substitute(
                &mut data,
                placeholder_decision_checkpoint(i).as_bytes(),
                ledger.checkpoint.as_bytes(),
            );
            substitute(
                &mut data,
                &placeholder_decision_leaf_hash(i),
                &ledger.leaf_hash,
            );
        }
        substitute(
            &mut data,
            &PLACEHOLDER_REQUEST_ID,
            self.request.request_id.as_bytes(),
        );
        substitute(&mut data, &PLACEHOLDER_RECORD_ID, self.record_id.as_bytes());
        substitute(
            &mut data,
            &PLACEHOLDER_RECORD_LEAF_HASH,
            &self.record_leaf_hash,
        );
        data
    }
}

/// Runs `f` on the device of [`with_answer_context`] once its batch is answered (the record
/// accepted at leaf 0 of the one-leaf ledger, without a credential: `acknowledged`, awaiting
/// a decision) and the checkpoint is fetched: the device has just sent its notices request,
/// the state in which it reads the registry's notices answer. `None` if a set-up step fails
/// (it never should).
pub fn with_notices_context<T>(
    f: impl FnOnce(&mut SyncMachine<&Device>, &NoticesParts) -> T,
) -> Option<T> {
    with_answer_context(|machine, parts| {
        let answer = BatchResponse {
            version: wire::WIRE_VERSION,
            batch_id: parts.batch.batch_id,
            checkpoint: parts.checkpoint.clone(),
            known_tree_size: 0,
            consistency_proof: vec![],
            results: vec![RecordResult {
                record_id: parts.record_id,
                outcome: Outcome::Accepted,
                leaf: Some(LeafReceipt {
                    index: 0,
                    salt: ByteBuf::from(LEAF_SALT.to_vec()),
                    sequenced_at: SEQUENCED_AT,
                    inclusion_proof: vec![],
                }),
                rejection: None,
                credential: None,
                held: None,
            }],
        };
        machine
            .handle(Ok(ok(answer.seal(&parts.response_key).ok()?)))
            .ok()?;
        let Step::Send(request) = machine.poll().ok()? else {
            return None;
        };
        if request.path != "/v1/checkpoint" {
            return None;
        }
        machine
            .handle(Ok(ok(parts.checkpoint.clone().into_bytes())))
            .ok()?;
        let Step::Send(request) = machine.poll().ok()? else {
            return None;
        };
        if request.path != "/v1/notices" {
            return None;
        }
        let (request, response_key) = NoticesRequest::open(&request.body, &HPKE_SECRET).ok()?;
        let record_leaf_hash = merkle::leaf_hash(&parts.leaf.to_bytes());
        let ledgers = DECISIONS
            .iter()
            .map(|&(decision, reason)| {
                let leaf = DecisionLeaf {
                    record_index: 0,
                    commitment: parts.leaf.commitment,
                    decision,
                    reason,
                    decided_by: DecidedBy::Registrar,
                    decided_at: DECIDED_AT,
                };
                let leaf_hash = merkle::leaf_hash(&leaf.to_bytes());
                DecisionLedger {
                    leaf,
                    leaf_hash,
                    checkpoint: checkpoint_note(
                        2,
                        merkle::node_hash(&record_leaf_hash, &leaf_hash),
                    ),
                }
            })
            .collect();
        let notices = NoticesParts {
            request,
            response_key,
            checkpoint: parts.checkpoint.clone(),
            record_leaf_hash,
            ledgers,
            credential: parts.credential.clone(),
            placeholder_credential: parts.placeholder_credential.clone(),
            record_id: parts.record_id,
        };
        Some(f(machine, &notices))
    })
    .flatten()
}

/// Hands the device the sealed notices answer `plaintext`, then plays the registry for the
/// rest of the sync (the status list: not found), for at most a few steps; a further notices
/// request (after a full answer) ends it. Errors are the expected outcome for most inputs;
/// returns whether the device accepted the answer (the seed generator checks its seeds).
pub fn drive_notices(
    machine: &mut SyncMachine<&Device>,
    parts: &NoticesParts,
    plaintext: &[u8],
) -> bool {
    let Ok(sealed) = wire::seal_response_plaintext(plaintext, &parts.response_key) else {
        return false;
    };
    if machine.handle(Ok(ok(sealed))).is_err() {
        return false;
    }
    for _ in 0..3 {
        match machine.poll() {
            Ok(Step::Send(request)) if request.path == "/v1/status-list" => {
                let not_found = HttpResponse {
                    status: 404,
                    retry_after_secs: None,
                    body: Vec::new(),
                };
                if machine.handle(Ok(not_found)).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    true
}

/// A 200 answer with `body`.
pub fn ok(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        retry_after_secs: None,
        body,
    }
}

/// The CWT claims of a provisional credential of `record` by the fixed device (the payload).
pub fn provisional_claims(record: &Record) -> Vec<u8> {
    credential::issue_provisional(&device_key(), &device_certificate(), record, NOW)
        .ok()
        .and_then(|c| cose::CoseSign1::parse(&c.bytes, 1 << 20).ok())
        .map(|c| c.payload)
        .unwrap_or_default()
}

/// [`NOW`] as a date-time.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(NOW).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
