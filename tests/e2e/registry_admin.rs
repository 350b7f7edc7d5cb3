//! Registry administration through the real binary: an enrolment token's lifetime is capped
//! (the overflowing `--ttl` of the security report), and a data directory restored from a
//! backup is refused by `registry serve` until an explicit, logged `registry recover`.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use crate::support::*;

#[test]
fn an_overflowing_or_long_token_ttl_is_refused_with_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    init_registry(&dir);
    for ttl in ["9223372036854775807s", "31d", "99999999999999999999d"] {
        let err = fails(&[
            "registry",
            "enrol-token",
            "--data",
            p(&dir),
            "--worker",
            "w-1",
            "--region",
            "UA-46",
            "--ttl",
            ttl,
        ]);
        assert!(err.contains("at most 30 days"), "{ttl}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    ok(&[
        "registry",
        "enrol-token",
        "--data",
        p(&dir),
        "--worker",
        "w-1",
        "--region",
        "UA-46",
        "--ttl",
        "30d",
    ]);
}

fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("registry.db{suffix}");
        let _ = std::fs::remove_file(to.join(&name));
        if from.join(&name).exists() {
            std::fs::copy(from.join(&name), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn a_restored_registry_refuses_to_serve_until_recovered() {
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    // SQLite by nature: the backup is a copy of the database files in the data directory
    // (PostgreSQL is backed up and restored with its own tools, docs/OPERATIONS.md).
    let dir = root.path().join("registry");
    init_registry_on(&dir, Backend::Sqlite);
    let registry = serve_registry(&dir);
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-1");
    capture(&device, 1);
    sync_json(&device, &registry.url);
    drop(registry);
    copy_db(&dir, &backup);
    let registry = serve_registry(&dir);
    capture(&device, 2);
    sync_json(&device, &registry.url);
    // The first record and the review policy's registration of it, then two more records of
    // the same child, waiting for review as possible duplicates.
    assert_eq!(tree_size(&registry.url), 4);
    drop(registry);
    // The database comes back from the backup (2 leaves); 4 were published.
    copy_db(&backup, &dir);
    let child = Command::new(BIN)
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            p(&dir),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serving = Killed(child);
    let mut exited = None;
    wait_for("serve to refuse the restored database", || {
        exited = serving.0.try_wait().unwrap();
        exited.is_some()
    });
    assert!(!exited.unwrap().success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut serving.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("restored") && err.contains("registry recover"),
        "{err}"
    );
    // The operator accepts the loss explicitly; it is logged and serving resumes.
    let said = ok(&["registry", "recover", "--data", p(&dir)]);
    assert!(said.contains("from 4 to 2"), "{said}");
    let log = std::fs::read_to_string(dir.join("recover.log")).unwrap();
    assert!(log.contains("size 4") && log.contains("size 2"), "{log}");
    let registry = serve_registry(&dir);
    assert_eq!(tree_size(&registry.url), 2);
}
