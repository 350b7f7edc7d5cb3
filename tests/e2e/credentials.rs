//! Caregiver QR credentials through the CLI: `credential` renders them in every format,
//! `verify` checks them offline against the trust bundle (and a revocation list).

use std::{fs, path::Path};

use serde_json::Value;

use crate::support::*;

/// `verify --json` with `args`; returns the exit code and the verification.
fn verify(trust: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify", "--trust", p(trust), "--json"];
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

fn credential_text(device: &Path, id: &str) -> String {
    let text = ok(&["credential", "--data", p(device), id, "--format", "text"]);
    let text = text.trim().to_string();
    assert!(text.starts_with("BR1:"), "{text}");
    text
}

/// Changes one base45 character in the middle of `text`.
fn tamper(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn credentials_render_and_verify_through_the_cli() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let trust = trust_file(&registry);
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-qr");
    let id = capture(&device, 1).remove(0);

    // Captured, not synced: a provisional credential signed by the device.
    let provisional = credential_text(&device, &id);
    let (code, v) = verify(&trust, &["--text", &provisional]);
    assert_eq!(code, 10, "{v}");
    assert_eq!(v["verdict"]["status"], "valid_provisional", "{v}");
    assert_eq!(v["registration"]["record_id"], id.as_str(), "{v}");
    assert_eq!(v["registration"]["given_names"], "Олена", "{v}");
    assert!(v["registration"]["leaf_index"].is_null(), "{v}");

    // Synced: the registry's credential, with the ledger index.
    ok(&["sync", "--data", p(&device)]);
    let png = root.path().join("f.png");
    let out = run(&[
        "credential",
        "--data",
        p(&device),
        &id,
        "--format",
        "png",
        "--out",
        p(&png),
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("QR version"),
        "{out:?}"
    );
    assert!(fs::read(&png).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let (code, v) = verify(&trust, &["--image", p(&png)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["status"], "valid", "{v}");
    assert_eq!(v["registration"]["record_id"], id.as_str(), "{v}");
    assert_eq!(v["registration"]["family_name"], "Коваленко", "{v}");
    assert_eq!(v["registration"]["leaf_index"], 0, "{v}");
    assert_eq!(
        v["signer"],
        serde_json::from_slice::<Value>(&fs::read(&trust).unwrap()).unwrap()["registry_key_id"],
        "{v}"
    );

    let registered = credential_text(&device, &id);
    assert_ne!(registered, provisional);
    assert!(
        registered.len() < provisional.len(),
        "registered is shorter"
    );
    let (code, v) = verify(&trust, &["--text", &registered]);
    assert_eq!((code, &v["verdict"]["status"]), (0, &Value::from("valid")));

    // The drawings.
    let svg = ok(&["credential", "--data", p(&device), &id, "--format", "svg"]);
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    let terminal = ok(&[
        "credential",
        "--data",
        p(&device),
        &id,
        "--format",
        "terminal",
    ]);
    let rows: Vec<usize> = terminal
        .lines()
        .map(|l| l.chars().filter(|c| matches!(c, '▀' | '▄' | '█')).count())
        .collect();
    // A square of half blocks: every row as wide as the code plus its quiet zone, and two
    // modules per row.
    assert!(rows.len() >= 12, "{terminal}");
    assert!(rows.iter().all(|&w| w == rows[0]), "{rows:?}");
    assert!(rows[0].abs_diff(2 * rows.len()) <= 1, "{rows:?}");
    let unknown = fails(&["credential", "--data", p(&device), &id, "--format", "gif"]);
    assert!(unknown.contains("unknown format"), "{unknown}");

    // One character changed: invalid, exit code 14.
    for text in [&provisional, &registered] {
        let (code, v) = verify(&trust, &["--text", &tamper(text)]);
        assert_eq!(code, 14, "{v}");
        assert_eq!(v["verdict"]["status"], "invalid", "{v}");
    }
    // Another registry's trust bundle: invalid.
    let elsewhere = root.path().join("elsewhere");
    init_registry(&elsewhere);
    let (code, v) = verify(&elsewhere.join("trust.json"), &["--text", &registered]);
    assert_eq!(
        (code, &v["verdict"]["status"]),
        (14, &Value::from("invalid"))
    );

    // The device is revoked; a record it captures afterwards has a provisional credential
    // that the registry's signed revocation list exposes.
    let kid = show_json(&device, &id)["device_kid"]
        .as_str()
        .unwrap()
        .to_string();
    revoke(&registry, &kid, "stolen");
    let late = capture(&device, 1).remove(0);
    let late_text = credential_text(&device, &late);
    let revocations = root.path().join("revocations.cbor");
    fs::write(
        &revocations,
        http_get(&format!("{}/v1/revocations", registry.url)),
    )
    .unwrap();
    let (code, v) = verify(
        &trust,
        &["--text", &late_text, "--revocations", p(&revocations)],
    );
    assert_eq!(code, 13, "{v}");
    assert_eq!(v["verdict"]["status"], "revoked", "{v}");
    assert!(
        v["verdict"]["reason"].as_str().unwrap().contains("stolen"),
        "{v}"
    );
    assert!(v["revocation_list_age_secs"].is_i64(), "{v}");
    // Without the list the verifier cannot know, and says so.
    let (code, v) = verify(&trust, &["--text", &late_text]);
    assert_eq!(code, 10, "{v}");
    assert_eq!(v["verdict"]["status"], "valid_provisional", "{v}");
    assert!(v["revocation_list_age_secs"].is_null(), "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no revocation list"),
        "{v}"
    );
    // The registry's own credential does not depend on the device's standing.
    let (code, v) = verify(
        &trust,
        &["--text", &registered, "--revocations", p(&revocations)],
    );
    assert_eq!((code, &v["verdict"]["status"]), (0, &Value::from("valid")));
    // A tampered revocation list is refused outright.
    let forged = root.path().join("forged.cbor");
    let mut bytes = fs::read(&revocations).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&forged, bytes).unwrap();
    let output = run(&[
        "verify",
        "--trust",
        p(&trust),
        "--text",
        &late_text,
        "--revocations",
        p(&forged),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a bad list is an error, not a verdict"
    );
}
