//! Registry and device together, in process and deterministic: enrolment, ingest, the ledger,
//! and the device's sync against faults and a malicious or forked registry.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use birthright_core::{
    codec,
    device::{Device, ListFilter},
    fixtures::{reference_input, sample_inputs},
    ledger::{
        checkpoint::verify_checkpoint,
        merkle::{leaf_hash, verify_consistency, verify_inclusion},
        note::NoteVerifier,
    },
    record::{Record, SCHEMA_VERSION},
    signed::SignedRecord,
    store::{RecordStatus, StorageKey},
    sync::{
        HttpRequest, HttpResponse, SyncConfig, SyncCounts, SyncError, SyncProgress, Transport,
        TransportError,
    },
    wire::{self, Batch, BatchResponse, LedgerLeaf, Outcome},
};
use birthright_registry::{Registry, keys::RegistryKeys, local::LocalTransport};
use serde_bytes::ByteBuf;
use time::OffsetDateTime;
use uuid::Uuid;

mod common;
use common::{NoProgress, enrol, enrolled_device, registry, request};

fn config() -> SyncConfig {
    SyncConfig {
        max_batch_records: 3,
        ..SyncConfig::default()
    }
}

fn sync(
    device: &Device,
    transport: &dyn Transport,
) -> Result<birthright_core::sync::SyncReport, SyncError> {
    device.sync_with_sleep(transport, &NoProgress, config(), &mut |_| {})
}

fn capture_samples(device: &Device, n: usize, seed: u64) -> Vec<Uuid> {
    let now = OffsetDateTime::now_utc();
    sample_inputs(n, seed, now.date())
        .iter()
        .map(|input| device.capture(&recent(input.clone())).unwrap().summary.id)
        .collect()
}

/// `form` with the child born at most 300 days ago, so the review policy registers it at once.
fn recent(
    mut form: birthright_core::record::RegistrationForm,
) -> birthright_core::record::RegistrationForm {
    let today = OffsetDateTime::now_utc().date();
    let born = birthright_registry::service::decisions::earliest_birth(&form.child.date_of_birth)
        .unwrap_or(today);
    if (today - born).whole_days() > 300 {
        let born = today - time::Duration::days((today - born).whole_days() % 300);
        form.child.date_of_birth = born.to_string();
        form.child.date_of_birth_precision = Some(birthright_core::record::DatePrecision::Day);
    }
    form
}

/// How many leaves of the ledger are records (version 1; the others are decisions).
fn record_leaves(registry: &Registry) -> u64 {
    let size = registry.tree_size().unwrap();
    let mut count = 0;
    let mut start = 0;
    while start < size {
        let end = (start + 1000).min(size);
        count += registry
            .leaves(start, end)
            .unwrap()
            .iter()
            .filter(|l| l.first() == Some(&1))
            .count() as u64;
        start = end;
    }
    count
}

/// Seals `records` from `device` into a batch as the device would.
fn seal(
    registry: &Registry,
    device: &Device,
    records: Vec<Vec<u8>>,
    known: u64,
) -> (Vec<u8>, wire::ResponseKey) {
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: Uuid::now_v7(),
        device_kid: ByteBuf::from(device.identity().unwrap().key_id.0.to_vec()),
        certificate: None,
        known_tree_size: known,
        records: records.into_iter().map(ByteBuf::from).collect(),
    };
    batch
        .seal(&registry.trust_bundle().hpke_public_key().unwrap())
        .unwrap()
}

#[test]
fn enrolment_tokens_are_single_use_expiring_and_known() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    device.init("w-1").unwrap();
    let token = registry.create_token("w-1", "UA-46", 3600).unwrap();
    let first = registry
        .enrol(&request(&registry, &device, &token))
        .unwrap();
    // The same key with the same token again (its answer was lost): the same certificate.
    let again = registry
        .enrol(&request(&registry, &device, &token))
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(registry.devices().unwrap().len(), 1);

    let other = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    other.init("w-2").unwrap();
    let used = registry
        .enrol(&request(&registry, &other, &token))
        .unwrap_err();
    assert_eq!((used.status, used.code), (409, "token_used"));
    let unknown = registry
        .enrol(&request(
            &registry,
            &other,
            "00112233445566778899aabbccddeeff",
        ))
        .unwrap_err();
    assert_eq!((unknown.status, unknown.code), (403, "token_unknown"));
    let expired = registry.create_token("w-2", "UA-46", -1).unwrap();
    let err = registry
        .enrol(&request(&registry, &other, &expired))
        .unwrap_err();
    assert_eq!((err.status, err.code), (410, "token_expired"));

    // A proof of possession made for another token does not verify.
    let fresh = registry.create_token("w-2", "UA-46", 3600).unwrap();
    let mut forged: wire::EnrolRequest =
        codec::from_slice(&request(&registry, &other, &fresh), 4096).unwrap();
    let second = registry.create_token("w-2", "UA-46", 3600).unwrap();
    forged.token_id = ByteBuf::from(wire::enrol_token_id(&second).to_vec());
    let err = registry
        .enrol(&codec::to_vec(&forged).unwrap())
        .unwrap_err();
    assert_eq!(err.code, "bad_proof");
    assert_eq!(registry.devices().unwrap().len(), 1);
}

/// The token never crosses the wire, and what does cannot enrol another key: an interceptor
/// that captured a request (token id, binding, proof) and re-signs it with its own key, or
/// replays a request made for another registry, is refused, and the token stays usable by
/// the genuine device.
#[test]
fn a_captured_enrolment_request_cannot_enrol_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let genuine = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    genuine.init("w-1").unwrap();
    let token = registry.create_token("w-1", "UA-46", 3600).unwrap();
    let captured = request(&registry, &genuine, &token);
    assert!(
        !captured.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is not in the request"
    );
    let captured: wire::EnrolRequest = codec::from_slice(&captured, 4096).unwrap();

    let attacker = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    attacker.init("w-1").unwrap();
    let public = attacker.identity().unwrap().public_key;
    let proof = attacker
        .sign_with_device_key(&wire::enrol_proof_message(&captured.token_id, &public))
        .unwrap();
    let replayed = wire::EnrolRequest {
        device_public_key: ByteBuf::from(public.to_vec()),
        proof: ByteBuf::from(proof.to_vec()),
        ..captured.clone()
    };
    let err = registry
        .enrol(&codec::to_vec(&replayed).unwrap())
        .unwrap_err();
    assert_eq!((err.status, err.code), (403, "token_unknown"));

    // A request the genuine device made for another registry's origin is refused here.
    let elsewhere = genuine
        .enrolment_request(&token, "other.test/births")
        .unwrap();
    let err = registry.enrol(&elsewhere).unwrap_err();
    assert_eq!(err.code, "token_unknown");
    assert!(registry.devices().unwrap().is_empty(), "nothing enrolled");

    registry.enrol(&codec::to_vec(&captured).unwrap()).unwrap();
    assert_eq!(registry.devices().unwrap().len(), 1);
}

#[test]
fn happy_path_every_record_acknowledged_with_a_verifiable_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 10, 1);
    let transport = LocalTransport::new(registry.clone());
    let report = sync(&device, &transport).unwrap();
    assert_eq!(report.accepted, 10);
    assert_eq!(report.batches, 4, "batches of at most 3 records");
    // Each record and the review policy's registration of it.
    assert_eq!(report.tree_size, 20);
    assert_eq!(record_leaves(&registry), 10);
    let trust = device.trust_bundle().unwrap().unwrap();
    let kid = device.identity().unwrap().key_id;
    let mut indices: Vec<u64> = Vec::new();
    for id in &ids {
        let stored = device.get(id).unwrap();
        assert_eq!(stored.summary.status, RecordStatus::Registered);
        let receipt = device.receipt(id).unwrap().unwrap();
        receipt.verify(&stored.signed.bytes, kid, &trust).unwrap();
        // The same receipt does not verify for another record's bytes.
        let other = device.get(&ids[(indices.len() + 1) % ids.len()]).unwrap();
        assert!(receipt.verify(&other.signed.bytes, kid, &trust).is_err());
        indices.push(receipt.leaf_index);
        // The registry stored exactly these bytes.
        assert_eq!(
            registry.record_bytes(id).unwrap().unwrap(),
            stored.signed.bytes
        );
    }
    indices.sort();
    indices.dedup();
    assert_eq!(indices.len(), 10);
    // Auditors recompute the root from the served leaves.
    let leaves = registry.leaves(0, 20).unwrap();
    let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
    let verifier = NoteVerifier::from_vkey(&trust.checkpoint_vkey).unwrap();
    let cp = verify_checkpoint(&verifier, &registry.checkpoint().unwrap(), &trust.origin).unwrap();
    assert_eq!(
        birthright_core::ledger::merkle::root_from_leaf_hashes(&hashes),
        cp.root_hash
    );
    for (i, l) in leaves.iter().enumerate() {
        match wire::LedgerEntry::parse(l).unwrap() {
            wire::LedgerEntry::Record(leaf) => {
                assert_eq!(leaf.device_kid, kid);
                assert!(indices.contains(&(i as u64)));
            }
            wire::LedgerEntry::Decision(d) => {
                assert!(indices.contains(&d.record_index));
                assert_eq!(d.decision, wire::DecisionKind::Registered);
                assert_eq!(d.decided_by, wire::DecidedBy::Policy);
            }
        }
        let proof = registry.inclusion_proof(i as u64, 20).unwrap();
        verify_inclusion(&hashes[i], i as u64, 20, &proof, &cp.root_hash).unwrap();
    }
    // A second sync has nothing to send and finds the same checkpoint.
    let again = sync(&device, &transport).unwrap();
    assert_eq!((again.accepted, again.batches, again.tree_size), (0, 0, 20));
}

#[test]
fn batches_cut_by_the_byte_budget_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 25, 21);
    // A few records per batch: every batch ends on the byte budget, never on the count (100).
    let config = SyncConfig {
        max_batch_bytes: 1500,
        ..SyncConfig::default()
    };
    let report = device
        .sync_with_sleep(
            &LocalTransport::new(registry.clone()),
            &NoProgress,
            config,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.accepted, 25);
    assert!(report.batches >= 5, "{} batches", report.batches);
    for id in &ids {
        assert_eq!(
            device.get(id).unwrap().summary.status,
            RecordStatus::Registered
        );
    }
    assert_eq!(device.counts().unwrap().pending, 0);
}

#[test]
fn one_bad_record_among_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 3, 2);
    let good: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| device.get(id).unwrap().signed.bytes)
        .collect();
    let mut bad_signature = good[1].clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    // A record that never went through validation, signed by the real device key.
    let mut input = reference_input();
    input.child.date_of_birth = "2099-01-01".into();
    let unvalidated = Record {
        schema_version: SCHEMA_VERSION,
        id: Uuid::now_v7(),
        captured_at: OffsetDateTime::now_utc().unix_timestamp(),
        worker_id: "w-1".into(),
        device_kid: device.identity().unwrap().key_id.0.to_vec(),
        supersedes: None,
        enrolment: input,
    };
    let invalid = device
        .with_device_key(|k| SignedRecord::sign(&unvalidated, k).unwrap().bytes)
        .unwrap();
    // A record from another enrolled device, smuggled into this device's batch.
    let other = enrolled_device(&registry, "w-2");
    let foreign = {
        let id = capture_samples(&other, 1, 3)[0];
        other.get(&id).unwrap().signed.bytes
    };
    let records = vec![
        good[0].clone(),
        bad_signature,
        invalid,
        foreign,
        good[2].clone(),
        b"junk".to_vec(),
    ];
    let (sealed, key) = seal(&registry, &device, records, 0);
    let answer = BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap();
    let outcomes: Vec<(Outcome, Option<String>)> = answer
        .results
        .iter()
        .map(|r| (r.outcome, r.rejection.as_ref().map(|x| x.code.clone())))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Outcome::Accepted, None),
            (Outcome::Rejected, Some("bad_signature".into())),
            (Outcome::Rejected, Some("invalid_record".into())),
            (Outcome::Rejected, Some("device_mismatch".into())),
            (Outcome::Accepted, None),
            (Outcome::Rejected, Some("malformed".into())),
        ]
    );
    let invalid_message = &answer.results[2].rejection.as_ref().unwrap().message;
    assert!(
        invalid_message.contains("child.date_of_birth"),
        "{invalid_message}"
    );
    assert_eq!(record_leaves(&registry), 2);
}

#[test]
fn a_resent_batch_never_adds_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 3, 4);
    let records: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| device.get(id).unwrap().signed.bytes)
        .collect();
    let (sealed, key) = seal(&registry, &device, records.clone(), 0);
    let first = BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap();
    let second = BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap();
    assert_eq!(record_leaves(&registry), 3);
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(a.outcome, Outcome::Accepted);
        assert_eq!(b.outcome, Outcome::Duplicate);
        assert_eq!(
            a.leaf.as_ref().unwrap().index,
            b.leaf.as_ref().unwrap().index
        );
        assert_eq!(a.leaf.as_ref().unwrap().salt, b.leaf.as_ref().unwrap().salt);
    }
    assert_eq!(
        first.checkpoint, second.checkpoint,
        "no new checkpoint for the same size"
    );
    // Same id, different bytes: a conflict, not a new leaf.
    let mut record = device.get(&ids[0]).unwrap().signed.record;
    record.captured_at += 1;
    let altered = device
        .with_device_key(|k| SignedRecord::sign(&record, k).unwrap().bytes)
        .unwrap();
    let (sealed, key) = seal(&registry, &device, vec![altered], 3);
    let third = BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap();
    assert_eq!(
        third.results[0].rejection.as_ref().unwrap().code,
        "conflicting_record"
    );
    assert_eq!(record_leaves(&registry), 3);
}

#[test]
fn a_revoked_device_keeps_earlier_records_only() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let now = OffsetDateTime::now_utc();
    // Captured after enrolment, before the revocation: still valid.
    let before = device
        .capture_at(&reference_input(), now + Duration::from_secs(10), None)
        .unwrap();
    registry
        .revoke_at(
            &device.identity().unwrap().key_id,
            "stolen",
            Some("phone taken at the market"),
            now.unix_timestamp() + 20,
        )
        .unwrap();
    let after = device
        .capture_at(&reference_input(), now + Duration::from_secs(30), None)
        .unwrap();
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert!(report.device_revoked);
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].code, "revoked_device");
    assert_eq!(
        device.get(&before.id).unwrap().summary.status,
        RecordStatus::Registered
    );
    let rejected = device.get(&after.id).unwrap().summary;
    assert_eq!(rejected.status, RecordStatus::Rejected);
    assert_eq!(rejected.reject_code.as_deref(), Some("revoked_device"));
    // No credential for a rejected record; the accepted one has its registered credential.
    let refused = device.credential(&after.id).unwrap_err().to_string();
    assert!(refused.contains("rejected"), "{refused}");
    assert!(device.credential(&before.id).is_ok());
    // Once the device knows it is revoked it captures nothing more (its records stay listed
    // for the supervisor), and it issues no provisional credential a border would refuse.
    assert!(device.revoked_at().unwrap().is_some());
    assert!(matches!(
        device.capture(&reference_input()),
        Err(birthright_core::device::DeviceError::Revoked)
    ));
    assert!(matches!(
        device.correct(&before.id, &reference_input()),
        Err(birthright_core::device::DeviceError::Revoked)
    ));
    assert_eq!(device.list(&ListFilter::default()).unwrap().len(), 2);
    // The revocation list says so, signed.
    let list = birthright_core::trust::RevocationList::verify(
        &registry.revocation_list().unwrap(),
        registry.trust_bundle(),
    )
    .unwrap();
    assert_eq!(list.entries.len(), 1);
    assert_eq!(list.entries[0].reason, "stolen");
}

/// No credential for a corrected record: the correction's credential is the one to give.
#[test]
fn no_credential_for_a_corrected_record() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let first = device.capture(&reference_input()).unwrap().summary;
    sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert!(device.credential(&first.id).is_ok());
    let correction = device
        .correct(&first.id, &reference_input())
        .unwrap()
        .summary;
    let superseded = device.credential(&first.id).unwrap_err().to_string();
    assert!(
        superseded.contains(&correction.id.to_string()),
        "{superseded}"
    );
    assert!(device.credential(&correction.id).is_ok(), "provisional");
}

/// One sync at a time per store: a second caller gets `InProgress` (or waits, if it asks),
/// and a cancelled sync stops before its next request, leaving everything to the next sync.
#[test]
fn one_sync_at_a_time_and_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir.path().join("registry"));
    let key = StorageKey::generate().unwrap();
    let path = dir.path().join("device.db");
    let device = Device::create(&path, key.clone()).unwrap();
    device.init("w-1").unwrap();
    enrol(&registry, &device, "w-1");
    let ids = capture_samples(&device, 6, 3);
    // A transport that, on its first batch, lets a second sync try to start: from another
    // handle on the same file (another process would be the same: an OS file lock).
    struct Racing {
        inner: LocalTransport,
        second: Device,
        outcome: Mutex<Option<String>>,
    }
    impl Transport for Racing {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            if request.path == "/v1/batches" && self.outcome.lock().unwrap().is_none() {
                let result =
                    self.second
                        .sync_with_sleep(&self.inner, &NoProgress, config(), &mut |_| {});
                *self.outcome.lock().unwrap() = Some(
                    result
                        .map(|_| "ran".to_string())
                        .unwrap_or_else(|e| e.to_string()),
                );
            }
            self.inner.send(request)
        }
    }
    let racing = Racing {
        inner: LocalTransport::new(registry.clone()),
        second: Device::open(&path, key.clone()).unwrap(),
        outcome: Mutex::new(None),
    };
    let report = sync(&device, &racing).unwrap();
    assert_eq!(report.accepted, 6);
    let second = racing.outcome.lock().unwrap().clone().unwrap();
    assert!(
        second.contains("another sync of this device is running"),
        "{second}"
    );

    // Cancelled from "another thread" before the second batch: stops, resumes next time.
    capture_samples(&device, 6, 4);
    struct Cancelling {
        inner: LocalTransport,
        cancel: birthright_core::sync::SyncCancel,
        batches: AtomicUsize,
    }
    impl Transport for Cancelling {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            if request.path == "/v1/batches" && self.batches.fetch_add(1, Ordering::SeqCst) == 0 {
                self.cancel.cancel();
            }
            self.inner.send(request)
        }
    }
    let cancel = birthright_core::sync::SyncCancel::new();
    let cancelling = Cancelling {
        inner: LocalTransport::new(registry.clone()),
        cancel: cancel.clone(),
        batches: AtomicUsize::new(0),
    };
    let cancelled_config = SyncConfig {
        cancel: Some(cancel),
        ..config()
    };
    let err = device
        .sync_with_sleep(&cancelling, &NoProgress, cancelled_config, &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, SyncError::Cancelled), "{err}");
    assert_eq!(
        cancelling.batches.load(Ordering::SeqCst),
        1,
        "stopped after one batch"
    );
    let counts = device.counts().unwrap();
    assert_eq!(counts.registered, 6 + 3, "the answered batch was applied");
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(report.accepted, 3, "the rest on the next sync");
    assert_eq!(record_leaves(&registry), 12);
    assert!(
        ids.iter()
            .all(|id| device.get(id).unwrap().summary.status == RecordStatus::Registered)
    );
}

#[test]
fn a_revoked_key_cannot_backdate_records_and_resends_stay_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let now = OffsetDateTime::now_utc();
    let synced = device.capture(&reference_input()).unwrap().summary;
    sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    let kid = device.identity().unwrap().key_id;
    // The phone is stolen: revoked from now. The thief captures with a clock set back, so
    // the record claims a time before the revocation.
    registry.revoke(&kid, "stolen", None).unwrap();
    let backdated = device
        .capture_at(&reference_input(), now - Duration::from_secs(60), None)
        .unwrap();
    let bytes = |id: &Uuid| device.get(id).unwrap().signed.bytes;
    let (sealed, key) = seal(
        &registry,
        &device,
        vec![bytes(&backdated.id), bytes(&synced.id)],
        1,
    );
    let answer = BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap();
    assert_eq!(answer.results[0].outcome, Outcome::Rejected);
    assert_eq!(
        answer.results[0].rejection.as_ref().unwrap().code,
        "revoked_device"
    );
    // The record already on the ledger is answered as a duplicate, with its leaf.
    assert_eq!(answer.results[1].outcome, Outcome::Duplicate);
    assert_eq!(answer.results[1].leaf.as_ref().unwrap().index, 0);
    assert_eq!(record_leaves(&registry), 1);
}

#[test]
fn records_captured_before_enrolment_are_taken_within_a_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    device.init("w-early").unwrap();
    let now = OffsetDateTime::now_utc();
    // Offline on a new phone, waiting for the supervisor's token.
    let days = |d: u64| Duration::from_secs(d * 86_400);
    let early = device
        .capture_at(&reference_input(), now - days(3), None)
        .unwrap();
    let too_early = device
        .capture_at(&reference_input(), now - days(45), None)
        .unwrap();
    enrol(&registry, &device, "w-early");
    // Its provisional credential is issued at enrolment, when the certificate is valid.
    let provisional = device.credential(&early.id).unwrap();
    let verdict = birthright_core::credential::verify_text(
        &provisional.text,
        registry.trust_bundle(),
        None,
        now.unix_timestamp() + 60,
    )
    .verdict;
    assert_eq!(
        verdict,
        birthright_core::credential::Verdict::ValidProvisional
    );
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].id, too_early.id);
    assert_eq!(report.rejected[0].code, "device_expired");
    assert_eq!(
        device.get(&early.id).unwrap().summary.status,
        RecordStatus::Registered
    );
}

#[test]
fn a_record_captured_in_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let now = OffsetDateTime::now_utc();
    // A clock a few minutes fast is tolerated; one two days ahead is not.
    let slightly_fast = device
        .capture_at(&reference_input(), now + Duration::from_secs(300), None)
        .unwrap();
    let far_ahead = device
        .capture_at(
            &reference_input(),
            now + Duration::from_secs(2 * 86_400),
            None,
        )
        .unwrap();
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].code, "captured_in_future");
    assert_eq!(
        device.get(&slightly_fast.id).unwrap().summary.status,
        RecordStatus::Registered
    );
    let refused = device.get(&far_ahead.id).unwrap().summary;
    assert_eq!(refused.status, RecordStatus::Rejected);
    assert!(
        refused
            .reject_message
            .as_deref()
            .is_some_and(|m| m.contains("clock")),
        "{refused:?}"
    );
}

#[test]
fn a_damaged_ledger_is_never_signed() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    capture_samples(&device, 3, 9);
    sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(record_leaves(&registry), 3);
    let signed = registry.checkpoint().unwrap();
    // Damage the interior node over leaves 0 to 3 (as a bad restore or a disk fault would):
    // the next tree would not extend the checkpoint already signed at size 6 (three records
    // and the review policy's three registrations).
    let db = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    db.execute(
        "UPDATE nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 0",
        [],
    )
    .unwrap();
    drop(db);
    let more = capture_samples(&device, 1, 10);
    let err = sync(&device, &LocalTransport::new(registry.clone())).unwrap_err();
    assert!(!matches!(err, SyncError::LedgerInconsistent(_)), "{err}");
    // Nothing was sequenced or signed, and the device keeps the record to send again.
    assert_eq!(record_leaves(&registry), 3);
    assert_eq!(registry.checkpoint().unwrap(), signed);
    assert_ne!(
        device.get(&more[0]).unwrap().summary.status,
        RecordStatus::Registered
    );
}

#[test]
fn a_restarted_registry_continues_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (old_size, old_note) = {
        let registry = registry(dir.path());
        let device = enrolled_device(&registry, "w-1");
        capture_samples(&device, 5, 5);
        sync(&device, &LocalTransport::new(registry.clone())).unwrap();
        (
            registry.tree_size().unwrap(),
            registry.checkpoint().unwrap(),
        )
    };
    let registry = Arc::new(Registry::open(dir.path()).unwrap());
    assert_eq!(registry.tree_size().unwrap(), old_size);
    assert_eq!(
        registry.checkpoint().unwrap(),
        old_note,
        "the same signed checkpoint"
    );
    let device = enrolled_device(&registry, "w-2");
    capture_samples(&device, 4, 6);
    sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    let trust = registry.trust_bundle().clone();
    let verifier = NoteVerifier::from_vkey(&trust.checkpoint_vkey).unwrap();
    let old = verify_checkpoint(&verifier, &old_note, &trust.origin).unwrap();
    let new = verify_checkpoint(&verifier, &registry.checkpoint().unwrap(), &trust.origin).unwrap();
    assert_eq!(new.size, 18, "nine records and their registrations");
    let proof = registry.consistency_proof(old.size, new.size).unwrap();
    verify_consistency(old.size, new.size, &proof, &old.root_hash, &new.root_hash).unwrap();
}

#[test]
fn concurrent_submitters_are_all_sequenced_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                let device = enrolled_device(&registry, &format!("w-{t}"));
                let ids = capture_samples(&device, 12, 100 + t);
                sync(&device, &LocalTransport::new(registry)).unwrap();
                for id in ids {
                    assert_eq!(
                        device.get(&id).unwrap().summary.status,
                        RecordStatus::Registered
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(record_leaves(&registry), 48);
    let leaves = registry.leaves(0, 96).unwrap();
    let mut commitments: Vec<_> = leaves
        .iter()
        .filter_map(|l| LedgerLeaf::parse(l).ok().map(|l| l.commitment))
        .collect();
    commitments.sort();
    commitments.dedup();
    assert_eq!(commitments.len(), 48);
}

/// A transport that fails in the ways a 2G link does.
struct Flaky {
    inner: LocalTransport,
    calls: AtomicUsize,
    /// What happens on call n (0-based), cycling.
    plan: Vec<Fault>,
}

#[derive(Clone, Copy)]
enum Fault {
    Pass,
    /// The request never reaches the registry.
    DropRequest,
    /// The registry commits, then the answer is lost.
    DropResponse,
    /// The request is delivered twice (a proxy retried it).
    Duplicate,
    /// 503 from an overloaded front end.
    Unavailable,
    /// 429 with Retry-After.
    RateLimited,
}

impl Transport for Flaky {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let lost = || TransportError {
            message: "connection reset by peer".into(),
        };
        match self.plan[n % self.plan.len()] {
            Fault::Pass => self.inner.send(request),
            Fault::DropRequest => Err(lost()),
            Fault::DropResponse => {
                self.inner.send(request)?;
                Err(lost())
            }
            Fault::Duplicate => {
                self.inner.send(request)?;
                self.inner.send(request)
            }
            Fault::Unavailable => Ok(HttpResponse {
                status: 503,
                retry_after_secs: None,
                body: b"{\"code\":\"unavailable\",\"message\":\"try later\"}".to_vec(),
            }),
            Fault::RateLimited => Ok(HttpResponse {
                status: 429,
                retry_after_secs: Some(2),
                body: Vec::new(),
            }),
        }
    }
}

#[test]
fn faults_never_lose_or_duplicate_records() {
    use Fault::*;
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 20, 7);
    let flaky = Flaky {
        inner: LocalTransport::new(registry.clone()),
        calls: AtomicUsize::new(0),
        plan: vec![
            Pass,
            DropResponse,
            Pass,
            Duplicate,
            DropRequest,
            Unavailable,
            Pass,
            RateLimited,
            DropResponse,
            Pass,
        ],
    };
    let waits = Mutex::new(Vec::new());
    let report = device
        .sync_with_sleep(&flaky, &NoProgress, config(), &mut |d| {
            waits.lock().unwrap().push(d)
        })
        .unwrap();
    assert_eq!(
        record_leaves(&registry),
        20,
        "each record exactly once on the ledger"
    );
    assert_eq!(report.accepted + report.duplicate, 20);
    for id in &ids {
        assert_eq!(
            device.get(id).unwrap().summary.status,
            RecordStatus::Registered
        );
    }
    let waits = waits.into_inner().unwrap();
    assert!(!waits.is_empty(), "failures were retried after back-off");
    assert!(
        waits.iter().any(|w| *w >= Duration::from_secs(2)),
        "Retry-After honoured"
    );
    assert!(waits.iter().all(|w| *w <= Duration::from_secs(60)));
}

/// Remembers every progress report.
#[derive(Default)]
struct Recorder(Mutex<Vec<SyncCounts>>);
impl SyncProgress for Recorder {
    fn on_progress(&self, counts: &SyncCounts) {
        self.0.lock().unwrap().push(*counts);
    }
}

#[test]
fn progress_counts_records_sent_before_their_answer() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    capture_samples(&device, 7, 12);
    // The first batch post is lost once and resent: its records count as sent once.
    let flaky = Flaky {
        inner: LocalTransport::new(registry.clone()),
        calls: AtomicUsize::new(0),
        plan: vec![Fault::Pass, Fault::DropResponse, Fault::Pass, Fault::Pass],
    };
    let recorder = Recorder::default();
    device
        .sync_with_sleep(&flaky, &recorder, config(), &mut |_| {})
        .unwrap();
    let seen = recorder.0.into_inner().unwrap();
    assert_eq!(seen[0].queued, 7);
    assert_eq!(seen[0].sent, 0);
    // A batch shows as sent while its answer is still awaited.
    assert!(
        seen.iter().any(|c| c.sent > c.acknowledged + c.rejected),
        "{seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0].sent <= w[1].sent));
    let last = seen.last().unwrap();
    assert_eq!((last.sent, last.acknowledged, last.rejected), (7, 7, 0));
}

#[test]
fn progress_reports_bytes_sent_and_the_wait_before_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    capture_samples(&device, 3, 5);
    // The batch is lost once (after the registry committed it) and resent, identical.
    let flaky = Flaky {
        inner: LocalTransport::new(registry.clone()),
        calls: AtomicUsize::new(0),
        plan: vec![
            Fault::Pass,
            Fault::DropResponse,
            Fault::Pass,
            Fault::Pass,
            Fault::Pass,
        ],
    };
    let recorder = Recorder::default();
    let waits = Mutex::new(Vec::new());
    device
        .sync_with_sleep(&flaky, &recorder, config(), &mut |d| {
            waits.lock().unwrap().push(d)
        })
        .unwrap();
    let seen = recorder.0.into_inner().unwrap();
    let waits = waits.into_inner().unwrap();
    assert_eq!(waits.len(), 1, "{waits:?}");
    // The wait is reported before it starts, and cleared when the request goes again.
    let waiting: Vec<&SyncCounts> = seen.iter().filter(|c| c.retry_in_ms > 0).collect();
    assert_eq!(waiting.len(), 1, "{seen:?}");
    assert_eq!(waiting[0].retry_in_ms, waits[0].as_millis() as u64);
    assert_eq!(seen.last().unwrap().retry_in_ms, 0);
    // Every attempt's bytes count: the resend doubles them.
    let mut sizes: Vec<u64> = seen.iter().map(|c| c.bytes_sent).collect();
    sizes.dedup();
    assert_eq!(sizes.len(), 3, "{seen:?}");
    assert_eq!(sizes[0], 0);
    assert!(
        sizes[1] > 1000,
        "a sealed batch of three records: {sizes:?}"
    );
    assert_eq!(sizes[2], 2 * sizes[1]);
}

/// The registry's database is out of reach for the first batch: it answers 503
/// `database_unavailable` with `Retry-After`, as `registry serve` does; the device waits at
/// least that long, sends the same batch again, and every record lands once.
#[test]
fn a_database_unavailable_answer_is_retried_after_the_time_it_asks() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 5, 14);
    struct DatabaseDown {
        inner: LocalTransport,
        refused: AtomicUsize,
    }
    impl Transport for DatabaseDown {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            if request.path == "/v1/batches" && self.refused.fetch_add(1, Ordering::SeqCst) == 0 {
                return Ok(HttpResponse {
                    status: 503,
                    retry_after_secs: Some(7),
                    body: b"{\"code\":\"database_unavailable\",\"message\":\"PostgreSQL: connection closed\"}"
                        .to_vec(),
                });
            }
            self.inner.send(request)
        }
    }
    let down = DatabaseDown {
        inner: LocalTransport::new(registry.clone()),
        refused: AtomicUsize::new(0),
    };
    let mut waits = Vec::new();
    let report = device
        .sync_with_sleep(&down, &NoProgress, config(), &mut |d| waits.push(d))
        .unwrap();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] >= Duration::from_secs(7), "{waits:?}");
    assert_eq!(report.accepted, 5);
    assert_eq!(record_leaves(&registry), 5, "each record once");
    for id in &ids {
        assert_eq!(
            device.get(id).unwrap().summary.status,
            RecordStatus::Registered
        );
    }
}

#[test]
fn a_long_retry_after_ends_the_sync_instead_of_knocking_early() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let ids = capture_samples(&device, 2, 13);
    struct Busy;
    impl Transport for Busy {
        fn send(&self, _: &HttpRequest) -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse {
                status: 429,
                retry_after_secs: Some(3600),
                body: b"{\"code\":\"rate_limited\",\"message\":\"slow down\"}".to_vec(),
            })
        }
    }
    let mut waits = Vec::new();
    let err = device
        .sync_with_sleep(&Busy, &NoProgress, config(), &mut |d| waits.push(d))
        .unwrap_err();
    assert!(
        matches!(&err, SyncError::Unreachable { last_error, .. } if last_error.contains("3600")),
        "{err}"
    );
    assert!(waits.is_empty(), "no early retry: {waits:?}");
    // Nothing lost: the records are still there to send next time.
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(report.accepted, 2);
    for id in &ids {
        assert_eq!(
            device.get(id).unwrap().summary.status,
            RecordStatus::Registered
        );
    }
}

#[test]
fn an_unreachable_registry_stops_the_sync_and_the_next_one_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    capture_samples(&device, 5, 8);
    // Every batch is committed by the registry but no answer comes back.
    let black_hole = Flaky {
        inner: LocalTransport::new(registry.clone()),
        calls: AtomicUsize::new(0),
        // The revocation list passes; then six attempts at the first batch all lose the answer.
        plan: [vec![Fault::Pass], vec![Fault::DropResponse; 6]].concat(),
    };
    let err = sync(&device, &black_hole).unwrap_err();
    assert!(matches!(err, SyncError::Unreachable { .. }), "{err}");
    let counts = device.counts().unwrap();
    assert_eq!((counts.in_flight, counts.acknowledged), (3, 0));
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(
        report.duplicate, 3,
        "the stored batch was resent and answered idempotently"
    );
    assert_eq!(report.accepted, 2);
    assert_eq!(record_leaves(&registry), 5);
    assert_eq!(device.counts().unwrap().registered, 5);
}

/// A registry insider: opens each answer with the registry's own keys, alters it and reseals it.
struct Malicious {
    inner: LocalTransport,
    hpke_secret: [u8; 32],
    alter: fn(&mut BatchResponse),
}

impl Transport for Malicious {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut response = self.inner.send(request)?;
        if request.path == "/v1/batches" && response.status == 200 {
            let (_, key) = wire::open_batch(&request.body, &self.hpke_secret).unwrap();
            let mut answer = BatchResponse::open(&response.body, &key).unwrap();
            (self.alter)(&mut answer);
            response.body = answer.seal(&key).unwrap();
        }
        Ok(response)
    }
}

#[test]
fn tampered_answers_are_refused_and_nothing_is_acknowledged() {
    type Alteration = (&'static str, fn(&mut BatchResponse));
    let alterations: Vec<Alteration> = vec![
        ("bad checkpoint signature", |a| {
            let at = a.checkpoint.len() - 10;
            let mut bytes = a.checkpoint.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            a.checkpoint = String::from_utf8(bytes).unwrap();
        }),
        ("wrong inclusion proof", |a| {
            let leaf = a.results[0].leaf.as_mut().unwrap();
            if leaf.inclusion_proof.is_empty() {
                leaf.index += 1;
            } else {
                leaf.inclusion_proof[0][0] ^= 1;
            }
        }),
        ("wrong salt", |a| {
            a.results[1].leaf.as_mut().unwrap().salt[0] ^= 1
        }),
        ("a result missing", |a| {
            a.results.pop();
        }),
        ("claims accepted without a leaf", |a| {
            a.results[0].leaf = None
        }),
        ("the credential of another record", |a| {
            let other = a.results[1].credential.clone();
            a.results[0].credential = other;
        }),
        ("a forged credential", |a| {
            let credential = a.results[2].credential.as_mut().unwrap();
            let last = credential.len() - 1;
            credential[last] ^= 1;
        }),
    ];
    for (name, alter) in alterations {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let keys = RegistryKeys::load(dir.path()).unwrap();
        let device = enrolled_device(&registry, "w-1");
        capture_samples(&device, 3, 9);
        let malicious = Malicious {
            inner: LocalTransport::new(registry.clone()),
            hpke_secret: *keys.hpke_secret,
            alter,
        };
        let err = sync(&device, &malicious).unwrap_err();
        assert!(
            matches!(err, SyncError::InvalidResponse(_)),
            "{name}: {err}"
        );
        assert_eq!(device.counts().unwrap().acknowledged, 0, "{name}");
        assert_eq!(device.counts().unwrap().registered, 0, "{name}");
        assert_eq!(device.counts().unwrap().in_flight, 3, "{name}");
    }
}

#[test]
fn a_forked_ledger_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let honest = registry(dir.path());
    let device = enrolled_device(&honest, "w-1");
    let insider_device = enrolled_device(&honest, "w-2");
    capture_samples(&device, 2, 10);
    sync(&device, &LocalTransport::new(honest.clone())).unwrap();
    // An insider copies the registry (same keys, same history so far) ...
    let fork_dir = tempfile::tempdir().unwrap();
    for file in ["registry.keys", "registry.db", "trust.json"] {
        std::fs::copy(dir.path().join(file), fork_dir.path().join(file)).unwrap();
    }
    let _ = std::fs::copy(
        dir.path().join("registry.db-wal"),
        fork_dir.path().join("registry.db-wal"),
    );
    let fork = Arc::new(Registry::open(fork_dir.path()).unwrap());
    // ... and the two histories diverge.
    capture_samples(&insider_device, 1, 11);
    sync(&insider_device, &LocalTransport::new(fork.clone())).unwrap();
    capture_samples(&device, 1, 12);
    sync(&device, &LocalTransport::new(honest.clone())).unwrap();
    assert_eq!(
        (honest.tree_size().unwrap(), fork.tree_size().unwrap()),
        (6, 6)
    );
    // The device, which verified the honest size-6 tree, is then served the fork.
    capture_samples(&device, 1, 13);
    let err = sync(&device, &LocalTransport::new(fork)).unwrap_err();
    assert!(matches!(err, SyncError::LedgerInconsistent(_)), "{err}");
    let pending_or_in_flight = device.counts().unwrap();
    assert_eq!(pending_or_in_flight.registered, 3);
    assert_eq!(
        pending_or_in_flight.in_flight, 1,
        "the new record is not marked acknowledged"
    );
}

#[test]
fn the_registry_database_holds_no_names_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    device.capture(&reference_input()).unwrap();
    sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(
        device.list(&ListFilter::default()).unwrap()[0].status,
        RecordStatus::Registered
    );
    let needles: [&[u8]; 5] = [
        "Олена".as_bytes(),
        "Коваленко".as_bytes(),
        "Зимна Вода".as_bytes(),
        b"2026-03-14",
        b"380501234567",
    ];
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("registry.db")
        {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{}",
                path.display()
            );
        }
    }
    assert!(files >= 1);
}

/// Answers some requests itself (what an attacker on the network or a replaying mirror would
/// send) and counts every request; the rest go to the registry.
struct Intercepting {
    inner: LocalTransport,
    answers: Vec<(&'static str, Vec<u8>)>,
    sent: Mutex<Vec<String>>,
}

impl Intercepting {
    fn new(registry: &Arc<Registry>, answers: Vec<(&'static str, Vec<u8>)>) -> Self {
        Intercepting {
            inner: LocalTransport::new(registry.clone()),
            answers,
            sent: Mutex::new(Vec::new()),
        }
    }

    fn paths(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

impl Transport for Intercepting {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.lock().unwrap().push(request.path.clone());
        for (path, body) in &self.answers {
            if request.path == *path {
                return Ok(HttpResponse {
                    status: 200,
                    retry_after_secs: None,
                    body: body.clone(),
                });
            }
        }
        self.inner.send(request)
    }
}

/// Someone who can write the app's files but does not hold the storage key (a rooted or
/// stolen phone, a restored backup, malware) edits the store: the device refuses to open it,
/// so the worker's next sync sends nothing to anyone.
#[test]
fn a_store_edited_without_the_key_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir.path().join("registry"));
    let impostor = Registry::init(&dir.path().join("impostor"), "registry.test/births")
        .unwrap()
        .0;
    let key = StorageKey::generate().unwrap();
    let original = dir.path().join("device.db");
    {
        let device = Device::create(&original, key.clone()).unwrap();
        device.init("w-1").unwrap();
        enrol(&registry, &device, "w-1");
        device.set_registry_url("http://127.0.0.1:1").unwrap();
        capture_samples(&device, 2, 1);
        sync(&device, &LocalTransport::new(registry.clone())).unwrap();
        capture_samples(&device, 2, 2);
    }
    let impostor_bundle = impostor.trust_bundle().to_json();
    let attacks: Vec<(&str, String)> = vec![
        (
            "trust bundle replaced by an impostor's",
            format!(
                "UPDATE meta SET value = CAST('{impostor_bundle}' AS BLOB) WHERE key = 'trust_bundle'"
            ),
        ),
        (
            "registry URL redirected",
            "UPDATE meta SET value = CAST('http://evil.example' AS BLOB) WHERE key = 'registry_url'"
                .into(),
        ),
        (
            "pending record marked acknowledged",
            "UPDATE records SET status = 'acknowledged', leaf_index = 0 WHERE status = 'pending'"
                .into(),
        ),
        (
            "pending record marked rejected",
            "UPDATE records SET status = 'rejected', reject_code = 'x' WHERE status = 'pending'"
                .into(),
        ),
        ("checkpoints deleted", "DELETE FROM checkpoints".into()),
        (
            "certificate deleted",
            "DELETE FROM meta WHERE key = 'device_certificate'".into(),
        ),
        (
            "receipt replaced",
            "UPDATE records SET receipt = x'00' WHERE status = 'registered'".into(),
        ),
    ];
    for (name, sql) in attacks {
        let copy = dir.path().join(format!("{}.db", name.replace(' ', "-")));
        std::fs::copy(&original, &copy).unwrap();
        let before = std::fs::read(&copy).unwrap();
        rusqlite::Connection::open(&copy)
            .unwrap()
            .execute_batch(&sql)
            .unwrap();
        let opened = Device::open(&copy, key.clone());
        let err = match opened {
            Err(e) => e.to_string(),
            Ok(device) => {
                let transport = Intercepting::new(&registry, Vec::new());
                // What the app does on "Sync now": show the list, read where to sync, sync.
                let outcome = device
                    .list(&ListFilter::default())
                    .map_err(|e| e.to_string())
                    .and_then(|_| device.registry_url().map_err(|e| e.to_string()))
                    .and_then(|_| sync(&device, &transport).map_err(|e| e.to_string()))
                    .map(|_| ());
                assert!(transport.paths().is_empty(), "{name}: something was sent");
                outcome.expect_err(name)
            }
        };
        assert!(err.contains("tampered"), "{name}: {err}");
        assert_ne!(std::fs::read(&copy).unwrap(), before, "the edit itself");
    }
}

/// A replayed older revocation list (which would un-revoke this device on the phone) and a
/// replayed older checkpoint are ignored without alarm; the newest stay.
#[test]
fn older_revocation_lists_and_checkpoints_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let kid = device.identity().unwrap().key_id;
    capture_samples(&device, 2, 1);
    let transport = LocalTransport::new(registry.clone());
    sync(&device, &transport).unwrap();
    let old_checkpoint = registry.checkpoint().unwrap().into_bytes();
    let keys = RegistryKeys::load(dir.path()).unwrap();
    let old_list = birthright_core::trust::RevocationList {
        version: 1,
        origin: keys.origin.clone(),
        issued_at: OffsetDateTime::now_utc().unix_timestamp() - 3600,
        entries: Vec::new(),
    }
    .sign(&keys.signing)
    .unwrap();
    let old_status = registry
        .status_list_at(OffsetDateTime::now_utc().unix_timestamp() - 3600)
        .unwrap()
        .as_ref()
        .clone();
    capture_samples(&device, 2, 2);
    let size = sync(&device, &transport).unwrap().tree_size;
    assert_eq!(size, 8, "four records and their registrations");
    registry.revoke(&kid, "lost", None).unwrap();
    let report = sync(&device, &transport).unwrap();
    assert!(report.device_revoked);
    let newest_list = device.revocations().unwrap().unwrap().0;

    let replaying = Intercepting::new(
        &registry,
        vec![
            ("/v1/revocations", old_list),
            ("/v1/checkpoint", old_checkpoint),
            ("/v1/status-list", old_status),
        ],
    );
    let newest_status = device.status_list().unwrap().unwrap().0;
    let report = sync(&device, &replaying).unwrap();
    assert!(report.device_revoked, "still revoked");
    assert!(
        !report.revocations_refreshed,
        "the older list was not taken"
    );
    assert_eq!(device.revocations().unwrap().unwrap().0, newest_list);
    assert_eq!(report.tree_size, size, "the newer checkpoint stays");
    assert!(
        !report.status_list_refreshed,
        "the older status list was not taken"
    );
    assert_eq!(device.status_list().unwrap().unwrap().0, newest_status);
    // A status list signed by another key is an invalid answer, and is not cached.
    let forged = birthright_core::status_list::StatusListToken {
        origin: keys.origin.clone(),
        issued_at: OffsetDateTime::now_utc().unix_timestamp() + 60,
        expires_at: OffsetDateTime::now_utc().unix_timestamp() + 3600,
        ttl: 60,
        list: birthright_core::status_list::StatusList::new(4),
    }
    .sign(&birthright_core::keys::Ed25519Key::from_secret(&[5; 32]))
    .unwrap();
    let forging = Intercepting::new(&registry, vec![("/v1/status-list", forged)]);
    let err = sync(&device, &forging).unwrap_err();
    assert!(matches!(err, SyncError::InvalidResponse(_)), "{err}");
    assert_eq!(device.status_list().unwrap().unwrap().0, newest_status);
}

/// A device enrolled with one registry refuses to enrol with another (its records, receipts
/// and checkpoints belong to the first); the same registry again is a harmless retry.
#[test]
fn an_enrolled_device_refuses_a_second_registry() {
    let dir = tempfile::tempdir().unwrap();
    let first = registry(&dir.path().join("a"));
    let second = Arc::new(
        Registry::init(&dir.path().join("b"), "other.test/births")
            .unwrap()
            .0,
    );
    let device = enrolled_device(&first, "w-1");
    let token = second.create_token("w-1", "UA-46", 3600).unwrap();
    let transport = Intercepting::new(&second, Vec::new());
    let pin = birthright_core::trust::TrustPin::Bundle(second.trust_bundle().clone());
    let err = device
        .enrol_with_sleep(&transport, &token, &pin, &mut |_| {})
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already enrolled with registry.test/births"),
        "{err}"
    );
    assert_eq!(transport.paths(), ["/v1/trust"], "the token was not used");
    assert!(second.devices().unwrap().is_empty());
    assert_eq!(
        device.trust_bundle().unwrap().unwrap(),
        *first.trust_bundle()
    );
    let token = first.create_token("w-1", "UA-46", 3600).unwrap();
    let pin = birthright_core::trust::TrustPin::Bundle(first.trust_bundle().clone());
    let again = Intercepting::new(&first, Vec::new());
    let err = device
        .enrol_with_sleep(&again, &token, &pin, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("already enrolled"), "{err}");
}

/// The pin is checked before the token is used: an impostor registry (or an interceptor
/// answering `/v1/trust`) never receives a request that uses the token.
#[test]
fn a_wrong_pin_stops_enrolment_before_the_token_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let genuine = registry(&dir.path().join("a"));
    let impostor = registry(&dir.path().join("b"));
    let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    device.init("w-1").unwrap();
    let token = genuine.create_token("w-1", "UA-46", 3600).unwrap();
    let fingerprint = genuine.trust_bundle().fingerprint().unwrap();
    let pin = birthright_core::trust::TrustPin::fingerprint(&fingerprint).unwrap();
    let towards_impostor = Intercepting::new(&impostor, Vec::new());
    let err = device
        .enrol_with_sleep(&towards_impostor, &token, &pin, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("not the pinned one"), "{err}");
    assert_eq!(towards_impostor.paths(), ["/v1/trust"]);
    assert!(device.trust_bundle().unwrap().is_none());
    // Through the genuine registry, with the same token, enrolment works.
    let transport = Intercepting::new(&genuine, Vec::new());
    let certificate = device
        .enrol_with_sleep(&transport, &token, &pin, &mut |_| {})
        .unwrap();
    assert_eq!(certificate.worker_id, "w-1");
    assert_eq!(transport.paths(), ["/v1/trust", "/v1/enrol"]);
}

/// A correction flips the leaf of the record it corrects to SUPERSEDED in the signed status
/// list at `GET /v1/status-list`; `revoke-credential` makes a leaf REVOKED; the list is cached
/// until the ledger or a status changes.
#[test]
fn a_correction_supersedes_the_old_leaf_in_the_status_list() {
    use birthright_core::status_list::{LeafStatus, StatusListToken};
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let transport = LocalTransport::new(registry.clone());
    let fetch = || {
        let answer = transport
            .send(&HttpRequest {
                method: birthright_core::sync::Method::Get,
                path: "/v1/status-list".into(),
                content_type: None,
                body: vec![],
            })
            .unwrap();
        assert_eq!(answer.status, 200);
        StatusListToken::verify(&answer.body, registry.trust_bundle()).unwrap()
    };
    let first = device.capture(&reference_input()).unwrap().summary;
    let other = device.capture(&reference_input()).unwrap().summary;
    sync(&device, &transport).unwrap();
    let old_leaf = device.get(&first.id).unwrap().summary.leaf_index.unwrap();
    let other_leaf = device.get(&other.id).unwrap().summary.leaf_index.unwrap();
    let before = fetch();
    assert_eq!(before.list.get(old_leaf), Some(LeafStatus::Valid));
    assert_eq!(before.origin, registry.trust_bundle().origin);
    // Nothing changed: the cached bytes are served again.
    assert_eq!(
        registry.status_list().unwrap(),
        registry.status_list().unwrap()
    );
    let old_credential = device.credential(&first.id).unwrap();
    let correction = device
        .correct(&first.id, &reference_input())
        .unwrap()
        .summary;
    sync(&device, &transport).unwrap();
    let new_leaf = device
        .get(&correction.id)
        .unwrap()
        .summary
        .leaf_index
        .unwrap();
    let after = fetch();
    assert_eq!(after.list.get(old_leaf), Some(LeafStatus::Superseded));
    assert_eq!(after.list.get(new_leaf), Some(LeafStatus::Valid));
    assert_eq!(after.list.get(other_leaf), Some(LeafStatus::Valid));
    // Revoking one registered credential.
    assert!(
        registry
            .revoke_credential(other_leaf, "lost", Some("caregiver reported it"))
            .unwrap()
    );
    assert!(
        !registry
            .revoke_credential(other_leaf, "lost", None)
            .unwrap(),
        "already"
    );
    let revoked = fetch();
    assert_eq!(revoked.list.get(other_leaf), Some(LeafStatus::Revoked));
    assert_eq!(revoked.list.get(old_leaf), Some(LeafStatus::Superseded));
    let e = registry.revoke_credential(9_999, "lost", None).unwrap_err();
    assert_eq!((e.status, e.code), (404, "unknown_leaf"));
    let e = registry
        .revoke_credential(other_leaf, "because", None)
        .unwrap_err();
    assert_eq!(e.code, "bad_reason");
    // The device caches it at sync, and its credential of the corrected record now verifies
    // as superseded with the device's lists.
    let mut verifier = birthright_core::credential::Verifier::from_bytes(
        registry.trust_bundle().to_json().as_bytes(),
        None,
    )
    .unwrap();
    let (bytes, _) = device.status_list().unwrap().expect("cached at sync");
    verifier.add_status_list(&bytes).unwrap();
    assert!(matches!(
        verifier
            .verify_text(
                &old_credential.text,
                OffsetDateTime::now_utc().unix_timestamp()
            )
            .verdict,
        birthright_core::credential::Verdict::Superseded(_)
    ));
}

#[test]
fn a_possible_duplicate_is_on_the_ledger_but_held_without_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let first = enrolled_device(&registry, "w-1");
    let second = enrolled_device(&registry, "w-2");
    let original = first.capture(&reference_input()).unwrap().summary.id;
    let mut latin = reference_input();
    latin.child.given_names = "Olena".into();
    latin.child.family_name = "Kovalenko".into();
    let copy = second.capture(&latin).unwrap().summary.id;
    let other = second
        .capture(&recent(
            sample_inputs(1, 99, OffsetDateTime::now_utc().date())[0].clone(),
        ))
        .unwrap();
    let send = |device: &Device, ids: &[Uuid], known: u64| {
        let records = ids
            .iter()
            .map(|id| device.get(id).unwrap().signed.bytes)
            .collect();
        let (sealed, key) = seal(&registry, device, records, known);
        BatchResponse::open(&registry.ingest(&sealed).unwrap(), &key).unwrap()
    };
    let answer = send(&first, &[original], 0);
    assert!(answer.results[0].held.is_none());
    assert!(answer.results[0].credential.is_some());
    let answer = send(&second, &[copy, other.summary.id], 1);
    let held = &answer.results[0];
    assert_eq!(held.outcome, Outcome::Accepted);
    assert!(held.leaf.is_some(), "on the ledger");
    assert!(held.credential.is_none(), "no credential while held");
    let hint = held.held.as_ref().expect("held");
    assert_eq!(hint.candidates.len(), 1);
    assert_eq!(hint.candidates[0].level, "likely");
    assert_eq!(hint.candidates[0].child_name, "Олена Коваленко");
    assert_eq!(hint.candidates[0].date_of_birth, "2026-03-14");
    assert!(
        hint.candidates[0]
            .reasons
            .contains(&"same mother and date of birth".to_string()),
        "{hint:?}"
    );
    // Another child in the same batch is registered as usual.
    assert!(answer.results[1].held.is_none());
    assert!(answer.results[1].credential.is_some());
    // A re-send is still held (matching is not repeated: the pair is stored).
    let again = send(&second, &[copy], 3);
    assert_eq!(again.results[0].outcome, Outcome::Duplicate);
    assert!(again.results[0].credential.is_none());
    assert!(again.results[0].held.is_some());
    let pairs = registry.duplicates().unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(
        (pairs[0].record_id, pairs[0].candidate_id),
        (copy, original)
    );
    // Two children after all: released, and its re-send gets its credential.
    registry
        .decide_duplicate(
            &copy,
            &original,
            birthright_registry::service::Decision::NotDuplicate,
            None,
            OffsetDateTime::now_utc().unix_timestamp(),
        )
        .unwrap();
    assert!(registry.duplicates().unwrap().is_empty());
    let released = send(&second, &[copy], 3);
    assert!(released.results[0].held.is_none());
    assert!(released.results[0].credential.is_some());
    let err = registry
        .decide_duplicate(
            &copy,
            &original,
            birthright_registry::service::Decision::Duplicate,
            None,
            OffsetDateTime::now_utc().unix_timestamp(),
        )
        .unwrap_err();
    assert_eq!(err.code, "unknown_pair");
}

/// A late registration awaits review without a credential; once a registrar registers it,
/// the device's signed notices request is answered, sealed to it, with the decision, its
/// inclusion proof (checked here as the device would: the decision leaf rebuilt from the
/// device's own receipt and record) and the registered credential; an unsigned request is
/// refused.
#[test]
fn a_reviewed_registration_reaches_the_device_through_its_notices() {
    use birthright_core::wire::{
        DecidedBy, DecisionKind, DecisionLeaf, DecisionReason, NoticesRequest, NoticesResponse,
    };
    use birthright_registry::service::decisions::{Action, DecisionRequest};
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let mut late = reference_input();
    let three_years_ago = OffsetDateTime::now_utc().date() - time::Duration::days(3 * 365);
    late.child.date_of_birth = three_years_ago.to_string();
    late.mother.date_of_birth = Some("1990-01-01".into());
    let id = device.capture(&late).unwrap().summary.id;
    let report = sync(&device, &LocalTransport::new(registry.clone())).unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(registry.tree_size().unwrap(), 1, "no decision yet");
    let receipt = device.receipt(&id).unwrap().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let decided = registry
        .decide(
            &DecisionRequest {
                record: id,
                action: Action::Register,
                reason: None,
                note: Some("checked the maternity ward's letter".into()),
                actor: Some("registrar-1".into()),
            },
            now,
        )
        .unwrap();
    assert_eq!(
        (decided.status.as_str(), decided.leaf_index),
        ("registered", 1)
    );
    let kid = device.identity().unwrap().key_id;
    let hpke = registry.trust_bundle().hpke_public_key().unwrap();
    let mut request = NoticesRequest {
        version: wire::WIRE_VERSION,
        request_id: Uuid::now_v7(),
        device_kid: ByteBuf::from(kid.0.to_vec()),
        known_tree_size: 1,
        from_index: 0,
        signature: ByteBuf::from(vec![0; 64]),
        records: vec![Uuid::now_v7()],
    };
    let (sealed, _) = request.seal(&hpke).unwrap();
    let refused = registry.notices(&sealed).unwrap_err();
    assert_eq!((refused.status, refused.code), (403, "bad_signature"));
    let message = request.signed_message();
    request.signature = ByteBuf::from(
        device
            .with_device_key(|k| k.sign(&message).to_vec())
            .unwrap(),
    );
    let (sealed, key) = request.seal(&hpke).unwrap();
    let answer = NoticesResponse::open(&registry.notices(&sealed).unwrap(), &key).unwrap();
    assert!(answer.notices.is_empty(), "only the records asked about");
    request.records = vec![id];
    let message = request.signed_message();
    request.signature = ByteBuf::from(
        device
            .with_device_key(|k| k.sign(&message).to_vec())
            .unwrap(),
    );
    let (sealed, key) = request.seal(&hpke).unwrap();
    let answer = NoticesResponse::open(&registry.notices(&sealed).unwrap(), &key).unwrap();
    assert_eq!(answer.notices.len(), 1);
    let notice = &answer.notices[0];
    assert_eq!(notice.record_id, id);
    assert_eq!(
        (notice.decision, notice.reason, notice.decided_by),
        (
            DecisionKind::Registered,
            DecisionReason::Reviewed,
            DecidedBy::Registrar
        )
    );
    let trust = device.trust_bundle().unwrap().unwrap();
    let verifier = NoteVerifier::from_vkey(&trust.checkpoint_vkey).unwrap();
    let cp = verify_checkpoint(&verifier, &answer.checkpoint, &trust.origin).unwrap();
    assert_eq!(cp.size, 2);
    let salt: [u8; 32] = receipt.salt.as_slice().try_into().unwrap();
    let leaf = DecisionLeaf {
        record_index: receipt.leaf_index,
        commitment: wire::record_commitment(&salt, &device.get(&id).unwrap().signed.bytes),
        decision: notice.decision,
        reason: notice.reason,
        decided_by: notice.decided_by,
        decided_at: notice.decided_at,
    }
    .to_bytes();
    let proof = wire::hashes(&notice.inclusion_proof).unwrap();
    verify_inclusion(
        &leaf_hash(&leaf),
        notice.leaf_index,
        2,
        &proof,
        &cp.root_hash,
    )
    .unwrap();
    let consistency = wire::hashes(&answer.consistency_proof).unwrap();
    assert_eq!(consistency.len(), 1);
    let credential = notice
        .credential
        .as_ref()
        .expect("the registered credential");
    let verifier = birthright_core::credential::Verifier::from_bytes(
        registry.trust_bundle().to_json().as_bytes(),
        None,
    )
    .unwrap();
    let verification = verifier.verify_bytes(credential, now);
    assert!(
        matches!(
            verification.verdict,
            birthright_core::credential::Verdict::Valid
        ),
        "{verification:?}"
    );
}

/// A late registration, as the field captures it: born three years before today.
fn late_child(seed: u64) -> birthright_core::record::RegistrationForm {
    let mut form = sample_inputs(1, seed, OffsetDateTime::now_utc().date())[0].clone();
    let three_years_ago = OffsetDateTime::now_utc().date() - time::Duration::days(3 * 365);
    form.child.date_of_birth = three_years_ago.to_string();
    form
}

/// Rewrites the notices answers the device receives (the registry's HPKE key opens the request
/// and so the answer's key, as an insider could).
struct ForgedNotices {
    inner: LocalTransport,
    hpke_secret: [u8; 32],
    alter: fn(&mut birthright_core::wire::NoticesResponse),
}

impl Transport for ForgedNotices {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        use birthright_core::wire::{NoticesRequest, NoticesResponse};
        let mut response = self.inner.send(request)?;
        if request.path == "/v1/notices" && response.status == 200 {
            let (_, key) = NoticesRequest::open(&request.body, &self.hpke_secret).unwrap();
            let mut answer = NoticesResponse::open(&response.body, &key).unwrap();
            (self.alter)(&mut answer);
            response.body = answer.seal(&key).unwrap();
        }
        Ok(response)
    }
}

/// Late registrations wait as acknowledged; on the next sync after a registrar's decisions the
/// device holds the registered credential of the one registered, the reasons of the one
/// rejected and the one sent back for correction, and the fourth still waits; a forged
/// decision changes nothing; the same decisions fetched again change nothing; the correction
/// goes back to the registry as a record that supersedes the one sent back.
#[test]
fn a_device_learns_the_registrars_decisions_on_its_next_sync() {
    use birthright_core::wire::{DecisionKind, DecisionReason};
    use birthright_registry::service::decisions::{Action, DecisionRequest};
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let keys = RegistryKeys::load(dir.path()).unwrap();
    let device = enrolled_device(&registry, "w-1");
    let ids: Vec<Uuid> = (0..4)
        .map(|n| device.capture(&late_child(500 + n)).unwrap().summary.id)
        .collect();
    let transport = LocalTransport::new(registry.clone());
    let report = sync(&device, &transport).unwrap();
    assert_eq!((report.accepted, report.registered), (4, 0));
    assert_eq!(
        device.counts().unwrap().acknowledged,
        4,
        "declared, awaiting review"
    );
    let nothing_yet = sync(&device, &transport).unwrap();
    assert_eq!((nothing_yet.registered, nothing_yet.rejected.len()), (0, 0));
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let decide = |id: Uuid, action: Action, reason: Option<DecisionReason>| {
        registry
            .decide(
                &DecisionRequest {
                    record: id,
                    action,
                    reason,
                    note: Some("checked at the office".into()),
                    actor: Some("registrar-1".into()),
                },
                now,
            )
            .unwrap()
    };
    decide(ids[0], Action::Register, None);
    decide(
        ids[1],
        Action::Reject,
        Some(DecisionReason::IncorrectInformation),
    );
    decide(
        ids[2],
        Action::RequestCorrection,
        Some(DecisionReason::MissingInformation),
    );

    // A forged decision (rejected turned into registered, or another reason) is refused.
    type Forgery = (
        &'static str,
        fn(&mut birthright_core::wire::NoticesResponse),
    );
    let forgeries: Vec<Forgery> = vec![
        ("another decision", |a| {
            a.notices[1].decision = DecisionKind::Registered
        }),
        ("another reason", |a| {
            a.notices[2].reason = DecisionReason::SuspectedFraud
        }),
        ("another record", |a| {
            let other = a.notices[0].record_id;
            a.notices[1].record_id = other;
        }),
        ("a credential without a registration", |a| {
            let credential = a.notices[0].credential.clone();
            a.notices[1].credential = credential;
        }),
        ("a registration without its credential", |a| {
            a.notices[0].credential = None
        }),
    ];
    for (name, alter) in forgeries {
        let forged = ForgedNotices {
            inner: LocalTransport::new(registry.clone()),
            hpke_secret: *keys.hpke_secret,
            alter,
        };
        let err = sync(&device, &forged).unwrap_err();
        assert!(
            matches!(err, SyncError::InvalidResponse(_)),
            "{name}: {err}"
        );
        assert_eq!(device.counts().unwrap().acknowledged, 4, "{name}");
    }

    let report = sync(&device, &transport).unwrap();
    assert_eq!(report.registered, 1);
    let codes: Vec<(Uuid, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.id, r.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![(ids[1], "rejected"), (ids[2], "correction_requested")]
    );
    assert!(
        report.rejected[1].message.contains("missing information"),
        "{}",
        report.rejected[1].message
    );
    let status = |id: &Uuid| device.get(id).unwrap().summary.status;
    assert_eq!(status(&ids[0]), RecordStatus::Registered);
    assert_eq!(status(&ids[1]), RecordStatus::Rejected);
    assert_eq!(status(&ids[2]), RecordStatus::Rejected);
    assert_eq!(
        status(&ids[3]),
        RecordStatus::Acknowledged,
        "not decided yet"
    );
    let registered = device.credential(&ids[0]).unwrap();
    let verifier = birthright_core::credential::Verifier::from_bytes(
        registry.trust_bundle().to_json().as_bytes(),
        None,
    )
    .unwrap();
    let verification = verifier.verify_bytes(&registered.bytes, now);
    assert!(
        matches!(
            verification.verdict,
            birthright_core::credential::Verdict::Valid
        ),
        "{verification:?}"
    );
    assert!(verification.registration.is_some(), "registry-signed");

    // Fetched again: nothing changes.
    let again = sync(&device, &transport).unwrap();
    assert_eq!((again.registered, again.rejected.len()), (0, 0));
    assert_eq!(device.counts().unwrap().registered, 1);

    // The worker corrects the record sent back; it supersedes it at the registry.
    let corrected = device.correct(&ids[2], &late_child(502)).unwrap();
    let report = sync(&device, &transport).unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        status(&corrected.summary.id),
        RecordStatus::Acknowledged,
        "a correction is reviewed too"
    );
    assert_eq!(
        device.get(&ids[2]).unwrap().summary.superseded_by,
        Some(corrected.summary.id)
    );
}
