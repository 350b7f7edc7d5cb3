//! Sync through the real processes: happy path, faults on batch uploads, a sync killed with a
//! batch in flight, a checkpoint refresh, a revoked device, bad input.

use std::{
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use crate::support::*;

#[test]
fn happy_path_through_the_real_processes() {
    happy_path(Backend::default());
}

#[test]
fn happy_path_through_the_real_processes_on_postgresql() {
    happy_path(Backend::Postgres);
}

fn happy_path(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let Some(registry) = start_registry_on(root.path(), backend) else {
        return;
    };
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-happy");
    let ids = capture(&device, 7);
    let out = ok(&["sync", "--data", p(&device)]);
    assert!(out.contains("synced: 7 accepted"), "{out}");
    assert_exactly_once(&device, &ids, &registry.url);
    let devices = ok(&["registry", "devices", "--data", p(&registry.dir)]);
    assert!(
        devices.contains("w-happy") && devices.contains("active"),
        "{devices}"
    );
}

#[test]
fn the_batch_budget_is_configurable_from_the_command_line() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-budget");
    let ids = capture(&device, 5);
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "sync",
        "--data",
        p(&device),
        "--max-batch-records",
        "2",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["batches"], 3, "{report}");
    assert_eq!(report["accepted"], 5, "{report}");
    assert_exactly_once(&device, &ids, &registry.url);
    let refused = fails(&["sync", "--data", p(&device), "--max-batch-bytes", "10"]);
    assert!(refused.contains("max-batch-bytes"), "{refused}");
}

/// Captures `batches - 1` full batches of bulky records and one more record; returns the ids
/// and the number of records per batch.
fn capture_batches(root: &Path, device: &Path, batches: usize) -> (Vec<String>, usize) {
    let form = bulky_form(root);
    let mut ids = capture_form(device, &form, 1);
    let per_batch = records_per_batch(device, &ids[0]);
    assert!(per_batch >= 2, "a batch holds several records");
    ids.extend(capture_form(device, &form, (batches - 1) * per_batch));
    (ids, per_batch)
}

#[test]
fn faults_on_batch_uploads_leave_every_record_on_the_ledger_exactly_once() {
    faults_on_batch_uploads(Backend::default());
}

#[test]
fn faults_on_batch_uploads_leave_every_record_on_the_ledger_exactly_once_on_postgresql() {
    faults_on_batch_uploads(Backend::Postgres);
}

fn faults_on_batch_uploads(backend: Backend) {
    use Fault::*;
    let root = tempfile::tempdir().unwrap();
    let Some(registry) = start_registry_on(root.path(), backend) else {
        return;
    };
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-faults");
    // Four batches: three full ones and one with a single record.
    let (ids, per_batch) = capture_batches(root.path(), &device, 4);
    let proxy = start_proxy(
        &registry.url,
        vec![
            // Batch 1: dropped before the registry saw it; then cut after the registry
            // committed it; then sent twice (both copies are repeats).
            DropRequest,
            CutResponse,
            Duplicate,
            // Batch 2: slow.
            Delay(300),
            // Batch 3: sent twice; the first copy commits, the answer is the repeat's.
            Duplicate,
            // Batch 4: cut after the commit, then dropped, then through.
            CutResponse,
            DropRequest,
            Pass,
        ],
    );
    // No fault repeats more than twice in a row, well under the sync's attempt limit: one
    // sync gets through.
    let report = sync_json(&device, &proxy.url);
    let tally = proxy.tally();
    // Every planned fault hit a batch upload.
    assert_eq!(tally.batch_bodies.len(), 8, "{:?}", tally.requests);
    assert_eq!(
        (tally.dropped, tally.cut, tally.delayed, tally.duplicated),
        (2, 2, 1, 2),
        "{tally:?}"
    );
    // A retry resends the identical sealed batch; a new batch is different.
    let bodies = &tally.batch_bodies;
    assert!(bodies[0] == bodies[1] && bodies[1] == bodies[2]);
    assert!(bodies[5] == bodies[6] && bodies[6] == bodies[7]);
    assert!(bodies[2] != bodies[3] && bodies[3] != bodies[4] && bodies[4] != bodies[5]);
    // Batch 2 was accepted; batches 1, 3 and 4 came back as already on the ledger.
    assert_eq!(report["batches"], 4, "{report}");
    assert_eq!(report["accepted"], per_batch as u64, "{report}");
    assert_eq!(report["duplicate"], (2 * per_batch + 1) as u64, "{report}");
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    // The same child each time: the first is registered at once (one decision leaf), the
    // others are held as its possible duplicates.
    assert_eq!(report["tree_size"], ids.len() as u64 + 1, "{report}");
    assert_exactly_once(&device, &ids, &registry.url);
    // Everything that crossed the wire was sealed: no name, date or place in the clear.
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(seen.len() > 10_000, "the proxy saw the traffic");
    for needle in PLAINTEXT {
        assert!(!contains(&seen, needle.as_bytes()), "{needle} on the wire");
    }
    for needle in ["Пологи вдома", "v07-v07"] {
        assert!(!contains(&seen, needle.as_bytes()), "{needle} on the wire");
    }
}

/// Runs `sync` through a proxy that holds the first batch upload (after the registry committed
/// it when `forward`), SIGKILLs the sync while it waits for the answer, and returns the body
/// of the held upload.
fn kill_with_a_batch_in_flight(device: &Path, registry_url: &str, forward: bool) -> Vec<u8> {
    let proxy = start_proxy(registry_url, vec![Fault::Hold { forward }]);
    let mut sync = Killed(
        Command::new(BIN)
            .args(["sync", "--data", p(device), "--registry", &proxy.url])
            .env_remove(STORAGE_KEY_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the proxy to hold a batch upload", || {
        proxy.tally().held == 1
    });
    sync.0.kill().unwrap();
    let status = sync.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed, not finished");
    proxy.tally().batch_bodies[0].clone()
}

fn ids_in(dir: &Path, status: &str) -> Vec<String> {
    list_json(dir)
        .iter()
        .filter(|r| r["status"] == status)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_sync_killed_with_a_batch_in_flight_resumes_without_loss_or_duplicates() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-kill");
    let (ids, per_batch) = capture_batches(root.path(), &device, 3);
    let first_batch = ids[..per_batch].to_vec();

    // Killed while the upload had not reached the registry.
    let before = kill_with_a_batch_in_flight(&device, &registry.url, false);
    assert_eq!(ids_in(&device, "in_flight"), first_batch);
    assert_eq!(ids_in(&device, "pending"), ids[per_batch..].to_vec());
    assert_eq!(tree_size(&registry.url), 0);

    // Killed after the registry committed the batch, before its answer arrived.
    let again = kill_with_a_batch_in_flight(&device, &registry.url, true);
    assert!(before == again, "the open batch is resent byte for byte");
    assert_eq!(ids_in(&device, "in_flight"), first_batch);
    assert_eq!(count_on_ledger(&device), 0);
    // The batch's records (the same child) and the first one's registration.
    assert_eq!(tree_size(&registry.url), per_batch as u64 + 1);

    // The next sync resends the open batch first, then the rest.
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["duplicate"], per_batch as u64, "{report}");
    assert_eq!(
        report["accepted"],
        (ids.len() - per_batch) as u64,
        "{report}"
    );
    assert_exactly_once(&device, &ids, &registry.url);
}

#[test]
fn a_device_with_nothing_to_send_refreshes_its_checkpoint_through_a_consistency_proof() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let a = enrolled_device(root.path(), &registry, &registry.url, "w-a");
    let b = enrolled_device(root.path(), &registry, &registry.url, "w-b");
    let a_ids = capture(&a, 2);
    // Two records of one child: the first and its registration; the rest are held.
    assert_eq!(sync_json(&a, &registry.url)["tree_size"], 3);
    let b_ids = capture(&b, 3);
    assert_eq!(sync_json(&b, &registry.url)["tree_size"], 6);

    // A has nothing pending: it fetches the new checkpoint and proves it extends size 3.
    let proxy = start_proxy(&registry.url, Vec::new());
    let out = ok(&["sync", "--data", p(&a), "--registry", &proxy.url]);
    assert!(out.contains("synced: 0 accepted"), "{out}");
    assert!(out.contains("ledger size 6 (checkpoint verified)"), "{out}");
    let requests = proxy.tally().requests;
    assert!(
        requests.contains(&"GET /v1/proof/consistency?from=3&to=6".to_string()),
        "{requests:?}"
    );
    // No batch: its only POST asks for the decisions on its held record.
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("POST"))
            .collect::<Vec<_>>(),
        vec!["POST /v1/notices"],
        "{requests:?}"
    );
    drop(proxy);

    // The refreshed checkpoint is A's: the next refresh needs no proof, and A's next batch
    // is sealed against size 6 and answered with a proof from there.
    let proxy = start_proxy(&registry.url, Vec::new());
    let report = sync_json(&a, &proxy.url);
    assert_eq!(report["tree_size"], 6, "{report}");
    assert!(
        !proxy
            .tally()
            .requests
            .iter()
            .any(|r| r.contains("consistency")),
        "{:?}",
        proxy.tally().requests
    );
    let late = capture(&a, 1);
    let report = sync_json(&a, &registry.url);
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(report["tree_size"], 7, "{report}");
    assert_all_on_ledger(&a, &a_ids);
    assert_all_on_ledger(&b, &b_ids);
    assert_eq!(show_json(&a, &late[0])["leaf_index"], 6);
    assert_eq!(ledger_leaves(&registry.url).len(), 7);
}

#[test]
fn a_revoked_device_is_told_why() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-revoked");
    let first = capture(&device, 1);
    let kid = show_json(&device, &first[0])["device_kid"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&["sync", "--data", p(&device)]);
    revoke(&registry, &kid, "stolen");
    thread::sleep(Duration::from_millis(1100));
    let late = capture(&device, 1);
    let sync = run(&["sync", "--data", p(&device)]);
    assert_eq!(sync.status.code(), Some(4), "revoked has its own exit code");
    let out = String::from_utf8_lossy(&sync.stdout);
    assert!(out.contains("1 rejected"), "{out}");
    assert!(out.contains("revoked_device"), "{out}");
    assert!(out.contains("this device has been revoked"), "{out}");
    let record = show_json(&device, &late[0]);
    assert_eq!(record["status"], "rejected");
    assert_eq!(record["reject_code"], "revoked_device");
    // From now on the phone captures nothing and hands out no provisional paper; what it
    // holds stays listed for the supervisor.
    let err = fails(&["capture", "--data", p(&device), "--json", OLENA]);
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(list_json(&device).len(), 2);
    let devices = ok(&["registry", "devices", "--data", p(&registry.dir)]);
    assert!(
        devices.contains("revoked") && devices.contains("stolen"),
        "{devices}"
    );
    assert_eq!(
        tree_size(&registry.url),
        2,
        "the record and its registration"
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-errors");
    // A reused token.
    let token = enrol_token(&registry, "x");
    let other = root.path().join("other");
    ok(&["device", "init", "--data", p(&other)]);
    ok(&[
        "device",
        "enrol",
        "--data",
        p(&other),
        "--registry",
        &registry.url,
        "--token",
        token.trim(),
    ]);
    let third = root.path().join("third");
    ok(&["device", "init", "--data", p(&third)]);
    let reuse = fails(&[
        "device",
        "enrol",
        "--data",
        p(&third),
        "--registry",
        &registry.url,
        "--token",
        token.trim(),
    ]);
    assert!(reuse.contains("already been used"), "{reuse}");
    // Oversized and malformed batches get JSON errors. One byte over the limit: the registry
    // reads the whole body before it answers 413, so the client is never cut off mid-upload
    // (with a much larger body the send itself races the registry closing: broken pipe).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut big = agent
        .post(&format!("{}/v1/batches", registry.url))
        .send(&vec![0u8; birthright_core::wire::MAX_SEALED_BATCH_BYTES + 1][..])
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    assert!(
        big.body_mut()
            .read_to_string()
            .unwrap()
            .contains("body_too_large")
    );
    let mut junk = agent
        .post(&format!("{}/v1/batches", registry.url))
        .send(&b"not cbor"[..])
        .unwrap();
    assert_eq!(junk.status().as_u16(), 400);
    assert!(
        junk.body_mut()
            .read_to_string()
            .unwrap()
            .contains("malformed_batch")
    );
    // An unreachable registry: a clear message, and nothing lost.
    capture(&device, 1);
    let down = fails(&[
        "sync",
        "--data",
        p(&device),
        "--registry",
        "http://127.0.0.1:9",
    ]);
    assert!(down.contains("could not be reached"), "{down}");
    assert_eq!(list_json(&device)[0]["status"], "pending");
}

#[test]
fn a_registry_killed_mid_ingest_restarts_on_the_same_tree() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-crash");
    let ids = capture(&device, 60);
    // One record per batch: sixty ingest transactions in a row, one of them cut by the kill.
    let mut sync = Killed(
        Command::new(BIN)
            .args(["sync", "--data", p(&device), "--max-batch-records", "1"])
            .env_remove(STORAGE_KEY_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the registry to sequence some records", || {
        tree_size(&registry.url) >= 5
    });
    let dir = registry.dir.clone();
    drop(registry); // SIGKILL, mid-stream
    let _ = sync.0.kill();
    let _ = sync.0.wait();
    let acknowledged_before = count_on_ledger(&device);
    assert!(acknowledged_before < ids.len(), "killed before the end");

    // Restarted on the same data: the device verifies the new checkpoints are consistent with
    // those it verified before the crash, and every record ends on the ledger exactly once.
    let restarted = serve_registry(&dir);
    let report = sync_json(&device, &restarted.url);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    assert_exactly_once(&device, &ids, &restarted.url);
}
