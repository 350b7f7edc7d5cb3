//! The device commands' contract (issue 2): `correct`, `list --status`, `list --search`,
//! validation errors, and where the storage key comes from.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

use crate::support::*;

fn form(root: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut form: Value = serde_json::from_str(&fs::read_to_string(OLENA).unwrap()).unwrap();
    edit(&mut form);
    let path = root.join(name);
    fs::write(&path, serde_json::to_string(&form).unwrap()).unwrap();
    path
}

fn listed_ids(dir: &Path, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["list", "--data", p(dir), "--json"];
    args.extend_from_slice(filter);
    let records: Vec<Value> = serde_json::from_str(&ok(&args)).unwrap();
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn correct_list_and_search_follow_the_cli_contract() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-cli");
    let olena = capture(&device, 1).remove(0);
    let maria_form = form(root.path(), "maria.json", |f| {
        f["child"]["given_names"] = "Марія".into();
        f["child"]["family_name"] = "Шевченко".into();
        f["mother"]["given_names"] = "Оксана".into();
        f["mother"]["family_name"] = "Шевченко".into();
    });
    let maria = capture_form(&device, &maria_form, 1).remove(0);

    // A correction is a new record that supersedes the old one; the old one stays.
    let fixed_form = form(root.path(), "fixed.json", |f| {
        f["child"]["time_of_birth"] = "05:10".into();
    });
    let fixed = ok(&[
        "correct",
        "--data",
        p(&device),
        &olena,
        "--json",
        p(&fixed_form),
    ])
    .trim()
    .to_string();
    assert_ne!(fixed, olena);
    let old = show_json(&device, &olena);
    assert_eq!(old["superseded_by"], fixed.as_str(), "{old}");
    assert_eq!(old["enrolment"]["child"]["time_of_birth"], "04:35");
    let new = show_json(&device, &fixed);
    assert_eq!(new["supersedes"], olena.as_str(), "{new}");
    assert!(new["superseded_by"].is_null(), "{new}");
    assert_eq!(new["enrolment"]["child"]["time_of_birth"], "05:10");
    let text = ok(&["list", "--data", p(&device)]);
    let old_line = text.lines().find(|l| l.starts_with(&olena)).unwrap();
    assert!(
        old_line.contains(&format!("[corrected by {fixed}]")),
        "{text}"
    );
    let shown = ok(&["show", "--data", p(&device), &fixed]);
    assert!(
        shown.contains(&format!("corrects        {olena}")),
        "{shown}"
    );
    assert_eq!(
        listed_ids(&device, &[]),
        vec![olena.clone(), maria.clone(), fixed.clone()]
    );

    // Status filters: three records synced, one captured since.
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["accepted"], 3, "{report}");
    let later = capture(&device, 1).remove(0);
    assert_eq!(
        listed_ids(&device, &["--status", "pending"]),
        vec![later.clone()]
    );
    assert_eq!(
        listed_ids(&device, &["--status", "registered"]),
        vec![olena.clone(), maria.clone()],
        "registered at once"
    );
    assert_eq!(
        listed_ids(&device, &["--status", "acknowledged"]),
        vec![fixed.clone()],
        "a correction waits for a registrar"
    );
    assert!(listed_ids(&device, &["--status", "rejected"]).is_empty());
    let bad = fails(&["list", "--data", p(&device), "--status", "lost"]);
    assert!(
        bad.contains("possible values") && bad.contains("in_flight"),
        "{bad}"
    );

    // Name search: part of a Cyrillic name, any case, child's or mother's.
    assert_eq!(
        listed_ids(&device, &["--search", "шевч"]),
        vec![maria.clone()]
    );
    assert_eq!(
        listed_ids(&device, &["--search", "Оксана"]),
        vec![maria.clone()]
    );
    assert_eq!(
        listed_ids(&device, &["--search", "ОЛЕН"]),
        vec![olena.clone(), fixed.clone(), later.clone()]
    );
    assert_eq!(
        listed_ids(&device, &["--search", "Олена", "--status", "pending"]),
        vec![later]
    );
    assert!(listed_ids(&device, &["--search", "Петренко"]).is_empty());
}

#[test]
fn a_validation_error_lists_every_field_path() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device)]);
    let bad = form(root.path(), "bad.json", |f| {
        f["child"]["given_names"] = "  ".into();
        f["child"]["date_of_birth"] = "2099-01-01".into();
        f["place_of_birth"]["latitude"] = 123.0.into();
        f["mother"]["nationality"] = "XX".into();
        f["informant"]["phone"] = "12345".into();
        f["consent"]["given"] = false.into();
    });
    let output = run(&["capture", "--data", p(&device), "--json", p(&bad)]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no record id printed");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("6 problem(s)"), "{stderr}");
    for path in [
        "child.given_names",
        "child.date_of_birth",
        "place_of_birth.latitude",
        "mother.nationality",
        "informant.phone",
        "consent.given",
    ] {
        assert!(stderr.contains(&format!("  {path}: ")), "{path}: {stderr}");
    }
    // The same through standard input, and an unknown field is an error, not dropped.
    let unknown = form(root.path(), "unknown.json", |f| {
        f["child"]["nickname"] = "Оля".into();
    });
    let err = fails(&["capture", "--data", p(&device), "--json", p(&unknown)]);
    // Located, with the expected fields, without repeating the unknown name (it may be one).
    assert!(err.contains("unknown field at child"), "{err}");
    assert!(
        err.contains("`given_names`") && !err.contains("nickname"),
        "{err}"
    );
    let piped = Command::new(BIN)
        .args(["capture", "--data", p(&device), "--json", "-"])
        .env_remove(STORAGE_KEY_ENV)
        .stdin(fs::File::open(&bad).unwrap())
        .output()
        .unwrap();
    assert!(!piped.status.success());
    assert!(String::from_utf8_lossy(&piped.stderr).contains("consent.given"));
    assert!(list_json(&device).is_empty(), "nothing stored");
    // A correction is validated the same way.
    let id = capture(&device, 1).remove(0);
    let err = fails(&["correct", "--data", p(&device), &id, "--json", p(&bad)]);
    assert!(err.contains("informant.phone"), "{err}");
    assert_eq!(list_json(&device).len(), 1);
}

fn with_key(key: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env(STORAGE_KEY_ENV, key)
        .output()
        .unwrap()
}

/// No personal data in any file of the device's data dir.
fn assert_sealed_at_rest(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        for needle in PLAINTEXT {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle} at rest");
        }
    }
}

#[test]
fn the_storage_key_comes_from_a_new_0600_file_the_environment_or_a_key_file() {
    let root = tempfile::tempdir().unwrap();

    // No key given: `device init` creates DIR/storage.key, readable by its owner only.
    let plain = root.path().join("plain");
    let init = run(&["device", "init", "--data", p(&plain)]);
    assert!(init.status.success());
    let said = String::from_utf8(init.stderr).unwrap();
    let key_file = plain.join("storage.key");
    assert!(
        said.contains("created storage key file") && said.contains(p(&key_file)),
        "{said}"
    );
    let mode = fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let hex = fs::read_to_string(&key_file).unwrap();
    assert_eq!(hex.trim().len(), 64);
    assert!(hex.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    capture(&plain, 1);
    assert_eq!(list_json(&plain).len(), 1);
    // A second init reuses it.
    let again = run(&["device", "init", "--data", p(&plain)]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("created"));
    assert_eq!(fs::read_to_string(&key_file).unwrap(), hex);
    assert_sealed_at_rest(&plain);

    // BIRTHRIGHT_STORAGE_KEY: no key file is written.
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let other_key = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let env = root.path().join("env");
    let init = with_key(key, &["device", "init", "--data", p(&env)]);
    assert!(init.status.success());
    assert!(!String::from_utf8_lossy(&init.stderr).contains("created"));
    assert!(!env.join("storage.key").exists());
    let captured = with_key(key, &["capture", "--data", p(&env), "--json", OLENA]);
    assert!(captured.status.success());
    let id = String::from_utf8(captured.stdout)
        .unwrap()
        .trim()
        .to_string();
    let listed = with_key(key, &["list", "--data", p(&env), "--json"]);
    let records: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records[0]["id"], id.as_str());
    let no_key = fails(&["list", "--data", p(&env)]);
    assert!(no_key.contains("no storage key"), "{no_key}");
    let wrong = with_key(other_key, &["list", "--data", p(&env)]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong storage key"));
    let short = with_key(&key[1..], &["list", "--data", p(&env)]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains(STORAGE_KEY_ENV));
    assert_sealed_at_rest(&env);

    // --key-file (which wins over the environment).
    let file = root.path().join("device.key");
    fs::write(&file, format!("{key}\n")).unwrap();
    let wrong_file = root.path().join("wrong.key");
    fs::write(&wrong_file, other_key).unwrap();
    let kf = root.path().join("keyfile");
    ok(&["device", "init", "--data", p(&kf), "--key-file", p(&file)]);
    assert!(!kf.join("storage.key").exists());
    ok(&[
        "capture",
        "--data",
        p(&kf),
        "--key-file",
        p(&file),
        "--json",
        OLENA,
    ]);
    let by_file = with_key(
        other_key,
        &["list", "--data", p(&kf), "--key-file", p(&file), "--json"],
    );
    assert!(by_file.status.success());
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&by_file.stdout)
            .unwrap()
            .len(),
        1
    );
    let err = fails(&["list", "--data", p(&kf), "--key-file", p(&wrong_file)]);
    assert!(err.contains("wrong storage key"), "{err}");
    // The same store opens with the same key from the environment.
    assert!(with_key(key, &["list", "--data", p(&kf)]).status.success());
}

/// `list | head -1` and friends: a reader that goes away ends the command quietly (no panic,
/// no exit 101), and `BIRTHRIGHT_DATA` / `BIRTHRIGHT_REGISTRY` stand in for the flags.
#[test]
fn a_closed_pipe_is_quiet_and_the_environment_names_the_store() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-pipe");
    capture(&device, 3);
    for args in [vec!["list"], vec!["list", "--json"]] {
        let mut child = Command::new(BIN)
            .args(&args)
            .env("BIRTHRIGHT_DATA", &device)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}");
    }
    let out = Command::new(BIN)
        .args(["sync", "--json"])
        .env("BIRTHRIGHT_DATA", &device)
        .env("BIRTHRIGHT_REGISTRY", &registry.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accepted"], 3);
}

/// `capture --json-lines`: an import of one form per line is stored whole, in order, or not at
/// all, and every problem is reported with its line number, never with the value.
#[test]
fn capture_json_lines_imports_all_or_nothing_with_line_numbers() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("importer");
    ok(&[
        "device",
        "init",
        "--data",
        p(&device),
        "--worker",
        "w-import",
    ]);
    let olena: Value = serde_json::from_str(&fs::read_to_string(OLENA).unwrap()).unwrap();
    let line = |edit: &dyn Fn(&mut Value)| {
        let mut form = olena.clone();
        edit(&mut form);
        serde_json::to_string(&form).unwrap()
    };
    let good = line(&|_| {});
    let maria = line(&|f| f["child"]["given_names"] = "Марія".into());
    let future = line(&|f| f["child"]["date_of_birth"] = "2999-01-01".into());
    let no_caregiver = line(&|f| f["caregivers"] = Value::Array(vec![]));
    let write = |name: &str, lines: &[&str]| {
        let path = root.path().join(name);
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };

    // Blank lines are skipped; the ids come back in line order.
    let import = write("import.jsonl", &[&good, "", &maria, &good]);
    let ids: Vec<String> = ok(&["capture", "--data", p(&device), "--json-lines", p(&import)])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let names: Vec<String> = ids
        .iter()
        .map(|id| show_json(&device, id)["enrolment"]["child"]["given_names"].to_string())
        .collect();
    assert_eq!(names, ["\"Олена\"", "\"Марія\"", "\"Олена\""]);

    // With a bare --json the new ids are a JSON array.
    let two = write("two.jsonl", &[&maria, &good]);
    let out = ok(&[
        "capture",
        "--data",
        p(&device),
        "--json-lines",
        p(&two),
        "--json",
    ]);
    let array: Vec<String> = serde_json::from_str(&out).unwrap();
    assert_eq!(array.len(), 2, "{out}");
    assert_eq!(list_json(&device).len(), 5);

    // Invalid forms (found by capture_batch): every one by line number, nothing stored.
    let bad = write("bad.jsonl", &[&good, "", &future, &no_caregiver]);
    let err = fails(&["capture", "--data", p(&device), "--json-lines", p(&bad)]);
    assert!(err.contains("nothing was imported: 2 problem(s)"), "{err}");
    assert!(
        err.contains("line 3: child.date_of_birth: must not be in the future"),
        "{err}"
    );
    assert!(
        err.contains("line 4: caregivers: at least one caregiver is required"),
        "{err}"
    );
    assert!(!err.contains("2999") && !err.contains("Олена"), "{err}");
    assert_eq!(
        list_json(&device).len(),
        5,
        "nothing of the bad import stored"
    );

    // Unreadable lines too, with the problems of the readable ones, in line order.
    let broken = write(
        "broken.jsonl",
        &[&future, r#"{"child": {"plurality": "Олена"}}"#, &good],
    );
    let err = fails(&["capture", "--data", p(&device), "--json-lines", p(&broken)]);
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| l.trim().starts_with("line "))
        .collect();
    assert_eq!(problems.len(), 2, "{err}");
    assert!(problems[0].contains("line 1: child.date_of_birth"), "{err}");
    assert!(
        problems[1].contains("line 2: the form cannot be read")
            && problems[1].contains("child.plurality"),
        "{err}"
    );
    assert!(!err.contains("Олена"), "{err}");
    assert_eq!(list_json(&device).len(), 5);

    // Standard input, and an empty import.
    let mut child = Command::new(BIN)
        .args(["capture", "--data", p(&device), "--json-lines", "-"])
        .env_remove(STORAGE_KEY_ENV)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{good}\r\n{maria}").unwrap();
    }
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success());
    assert_eq!(String::from_utf8(piped.stdout).unwrap().lines().count(), 2);
    assert_eq!(list_json(&device).len(), 7);
    let empty = write("empty.jsonl", &["", "  "]);
    let err = fails(&["capture", "--data", p(&device), "--json-lines", p(&empty)]);
    assert!(err.contains("has no registration forms"), "{err}");
    let err = fails(&[
        "capture",
        "--data",
        p(&device),
        "--json",
        OLENA,
        "--json-lines",
        p(&empty),
    ]);
    assert!(err.contains("not both"), "{err}");
}
