//! Registered credentials' status through the CLI: a correction makes the old credential
//! SUPERSEDED (exit 12), `registry revoke-credential` makes one REVOKED (exit 13), an image
//! without a QR code is UNREADABLE (exit 15), and `lists fetch` caches two registries' lists for
//! an offline `verify --lists` with two trust bundles.

use std::{
    fs,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use serde_json::Value;

use crate::support::*;

/// A 48 × 48 white greyscale PNG: an image that decodes, with no QR code in it.
const BLANK_PNG: &str = "89504e470d0a1a0a0000000d49484452000000300000003008000000007269a65b0000\
                         00204944415478da63f84f226018d530aa6154c3a886510da31a46358c6a18591a00\
                         1b0ff779e2c627f80000000049454e44ae426082";

/// `verify --json` with `args`; the exit code and the answer.
fn verify(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify", "--json"];
    all.extend_from_slice(args);
    let output = run(&all);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "verify {args:?}: {e}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), json)
}

fn text_of(device: &Path, id: &str) -> String {
    ok(&["credential", "--data", p(device), id, "--format", "text"])
        .trim()
        .to_string()
}

fn correct(device: &Path, id: &str) -> String {
    let mut form: Value = serde_json::from_str(&fs::read_to_string(olena()).unwrap()).unwrap();
    form["child"]["given_names"] = "Олена Марія".into();
    let path = device.join("corrected.json");
    fs::write(&path, form.to_string()).unwrap();
    ok(&["correct", "--data", p(device), id, "--json", p(&path)])
        .trim()
        .to_string()
}

#[test]
fn a_corrected_record_s_old_credential_is_superseded_and_a_revoked_one_revoked() {
    superseded_and_revoked(Backend::default());
}

#[test]
fn a_corrected_record_s_old_credential_is_superseded_and_a_revoked_one_revoked_on_postgresql() {
    superseded_and_revoked(Backend::Postgres);
}

fn superseded_and_revoked(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let Some(registry) = start_registry_on(root.path(), backend) else {
        return;
    };
    let trust = trust_file(&registry);
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-status");
    let id = capture(&device, 1).remove(0);
    ok(&["sync", "--data", p(&device)]);
    let old = text_of(&device, &id);
    // Valid, with the officer's line first.
    let out = run(&[
        "verify",
        "--trust",
        p(&trust),
        "--text",
        &old,
        "--data",
        p(&device),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("VALID: registered birth of Олена Коваленко, born ")
            && first.contains(", age ")
            && first.ends_with(
                "Check that the adult is one of: Ірина Коваленко (mother), Андрій Коваленко \
                 (father)."
            ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("warning"),
        "the synced device has fresh lists: {stdout}"
    );

    // This registry registers corrections without review (the default policy reviews them),
    // so the correction comes back with its registered credential.
    ok(&[
        "registry",
        "policy",
        "set",
        "--data",
        p(&registry.dir),
        "--review-corrections",
        "false",
    ]);
    let correction = correct(&device, &id);
    ok(&["sync", "--data", p(&device)]);
    let (code, v) = verify(&["--trust", p(&trust), "--text", &old, "--data", p(&device)]);
    assert_eq!(code, 12, "{v}");
    assert_eq!(v["verdict"]["status"], "superseded", "{v}");
    assert!(
        v["headline"].as_str().unwrap().starts_with("SUPERSEDED"),
        "{v}"
    );
    assert!(v["status_list_age_secs"].is_i64(), "{v}");
    // Without any list the verifier cannot know, and warns.
    let (code, v) = verify(&["--trust", p(&trust), "--text", &old]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no status list"),
        "{v}"
    );
    // The correction's own credential is valid; text from standard input.
    let new = text_of(&device, &correction);
    let leaf = show_json(&device, &correction)["leaf_index"]
        .as_u64()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_birthright"))
        .args([
            "verify",
            "--trust",
            p(&trust),
            "--data",
            p(&device),
            "--text",
            "-",
        ])
        .env_remove("BIRTHRIGHT_STORAGE_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{new}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("VALID: registered birth of Олена Марія"),
        "{out:?}"
    );

    // The registry revokes the new credential; the device learns it at its next sync.
    let out = ok(&[
        "registry",
        "revoke-credential",
        "--data",
        p(&registry.dir),
        &leaf.to_string(),
        "--reason",
        "lost",
        "--note",
        "reported at the district office",
    ]);
    assert!(out.contains("revoked"), "{out}");
    let unknown = fails(&[
        "registry",
        "revoke-credential",
        "--data",
        p(&registry.dir),
        "999",
        "--reason",
        "lost",
    ]);
    assert!(
        unknown.contains("no registered record at ledger index 999"),
        "{unknown}"
    );
    let bad = fails(&[
        "registry",
        "revoke-credential",
        "--data",
        p(&registry.dir),
        "0",
        "--reason",
        "because",
    ]);
    assert!(
        bad.contains("possible values: lost, stolen, compromised, retired, other"),
        "{bad}"
    );
    ok(&["sync", "--data", p(&device)]);
    let (code, v) = verify(&["--trust", p(&trust), "--text", &new, "--data", p(&device)]);
    assert_eq!(code, 13, "{v}");
    assert_eq!(v["verdict"]["status"], "revoked", "{v}");
    // The private note is in no published list.
    for path in ["/v1/status-list", "/v1/revocations"] {
        let body = http_get(&format!("{}{path}", registry.url));
        assert!(!contains(&body, b"district office"), "{path}");
    }

    // An image without a QR code: unreadable, scan again (not invalid).
    let blank = root.path().join("blank.png");
    fs::write(&blank, hex::decode(BLANK_PNG).unwrap()).unwrap();
    let (code, v) = verify(&["--trust", p(&trust), "--image", p(&blank)]);
    assert_eq!(code, 15, "{v}");
    assert_eq!(v["verdict"]["status"], "unreadable", "{v}");
    let out = run(&["verify", "--trust", p(&trust), "--image", p(&blank)]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("UNREADABLE:"),
        "{out:?}"
    );
    // An unreadable trust file is an error (1), not a verdict.
    let out = run(&["verify", "--trust", p(&blank), "--text", &new]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lists_fetched_for_two_registries_verify_offline() {
    let root = tempfile::tempdir().unwrap();
    let ua = start_registry(root.path());
    let md_dir = root.path().join("md");
    ok(&[
        "registry",
        "init",
        "--data",
        p(&md_dir),
        "--origin",
        "registru.test/nasteri",
    ]);
    let md = serve_registry(&md_dir);
    let ua_device = enrolled_device(root.path(), &ua, &ua.url, "w-ua");
    let md_device = enrolled_device(root.path(), &md, &md.url, "w-md");
    let ua_id = capture(&ua_device, 1).remove(0);
    let md_id = capture(&md_device, 1).remove(0);
    ok(&["sync", "--data", p(&ua_device)]);
    ok(&["sync", "--data", p(&md_device)]);
    let ua_old = text_of(&ua_device, &ua_id);
    let md_text = text_of(&md_device, &md_id);
    let md_provisional = text_of(&md_device, &capture(&md_device, 1)[0]);
    correct(&ua_device, &ua_id);
    ok(&["sync", "--data", p(&ua_device)]);

    let lists = root.path().join("lists");
    let ua_trust = trust_file(&ua);
    let md_trust = md_dir.join("trust.json");
    let out = ok(&[
        "lists",
        "fetch",
        "--trust",
        p(&ua_trust),
        "--trust",
        p(&md_trust),
        "--registry",
        &ua.url,
        "--registry",
        &md.url,
        "--out",
        p(&lists),
    ]);
    assert!(
        out.contains("registru.test/nasteri: revocation list saved, status list saved"),
        "{out}"
    );
    // Per registry: its revocation list, its status list and its latest checkpoint.
    assert_eq!(fs::read_dir(&lists).unwrap().count(), 6);
    // Again, with --json: nothing newer, so both registries' cached lists are kept.
    let again: serde_json::Value = serde_json::from_str(&ok(&[
        "lists",
        "fetch",
        "--trust",
        p(&ua_trust),
        "--trust",
        p(&md_trust),
        "--registry",
        &ua.url,
        "--registry",
        &md.url,
        "--out",
        p(&lists),
        "--json",
    ]))
    .unwrap();
    let again = again.as_array().unwrap();
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again.iter().any(|r| r["origin"] == "registru.test/nasteri"),
        "{again:?}"
    );
    for r in again {
        assert!(
            r["registry_key_id"].as_str().is_some_and(|k| k.len() == 16),
            "{r}"
        );
        assert!(
            matches!(r["status_list"].as_str(), Some("saved" | "kept")),
            "{r}"
        );
    }
    // The registries go away: the border is offline.
    drop(ua);
    drop(md);
    let both = [
        "--trust",
        p(&ua_trust),
        "--trust",
        p(&md_trust),
        "--lists",
        p(&lists),
    ];
    let with = |text: &str| {
        let mut args = both.to_vec();
        args.extend(["--text", text]);
        verify(&args)
    };
    let (code, v) = with(&ua_old);
    assert_eq!(code, 12, "{v}");
    let (code, v) = with(&md_text);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["registration"]["issuer"], "registru.test/nasteri", "{v}");
    assert!(v["status_list_age_secs"].is_i64(), "{v}");
    let (code, v) = with(&md_provisional);
    assert_eq!(code, 10, "{v}");
    assert!(v["revocation_list_age_secs"].is_i64(), "{v}");
    // One bundle only: the other registry's credential is invalid, its lists are ignored.
    let (code, v) = verify(&[
        "--trust",
        p(&ua_trust),
        "--lists",
        p(&lists),
        "--text",
        &md_text,
    ]);
    assert_eq!(code, 14, "{v}");
    // A stale list is warned about.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut args = both.to_vec();
    args.extend(["--text", &md_text, "--max-list-age", "0s"]);
    let (_, v) = verify(&args);
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("status list is"),
        "{v}"
    );
    // A tampered cached list is an error, not a verdict.
    let file = fs::read_dir(&lists)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".status-list.cwt"))
        .unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&file, bytes).unwrap();
    let mut args = vec!["verify"];
    args.extend(both);
    args.extend(["--text", &md_text]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}
