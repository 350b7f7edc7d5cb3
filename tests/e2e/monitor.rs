//! The ledger as C2SP tiles and `birthright monitor`, with real processes on loopback: a
//! 100 000-leaf log exported with `registry tiles export` and served by a plain static file
//! server, verified through its tiles alone; an altered hash in a tile detected; and a split
//! view (a copy of the registry's data that went on with another history, served by a second
//! `registry serve`) reported with both checkpoints.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    thread,
};

use birthright_core::{keys::KeyId, wire::LedgerLeaf};
use birthright_registry::{Registry, keys::RegistryKeys, store::SqliteStore};
use serde_json::Value;

use crate::support::*;

/// Appends `n` ledger leaves (well-formed 49-byte leaves; `salt` makes histories differ) to
/// the stopped registry in `dir` and signs a checkpoint of the new size, in process: far
/// faster than syncing 100 000 records, and the same storage path the sequencer writes.
fn grow(dir: &Path, n: u64, salt: u8) -> u64 {
    let keys = RegistryKeys::load(dir).unwrap();
    let store = SqliteStore::open(&dir.join("registry.db"), keys.data_key.clone()).unwrap();
    let mut size = 0;
    let mut done = 0u64;
    while done < n {
        let chunk: Vec<Vec<u8>> = (done..(done + 20_000).min(n))
            .map(|i| {
                let mut commitment = [salt; 32];
                commitment[..8].copy_from_slice(&i.to_be_bytes());
                LedgerLeaf {
                    commitment,
                    device_kid: KeyId([salt; 8]),
                    sequenced_at: 1_780_000_000 + i as i64,
                }
                .to_bytes()
                .to_vec()
            })
            .collect();
        done += chunk.len() as u64;
        size = store.append_leaves(&chunk).unwrap();
    }
    drop(store);
    Registry::open(dir).unwrap().checkpoint().unwrap();
    size
}

/// A minimal static file server over `root` (what a mirror on any web server is): GET only,
/// keep-alive, 404 for anything else. Runs until the test process ends.
fn serve_dir(root: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let root = root.to_path_buf();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let root = root.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let path = request.split(' ').nth(1).unwrap_or("/").to_string();
                    let file = (!path.contains(".."))
                        .then(|| fs::read(root.join(path.trim_start_matches('/'))).ok())
                        .flatten();
                    let (status, body) = match file {
                        Some(body) => ("200 OK", body),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: \
                         application/octet-stream\r\n\r\n",
                        body.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(&body).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Runs `monitor --json`; its exit code and JSON verdict.
pub(crate) fn monitor(trust: &Path, url: &str, state: &Path) -> (i32, Value) {
    let output = run(&[
        "monitor",
        "--trust",
        p(trust),
        "--url",
        url,
        "--state",
        p(state),
        "--json",
    ]);
    let verdict = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "monitor printed no verdict: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), verdict)
}

fn export(dir: &Path, out: &Path) -> Value {
    serde_json::from_str(&ok(&[
        "registry",
        "tiles",
        "export",
        "--data",
        p(dir),
        "--out",
        p(out),
        "--json",
    ]))
    .unwrap()
}

fn flip_hash(path: &PathBuf, hash: usize) -> Vec<u8> {
    let original = fs::read(path).unwrap();
    let mut altered = original.clone();
    altered[hash * 32 + 5] ^= 0x01;
    fs::write(path, altered).unwrap();
    original
}

#[test]
fn the_monitor_verifies_a_100_000_leaf_log_through_tiles_and_detects_an_altered_hash() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    // SQLite by nature: the ledger is grown directly in `registry.db` (and copied, for the
    // split view), not through a registry process.
    init_registry_on(&dir, Backend::Sqlite);
    assert_eq!(grow(&dir, 100_000, 7), 100_000);
    let mirror = root.path().join("mirror");
    let first = export(&dir, &mirror);
    // 391 bundles, 391 level-0 tiles, 2 level-1 tiles, 1 level-2 tile.
    assert_eq!(first["size"], 100_000);
    assert_eq!(first["written"], 785, "{first}");
    let url = serve_dir(&mirror);
    let trust = dir.join("trust.json");

    let state = root.path().join("state");
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["status"], "verified");
    assert_eq!(verdict["size"], 100_000);
    assert_eq!(verdict["new_leaves"], 100_000);
    // What it verified stays: its own full tiles (32 bytes a leaf) and the state.
    assert_eq!(fs::read(state.join("tile/0/389")).unwrap().len(), 8192);
    assert!(state.join("monitor.json").is_file());

    // The log grows; the export writes only what is new, and the monitor checks the new
    // checkpoint against the one it verified.
    grow(&dir, 1000, 8);
    let second = export(&dir, &mirror);
    assert_eq!(second["size"], 101_000);
    assert!(second["kept"].as_u64().unwrap() >= 780, "{second}");
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["previous_size"], 100_000);
    assert_eq!(verdict["new_leaves"], 1000);
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!((code, verdict["status"].as_str()), (0, Some("unchanged")));

    // One hash altered in a full level-0 tile, then in the partial level-1 tile: a monitor
    // starting afresh detects each (exit 22) and names the tile.
    for (tile, hash) in [("tile/0/200", 17usize), ("tile/1/001.p/138", 3)] {
        let path = mirror.join(tile);
        let original = flip_hash(&path, hash);
        let fresh = root
            .path()
            .join(format!("fresh-{}", tile.replace('/', "-")));
        let (code, verdict) = monitor(&trust, &url, &fresh);
        assert_eq!(code, 22, "{tile}: {verdict}");
        assert_eq!(verdict["status"], "log_inconsistent");
        assert!(
            verdict["message"].as_str().unwrap().contains(tile),
            "{verdict}"
        );
        assert!(
            !fresh.join("monitor.json").exists(),
            "nothing verified is kept"
        );
        fs::write(&path, original).unwrap();
    }

    // The log grows again, but a tile its consistency proof from 101 000 needs is altered:
    // the monitor that verified 101 000 finds the proof does not hold (22) and keeps its state.
    grow(&dir, 1000, 9);
    export(&dir, &mirror);
    let needed = birthright_core::ledger::tiles::tiles_for_consistency(101_000, 102_000).unwrap();
    let path = mirror.join(needed[0].path());
    let original = flip_hash(&path, 0);
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!(code, 22, "{verdict}");
    assert!(
        verdict["message"]
            .as_str()
            .unwrap()
            .contains("do not prove"),
        "{verdict}"
    );
    fs::write(&path, original).unwrap();
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!(
        (code, verdict["previous_size"].as_u64()),
        (0, Some(101_000)),
        "{verdict}"
    );

    // An altered checkpoint (another root under the registry's signature) is refused: 21.
    let note = fs::read_to_string(mirror.join("checkpoint")).unwrap();
    let mut lines: Vec<&str> = note.lines().collect();
    let forged_root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    lines[2] = forged_root;
    fs::write(mirror.join("checkpoint"), lines.join("\n") + "\n").unwrap();
    let (code, verdict) = monitor(&trust, &url, &state);
    assert_eq!(code, 21, "{verdict}");
    assert_eq!(verdict["status"], "invalid_checkpoint");
    fs::write(mirror.join("checkpoint"), note).unwrap();
    let (code, _) = monitor(&trust, &url, &state);
    assert_eq!(code, 0);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_split_view_is_reported_with_both_checkpoints() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    // SQLite by nature: the ledger is grown directly in `registry.db` (and copied, for the
    // split view), not through a registry process.
    init_registry_on(&dir, Backend::Sqlite);
    grow(&dir, 600, 1);
    let fork_dir = root.path().join("fork");
    copy_dir(&dir, &fork_dir);
    // The same keys and the same first 600 leaves, then two histories.
    assert_eq!(grow(&dir, 10, 2), 610);
    assert_eq!(grow(&fork_dir, 20, 3), 620);
    let original = serve_registry(&dir);
    let fork = serve_registry(&fork_dir);
    let trust = dir.join("trust.json");
    let tlog = |r: &RegistryProcess| format!("{}/tlog", r.url);
    let original_note =
        String::from_utf8(http_get(&format!("{}/checkpoint", tlog(&original)))).unwrap();
    let fork_note = String::from_utf8(http_get(&format!("{}/checkpoint", tlog(&fork)))).unwrap();

    // The monitor follows the genuine registry's tiles.
    let state = root.path().join("state");
    let (code, verdict) = monitor(&trust, &tlog(&original), &state);
    assert_eq!(
        (code, verdict["size"].as_u64()),
        (0, Some(610)),
        "{verdict}"
    );

    // Then it is shown the fork (a larger tree, validly signed): the fork's own tiles prove
    // that its tree at 610 has another root. Split view, both checkpoints as evidence.
    let (code, verdict) = monitor(&trust, &tlog(&fork), &state);
    assert_eq!(code, 20, "{verdict}");
    assert_eq!(verdict["status"], "split_view");
    let evidence = &verdict["evidence"];
    assert_eq!(evidence["verified"]["checkpoint"], original_note.as_str());
    assert_eq!(evidence["conflicting"]["checkpoint"], fork_note.as_str());
    assert!(evidence["conflicting_root_at_verified_size"].is_string());
    let saved = fs::read_to_string(evidence["saved"].as_str().unwrap()).unwrap();
    assert!(saved.contains(&original_note) && saved.contains(&fork_note));
    // What it verified is untouched: the genuine registry still checks out.
    let (code, verdict) = monitor(&trust, &tlog(&original), &state);
    assert_eq!((code, verdict["status"].as_str()), (0, Some("unchanged")));

    // The other way round, in plain language: a monitor that verified the fork's 620 leaves
    // is shown the genuine 610, which is no prefix of what it verified.
    let other = root.path().join("other");
    assert_eq!(monitor(&trust, &tlog(&fork), &other).0, 0);
    let output = run(&[
        "monitor",
        "--trust",
        p(&trust),
        "--url",
        &tlog(&original),
        "--state",
        p(&other),
    ]);
    assert_eq!(output.status.code(), Some(20));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("SPLIT VIEW: the registry registry.e2e/births signed two checkpoints"),
        "{text}"
    );
    assert!(
        text.contains(&original_note) && text.contains(&fork_note),
        "{text}"
    );

    // The registry serves tiles with the cache headers of the spec.
    let agent = ureq::Agent::new_with_defaults();
    let full = agent
        .get(&format!("{}/tile/0/000", tlog(&original)))
        .call()
        .unwrap();
    assert_eq!(
        full.headers().get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    let partial = agent
        .get(&format!("{}/tile/entries/002.p/98", tlog(&original)))
        .call()
        .unwrap();
    assert_eq!(
        partial.headers().get("cache-control").unwrap(),
        "public, max-age=60"
    );
    let missing = agent
        .get(&format!("{}/tile/entries/002.p/99", tlog(&original)))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn the_monitor_follows_a_registry_as_devices_sync_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let root = tempfile::tempdir().unwrap();
        let Some(registry) = start_registry_on(root.path(), backend) else {
            continue;
        };
        let device = enrolled_device(root.path(), &registry, &registry.url, "w-monitor");
        let trust = trust_file(&registry);
        let url = format!("{}/tlog", registry.url);
        let state = root.path().join("state");
        // The same form three times: the first is registered by the review policy (its
        // record leaf and a decision leaf), the other two wait for review as possible
        // duplicates (a record leaf each).
        capture(&device, 3);
        assert_eq!(sync_json(&device, &registry.url)["tree_size"], 4);
        let (code, verdict) = monitor(&trust, &url, &state);
        assert_eq!(code, 0, "{backend:?}: {verdict}");
        assert_eq!(
            (verdict["size"].as_u64(), verdict["new_leaves"].as_u64()),
            (Some(4), Some(4))
        );
        capture(&device, 2);
        assert_eq!(sync_json(&device, &registry.url)["tree_size"], 6);
        let (code, verdict) = monitor(&trust, &url, &state);
        assert_eq!(code, 0, "{backend:?}: {verdict}");
        assert_eq!(verdict["previous_size"], 4);
        assert_eq!(verdict["new_leaves"], 2);
        // The entries are the ledger leaves the auditors' API serves: commitments only. Each
        // is a 2-byte length and the leaf: 49 bytes for a record, 53 for a decision.
        let bundle = http_get(&format!("{url}/tile/entries/000.p/6"));
        assert_eq!(bundle.len(), 5 * (2 + 49) + (2 + 53));
        for word in plaintext() {
            assert!(!contains(&bundle, word.as_bytes()), "{word} in the entries");
        }
        let leaves = ledger_leaves(&registry.url);
        assert_eq!(leaves.len(), 6);
        assert_eq!(record_leaves(&leaves).len(), 5);
    }
}
