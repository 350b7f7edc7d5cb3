//! The CLI's conventions: `--json` on every command that prints results (times in RFC 3339
//! UTC), errors as one JSON line with a stable code, `-` for standard input, plain messages
//! for broken forms, completions, diagnostics on `-v`, the registry's request log, and sync
//! progress and its partial summary when the link drops.

use std::{
    io::{Read, Write},
    path::Path,
    process::{Command, Output, Stdio},
};

use serde_json::Value;

use crate::support::*;

/// Runs the CLI with `stdin` on standard input.
fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove(STORAGE_KEY_ENV)
        .env_remove("BIRTHRIGHT_DATA")
        .env_remove("BIRTHRIGHT_REGISTRY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses before reading closes the pipe: that is its answer, not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn json_out(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// A time as `2026-12-01T14:12:19Z`.
fn is_rfc3339_utc(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

/// The one JSON error line of a failed command; checks the exit code.
fn json_error(output: &Output, exit: i32) -> Value {
    assert_eq!(output.status.code(), Some(exit), "{output:?}");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );
    v
}

#[test]
fn every_command_prints_json_with_rfc3339_times() {
    let root = tempfile::tempdir().unwrap();
    let reg_dir = root.path().join("registry");
    let init = json_out(&[
        "registry",
        "init",
        "--data",
        p(&reg_dir),
        "--origin",
        ORIGIN,
        "--json",
    ]);
    assert_eq!(init["origin"], ORIGIN);
    assert_eq!(init["trust_fingerprint"].as_str().unwrap().len(), 39);
    let registry = serve_registry(&reg_dir);
    let token = json_out(&[
        "registry",
        "enrol-token",
        "--data",
        p(&reg_dir),
        "--worker",
        "w-json",
        "--region",
        "UA-46",
        "--json",
    ]);
    assert!(is_rfc3339_utc(&token["expires_at"]), "{token}");
    let device = root.path().join("device");
    let identity = json_out(&[
        "device",
        "init",
        "--data",
        p(&device),
        "--worker",
        "w-json",
        "--json",
    ]);
    let kid = identity["device_kid"].as_str().unwrap().to_string();
    assert_eq!(kid.len(), 16);
    // The trust bundle from standard input (`--trust -`).
    let trust = std::fs::read(trust_file(&registry)).unwrap();
    let enrolled = run_with_stdin(
        &[
            "device",
            "enrol",
            "--data",
            p(&device),
            "--registry",
            &registry.url,
            "--token",
            token["token"].as_str().unwrap(),
            "--trust",
            "-",
            "--json",
        ],
        &trust,
    );
    assert!(enrolled.status.success(), "{enrolled:?}");
    let enrolled: Value = serde_json::from_slice(&enrolled.stdout).unwrap();
    assert_eq!(enrolled["device_kid"], kid.as_str());
    assert_eq!(enrolled["origin"], ORIGIN);
    assert!(is_rfc3339_utc(&enrolled["valid_until"]), "{enrolled}");
    // A capture from standard input, with JSON output.
    let form = std::fs::read(OLENA).unwrap();
    let captured = run_with_stdin(
        &["capture", "--data", p(&device), "--form", "-", "--json"],
        &form,
    );
    assert!(captured.status.success(), "{captured:?}");
    let captured: Value = serde_json::from_slice(&captured.stdout).unwrap();
    assert_eq!(captured["status"], "pending");
    assert!(is_rfc3339_utc(&captured["captured_at"]), "{captured}");
    let id = captured["id"].as_str().unwrap().to_string();
    // The older spelling still reads the form from standard input and prints the id.
    let older = run_with_stdin(&["capture", "--data", p(&device), "--json", "-"], &form);
    assert!(older.status.success(), "{older:?}");
    let older_id = String::from_utf8(older.stdout).unwrap().trim().to_string();
    assert_eq!(older_id.len(), 36);
    let corrected = json_out(&[
        "correct",
        "--data",
        p(&device),
        &older_id,
        "--form",
        OLENA,
        "--json",
    ]);
    assert_eq!(corrected["supersedes"], older_id.as_str());
    let listed = json_out(&["list", "--data", p(&device), "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|r| is_rfc3339_utc(&r["captured_at"])),
        "{listed:?}"
    );
    let shown = json_out(&["show", "--data", p(&device), &id, "--json"]);
    assert!(is_rfc3339_utc(&shown["captured_at"]), "{shown}");
    // The storage key from standard input (`--key-file -`), but not with the form there too.
    let key = std::fs::read(device.join("storage.key")).unwrap();
    let by_stdin = run_with_stdin(
        &[
            "show",
            "--data",
            p(&device),
            &id,
            "--key-file",
            "-",
            "--json",
        ],
        &key,
    );
    assert!(by_stdin.status.success(), "{by_stdin:?}");
    let both = run_with_stdin(
        &[
            "capture",
            "--data",
            p(&device),
            "--key-file",
            "-",
            "--form",
            "-",
            "--json",
        ],
        &key,
    );
    assert_eq!(json_error(&both, 1)["error"]["code"], "usage");
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    let tree_size = report["tree_size"].as_u64().unwrap();
    assert!(tree_size >= 2, "{report}");
    let devices = json_out(&["registry", "devices", "--data", p(&reg_dir), "--json"]);
    assert_eq!(devices[0]["device_kid"], kid.as_str());
    for field in ["enrolled_at", "valid_from", "valid_until"] {
        assert!(is_rfc3339_utc(&devices[0][field]), "{devices}");
    }
    assert!(devices[0]["revoked_at"].is_null());
    let revoked = json_out(&[
        "registry",
        "revoke",
        "--data",
        p(&reg_dir),
        &kid,
        "--reason",
        "lost",
        "--json",
    ]);
    assert_eq!(revoked["revoked"], true);
    let devices = json_out(&["registry", "devices", "--data", p(&reg_dir), "--json"]);
    assert!(is_rfc3339_utc(&devices[0]["revoked_at"]), "{devices}");
    drop(registry);
    let recovered = json_out(&["registry", "recover", "--data", p(&reg_dir), "--json"]);
    assert_eq!(recovered["tree_size"], tree_size, "{recovered}");
}

#[test]
fn errors_with_json_are_one_line_with_a_stable_code() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    // No store yet.
    let none = run(&["list", "--data", p(&device), "--json"]);
    assert_eq!(json_error(&none, 1)["error"]["code"], "not_initialised");
    ok(&["device", "init", "--data", p(&device)]);
    let missing = "0190f5a0-0000-7000-8000-000000000000";
    let output = run(&["show", "--data", p(&device), missing, "--json"]);
    let v = json_error(&output, 1);
    assert_eq!(v["error"]["code"], "not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains(missing));
    // Without --json: the same exit code, in words.
    let output = run(&["show", "--data", p(&device), missing]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: no record"));
    let output = run(&["show", "--data", p(&device), "not-an-id", "--json"]);
    assert_eq!(json_error(&output, 1)["error"]["code"], "usage");
    // A form with problems.
    let bad = root.path().join("bad.json");
    std::fs::write(&bad, r#"{"child": {"given_names": "Олена"}}"#).unwrap();
    let output = run(&["capture", "--data", p(&device), "--form", p(&bad), "--json"]);
    let v = json_error(&output, 1);
    assert_eq!(v["error"]["code"], "invalid_form");
    assert!(!v.to_string().contains("Олена"), "{v}");
    // Each problem with its field, for scripts.
    let problems = v["error"]["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["path"] == "child.family_name"),
        "{v}"
    );
    assert!(problems.iter().all(|p| p["message"].is_string()), "{v}");
    // A command line clap refuses: exit code 2 as without --json.
    let output = run(&["list", "--data", p(&device), "--status", "sent", "--json"]);
    let v = json_error(&output, 2);
    assert_eq!(v["error"]["code"], "usage");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("sent"),
        "{v}"
    );
    // Not enrolled.
    let output = run(&[
        "sync",
        "--data",
        p(&device),
        "--registry",
        "http://127.0.0.1:9",
        "--json",
    ]);
    assert_eq!(json_error(&output, 1)["error"]["code"], "not_enrolled");
}

#[test]
fn broken_forms_get_plain_messages_with_the_field() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device)]);
    let olena = std::fs::read_to_string(OLENA).unwrap();
    let write = |name: &str, text: &[u8]| {
        let path = root.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // A UTF-8 byte order mark is accepted.
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(olena.as_bytes());
    let with_bom = write("bom.json", &bom);
    ok(&["capture", "--data", p(&device), "--json", p(&with_bom)]);
    let refused = |path: &Path| fails(&["capture", "--data", p(&device), "--json", p(path)]);
    let empty = refused(&write("empty.json", b""));
    assert!(empty.contains("the form is empty"), "{empty}");
    let list = refused(&write("list.json", format!("[{olena}]").as_bytes()));
    assert!(list.contains("the form must be a JSON object"), "{list}");
    assert!(list.contains("not a list"), "{list}");
    let mut form: Value = serde_json::from_str(&olena).unwrap();
    form["child"]["date_of_birth"] = "2026-02-30".into();
    let impossible = refused(&write("date.json", form.to_string().as_bytes()));
    assert!(
        impossible.contains("child.date_of_birth: is not a date in the calendar"),
        "{impossible}"
    );
    form["child"]["date_of_birth"] = "2026-02-10".into();
    form["child"]["plurality"] = "two".into();
    let typed = refused(&write("typed.json", form.to_string().as_bytes()));
    assert!(
        typed.contains("child.plurality: must be a whole number from 0 to 255, not text"),
        "{typed}"
    );
    for rust in ["u8", "invalid type", "struct", "variant"] {
        for message in [&empty, &list, &impossible, &typed] {
            assert!(!message.contains(rust), "{rust:?} in {message}");
        }
    }
    // `show` in words, not code names.
    let id = &list_json(&device)[0]["id"];
    let text = ok(&["show", "--data", p(&device), id.as_str().unwrap()]);
    assert!(text.contains("(exact day), female"), "{text}");
    assert!(!text.contains("Day") && !text.contains("Female"), "{text}");
}

#[test]
fn help_lists_values_and_completions_cover_the_subcommands() {
    let help = ok(&["list", "--help"]);
    for value in [
        "pending",
        "in_flight",
        "acknowledged",
        "rejected",
        "registered",
    ] {
        assert!(help.contains(value), "{value} in {help}");
    }
    let wrong = fails(&["list", "--data", "x", "--status", "sent"]);
    assert!(wrong.contains("possible values"), "{wrong}");
    // Numbers out of range or not numbers: plain words, not Rust's.
    for (flag, value, expected) in [
        (
            "--max-batch-bytes",
            "10",
            "must be a whole number from 1024 to 1048576",
        ),
        (
            "--max-batch-records",
            "x",
            "must be a whole number from 1 to 1000",
        ),
    ] {
        let wrong = fails(&["sync", "--data", "x", flag, value]);
        assert!(wrong.contains(expected), "{wrong}");
        assert!(
            !wrong.contains("..=") && !wrong.contains("invalid digit"),
            "{wrong}"
        );
    }
    let bash = ok(&["completions", "bash"]);
    for sub in [
        "capture",
        "correct",
        "sync",
        "enrol-token",
        "completions",
        "--status",
    ] {
        assert!(bash.contains(sub), "{sub} in the bash completions");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert!(ok(&["completions", shell]).contains("capture"), "{shell}");
    }
    // No Rust names in any help text.
    for args in [
        vec!["--help"],
        vec!["capture", "--help"],
        vec!["sync", "--help"],
        vec!["registry", "enrol-token", "--help"],
    ] {
        let help = ok(&args);
        for rust in ["u8", "u32", "String", "PathBuf", "Option<"] {
            assert!(!help.contains(rust), "{rust} in {args:?}: {help}");
        }
    }
}

#[test]
fn diagnostics_on_v_and_the_registry_request_log_hold_no_personal_data() {
    let root = tempfile::tempdir().unwrap();
    let reg_dir = root.path().join("registry");
    init_registry(&reg_dir);
    let (registry, mut stderr) = serve_registry_logged(&reg_dir);
    let url = registry.url.clone();
    let device = enrolled_device(root.path(), &registry, &url, "w-logs");
    let kid = json_out(&["registry", "devices", "--data", p(&reg_dir), "--json"])[0]["device_kid"]
        .as_str()
        .unwrap()
        .to_string();
    capture(&device, 2);
    // -v: the sync's diagnostics on stderr, never a name or a date.
    let output = run(&["sync", "--data", p(&device), "-vv"]);
    assert!(output.status.success(), "{output:?}");
    let diagnostics = String::from_utf8(output.stderr).unwrap();
    assert!(diagnostics.contains("sync started"), "{diagnostics}");
    assert!(
        diagnostics.contains("route=\"/v1/batches\"") || diagnostics.contains("route=/v1/batches"),
        "{diagnostics}"
    );
    for needle in PLAINTEXT {
        assert!(!diagnostics.contains(needle), "{needle} in the diagnostics");
    }
    // Without -v: none.
    capture(&device, 1);
    let quiet = run(&["sync", "--data", p(&device)]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("sync started"));
    // RUST_LOG chooses them too.
    capture(&device, 1);
    let output = Command::new(BIN)
        .args(["sync", "--data", p(&device)])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("sync started"));
    // The registry's request log: one line per request, route templates, the device's key id.
    drop(registry);
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    let batches: Vec<&str> = log.lines().filter(|l| l.contains("/v1/batches")).collect();
    assert_eq!(batches.len(), 3, "{log}");
    for line in &batches {
        assert!(line.contains("method=POST"), "{line}");
        assert!(line.contains("status=200"), "{line}");
        assert!(line.contains(&format!("device_kid={kid}")), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
    }
    assert!(
        log.lines()
            .any(|l| l.contains("route=/v1/enrol") && l.contains(&kid)),
        "{log}"
    );
    assert!(
        log.lines().any(
            |l| l.contains("route=/v1/proof/consistency") || l.contains("route=/v1/checkpoint")
        ),
        "{log}"
    );
    assert!(!log.contains("from="), "no raw query in the log: {log}");
    for needle in PLAINTEXT.iter().chain(["w-logs", "UA-46"].iter()) {
        assert!(!log.contains(needle), "{needle} in the request log");
    }
}

#[test]
fn a_sync_that_loses_the_link_says_how_far_it_got() {
    use Fault::*;
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let texts = enrolled_device(root.path(), &registry, &registry.url, "w-partial");
    let jsons = enrolled_device(root.path(), &registry, &registry.url, "w-partial-json");
    capture(&texts, 3);
    capture(&jsons, 3);
    // The first batch goes through; the second is dropped on every attempt.
    let faults = || {
        vec![
            Pass,
            DropRequest,
            DropRequest,
            DropRequest,
            DropRequest,
            DropRequest,
            DropRequest,
        ]
    };
    let text_proxy = start_proxy(&registry.url, faults());
    let json_proxy = start_proxy(&registry.url, faults());
    let json_run = {
        let (dir, url) = (jsons.clone(), json_proxy.url.clone());
        std::thread::spawn(move || {
            run(&[
                "sync",
                "--data",
                p(&dir),
                "--registry",
                &url,
                "--max-batch-records",
                "1",
                "--json",
            ])
        })
    };
    let output = run(&[
        "sync",
        "--data",
        p(&texts),
        "--registry",
        &text_proxy.url,
        "--max-batch-records",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("could not be reached"), "{stderr}");
    assert!(
        stderr.contains("1 of 3 acknowledged before the link dropped"),
        "{stderr}"
    );
    // Not a terminal: plain lines, one per event, with bytes and the waits.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("sent 1 of 3, 1 acknowledged, 0 rejected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("KiB sent") || stderr.contains(" B sent"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("retrying in").count(), 5, "{stderr}");
    let output = json_run.join().unwrap();
    let v = json_error(&output, 1);
    assert_eq!(v["error"]["code"], "network_unreachable", "{v}");
    assert_eq!(v["error"]["progress"]["acknowledged"], 1, "{v}");
    assert_eq!(v["error"]["progress"]["queued"], 3, "{v}");
    assert!(
        v["error"]["progress"]["bytes_sent"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(count_on_ledger(&texts), 1);
}
