//! The registry's decisions reaching the field through the real processes: late
//! registrations (children born about three years before capture) are acknowledged with no
//! registered credential; a registrar registers one through the API, rejects another and
//! sends a third back for correction; on the next sync the device holds a registered
//! credential that `birthright verify` accepts, shows the rejection and the request for a
//! correction with their reasons, and the worker's correction goes back to the registry.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;

use crate::support::*;

/// The reference form for another child (`given`, and a date of birth `days_ago` before
/// today), written under `root`.
fn late_form(root: &Path, given: &str, days_ago: i64) -> PathBuf {
    let mut form: Value = serde_json::from_str(&std::fs::read_to_string(OLENA).unwrap()).unwrap();
    let born = time::OffsetDateTime::now_utc().date() - time::Duration::days(days_ago);
    form["child"]["given_names"] = given.into();
    form["child"]["date_of_birth"] = born.to_string().into();
    let path = root.join(format!("{given}.json"));
    std::fs::write(&path, form.to_string()).unwrap();
    path
}

/// `registry user add` of a registrar for every region, with `password`.
fn add_registrar(dir: &Path, username: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args([
            "registry",
            "user",
            "add",
            "--data",
            p(dir),
            "--username",
            username,
            "--role",
            "registrar",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait_with_output().unwrap().status.success());
}

/// `sync --json`, which exits 3 when the registry refused some records; the report.
fn sync_report(device: &Path, url: &str, expected_exit: i32) -> Value {
    let out = run(&["sync", "--data", p(device), "--registry", url, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(expected_exit),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status_of(device: &Path, id: &str) -> Value {
    list_json(device)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("record {id} lost"))
}

#[test]
fn late_registrations_are_decided_by_a_registrar_and_the_device_learns_each_decision() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    init_registry(&dir);
    add_registrar(&dir, "olha", "olha's own long password");
    let registry = serve_registry(&dir);
    let url = registry.url.clone();
    let trust = trust_file(&registry);
    let device = enrolled_device(root.path(), &registry, &url, "w-late");
    let three_years = 3 * 365;
    let [registered, rejected, corrected] = [
        ("Олена", three_years),
        ("Марія", three_years + 40),
        ("Дарина", three_years + 80),
    ]
    .map(|(given, days)| capture_form(&device, &late_form(root.path(), given, days), 1).remove(0));

    // Synced: on the ledger, declared, waiting for a registrar; only provisional credentials.
    let report = sync_report(&device, &url, 0);
    assert_eq!(
        (report["accepted"].as_u64(), report["registered"].as_u64()),
        (Some(3), Some(0))
    );
    for id in [&registered, &rejected, &corrected] {
        assert_eq!(status_of(&device, id)["status"], "acknowledged");
    }
    let (_, v) = verify_credential_of(&device, &registered, &trust);
    assert_eq!(v["verdict"]["status"], "valid_provisional", "{v}");
    assert_eq!(tree_size(&url), 3, "no decision on the ledger yet");

    // The registrar finds them in the queue, as late registrations, and decides.
    let (status, head, body) = registrar_call(
        &url,
        "POST",
        "/login",
        &[],
        r#"{"username":"olha","password":"olha's own long password"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let cookie = cookie_of(&head);
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let auth = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let (status, _, queue) = registrar_call(&url, "GET", "/queue", &auth, "");
    assert_eq!(status, 200, "{queue}");
    let queued = queue.to_string();
    for id in [&registered, &rejected, &corrected] {
        assert!(queued.contains(id.as_str()), "{id} in {queue}");
    }
    assert!(queued.contains("late_registration"), "{queue}");
    for (id, decision) in [
        (
            &registered,
            r#"{"action":"register","note":"the midwife's letter"}"#,
        ),
        (
            &rejected,
            r#"{"action":"reject","reason":"incorrect_information","note":"wrong village"}"#,
        ),
        (
            &corrected,
            r#"{"action":"request_correction","reason":"missing_information"}"#,
        ),
    ] {
        let (status, _, body) = registrar_call(
            &url,
            "POST",
            &format!("/records/{id}/decision"),
            &auth,
            decision,
        );
        assert_eq!(status, 200, "{id}: {body}");
    }
    assert_eq!(tree_size(&url), 6, "each decision is a leaf");

    // The next sync: the registered credential, the rejection, the request for a correction.
    let report = sync_report(&device, &url, 3);
    assert_eq!(report["registered"], 1, "{report}");
    let refused: Vec<(String, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (rejected.clone(), "rejected".to_string()),
            (corrected.clone(), "correction_requested".to_string())
        ]
    );
    assert_eq!(status_of(&device, &registered)["status"], "registered");
    let shown = status_of(&device, &rejected);
    assert_eq!(
        (&shown["status"], &shown["reject_code"]),
        (&"rejected".into(), &"rejected".into())
    );
    let shown = status_of(&device, &corrected);
    assert_eq!(shown["reject_code"], "correction_requested", "{shown}");
    assert!(shown["decided_at"].is_string(), "{shown}");
    assert!(status_of(&device, &registered)["decided_at"].is_string());
    let text = ok(&["list", "--data", p(&device)]);
    assert!(
        text.contains("The registrar asked for a correction (missing information)"),
        "{text}"
    );
    let (code, v) = verify_credential_of(&device, &registered, &trust);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["status"], "valid", "{v}");
    assert_eq!(v["registration"]["record_id"], registered.as_str(), "{v}");
    assert_eq!(v["registration"]["leaf_index"], 0, "{v}");
    let refused = fails(&[
        "credential",
        "--data",
        p(&device),
        &rejected,
        "--format",
        "text",
    ]);
    assert!(refused.contains("rejected"), "{refused}");

    // Asked again: nothing new.
    let report = sync_report(&device, &url, 0);
    assert_eq!(
        (
            report["registered"].as_u64(),
            report["rejected"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    // The worker corrects the record sent back; the correction supersedes it and waits for
    // the registrar again.
    let fixed_form = late_form(root.path(), "Дарина-Марія", three_years + 80);
    let fixed = ok(&[
        "correct",
        "--data",
        p(&device),
        &corrected,
        "--json",
        p(&fixed_form),
    ])
    .trim()
    .to_string();
    let report = sync_report(&device, &url, 0);
    assert_eq!(report["accepted"], 1, "{report}");
    assert_eq!(status_of(&device, &fixed)["status"], "acknowledged");
    assert_eq!(
        status_of(&device, &corrected)["superseded_by"],
        fixed.as_str()
    );
}
