//! Registries that lie, as real processes: a fork of the ledger (a copy of the registry's
//! data, keys included, that went on with a different history) and an impostor (the same
//! origin, other keys). The device must refuse both and mark nothing acknowledged.

use std::{fs, path::Path};

use crate::support::*;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file(), "a flat registry dir");
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_forked_ledger_is_detected_and_nothing_is_acknowledged() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    // SQLite by nature: the fork is a copy of the data directory, database file included (a
    // copy of a directory pointing at PostgreSQL would share the one database, not fork it).
    init_registry_on(&dir, Backend::Sqlite);
    let (a, b) = {
        let registry = serve_registry(&dir);
        let a = enrolled_device(root.path(), &registry, &registry.url, "w-a");
        let b = enrolled_device(root.path(), &registry, &registry.url, "w-b");
        (a, b)
        // The registry stops here, so its files are copied at rest.
    };
    let fork_dir = root.path().join("fork");
    copy_dir(&dir, &fork_dir);
    let original = serve_registry(&dir);
    let fork = serve_registry(&fork_dir);

    // A's records reach the original; A verifies its checkpoint at size 3 (two records of one
    // child and the review policy's registration of the first).
    let a_ids = capture(&a, 2);
    assert_eq!(sync_json(&a, &original.url)["tree_size"], 3);
    // B, enrolled in both (the copy holds the same enrolments), appends other records to the
    // fork: same keys, a different history.
    let b_ids = capture(&b, 3);
    assert_eq!(sync_json(&b, &fork.url)["tree_size"], 4);
    assert_all_on_ledger(&b, &b_ids);

    // A refreshes its checkpoint from the fork: no consistency proof from A's size 3 holds.
    let err = fails(&["sync", "--data", p(&a), "--registry", &fork.url]);
    assert!(err.contains("ledger is inconsistent"), "{err}");

    // A sends a new record to the fork, which sequences it, but its answer does not extend
    // the history A verified: refused, and the record stays unacknowledged.
    let late = capture(&a, 1);
    let err = fails(&["sync", "--data", p(&a), "--registry", &fork.url]);
    assert!(err.contains("ledger is inconsistent"), "{err}");
    assert_eq!(tree_size(&fork.url), 5, "the fork did answer the batch");
    let record = show_json(&a, &late[0]);
    assert_eq!(record["status"], "in_flight");
    assert!(record["leaf_index"].is_null());
    assert_eq!(count_on_ledger(&a), 2);
    assert_all_on_ledger(&a, &a_ids);

    // Back on the genuine ledger, the same batch goes through, once.
    let report = sync_json(&a, &original.url);
    assert_eq!(report["accepted"], 1, "{report}");
    let mut all = a_ids.clone();
    all.extend(late);
    assert_exactly_once(&a, &all, &original.url);
}

#[test]
fn an_impostor_registry_with_the_same_origin_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-target");
    let impostor_dir = root.path().join("impostor");
    init_registry(&impostor_dir);
    let impostor = serve_registry(&impostor_dir);
    let genuine: serde_json::Value =
        serde_json::from_slice(&fs::read(trust_file(&registry)).unwrap()).unwrap();
    let fake: serde_json::Value =
        serde_json::from_slice(&fs::read(impostor_dir.join("trust.json")).unwrap()).unwrap();
    assert_eq!(genuine["origin"], fake["origin"]);
    assert_ne!(genuine["registry_public_key"], fake["registry_public_key"]);

    let ids = capture(&device, 2);
    // 1. The impostor answers everything: its signed revocation list fails against the
    // pinned keys before anything is sent.
    let err = fails(&["sync", "--data", p(&device), "--registry", &impostor.url]);
    assert!(err.contains("failed verification"), "{err}");
    assert_eq!(count_status(&device, "pending"), 2);

    // 2. The genuine revocation list replayed, everything else from the impostor: the batch
    // is sealed to the genuine registry, so the impostor cannot even open it.
    let proxy = start_routing_proxy(
        &impostor.url,
        vec![("/v1/revocations", registry.url.clone())],
        Vec::new(),
    );
    let err = fails(&["sync", "--data", p(&device), "--registry", &proxy.url]);
    assert!(err.contains("malformed_batch"), "{err}");
    assert_eq!(proxy.tally().batch_bodies.len(), 1);
    assert_eq!(tree_size(&impostor.url), 0);
    assert_eq!(count_status(&device, "in_flight"), 2);
    assert_eq!(count_on_ledger(&device), 0);
    drop(proxy);

    // 3. The genuine registry takes the same batch.
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["accepted"], 2, "{report}");
    assert_exactly_once(&device, &ids, &registry.url);

    // 4. Nothing pending: the impostor's checkpoint fails its signature check, and the device
    // keeps the checkpoint it verified.
    let proxy = start_routing_proxy(
        &impostor.url,
        vec![("/v1/revocations", registry.url.clone())],
        Vec::new(),
    );
    let err = fails(&["sync", "--data", p(&device), "--registry", &proxy.url]);
    assert!(err.contains("checkpoint"), "{err}");
    assert!(
        proxy
            .tally()
            .requests
            .contains(&"GET /v1/checkpoint".to_string())
    );
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["tree_size"], 3, "{report}");
    assert_all_on_ledger(&device, &ids);
}
