//! Caregiver QR credentials through the CLI: `credential` renders them in every format,
//! `verify` checks them offline against the trust bundle (and a revocation list).

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
};

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
    assert!(
        unknown.contains("invalid value 'gif'")
            && unknown.contains("[possible values: text, png, svg, terminal]"),
        "{unknown}"
    );

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

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs the CLI in `cwd` with `env` set (and no NO_COLOR or COLUMNS from the test's own
/// environment), standard output piped.
fn run_with(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(cwd)
        .env_remove(STORAGE_KEY_ENV)
        .env_remove("BIRTHRIGHT_DATA")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// Runs the CLI with its standard output on a new pseudo-terminal `columns` wide (0: a
/// terminal that does not tell its width) and `env` set; returns whether it succeeded, what
/// the terminal showed and the standard error.
#[cfg(unix)]
fn run_on_terminal(args: &[&str], columns: u16, env: &[(&str, &str)]) -> (bool, Vec<u8>, String) {
    use std::{
        io::Read,
        os::fd::{FromRawFd, OwnedFd},
    };
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 60,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors, which are then owned here.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove(STORAGE_KEY_ENV)
        .env_remove("BIRTHRIGHT_DATA")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().unwrap();
    // Only the child holds the terminal's other end now: reading ends when it exits.
    drop(command);
    let shown = std::thread::spawn(move || {
        let mut file = fs::File::from(master);
        let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = file.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        shown.join().unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn credential_output_goes_where_it_is_asked_and_fits_the_terminal() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let trust = trust_file(&registry);
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-out");
    let id = capture(&device, 1).remove(0);
    let cwd = root.path().join("cwd");
    fs::create_dir(&cwd).unwrap();
    let base = ["credential", "--data", p(&device), &id];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    // --out - is standard output, not a file named "-"; a PNG to a redirected standard output
    // is written, with or without it.
    for extra in [
        &["--format", "png", "--out", "-"][..],
        &["--format", "png"][..],
    ] {
        let command = with(extra);
        let output = run_with(&cwd, &args(&command), &[]);
        assert!(output.status.success(), "{extra:?}: {output:?}");
        assert!(output.stdout.starts_with(b"\x89PNG\r\n\x1a\n"), "{extra:?}");
        let png = root.path().join("stdout.png");
        fs::write(&png, &output.stdout).unwrap();
        let (code, v) = verify(&trust, &["--image", p(&png)]);
        // 10: valid_provisional (the record has not synced).
        assert_eq!(code, 10, "{extra:?}: {v}");
        assert_eq!(v["verdict"]["status"], "valid_provisional", "{v}");
        assert_eq!(v["registration"]["record_id"], id.as_str(), "{v}");
    }
    // A damaged image is explained in plain words, not in the image decoder's.
    let mut damaged = run_with(&cwd, &args(&with(&["--format", "png"])), &[]).stdout;
    damaged[20] ^= 1; // the header's checksum no longer matches
    let png = root.path().join("damaged.png");
    fs::write(&png, &damaged).unwrap();
    let (code, v) = verify(&trust, &["--image", p(&png)]);
    // 15: unreadable, scan again (not "invalid", like a forgery).
    assert_eq!(code, 15, "{v}");
    assert_eq!(v["verdict"]["status"], "unreadable", "{v}");
    assert_eq!(
        v["verdict"]["reason"], "not a readable PNG or JPEG image: the file is damaged",
        "{v}"
    );
    let text = run_with(&cwd, &args(&with(&["--format", "text", "--out", "-"])), &[]);
    assert!(text.status.success(), "{text:?}");
    assert!(String::from_utf8(text.stdout).unwrap().starts_with("BR1:"));
    assert_eq!(fs::read_dir(&cwd).unwrap().count(), 0, "a file was written");

    // NO_COLOR (set and not empty): no escape byte at all, plain blocks; empty: colours.
    let plain = run_with(
        &cwd,
        &args(&with(&["--format", "terminal"])),
        &[("NO_COLOR", "1")],
    );
    assert!(plain.status.success(), "{plain:?}");
    assert!(
        !plain.stdout.contains(&0x1b),
        "an escape byte with NO_COLOR"
    );
    let drawing = String::from_utf8(plain.stdout).unwrap();
    assert!(drawing.contains('\u{2588}'), "{drawing}");
    let lines: Vec<&str> = drawing.lines().collect();
    let side = lines[0].chars().count();
    assert!(lines.iter().all(|l| l.chars().count() == side), "{drawing}");
    // The quiet zone: the first two lines (four modules) are all light, that is all blocks.
    assert!(
        lines[..2]
            .iter()
            .all(|l| l.chars().all(|c| c == '\u{2588}')),
        "{drawing}"
    );
    let coloured = run_with(
        &cwd,
        &args(&with(&["--format", "terminal"])),
        &[("NO_COLOR", "")],
    );
    assert!(coloured.stdout.contains(&0x1b));

    // --help lists the formats.
    let help = ok(&["credential", "--help"]);
    for format in ["text", "png", "svg", "terminal"] {
        assert!(help.contains(&format!("{format}:")), "{help}");
    }

    #[cfg(unix)]
    {
        // On a terminal: a PNG is refused, with the reason and the way out.
        for extra in [
            &["--format", "png"][..],
            &["--format", "png", "--out", "-"][..],
        ] {
            let (ok, shown, err) = run_on_terminal(&args(&with(extra)), 200, &[]);
            assert!(!ok, "{extra:?}");
            assert!(
                shown.is_empty(),
                "{extra:?}: {}",
                String::from_utf8_lossy(&shown)
            );
            assert!(
                err.contains("binary data") && err.contains("--out FILE"),
                "{extra:?}: {err}"
            );
        }
        // Too narrow for the code: refused, saying how many columns are needed and available.
        let needed = side;
        for (columns, env) in [(40, &[][..]), (0, &[("COLUMNS", "40")][..])] {
            let (ok, shown, err) = run_on_terminal(&args(&with(&[])), columns, env);
            assert!(!ok, "{columns} {env:?}");
            assert!(shown.is_empty(), "{}", String::from_utf8_lossy(&shown));
            assert!(
                err.contains(&format!(
                    "the QR code needs {needed} columns but this terminal has 40"
                )) && err.contains("--format png")
                    && err.contains("--format text"),
                "{err}"
            );
        }
        // Wide enough (or width unknown): drawn.
        for (columns, env) in [(needed as u16, &[][..]), (0, &[][..])] {
            let (ok, shown, err) = run_on_terminal(&args(&with(&[])), columns, env);
            assert!(ok, "{columns}: {err}");
            let shown = String::from_utf8(shown).unwrap();
            assert_eq!(shown.lines().count(), needed.div_ceil(2), "{shown}");
        }
        // Written to a file, the terminal's width does not matter.
        let file = root.path().join("qr.txt");
        let (ok, _, err) = run_on_terminal(&args(&with(&["--out", p(&file)])), 20, &[]);
        assert!(ok, "{err}");
        assert!(fs::read_to_string(&file).unwrap().contains('\u{2580}'));
    }
}
