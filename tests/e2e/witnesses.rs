//! Witnesses (C2SP tlog-witness) as real processes on loopback: three witnesses and a quorum
//! of two, witnesses killed and brought back, a registry that forks, and a witness SIGKILLed
//! over and over while two clients race it with divergent (each self-consistent) histories.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use birthright_core::{
    keys::Ed25519Key,
    ledger::{
        checkpoint::{Checkpoint, sign_checkpoint},
        cosignature::CosignatureVerifier,
        merkle::leaf_hash,
        note::NoteSigner,
        tree::{MemoryTree, consistency_proof},
        witness::{AddCheckpoint, parse_conflict_body, verify_response},
    },
};
use serde_json::Value;

use crate::support::*;

/// A witness process, killed (SIGKILL) when dropped.
struct WitnessProcess {
    process: Option<Killed>,
    listen: String,
    dir: PathBuf,
}

impl WitnessProcess {
    fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// SIGKILL.
    fn kill(&mut self) {
        self.process = None;
    }

    /// Serves again on the same address.
    fn restart(&mut self) {
        assert!(self.process.is_none(), "still running");
        let (process, listen) = serve_witness(&self.dir, &self.listen);
        assert_eq!(listen, self.listen);
        self.process = Some(process);
    }
}

fn serve_witness(dir: &Path, listen: &str) -> (Killed, String) {
    // A port just freed by a killed witness may take a moment to be bindable again.
    for _ in 0..100 {
        let mut child = Command::new(BIN)
            .args(["witness", "serve", "--data", p(dir), "--listen", listen])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let process = Killed(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if let Some(addr) = line.trim().strip_prefix("listening on http://") {
            return (process, addr.to_string());
        }
        drop(process);
        thread::sleep(Duration::from_millis(50));
    }
    panic!("the witness in {} did not start", dir.display());
}

/// Creates a witness named `name` in `dir` following the log `origin` signed by `log_vkey`,
/// serves it on an ephemeral port, and returns it with its verifier key.
fn start_witness(dir: &Path, name: &str, origin: &str, log_vkey: &str) -> (WitnessProcess, String) {
    let init: Value = serde_json::from_str(&ok(&[
        "witness",
        "init",
        "--data",
        p(dir),
        "--name",
        name,
        "--json",
    ]))
    .unwrap();
    ok(&[
        "witness",
        "add-log",
        "--data",
        p(dir),
        "--origin",
        origin,
        "--vkey",
        log_vkey,
    ]);
    let (process, listen) = serve_witness(dir, "127.0.0.1:0");
    (
        WitnessProcess {
            process: Some(process),
            listen,
            dir: dir.to_path_buf(),
        },
        init["vkey"].as_str().unwrap().to_string(),
    )
}

fn checkpoint_vkey(registry_dir: &Path) -> String {
    let trust: Value =
        serde_json::from_slice(&fs::read(registry_dir.join("trust.json")).unwrap()).unwrap();
    trust["checkpoint_vkey"].as_str().unwrap().to_string()
}

/// A registry in `root/registry` on `backend` with three witnesses and quorum 2 (not yet
/// served).
fn witnessed_registry(root: &Path, backend: Backend) -> (PathBuf, Vec<WitnessProcess>) {
    let dir = root.join("registry");
    init_registry_on(&dir, backend);
    let log_vkey = checkpoint_vkey(&dir);
    let mut witnesses = Vec::new();
    for i in 1..=3 {
        let (w, vkey) = start_witness(
            &root.join(format!("witness-{i}")),
            &format!("witness{i}.e2e/w"),
            ORIGIN,
            &log_vkey,
        );
        ok(&[
            "registry",
            "witness",
            "add",
            "--data",
            p(&dir),
            "--vkey",
            &vkey,
            "--url",
            &w.url(),
        ]);
        witnesses.push(w);
    }
    ok(&["registry", "witness", "quorum", "--data", p(&dir), "2"]);
    (dir, witnesses)
}

/// The witness signature lines of the registry's current checkpoint.
fn cosignature_lines(url: &str) -> Vec<String> {
    let note = String::from_utf8(http_get(&format!("{url}/v1/checkpoint"))).unwrap();
    note.lines()
        .filter(|l| l.starts_with("\u{2014} witness"))
        .map(str::to_string)
        .collect()
}

#[test]
fn two_of_three_witnesses_let_devices_acknowledge_and_fewer_hold_records_back() {
    let root = tempfile::tempdir().unwrap();
    let (dir, mut witnesses) = witnessed_registry(root.path(), Backend::default());
    let trust: Value = serde_json::from_slice(&fs::read(dir.join("trust.json")).unwrap()).unwrap();
    assert_eq!(trust["format"], "birthright-trust/v2");
    assert_eq!(trust["witness_quorum"], 2);
    assert_eq!(trust["witnesses"].as_array().unwrap().len(), 3);
    let registry = serve_registry(&dir);
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-witnessed");

    // All three up.
    let mut ids = capture(&device, 2);
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["accepted"], 2, "{report}");
    assert!(report["awaiting_witnesses"].is_null(), "{report}");
    assert_all_on_ledger(&device, &ids);
    assert_eq!(cosignature_lines(&registry.url).len(), 3);
    // A monitor holding the v2 bundle follows the witnessed log.
    let trust_path = dir.join("trust.json");
    let tlog = format!("{}/tlog", registry.url);
    let monitor_state = root.path().join("monitor");
    let (code, verdict) = crate::monitor::monitor(&trust_path, &tlog, &monitor_state);
    assert_eq!(
        (code, verdict["status"].as_str()),
        (0, Some("verified")),
        "{verdict}"
    );

    // One killed: two still make the quorum.
    witnesses[2].kill();
    ids.extend(capture(&device, 2));
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["accepted"], 2, "{report}");
    assert_all_on_ledger(&device, &ids);
    assert_eq!(cosignature_lines(&registry.url).len(), 2);

    // Two killed: the registry sequences the records, but nothing is acknowledged.
    witnesses[1].kill();
    let waiting = capture(&device, 2);
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["accepted"], 0, "{report}");
    assert_eq!(
        report["awaiting_witnesses"],
        serde_json::json!({"cosigned": 1, "quorum": 2, "summary": "awaiting witnesses (1 of 2)"}),
        "{report}"
    );
    // Six records of one child and the review policy's registration of the first.
    assert_eq!(
        tree_size(&registry.url),
        7,
        "the registry did sequence them"
    );
    for id in &waiting {
        assert_eq!(show_json(&device, id)["status"], "in_flight", "{id}");
    }
    assert_all_on_ledger(&device, &ids);
    // The plain summary says so too.
    let text = ok(&["sync", "--data", p(&device), "--registry", &registry.url]);
    assert!(text.contains("awaiting witnesses (1 of 2)"), "{text}");
    assert_eq!(count_status(&device, "in_flight"), 2);
    // The monitor does not follow a checkpoint below the quorum either, and says why.
    let (code, verdict) = crate::monitor::monitor(&trust_path, &tlog, &monitor_state);
    assert_eq!(
        (code, verdict["status"].as_str()),
        (23, Some("unwitnessed")),
        "{verdict}"
    );
    assert!(
        verdict["message"]
            .as_str()
            .unwrap()
            .contains("cosigned by 1 of the 2"),
        "{verdict}"
    );
    assert_eq!(
        verdict["size"], 3,
        "the verified state is unchanged: {verdict}"
    );

    // Both back: the next sync acknowledges everything, each record exactly once.
    witnesses[1].restart();
    witnesses[2].restart();
    let report = sync_json(&device, &registry.url);
    assert!(report["awaiting_witnesses"].is_null(), "{report}");
    assert_eq!(
        report["duplicate"], 2,
        "placed before, acknowledged now: {report}"
    );
    ids.extend(waiting);
    assert_exactly_once(&device, &ids, &registry.url);
    assert_eq!(cosignature_lines(&registry.url).len(), 3);
    let (code, verdict) = crate::monitor::monitor(&trust_path, &tlog, &monitor_state);
    assert_eq!(
        (code, verdict["status"].as_str()),
        (0, Some("verified")),
        "{verdict}"
    );
    assert_eq!(verdict["size"], 7, "{verdict}");
    let listed: Value = serde_json::from_str(&ok(&[
        "registry",
        "witness",
        "list",
        "--data",
        p(&dir),
        "--json",
    ]))
    .unwrap();
    for w in listed["witnesses"].as_array().unwrap() {
        assert_eq!(w["cosigned_size"], 7, "{listed}");
    }

    // An offline verifier keeps the latest witnessed checkpoint with its lists.
    let lists = root.path().join("lists");
    let fetched: Value = serde_json::from_str(&ok(&[
        "lists",
        "fetch",
        "--trust",
        p(&dir.join("trust.json")),
        "--registry",
        &registry.url,
        "--out",
        p(&lists),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        fetched[0]["checkpoint"], "size 7 saved (3 witnesses)",
        "{fetched}"
    );
    let cached = fs::read_dir(&lists)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".checkpoint"))
        .unwrap();
    let note = fs::read_to_string(cached).unwrap();
    assert!(note.starts_with(&format!("{ORIGIN}\n7\n")), "{note}");
    assert_eq!(note.matches("\u{2014} witness").count(), 3);
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
fn witnesses_refuse_a_forked_registry_and_no_device_acknowledges_on_it() {
    let root = tempfile::tempdir().unwrap();
    // SQLite by nature: the fork is a copy of the data directory, database file included (a
    // copy of a directory pointing at PostgreSQL would share the one database, not fork it).
    let (dir, witnesses) = witnessed_registry(root.path(), Backend::Sqlite);
    let (a, b) = {
        let registry = serve_registry(&dir);
        let a = enrolled_device(root.path(), &registry, &registry.url, "w-a");
        let b = enrolled_device(root.path(), &registry, &registry.url, "w-b");
        (a, b)
    };
    // An insider copies the data directory (keys included) while it is at rest.
    let fork_dir = root.path().join("fork");
    copy_dir(&dir, &fork_dir);
    let original = serve_registry(&dir);
    let fork = serve_registry(&fork_dir);

    // A's records reach the genuine registry, witnessed at size 3 (two records of one child
    // and the review policy's registration of the first).
    let a_ids = capture(&a, 2);
    let report = sync_json(&a, &original.url);
    assert_eq!(report["accepted"], 2, "{report}");
    assert_all_on_ledger(&a, &a_ids);

    // B's records go to the fork, which sequences another history of size 4. The witnesses,
    // at size 3 of the genuine ledger, refuse it: B acknowledges nothing.
    let b_ids = capture(&b, 3);
    let report = sync_json(&b, &fork.url);
    assert_eq!(report["accepted"], 0, "{report}");
    assert_eq!(report["awaiting_witnesses"]["cosigned"], 0, "{report}");
    assert_eq!(tree_size(&fork.url), 4, "the fork did sequence them");
    assert!(cosignature_lines(&fork.url).is_empty());
    for id in &b_ids {
        assert_eq!(show_json(&b, id)["status"], "in_flight", "{id}");
    }
    for w in &witnesses {
        let shown: Value =
            serde_json::from_str(&ok(&["witness", "show", "--data", p(&w.dir), "--json"])).unwrap();
        assert_eq!(shown["logs"][0]["cosigned_size"], 3, "{shown}");
    }

    // A, shown the fork, refuses it: its answer does not extend A's witnessed history.
    let late = capture(&a, 1);
    let err = fails(&["sync", "--data", p(&a), "--registry", &fork.url]);
    assert!(err.contains("ledger is inconsistent"), "{err}");
    assert_eq!(show_json(&a, &late[0])["status"], "in_flight");

    // Back on the genuine registry, A's late record goes through, once.
    let report = sync_json(&a, &original.url);
    assert_eq!(report["accepted"], 1, "{report}");
    let mut all = a_ids;
    all.extend(late);
    assert_exactly_once(&a, &all, &original.url);
}

/// What the clients learnt: every tree submitted (by root), every tree the witness was seen
/// to cosign (by size), and the latest of those.
#[derive(Default)]
struct Race {
    submitted: HashMap<[u8; 32], Vec<Vec<u8>>>,
    cosigned: BTreeMap<u64, Vec<Vec<u8>>>,
    violations: Vec<String>,
}

impl Race {
    /// The witness was seen cosigning the tree of `root` at `size`.
    fn saw(&mut self, size: u64, root: [u8; 32]) {
        let Some(leaves) = self.submitted.get(&root).cloned() else {
            self.violations
                .push(format!("a cosigned root nobody submitted, size {size}"));
            return;
        };
        match self.cosigned.get(&size) {
            Some(seen) if *seen != leaves => {
                self.violations.push(format!("two roots for size {size}"));
            }
            _ => {
                self.cosigned.insert(size, leaves);
            }
        }
    }

    fn base(&self) -> (u64, Vec<Vec<u8>>) {
        self.cosigned
            .iter()
            .next_back()
            .map_or((0, Vec::new()), |(s, l)| (*s, l.clone()))
    }
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for l in leaves {
        tree.push(leaf_hash(l));
    }
    tree
}

#[test]
fn a_witness_killed_at_any_point_never_cosigns_two_roots_for_one_size() {
    use sha2::Digest;
    let root = tempfile::tempdir().unwrap();
    let origin = "racing.e2e/log";
    let log_key = || {
        NoteSigner::new(
            origin,
            Ed25519Key::from_secret(&[3; 32]).signing_key().clone(),
        )
        .unwrap()
    };
    let (witness, vkey) = start_witness(
        &root.path().join("witness"),
        "killed.e2e/w",
        origin,
        &log_key().verifier_key(),
    );
    let verifier = CosignatureVerifier::from_vkey(&vkey).unwrap();
    let url = witness.url();
    let witness = Arc::new(Mutex::new(witness));
    let race: Arc<Mutex<Race>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let latest_url = format!(
        "{url}/{}/checkpoint",
        hex::encode(sha2::Sha256::digest(origin.as_bytes()))
    );

    // Two clients, each extending what the witness last cosigned with its own leaves: each
    // history is consistent, the two diverge. On a 409 a client reads the witness's latest
    // checkpoint (its monitoring endpoint) and goes on from there.
    let clients: Vec<_> = (0..2u8)
        .map(|client| {
            let (url, latest_url, verifier, race, stop) = (
                url.clone(),
                latest_url.clone(),
                verifier.clone(),
                race.clone(),
                stop.clone(),
            );
            let log = log_key();
            thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (old, mut leaves) = race.lock().unwrap().base();
                    for k in 0..(1 + n % 3) {
                        leaves.push(format!("client {client} leaf {n}.{k}").into_bytes());
                    }
                    let tree = tree_of(&leaves);
                    let checkpoint = Checkpoint {
                        origin: origin.into(),
                        size: tree.size(),
                        root_hash: tree.root(),
                        extensions: vec![],
                    };
                    race.lock()
                        .unwrap()
                        .submitted
                        .insert(tree.root(), leaves.clone());
                    let proof = if old == 0 {
                        vec![]
                    } else {
                        consistency_proof(&tree, old, tree.size()).unwrap()
                    };
                    let body = AddCheckpoint {
                        old_size: old,
                        proof,
                        checkpoint: sign_checkpoint(&log, &checkpoint).unwrap(),
                    }
                    .to_body();
                    let answer = agent
                        .post(&format!("{url}/add-checkpoint"))
                        .send(body.as_bytes())
                        .and_then(|mut r| {
                            let status = r.status().as_u16();
                            r.body_mut().read_to_vec().map(|b| (status, b))
                        });
                    let Ok((status, answer)) = answer else {
                        thread::sleep(Duration::from_millis(5));
                        continue; // killed meanwhile
                    };
                    match status {
                        200 => {
                            let verified =
                                verify_response(&verifier, &checkpoint.to_text(), &answer);
                            let mut race = race.lock().unwrap();
                            match verified {
                                Ok(_) => race.saw(checkpoint.size, checkpoint.root_hash),
                                Err(e) => race.violations.push(e.to_string()),
                            }
                        }
                        409 => {
                            if parse_conflict_body(&answer).is_none() {
                                race.lock()
                                    .unwrap()
                                    .violations
                                    .push("409 without a size".into());
                            }
                            let Ok(note) = agent
                                .get(&latest_url)
                                .call()
                                .and_then(|mut r| r.body_mut().read_to_string())
                            else {
                                continue;
                            };
                            let Some((text, _)) = note.rsplit_once("\n\n") else {
                                continue;
                            };
                            let text = format!("{text}\n");
                            let Ok(seen) = Checkpoint::parse(&text) else {
                                continue;
                            };
                            let line: String = note
                                .lines()
                                .filter(|l| l.starts_with("\u{2014} killed.e2e/w "))
                                .map(|l| format!("{l}\n"))
                                .collect();
                            let mut race = race.lock().unwrap();
                            match verify_response(&verifier, &text, line.as_bytes()) {
                                Ok(_) => race.saw(seen.size, seen.root_hash),
                                Err(e) => race.violations.push(format!("monitoring read: {e}")),
                            }
                        }
                        // A request built on a base the other client had just moved past.
                        422 => {}
                        // The witness's rate limit: slow down.
                        429 => thread::sleep(Duration::from_millis(200)),
                        other => race
                            .lock()
                            .unwrap()
                            .violations
                            .push(format!("unexpected status {other}")),
                    }
                }
            })
        })
        .collect();

    // SIGKILL the witness at varied moments, bring it back, several times.
    for round in 0..8u64 {
        thread::sleep(Duration::from_millis(40 + (37 * round) % 90));
        witness.lock().unwrap().kill();
        thread::sleep(Duration::from_millis(20));
        witness.lock().unwrap().restart();
    }
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let race = race.lock().unwrap();
    assert!(race.violations.is_empty(), "{:?}", race.violations);
    assert!(
        race.cosigned.len() >= 8,
        "the race made progress: {}",
        race.cosigned.len()
    );
    // Everything cosigned lies on one history: each cosigned tree extends the one before.
    let mut previous: Option<&Vec<Vec<u8>>> = None;
    for leaves in race.cosigned.values() {
        if let Some(prev) = previous {
            assert!(
                leaves.starts_with(prev),
                "a cosigned tree that does not extend the last"
            );
        }
        previous = Some(leaves);
    }
    // The witness's own record agrees.
    let dir = witness.lock().unwrap().dir.clone();
    let shown: Value =
        serde_json::from_str(&ok(&["witness", "show", "--data", p(&dir), "--json"])).unwrap();
    let size = shown["logs"][0]["cosigned_size"].as_u64().unwrap();
    assert!(
        size >= *race.cosigned.keys().next_back().unwrap(),
        "{shown}"
    );
}
