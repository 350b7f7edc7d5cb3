//! Attacks on the registry's ingest, each performed and shown refused with a typed answer and
//! nothing changed: backdating by an expired device, copied record ids, corrections of other
//! devices' records, a record naming another worker, garbage batches, erased records sent
//! again, a database restored from a backup, and files readable by others.

use std::{path::Path, sync::Arc};

use birthright_core::{
    device::Device,
    record::Record,
    signed::SignedRecord,
    sync::SyncConfig,
    wire::{self, Batch, BatchResponse, Outcome},
};
use birthright_registry::{Registry, local::LocalTransport, service::EXPIRED_SYNC_GRACE_SECS};
use serde_bytes::ByteBuf;
use time::OffsetDateTime;
use uuid::Uuid;

mod common;
use common::{NoProgress, enrolled_device, registry, timely_input};

fn sync(device: &Device, registry: &Arc<Registry>) -> birthright_core::sync::SyncReport {
    device
        .sync_with_sleep(
            &LocalTransport::new(registry.clone()),
            &NoProgress,
            SyncConfig::default(),
            &mut |_| {},
        )
        .unwrap()
}

/// Sends `records` as one batch from `device` at registry time `now`; returns each record's
/// outcome and rejection code.
fn send_at(
    registry: &Registry,
    device: &Device,
    records: Vec<Vec<u8>>,
    now: i64,
) -> Vec<(Outcome, Option<String>)> {
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: Uuid::now_v7(),
        device_kid: ByteBuf::from(device.identity().unwrap().key_id.0.to_vec()),
        certificate: None,
        known_tree_size: 0,
        records: records.into_iter().map(ByteBuf::from).collect(),
    };
    let (sealed, key) = batch
        .seal(&registry.trust_bundle().hpke_public_key().unwrap())
        .unwrap();
    let answer = BatchResponse::open(&registry.ingest_at(&sealed, now).unwrap(), &key).unwrap();
    answer
        .results
        .iter()
        .map(|r| (r.outcome, r.rejection.as_ref().map(|x| x.code.clone())))
        .collect()
}

fn send(
    registry: &Registry,
    device: &Device,
    records: Vec<Vec<u8>>,
) -> Vec<(Outcome, Option<String>)> {
    send_at(
        registry,
        device,
        records,
        OffsetDateTime::now_utc().unix_timestamp(),
    )
}

fn bytes(device: &Device, id: &Uuid) -> Vec<u8> {
    device.get(id).unwrap().signed.bytes
}

/// `record` re-signed by `device`, as that device's own record.
fn forge(device: &Device, mut record: Record) -> Vec<u8> {
    let identity = device.identity().unwrap();
    record.device_kid = identity.key_id.0.to_vec();
    record.worker_id = identity.worker_id;
    device
        .with_device_key(|k| SignedRecord::sign(&record, k).unwrap().bytes)
        .unwrap()
}

fn refused(code: &str) -> (Outcome, Option<String>) {
    (Outcome::Rejected, Some(code.into()))
}

const ACCEPTED: (Outcome, Option<String>) = (Outcome::Accepted, None);
const DUPLICATE: (Outcome, Option<String>) = (Outcome::Duplicate, None);

#[test]
fn an_expired_device_cannot_backdate_records_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let not_after = registry.devices().unwrap()[0].not_after;
    let captured = OffsetDateTime::from_unix_timestamp(not_after - 86_400).unwrap();
    // Captured the day before the certificate ends (as a retired phone's clock can claim).
    let first = device.capture_at(&timely_input(), captured, None).unwrap();
    let second = device.capture_at(&timely_input(), captured, None).unwrap();
    // Synced long after the grace period: refused, whatever the capture time says.
    let late = not_after + EXPIRED_SYNC_GRACE_SECS + 1;
    assert_eq!(
        send_at(&registry, &device, vec![bytes(&device, &first.id)], late),
        vec![refused("device_expired")]
    );
    assert_eq!(registry.tree_size().unwrap(), 0);
    // Within the grace period a record captured while the certificate was valid is taken ...
    let within = not_after + EXPIRED_SYNC_GRACE_SECS - 60;
    assert_eq!(
        send_at(&registry, &device, vec![bytes(&device, &first.id)], within),
        vec![ACCEPTED]
    );
    // ... and after it only its re-send is answered; nothing new is.
    assert_eq!(
        send_at(
            &registry,
            &device,
            vec![bytes(&device, &first.id), bytes(&device, &second.id)],
            late
        ),
        vec![DUPLICATE, refused("device_expired")]
    );
    assert_eq!(registry.tree_size().unwrap(), 1);
}

#[test]
fn a_copied_record_id_never_blocks_the_device_that_captured_it() {
    for attacker_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let owner = enrolled_device(&registry, "w-owner");
        let attacker = enrolled_device(&registry, "w-attacker");
        let genuine = owner.capture(&timely_input()).unwrap().summary;
        // The attacker read the id off the provisional QR and signs its own record with it.
        let mut copy = owner.get(&genuine.id).unwrap().signed.record;
        copy.enrolment.child.given_names = "Someone".into();
        let copied = forge(&attacker, copy);
        if attacker_first {
            assert_eq!(
                send(&registry, &attacker, vec![copied.clone()]),
                vec![ACCEPTED]
            );
        }
        let report = sync(&owner, &registry);
        assert_eq!(
            (report.accepted, report.rejected.len()),
            (1, 0),
            "attacker first: {attacker_first}"
        );
        if !attacker_first {
            // Kept apart under the attacker's own device, flagged for the registrar; the
            // owner's record is untouched.
            assert_eq!(
                send(&registry, &attacker, vec![copied.clone()]),
                vec![ACCEPTED]
            );
        }
        let owner_kid = owner.identity().unwrap().key_id;
        let attacker_kid = attacker.identity().unwrap().key_id;
        assert_eq!(
            registry.record_bytes_of(&owner_kid, &genuine.id).unwrap(),
            Some(bytes(&owner, &genuine.id))
        );
        assert_eq!(
            registry
                .record_bytes_of(&attacker_kid, &genuine.id)
                .unwrap(),
            Some(copied)
        );
        let owners = registry.record_owners(&genuine.id).unwrap();
        assert_eq!(owners.len(), 2);
        assert!(owners.contains(&owner_kid) && owners.contains(&attacker_kid));
        // The owner's re-send stays a duplicate of its own leaf.
        assert_eq!(
            send(&registry, &owner, vec![bytes(&owner, &genuine.id)]),
            vec![DUPLICATE]
        );
    }
}

#[test]
fn corrections_come_only_from_the_capturing_device_once_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let owner = enrolled_device(&registry, "w-owner");
    let attacker = enrolled_device(&registry, "w-attacker");
    let original = owner.capture(&timely_input()).unwrap().summary;
    sync(&owner, &registry);
    let record = owner.get(&original.id).unwrap().signed.record;
    let correction_of = |device: &Device, of: Uuid| {
        let mut r = record.clone();
        r.id = Uuid::now_v7();
        r.supersedes = Some(of);
        forge(device, r)
    };
    // Another device corrects the owner's record, repeatedly, and a record that does not exist.
    let hostile = vec![
        correction_of(&attacker, original.id),
        correction_of(&attacker, original.id),
        correction_of(&attacker, Uuid::now_v7()),
    ];
    assert_eq!(
        send(&registry, &attacker, hostile),
        vec![
            refused("not_record_owner"),
            refused("not_record_owner"),
            refused("unknown_original")
        ]
    );
    // The original and the review policy's registration of it.
    assert_eq!(registry.tree_size().unwrap(), 2);
    // The owner corrects it once; a second correction of the same version is refused, a
    // correction of the newest is taken, and a re-send of the first stays a duplicate.
    let first = correction_of(&owner, original.id);
    let second = correction_of(&owner, original.id);
    assert_eq!(
        send(&registry, &owner, vec![first.clone(), second]),
        vec![ACCEPTED, refused("already_corrected")]
    );
    let first_id = SignedRecord::decode(&first).unwrap().record.id;
    assert_eq!(
        send(
            &registry,
            &owner,
            vec![first, correction_of(&owner, first_id)]
        ),
        vec![DUPLICATE, ACCEPTED]
    );
    // A correction of an id nobody registered, from the owner itself.
    assert_eq!(
        send(
            &registry,
            &owner,
            vec![correction_of(&owner, Uuid::now_v7())]
        ),
        vec![refused("unknown_original")]
    );
    // Corrections await review: no registration leaf for them yet.
    assert_eq!(registry.tree_size().unwrap(), 4);
}

#[test]
fn a_record_naming_another_worker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let genuine = device.capture(&timely_input()).unwrap().summary;
    let mut record = device.get(&genuine.id).unwrap().signed.record;
    record.id = Uuid::now_v7();
    record.worker_id = "w-2".into();
    let other_worker = device
        .with_device_key(|k| SignedRecord::sign(&record, k).unwrap().bytes)
        .unwrap();
    assert_eq!(
        send(&registry, &device, vec![other_worker]),
        vec![refused("worker_mismatch")]
    );
    assert_eq!(registry.tree_size().unwrap(), 0);
}

fn batch_rows(dir: &Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("registry.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM batches", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn garbage_batches_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    // Anyone can seal to the public key and name an enrolled device (key ids are public).
    for _ in 0..5 {
        let junk = vec![b"junk".to_vec(), vec![0xa0; 40]];
        assert_eq!(
            send(&registry, &device, junk),
            vec![refused("malformed"), refused("malformed")]
        );
    }
    assert_eq!(batch_rows(dir.path()), 0);
    assert_eq!(registry.tree_size().unwrap(), 0);
    let good = device.capture(&timely_input()).unwrap().summary;
    send(&registry, &device, vec![bytes(&device, &good.id)]);
    assert_eq!(batch_rows(dir.path()), 1);
}

#[test]
fn a_record_erased_at_the_registry_is_never_sequenced_again() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    let record = device.capture(&timely_input()).unwrap().summary;
    sync(&device, &registry);
    let db = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    db.execute(
        "DELETE FROM records WHERE id = ?1",
        [record.id.as_bytes().as_slice()],
    )
    .unwrap();
    // Its index row and leaf stay: deleting them is refused by the database itself.
    assert!(
        db.execute("DELETE FROM ledger_records", [])
            .unwrap_err()
            .to_string()
            .contains("never deleted")
    );
    assert!(db.execute("DELETE FROM leaves", []).is_err());
    drop(db);
    assert_eq!(
        send(&registry, &device, vec![bytes(&device, &record.id)]),
        vec![refused("record_removed")]
    );
    assert_eq!(
        registry.tree_size().unwrap(),
        2,
        "the record and its registration"
    );
}

fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("registry.db{suffix}");
        let _ = std::fs::remove_file(to.join(&name));
        if from.join(&name).exists() {
            std::fs::copy(from.join(&name), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn a_restored_database_signs_nothing_until_an_explicit_recover() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let device = {
        let registry = registry(dir.path());
        let device = enrolled_device(&registry, "w-1");
        for _ in 0..3 {
            device.capture(&timely_input()).unwrap();
        }
        sync(&device, &registry);
        device
    };
    copy_db(dir.path(), backup.path());
    let published = {
        let registry = Arc::new(Registry::open(dir.path()).unwrap());
        device.capture(&timely_input()).unwrap();
        device.capture(&timely_input()).unwrap();
        sync(&device, &registry);
        // Five records (the same child each time: the first is registered at once, the
        // others are held as its possible duplicates) and the first one's registration.
        assert_eq!(registry.tree_size().unwrap(), 6);
        registry.checkpoint().unwrap()
    };
    // The data directory's database is restored from the backup (4 leaves).
    copy_db(backup.path(), dir.path());
    let registry = Arc::new(Registry::open(dir.path()).unwrap());
    let err = registry.checkpoint().unwrap_err();
    assert_eq!((err.status, err.code), (503, "ledger_restored"), "{err}");
    assert!(err.message.contains("registry recover"), "{err}");
    let other = enrolled_device(&registry, "w-2");
    let fresh = other.capture(&timely_input()).unwrap().summary;
    let err = registry
        .ingest(&{
            let batch = Batch {
                version: wire::WIRE_VERSION,
                batch_id: Uuid::now_v7(),
                device_kid: ByteBuf::from(other.identity().unwrap().key_id.0.to_vec()),
                certificate: None,
                known_tree_size: 0,
                records: vec![ByteBuf::from(bytes(&other, &fresh.id))],
            };
            batch
                .seal(&registry.trust_bundle().hpke_public_key().unwrap())
                .unwrap()
                .0
        })
        .unwrap_err();
    assert_eq!(err.code, "ledger_restored");
    // Nothing was sequenced or signed for the sizes already published (the backup's three
    // records and the first one's registration).
    assert_eq!(registry.tree_size().unwrap(), 4);
    let db = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    let largest: i64 = db
        .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(largest, 4);
    drop(db);
    drop(registry);
    // The operator accepts the loss explicitly; it is logged, and signing resumes.
    let recovery = Registry::recover(dir.path()).unwrap();
    assert_eq!(recovery.previous.map(|(s, _)| s), Some(6));
    assert_eq!(recovery.current.0, 4);
    let log = std::fs::read_to_string(dir.path().join("recover.log")).unwrap();
    assert!(log.contains("size 6") && log.contains("size 4"), "{log}");
    let registry = Arc::new(Registry::open(dir.path()).unwrap());
    assert_ne!(registry.checkpoint().unwrap(), published);
    assert_eq!(
        send(&registry, &other, vec![bytes(&other, &fresh.id)]),
        vec![ACCEPTED]
    );
}

#[cfg(unix)]
#[test]
fn registry_files_are_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let registry = registry(&dir);
    let device = enrolled_device(&registry, "w-1");
    device.capture(&timely_input()).unwrap();
    sync(&device, &registry);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in [
        "registry.db",
        "registry.db-wal",
        "registry.db-shm",
        "registry.keys",
        "ledger.head",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // A database made world-readable by an older version is tightened when opened.
    drop(registry);
    std::fs::set_permissions(
        dir.join("registry.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _registry = Registry::open(&dir).unwrap();
    assert_eq!(mode(&dir.join("registry.db")), 0o600);
}

#[test]
fn reads_never_wait_for_the_sequencer() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let device = enrolled_device(&registry, "w-1");
    device.capture(&timely_input()).unwrap();
    sync(&device, &registry);
    // Another writer holds the database's write lock (as a long batch would).
    let writer = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The record and its registration.
    assert!(registry.checkpoint().unwrap().contains("\n2\n"));
    assert_eq!(registry.tree_size().unwrap(), 2);
    assert_eq!(registry.leaves(0, 2).unwrap().len(), 2);
    registry.consistency_proof(0, 2).unwrap();
    assert_eq!(registry.devices().unwrap().len(), 1);
    writer.execute_batch("ROLLBACK").unwrap();
}
