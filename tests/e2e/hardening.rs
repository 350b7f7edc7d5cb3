//! Attacks on the CLI's files and inputs, against the real binary: an output path that is a
//! symbolic link, endless inputs (`/dev/zero`), a world-readable store, and names with
//! characters that reorder or hide text.

use std::{fs, path::Path};

use serde_json::Value;

use crate::support::*;

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn credential_out_never_writes_through_a_symlink() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-link");
    let id = capture(&device, 1).remove(0);
    // A file the attacker wants overwritten, and a link to it where the credential goes.
    let precious = root.path().join("precious");
    fs::write(&precious, b"keep me").unwrap();
    let link = root.path().join("credential.txt");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    for format in ["text", "png"] {
        let err = fails(&[
            "credential",
            "--data",
            p(&device),
            &id,
            "--format",
            format,
            "--out",
            p(&link),
        ]);
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read(&precious).unwrap(), b"keep me", "target unchanged");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    // A regular path is written (and rewritten) in place, private to its owner, with no
    // temporary file left beside it.
    let out = root.path().join("out").join("credential.txt");
    fs::create_dir(out.parent().unwrap()).unwrap();
    for _ in 0..2 {
        ok(&[
            "credential",
            "--data",
            p(&device),
            &id,
            "--format",
            "text",
            "--out",
            p(&out),
        ]);
    }
    assert!(fs::read_to_string(&out).unwrap().starts_with("BR1:"));
    assert_eq!(mode(&out), 0o600);
    assert_eq!(fs::read_dir(out.parent().unwrap()).unwrap().count(), 1);
}

#[cfg(unix)]
#[test]
fn endless_inputs_are_refused_after_a_bounded_read() {
    let root = tempfile::tempdir().unwrap();
    let registry_dir = root.path().join("registry");
    init_registry(&registry_dir);
    let trust = registry_dir.join("trust.json");
    let zero = "/dev/zero";
    let err = fails(&["verify", "--trust", zero, "--text", "BR1:C00"]);
    assert!(
        err.contains("/dev/zero is larger than 16384 bytes"),
        "{err}"
    );
    let err = fails(&["verify", "--trust", p(&trust), "--image", zero]);
    assert!(
        err.contains("/dev/zero is larger than 20971520 bytes"),
        "{err}"
    );
    let err = fails(&[
        "verify",
        "--trust",
        p(&trust),
        "--text",
        "BR1:C00",
        "--revocations",
        zero,
    ]);
    assert!(
        err.contains("/dev/zero is larger than 1048576 bytes"),
        "{err}"
    );
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device)]);
    let err = fails(&["list", "--data", p(&device), "--key-file", zero]);
    assert!(err.contains("/dev/zero is larger than 1024 bytes"), "{err}");
    // The store is untouched and opens with its own key.
    ok(&["list", "--data", p(&device)]);
}

#[cfg(unix)]
#[test]
fn the_store_is_private_and_a_readable_key_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device)]);
    assert_eq!(mode(&device.join("storage.key")), 0o600);
    // Any command that opens the store makes the directory and the database private.
    fs::set_permissions(&device, fs::Permissions::from_mode(0o755)).unwrap();
    let output = run(&["list", "--data", p(&device)]);
    assert!(output.status.success());
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("warning"),
        "a 0600 key gives no warning"
    );
    assert_eq!(mode(&device), 0o700);
    for name in ["device.db", "device.db-wal", "device.db-shm"] {
        let path = device.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    // A key readable by others is warned about (and still works: it is the owner's call).
    let key = device.join("storage.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(&["list", "--data", p(&device)]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: the storage key file")
            && stderr.contains("can be read by other users (mode 0644)")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

#[test]
fn a_name_with_a_direction_override_is_refused_with_its_path() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device)]);
    let mut form: Value = serde_json::from_str(&fs::read_to_string(olena()).unwrap()).unwrap();
    // "Олена" followed by RIGHT-TO-LEFT OVERRIDE and reversed text: displays as another name.
    form["child"]["given_names"] = "Олена\u{202E}анелО".into();
    form["caregivers"][0]["family_name"] = "Ко\u{200B}валенко".into();
    let file = root.path().join("bidi.json");
    fs::write(&file, serde_json::to_string(&form).unwrap()).unwrap();
    let err = fails(&["capture", "--data", p(&device), "--json", p(&file)]);
    assert!(
        err.contains(
            "child.given_names: contains an invisible or direction-changing character (U+202E)"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "caregivers[0].family_name: contains an invisible or direction-changing character \
             (U+200B)"
        ),
        "{err}"
    );
    assert!(!err.contains("Олена") && !err.contains("валенко"), "{err}");
    let listed: Vec<Value> =
        serde_json::from_str(&ok(&["list", "--data", p(&device), "--json"])).unwrap();
    assert!(listed.is_empty(), "nothing was stored");
}
