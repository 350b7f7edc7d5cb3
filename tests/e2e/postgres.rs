//! The registry on PostgreSQL: `registry init --database`, and two `registry serve` processes
//! (as on two hosts: each its own copy of the keys, no shared files) on one database, with
//! devices syncing through both, alternately and concurrently. Needs the PostgreSQL server of
//! `BIRTHRIGHT_TEST_DATABASE_URL` (default 127.0.0.1:5432, user postgres); skipped when it is
//! unreachable, failed when it is and `CI=true`.

use std::{
    collections::BTreeSet,
    io::BufRead,
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use birthright_registry::pg::testing::{self, TestDatabase};

use crate::support::*;

/// Every record of every device is acknowledged, with distinct leaf indexes covering the
/// ledger's record leaves, which both processes serve identically.
fn assert_one_tree(devices: &[(&Path, &[String])], urls: [&str; 2]) {
    let mut indexes = BTreeSet::new();
    let mut total = 0;
    for (dir, ids) in devices {
        let listed = list_json(dir);
        for id in ids.iter() {
            let record = listed
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("record {id} lost"));
            assert!(
                ON_LEDGER.iter().any(|s| record["status"] == *s),
                "{id}: {record}"
            );
            assert!(indexes.insert(record["leaf_index"].as_u64().unwrap()));
        }
        total += ids.len() as u64;
    }
    // The ledger also holds the review policy's decision leaves (registrations): every record
    // leaf is exactly one acknowledged record's.
    let leaves = ledger_leaves(urls[0]);
    let record_indexes: BTreeSet<u64> = (0..leaves.len() as u64)
        .filter(|&i| !record_leaves(&leaves[i as usize..=i as usize]).is_empty())
        .collect();
    assert_eq!(indexes, record_indexes, "each record leaf is one record's");
    assert_eq!(
        record_leaves(&leaves).len() as u64,
        total,
        "no record twice on the ledger"
    );
    assert_eq!(leaves, ledger_leaves(urls[1]), "one tree");
    assert_eq!(
        http_get(&format!("{}/v1/checkpoint", urls[0])),
        http_get(&format!("{}/v1/checkpoint", urls[1]))
    );
}

/// `registry init --database` in `root/registry-a`, and host B's copy in `root/registry-b`.
fn two_hosts(root: &Path, db: &TestDatabase) -> (PathBuf, PathBuf) {
    let dir_a = root.join("registry-a");
    ok(&[
        "registry",
        "init",
        "--data",
        p(&dir_a),
        "--origin",
        ORIGIN,
        "--database",
        &db.url,
    ]);
    let dir_b = root.join("registry-b");
    std::fs::create_dir(&dir_b).unwrap();
    for file in ["registry.keys", "trust.json", "database.url"] {
        std::fs::copy(dir_a.join(file), dir_b.join(file)).unwrap();
    }
    (dir_a, dir_b)
}

/// Process A is SIGKILLed while a device streams batches through it; the device goes on
/// through process B on the same database, verifying B's checkpoints against A's, and every
/// record ends on the ledger exactly once.
#[test]
fn a_process_killed_mid_ingest_loses_nothing_the_other_serves() {
    if !testing::available() {
        return;
    }
    let db = TestDatabase::create();
    let root = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = two_hosts(root.path(), &db);
    let a = serve_registry(&dir_a);
    let b = serve_registry(&dir_b);
    let device = enrolled_device(root.path(), &a, &a.url, "w-pg-kill");
    let ids = capture(&device, 60);
    let mut sync = Killed(
        Command::new(BIN)
            .args([
                "sync",
                "--data",
                p(&device),
                "--registry",
                &a.url,
                "--max-batch-records",
                "1",
            ])
            .env_remove(STORAGE_KEY_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("process A to sequence some records", || {
        tree_size(&b.url) >= 5
    });
    drop(a); // SIGKILL, mid-stream
    let _ = sync.0.kill();
    let _ = sync.0.wait();
    assert!(
        tree_size(&b.url) < ids.len() as u64,
        "killed before the end"
    );
    let report = sync_json(&device, &b.url);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    assert_exactly_once(&device, &ids, &b.url);
}

#[test]
fn two_registry_processes_on_one_postgresql_database() {
    if !testing::available() {
        return;
    }
    let db = TestDatabase::create();
    let root = tempfile::tempdir().unwrap();
    let dir_a = root.path().join("registry-a");
    let out = ok(&[
        "registry",
        "init",
        "--data",
        p(&dir_a),
        "--origin",
        ORIGIN,
        "--database",
        &db.url,
    ]);
    assert!(out.contains("created"), "{out}");
    assert!(dir_a.join("database.url").exists());
    assert!(!dir_a.join("registry.db").exists(), "nothing in SQLite");
    // The database is taken: a second init on it is refused.
    let again = fails(&[
        "registry",
        "init",
        "--data",
        p(&root.path().join("other")),
        "--origin",
        ORIGIN,
        "--database",
        &db.url,
    ]);
    assert!(again.contains("already holds"), "{again}");
    // Host B: a copy of the keys, the trust bundle and the database's URL (not the ledger
    // head: each host keeps its own); its server is given the database by the environment.
    let dir_b = root.path().join("registry-b");
    std::fs::create_dir(&dir_b).unwrap();
    for file in ["registry.keys", "trust.json", "database.url"] {
        std::fs::copy(dir_a.join(file), dir_b.join(file)).unwrap();
    }
    let a = serve_registry(&dir_a);
    let b = serve_registry_with_env(&dir_b, &[("BIRTHRIGHT_DATABASE_URL", db.url.as_str())]);
    // Each device enrols through one process with a token made on the other host.
    let d1 = enrolled_device(root.path(), &b, &a.url, "w-pg-1");
    let d2 = enrolled_device(root.path(), &a, &b.url, "w-pg-2");
    // Alternately: each device syncs through one process, then the other (it verifies B's
    // checkpoints against the ones A gave it, and the other way round).
    let mut ids1 = capture(&d1, 3);
    sync_json(&d1, &a.url);
    let mut ids2 = capture(&d2, 2);
    sync_json(&d2, &b.url);
    ids1.extend(capture(&d1, 2));
    sync_json(&d1, &b.url);
    ids2.extend(capture(&d2, 3));
    sync_json(&d2, &a.url);
    assert_one_tree(&[(&d1, &ids1), (&d2, &ids2)], [&a.url, &b.url]);
    // Concurrently: both devices at once, each through another process.
    ids1.extend(capture(&d1, 6));
    ids2.extend(capture(&d2, 6));
    let (d1c, d2c, url_a, url_b) = (d1.clone(), d2.clone(), a.url.clone(), b.url.clone());
    let t1 = thread::spawn(move || sync_json(&d1c, &url_b));
    let t2 = thread::spawn(move || sync_json(&d2c, &url_a));
    t1.join().unwrap();
    t2.join().unwrap();
    assert_one_tree(&[(&d1, &ids1), (&d2, &ids2)], [&a.url, &b.url]);
    // Sealed at rest: no personal data in PostgreSQL either.
    let mut client = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
    let mut stored = Vec::new();
    for row in client
        .query("SELECT sealed_record, sealed_salt FROM records", &[])
        .unwrap()
    {
        stored.extend(row.get::<_, Vec<u8>>(0));
        stored.extend(row.get::<_, Vec<u8>>(1));
    }
    assert!(!stored.is_empty());
    for word in PLAINTEXT {
        assert!(!contains(&stored, word.as_bytes()), "{word} in PostgreSQL");
    }
    // The admin commands on host A use the recorded database.
    let devices = ok(&["registry", "devices", "--data", p(&dir_a)]);
    assert!(
        devices.contains("w-pg-1") && devices.contains("w-pg-2"),
        "{devices}"
    );
}

/// A TCP proxy between a registry and its PostgreSQL server that can cut every connection
/// through it and refuse new ones for a while (a network cut, a database restart).
struct DatabaseProxy {
    /// The URL of the proxied database.
    url: String,
    /// Both ends of every connection through the proxy.
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// New connections are closed at once until then.
    refuse_until: Arc<Mutex<Option<Instant>>>,
    /// Connections cut.
    cut: Arc<Mutex<usize>>,
    /// Connection attempts refused during outages.
    refused: Arc<Mutex<usize>>,
}

impl DatabaseProxy {
    /// A proxy for the database of `url` (`postgres://USER[:PW]@HOST[:PORT]/DB[?...]`).
    fn start(url: &str) -> DatabaseProxy {
        let (scheme, rest) = url.split_once("://").expect("a database URL");
        let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = authority
            .rsplit_once('@')
            .map_or(("", authority), |(u, h)| (u, h));
        let upstream = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        let proxy = DatabaseProxy {
            url: format!("{scheme}://{user}{at}/{tail}"),
            open: Arc::default(),
            refuse_until: Arc::default(),
            cut: Arc::default(),
            refused: Arc::default(),
        };
        let (open, refuse_until, refused_count) = (
            proxy.open.clone(),
            proxy.refuse_until.clone(),
            proxy.refused.clone(),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let refused = refuse_until
                    .lock()
                    .unwrap()
                    .is_some_and(|t| Instant::now() < t);
                if refused {
                    *refused_count.lock().unwrap() += 1;
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                {
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        proxy
    }

    /// Cuts every open connection and refuses new ones for `outage`.
    fn cut(&self, outage: Duration) {
        *self.refuse_until.lock().unwrap() = Some(Instant::now() + outage);
        let mut open = self.open.lock().unwrap();
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        *self.cut.lock().unwrap() += 1;
    }
}

/// The registry's connection to PostgreSQL is cut (twice) while a device streams batches
/// through it, and the database is out of reach for a moment each time: the registry answers
/// 503 `database_unavailable` meanwhile and reconnects; the device's sync retries and ends
/// with every record on the ledger exactly once, in one tree its checkpoints agree on.
#[test]
fn a_database_connection_cut_mid_ingest_loses_nothing_and_duplicates_nothing() {
    if !testing::available() {
        return;
    }
    let db = TestDatabase::create();
    let proxy = DatabaseProxy::start(&db.url);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    ok(&[
        "registry",
        "init",
        "--data",
        p(&dir),
        "--origin",
        ORIGIN,
        "--database",
        &proxy.url,
    ]);
    let (registry, stderr) = serve_registry_logged(&dir);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let log = log.clone();
        thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push(line);
            }
        });
    }
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-pg-cut");
    let ids = capture(&device, 60);
    let mut sync = Killed(
        Command::new(BIN)
            .args([
                "sync",
                "--data",
                p(&device),
                "--registry",
                &registry.url,
                "--max-batch-records",
                "1",
                "--json",
            ])
            .env_remove(STORAGE_KEY_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut finished = None;
    for at in [5i64, 25] {
        // Counted in the database itself (directly, not through the proxy): polling the
        // registry would spend the rate budget the device shares on loopback.
        let mut counter = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
        wait_for("the registry to sequence some records", || {
            if let Some(status) = sync.0.try_wait().unwrap() {
                finished = Some(status);
                return true;
            }
            let leaves: i64 = counter
                .query_one("SELECT count(*) FROM leaves", &[])
                .unwrap()
                .get(0);
            leaves >= at
        });
        if finished.is_some() {
            break;
        }
        proxy.cut(Duration::from_millis(1500));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = finished.or_else(|| sync.0.try_wait().unwrap()) {
            break status;
        }
        assert!(Instant::now() < deadline, "the sync did not end");
        thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(sync.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(sync.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "the sync failed: {out} {err}\nregistry: {}",
        log.lock().unwrap().join("\n")
    );
    assert_eq!(*proxy.cut.lock().unwrap(), 2);
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("database_unavailable") && l.contains("/v1/batches")),
        "no batch was answered database_unavailable: the cut was not felt"
    );
    // Reconnecting backs off: a few attempts per outage of 1.5 s (100 ms, 200 ms, 400 ms,
    // 800 ms apart), never one per request.
    let refused = *proxy.refused.lock().unwrap();
    assert!(
        refused <= 2 * 8,
        "{refused} connection attempts in two outages"
    );
    // The device's next sync finds nothing to send, and verifies the ledger's checkpoint
    // against the ones it saw during the cuts.
    let report = sync_json(&device, &registry.url);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    assert_exactly_once(&device, &ids, &registry.url);

    // A longer outage under a stream of requests: every one is answered 503
    // `database_unavailable` with `Retry-After` at once, and the registry makes a handful of
    // connection attempts (bounded exponential back-off), not one per request; once the
    // database is back it serves the same tree again.
    let size = tree_size(&registry.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let before = *proxy.refused.lock().unwrap();
    proxy.cut(Duration::from_secs(5));
    let mut unavailable = 0;
    for _ in 0..30 {
        let mut answer = agent
            .get(&format!("{}/v1/checkpoint", registry.url))
            .call()
            .unwrap();
        if answer.status() == 503 {
            let body = answer.body_mut().read_to_string().unwrap();
            assert!(body.contains("database_unavailable"), "{body}");
            assert_eq!(
                answer
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("2")
            );
            unavailable += 1;
        }
        thread::sleep(Duration::from_millis(30));
    }
    assert!(unavailable >= 25, "only {unavailable} of 30 answered 503");
    let attempts = *proxy.refused.lock().unwrap() - before;
    assert!(
        (1..=8).contains(&attempts),
        "{attempts} connection attempts for 30 requests"
    );
    // Polled slowly: the loopback client's rate budget is shared with what follows.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = agent
            .get(&format!("{}/v1/checkpoint", registry.url))
            .call()
            .unwrap();
        if answer.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the registry did not reconnect");
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(tree_size(&registry.url), size);
}
