//! Enrolment and the device store as an attacker meets them (the security issue): the token
//! never crosses the wire, the registry is checked against a pin before the token is used,
//! plain HTTP is refused off this machine, and a truncated store is reported, not recreated.

use std::fs;

use crate::support::*;

/// The token and the trust fingerprint `registry enrol-token` prints.
fn token_and_fingerprint(registry: &RegistryProcess, worker: &str) -> (String, String) {
    let output = enrol_token_output(registry, worker);
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let fingerprint = stderr
        .split_whitespace()
        .find(|w| w.len() == 39 && w.matches('-').count() == 7)
        .unwrap_or_else(|| panic!("no fingerprint in {stderr}"))
        .to_string();
    (token, fingerprint)
}

#[test]
fn the_token_never_crosses_the_wire_and_the_pin_is_checked_first() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let proxy = start_proxy(&registry.url, Vec::new());
    let dir = root.path().join("phone");
    ok(&["device", "init", "--data", p(&dir), "--worker", "w-1"]);
    let (token, fingerprint) = token_and_fingerprint(&registry, "w-1");
    let enrol = |pin: &str| {
        run(&[
            "device",
            "enrol",
            "--data",
            p(&dir),
            "--registry",
            &proxy.url,
            "--token",
            &token,
            "--fingerprint",
            pin,
        ])
    };

    let wrong = enrol("0000-0000-0000-0000-0000-0000-0000-0000");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("not the pinned one"), "{stderr}");
    assert_eq!(
        proxy.tally().requests,
        ["GET /v1/trust"],
        "nothing used the token"
    );

    let right = enrol(&fingerprint.to_uppercase());
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(
        !contains(&proxy.seen.lock().unwrap(), token.as_bytes()),
        "the token crossed the wire"
    );
    // Enrolled: it syncs.
    capture(&dir, 1);
    assert_eq!(sync_json(&dir, &registry.url)["accepted"], 1);
}

#[test]
fn plain_http_and_missing_pins_are_refused_off_this_machine() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("phone");
    ok(&["device", "init", "--data", p(&dir), "--worker", "w-1"]);
    let err = fails(&[
        "device",
        "enrol",
        "--data",
        p(&dir),
        "--registry",
        "http://192.0.2.10:8080",
        "--token",
        "00112233445566778899aabbccddeeff",
        "--fingerprint",
        "0000-0000-0000-0000-0000-0000-0000-0000",
    ]);
    assert!(err.contains("must be https://"), "{err}");
    let err = fails(&[
        "device",
        "enrol",
        "--data",
        p(&dir),
        "--registry",
        "https://registry.invalid",
        "--token",
        "00112233445566778899aabbccddeeff",
    ]);
    assert!(err.contains("--fingerprint"), "{err}");
    let err = fails(&["sync", "--data", p(&dir), "--registry", "http://192.0.2.10"]);
    assert!(err.contains("must be https://"), "{err}");
}

#[test]
fn a_truncated_store_is_reported_and_an_invalid_worker_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("phone");
    let err = fails(&[
        "device",
        "init",
        "--data",
        p(&dir),
        "--worker",
        "not valid!",
    ]);
    assert!(err.contains("worker id"), "{err}");
    assert!(!dir.join("storage.key").exists() && !dir.join("device.db").exists());

    ok(&["device", "init", "--data", p(&dir), "--worker", "w-1"]);
    capture(&dir, 1);
    let db = dir.join("device.db");
    fs::write(&db, b"").unwrap();
    for args in [
        vec!["list", "--data", p(&dir)],
        vec!["device", "init", "--data", p(&dir), "--worker", "w-1"],
    ] {
        let err = fails(&args);
        assert!(err.contains("empty"), "{args:?}: {err}");
        assert_eq!(fs::metadata(&db).unwrap().len(), 0, "never recreated");
    }
}

#[test]
fn the_tokens_worker_replaces_the_init_label_with_a_note() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let dir = root.path().join("phone");
    ok(&["device", "init", "--data", p(&dir), "--worker", "typo-name"]);
    let token = enrol_token(&registry, "oksana.m");
    let out = ok(&[
        "device",
        "enrol",
        "--data",
        p(&dir),
        "--registry",
        &registry.url,
        "--token",
        token.trim(),
    ]);
    assert!(
        out.contains("the token is for worker oksana.m") && out.contains("typo-name"),
        "{out}"
    );
    let id = capture(&dir, 1).remove(0);
    assert_eq!(show_json(&dir, &id)["worker_id"], "oksana.m");
}

/// The connection is cut after the registry enrolled the device (token used, device
/// enrolled) and before the phone got its certificate: the phone retries with the same token
/// and gets the same certificate, instead of being locked out (`token_used`).
#[test]
fn an_enrolment_cut_after_the_registry_committed_is_retried_to_success() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let proxy = start_faulting_proxy(
        &registry.url,
        Vec::new(),
        "POST /v1/enrol",
        vec![Fault::CutResponse],
    );
    let dir = root.path().join("phone");
    ok(&["device", "init", "--data", p(&dir), "--worker", "w-1"]);
    let token = enrol_token(&registry, "w-1");
    ok(&[
        "device",
        "enrol",
        "--data",
        p(&dir),
        "--registry",
        &proxy.url,
        "--token",
        token.trim(),
    ]);
    let tally = proxy.tally();
    assert_eq!(tally.cut, 1);
    assert_eq!(
        tally
            .requests
            .iter()
            .filter(|r| *r == "POST /v1/enrol")
            .count(),
        2,
        "{:?}",
        tally.requests
    );
    capture(&dir, 1);
    assert_eq!(sync_json(&dir, &registry.url)["accepted"], 1);
}
