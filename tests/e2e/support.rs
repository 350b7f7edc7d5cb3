//! Shared helpers of the end-to-end tests: running the real `birthright` binary, registry
//! processes, enrolled devices, and a loopback HTTP proxy that injects faults into batch
//! uploads, routes some paths to another upstream and counts what it did.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_birthright");
/// The docs' reference form, its child born 2026-03-14: the tests capture [`olena`], the same
/// form with a date of birth relative to today.
pub(crate) const OLENA: &str = "../docs/examples/olena.json";
pub(crate) const ORIGIN: &str = "registry.e2e/births";

/// How many days before today the child of [`olena`] is born: well within the registry's
/// default review policy (365 days), so that its registration is timely whatever the date.
pub(crate) const TIMELY_DAYS: i64 = 30;

/// The date `days` before today (UTC), as `YYYY-MM-DD`: the CLI captures and the registry
/// judges a registration's timeliness with the real clock.
pub(crate) fn days_ago(days: i64) -> String {
    let date = time::OffsetDateTime::now_utc().date() - time::Duration::days(days);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The tests' reference form (a path): [`OLENA`] with the child born [`TIMELY_DAYS`] days ago,
/// written once per test process.
pub(crate) fn olena() -> &'static str {
    &reference().0
}

/// The child's date of birth in [`olena`] (`YYYY-MM-DD`).
pub(crate) fn olena_dob() -> &'static str {
    &reference().1
}

/// [`olena`]'s path and date of birth.
fn reference() -> &'static (String, String) {
    static REFERENCE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dob = days_ago(TIMELY_DAYS);
        let mut form: Value =
            serde_json::from_str(&std::fs::read_to_string(OLENA).unwrap()).unwrap();
        form["child"]["date_of_birth"] = dob.clone().into();
        // Named by the date (the same form for every process that day), written whole under
        // a name of this process's and renamed into place.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("olena-born-{dob}.json"));
        let partial = dir.join(format!("olena-born-{dob}.json.{}", std::process::id()));
        std::fs::write(&partial, serde_json::to_string_pretty(&form).unwrap()).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        (path.to_str().unwrap().to_string(), dob)
    })
}

/// Words of [`olena`] that must never cross the wire or appear where only sealed data belongs.
pub(crate) fn plaintext() -> [&'static str; 5] {
    [
        "Олена",
        "Коваленко",
        "Зимна Вода",
        olena_dob(),
        "380501234567",
    ]
}

/// Environment variable the CLI reads the storage key from.
pub(crate) const STORAGE_KEY_ENV: &str = "BIRTHRIGHT_STORAGE_KEY";

/// Runs the CLI (never with a storage key from the test's own environment).
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove(STORAGE_KEY_ENV)
        .env_remove("BIRTHRIGHT_DATA")
        .env_remove("BIRTHRIGHT_REGISTRY")
        .output()
        .unwrap()
}

pub(crate) fn ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "birthright {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail; returns its stderr.
pub(crate) fn fails(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        !output.status.success(),
        "birthright {args:?} should have failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Polls `done` until it holds; panics after a generous hang guard.
pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves nothing running.
pub(crate) struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A registry process, killed when dropped.
pub(crate) struct RegistryProcess {
    _process: Killed,
    pub url: String,
    pub dir: PathBuf,
}

impl RegistryProcess {
    /// The process id (to read its memory figures in `/proc`).
    pub(crate) fn pid(&self) -> u32 {
        self._process.0.id()
    }
}

/// `registry init` in `dir` on the suite's backend ([`Backend::default`]).
pub(crate) fn init_registry(dir: &Path) {
    init_registry_on(dir, Backend::default());
}

/// `registry init` in `dir` on `backend`: on PostgreSQL, in a database created for this test
/// and dropped when the test's thread ends (after every process it started was killed), so a
/// registry stopped and served again mid-test finds its database.
pub(crate) fn init_registry_on(dir: &Path, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            ok(&["registry", "init", "--data", p(dir), "--origin", ORIGIN]);
        }
        Backend::Postgres => {
            let db = birthright_registry::pg::testing::TestDatabase::create();
            ok(&[
                "registry",
                "init",
                "--data",
                p(dir),
                "--origin",
                ORIGIN,
                "--database",
                &db.url,
            ]);
            TEST_DATABASES.with(|dbs| dbs.borrow_mut().push(db));
        }
    }
}

thread_local! {
    /// The PostgreSQL databases of the test running on this thread, dropped when it ends.
    static TEST_DATABASES: std::cell::RefCell<Vec<birthright_registry::pg::testing::TestDatabase>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Serves the registry in `dir` on an ephemeral loopback port.
pub(crate) fn serve_registry(dir: &Path) -> RegistryProcess {
    serve_registry_with(dir, &[], Stdio::null()).0
}

/// Serves the registry in `dir` with `env` set.
pub(crate) fn serve_registry_with_env(dir: &Path, env: &[(&str, &str)]) -> RegistryProcess {
    serve_registry_with(dir, env, Stdio::null()).0
}

/// [`serve_registry`] with the registry's standard error (its request log) for the caller; it
/// ends when the registry is dropped.
pub(crate) fn serve_registry_logged(dir: &Path) -> (RegistryProcess, std::process::ChildStderr) {
    let (registry, stderr) = serve_registry_with(dir, &[], Stdio::piped());
    (registry, stderr.unwrap())
}

fn serve_registry_with(
    dir: &Path,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (RegistryProcess, Option<std::process::ChildStderr>) {
    let mut child = Command::new(BIN)
        .envs(env.iter().copied())
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            p(dir),
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take();
    let stdout = child.stdout.take().unwrap();
    let process = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("registry did not start: {line:?}"))
        .to_string();
    (
        RegistryProcess {
            _process: process,
            url,
            dir: dir.to_path_buf(),
        },
        stderr,
    )
}

/// Initialises a registry in `root/registry` on the suite's backend and serves it.
pub(crate) fn start_registry(root: &Path) -> RegistryProcess {
    let dir = root.join("registry");
    init_registry(&dir);
    serve_registry(&dir)
}

/// Where a test's registry keeps its ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// SQLite in the data directory (`registry init` without `--database`).
    Sqlite,
    /// A fresh database on the PostgreSQL test server (`registry init --database`).
    Postgres,
}

/// The environment variable that puts the whole suite on PostgreSQL.
pub(crate) const E2E_BACKEND_ENV: &str = "BIRTHRIGHT_E2E_BACKEND";

impl Default for Backend {
    /// The suite's backend: SQLite, or PostgreSQL with `BIRTHRIGHT_E2E_BACKEND=postgres`
    /// (`scripts/test-all.sh` runs the suite both ways). Tests that are about SQLite's files
    /// (copying or restoring the data directory) name [`Backend::Sqlite`] instead.
    fn default() -> Backend {
        match std::env::var(E2E_BACKEND_ENV).as_deref() {
            Ok("postgres") => {
                assert!(
                    birthright_registry::pg::testing::available(),
                    "{E2E_BACKEND_ENV}=postgres but no PostgreSQL server is reachable"
                );
                Backend::Postgres
            }
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("{E2E_BACKEND_ENV}={other}: expected sqlite or postgres"),
        }
    }
}

/// [`start_registry`] on `backend`. `None` when PostgreSQL is asked for and its server is
/// unreachable outside CI (the test is then skipped; with `CI=true` it fails).
pub(crate) fn start_registry_on(root: &Path, backend: Backend) -> Option<RegistryProcess> {
    if backend == Backend::Postgres && !birthright_registry::pg::testing::available() {
        return None;
    }
    let dir = root.join("registry");
    init_registry_on(&dir, backend);
    Some(serve_registry(&dir))
}

/// `registry revoke` of device `kid` with `reason`.
pub(crate) fn revoke(registry: &RegistryProcess, kid: &str, reason: &str) {
    ok(&[
        "registry",
        "revoke",
        "--data",
        p(&registry.dir),
        kid,
        "--reason",
        reason,
    ]);
}

pub(crate) fn trust_file(registry: &RegistryProcess) -> PathBuf {
    registry.dir.join("trust.json")
}

/// `registry enrol-token` for `worker` in UA-46: the token on stdout, the trust fingerprint
/// on stderr.
pub(crate) fn enrol_token_output(registry: &RegistryProcess, worker: &str) -> Output {
    let args = [
        "registry",
        "enrol-token",
        "--data",
        p(&registry.dir),
        "--worker",
        worker,
        "--region",
        "UA-46",
    ];
    let output = run(&args);
    assert!(output.status.success(), "birthright {args:?} failed");
    output
}

/// A one-time enrolment token for `worker` in UA-46 (as printed, with its newline).
pub(crate) fn enrol_token(registry: &RegistryProcess, worker: &str) -> String {
    String::from_utf8(enrol_token_output(registry, worker).stdout).unwrap()
}

/// Initialises and enrols a device; returns its data dir.
pub(crate) fn enrolled_device(
    root: &Path,
    registry: &RegistryProcess,
    url: &str,
    name: &str,
) -> PathBuf {
    let dir = root.join(name);
    ok(&["device", "init", "--data", p(&dir), "--worker", name]);
    let token = enrol_token(registry, name);
    ok(&[
        "device",
        "enrol",
        "--data",
        p(&dir),
        "--registry",
        url,
        "--token",
        token.trim(),
        "--trust",
        p(&trust_file(registry)),
    ]);
    dir
}

pub(crate) fn capture(dir: &Path, n: usize) -> Vec<String> {
    capture_form(dir, Path::new(olena()), n)
}

pub(crate) fn capture_form(dir: &Path, form: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            ok(&["capture", "--data", p(dir), "--json", p(form)])
                .trim()
                .to_string()
        })
        .collect()
}

/// Writes the reference form with ~5.5 KB of notes and custom fields (no personal data), so
/// that a handful of records fill a batch's byte budget.
pub(crate) fn bulky_form(root: &Path) -> PathBuf {
    let mut form: Value = serde_json::from_str(&std::fs::read_to_string(olena()).unwrap()).unwrap();
    let notes: String = "Пологи вдома, акушерка прибула за годину. "
        .repeat(40)
        .chars()
        .take(1000)
        .collect();
    form["notes"] = Value::String(notes);
    let custom: serde_json::Map<String, Value> = (0..20)
        .map(|i| {
            let value: String = format!("v{i:02}-").repeat(50).chars().take(185).collect();
            (format!("field_{i:02}"), Value::String(value))
        })
        .collect();
    form["custom"] = Value::Object(custom);
    let path = root.join("bulky.json");
    std::fs::write(&path, serde_json::to_string(&form).unwrap()).unwrap();
    path
}

/// How many records of `dir`'s record `id` fit in one batch of the CLI's sync.
pub(crate) fn records_per_batch(dir: &Path, id: &str) -> usize {
    let bytes = show_json(dir, id)["signed_record_bytes"].as_u64().unwrap() as usize;
    let config = birthright_core::sync::SyncConfig::default();
    (config.max_batch_bytes / bytes).clamp(1, config.max_batch_records)
}

pub(crate) fn list_json(dir: &Path) -> Vec<Value> {
    serde_json::from_str(&ok(&["list", "--data", p(dir), "--json"])).unwrap()
}

pub(crate) fn show_json(dir: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(&["show", "--data", p(dir), id, "--json"])).unwrap()
}

/// The statuses of a record on the ledger: declared (awaiting the registry's decision) or
/// registered.
pub(crate) const ON_LEDGER: [&str; 2] = ["acknowledged", "registered"];

/// Records on the device that are on the ledger (acknowledged or registered).
pub(crate) fn count_on_ledger(dir: &Path) -> usize {
    ON_LEDGER.iter().map(|s| count_status(dir, s)).sum()
}

/// Records on the device in `status`.
pub(crate) fn count_status(dir: &Path, status: &str) -> usize {
    list_json(dir)
        .iter()
        .filter(|r| r["status"] == status)
        .count()
}

/// `sync --json` that must succeed; returns the report.
pub(crate) fn sync_json(dir: &Path, url: &str) -> Value {
    serde_json::from_str(&ok(&[
        "sync",
        "--data",
        p(dir),
        "--registry",
        url,
        "--json",
    ]))
    .unwrap()
}

pub(crate) fn http_get(url: &str) -> Vec<u8> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent.get(url).call().unwrap();
    let body = answer.body_mut().read_to_vec().unwrap();
    assert!(
        answer.status().is_success(),
        "GET {url}: {} {}",
        answer.status(),
        String::from_utf8_lossy(&body)
    );
    body
}

pub(crate) fn tree_size(url: &str) -> u64 {
    let note = String::from_utf8(http_get(&format!("{url}/v1/checkpoint"))).unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

/// Every leaf the registry at `url` holds (base64, through `GET /v1/leaves`).
pub(crate) fn ledger_leaves(url: &str) -> Vec<String> {
    let size = tree_size(url);
    if size == 0 {
        return Vec::new();
    }
    let body: Value =
        serde_json::from_slice(&http_get(&format!("{url}/v1/leaves?start=0&end={size}"))).unwrap();
    body["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The record leaves (version 1) among `leaves` (base64): the others are the registry's
/// decisions on them (version 2, docs/PROTOCOL.md §10.1).
pub(crate) fn record_leaves(leaves: &[String]) -> Vec<String> {
    use base64::Engine;
    leaves
        .iter()
        .filter(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l.as_bytes())
                .unwrap()
                .first()
                == Some(&1)
        })
        .cloned()
        .collect()
}

/// Every one of `ids` is on the ledger as the device sees it (acknowledged or registered), the ledger at `url` holds exactly
/// `ids.len()` record leaves (and decisions on them), and the device's receipts name each
/// record leaf exactly once.
pub(crate) fn assert_exactly_once(dir: &Path, ids: &[String], url: &str) {
    let listed = list_json(dir);
    let mut indexes = Vec::new();
    for id in ids {
        let record = listed
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("record {id} lost"));
        assert!(
            ON_LEDGER.iter().any(|s| record["status"] == *s),
            "{id}: {record}"
        );
        indexes.push(record["leaf_index"].as_u64().unwrap());
    }
    let leaves = record_leaves(&ledger_leaves(url));
    assert_eq!(leaves.len(), ids.len(), "no record twice on the ledger");
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), ids.len(), "each record leaf is one record's");
    let mut distinct = leaves.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "distinct leaves");
}

/// Every one of `ids` is on the ledger (acknowledged or registered) with its leaf index.
pub(crate) fn assert_all_on_ledger(dir: &Path, ids: &[String]) {
    let listed = list_json(dir);
    for id in ids {
        let record = listed.iter().find(|r| r["id"] == id.as_str()).unwrap();
        assert!(
            ON_LEDGER.iter().any(|s| record["status"] == *s),
            "{id}: {record}"
        );
        assert!(record["leaf_index"].is_u64());
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the proxy does with one `POST /v1/batches`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    Pass,
    /// Close the connection without forwarding the request.
    DropRequest,
    /// Forward, let the registry commit, then close without answering.
    CutResponse,
    /// Forward after a delay (milliseconds).
    Delay(u64),
    /// Forward the request twice; answer with the second response.
    Duplicate,
    /// Keep the connection open without ever answering (until the proxy is dropped); when
    /// `forward`, the registry has answered (committed) before the hold is counted.
    Hold {
        forward: bool,
    },
}

/// What the proxy saw and did.
#[derive(Default, Debug, Clone)]
pub(crate) struct Tally {
    /// `METHOD path` of every request, in order.
    pub requests: Vec<String>,
    /// Bodies of the batch uploads, in order.
    pub batch_bodies: Vec<Vec<u8>>,
    pub dropped: usize,
    pub cut: usize,
    pub delayed: usize,
    pub duplicated: usize,
    pub held: usize,
}

/// A loopback HTTP/1.1 proxy. Faults apply only to `POST /v1/batches`, in order; every other
/// request passes. Requests whose path starts with a routed prefix go to that upstream.
pub(crate) struct Proxy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<u8>>>,
    pub tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub(crate) fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// Reads one HTTP message (headers and a Content-Length body).
fn read_message(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut byte = [0u8; 1];
    while !message.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        message.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&message).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    message.extend_from_slice(&body);
    Some(message)
}

fn exchange(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream).ok()?;
    conn.write_all(request).ok()?;
    read_message(&mut conn)
}

/// `METHOD path` of a request, and its body.
fn request_line(request: &[u8]) -> (String, Vec<u8>) {
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&request[..head_end]);
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let line = format!(
        "{} {}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    );
    (line, request[head_end..].to_vec())
}

pub(crate) fn start_proxy(upstream_url: &str, batch_faults: Vec<Fault>) -> Proxy {
    start_routing_proxy(upstream_url, Vec::new(), batch_faults)
}

/// A proxy to `upstream_url`, except for requests whose path starts with one of `routes`'
/// prefixes, which go to that route's URL.
pub(crate) fn start_routing_proxy(
    upstream_url: &str,
    routes: Vec<(&'static str, String)>,
    batch_faults: Vec<Fault>,
) -> Proxy {
    start_faulting_proxy(upstream_url, routes, "POST /v1/batches", batch_faults)
}

/// A proxy whose `faults` apply, in order, to the requests whose line is `faulted` (e.g.
/// `POST /v1/enrol`); their bodies are kept in `Tally::batch_bodies`.
pub(crate) fn start_faulting_proxy(
    upstream_url: &str,
    routes: Vec<(&'static str, String)>,
    faulted: &'static str,
    batch_faults: Vec<Fault>,
) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let strip = |u: &str| u.trim_start_matches("http://").to_string();
    let upstream = strip(upstream_url);
    let routes: Arc<Vec<(&'static str, String)>> =
        Arc::new(routes.into_iter().map(|(k, v)| (k, strip(&v))).collect());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(batch_faults);
    {
        let (seen, tally, stop) = (seen.clone(), tally.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = client else { continue };
                let (seen, tally, stop, faults, routes, upstream) = (
                    seen.clone(),
                    tally.clone(),
                    stop.clone(),
                    faults.clone(),
                    routes.clone(),
                    upstream.clone(),
                );
                thread::spawn(move || {
                    while let Some(request) = read_message(&mut client) {
                        seen.lock().unwrap().extend_from_slice(&request);
                        let (line, body) = request_line(&request);
                        let path = line.split(' ').nth(1).unwrap_or("").to_string();
                        let upstream = routes
                            .iter()
                            .find(|(prefix, _)| path.starts_with(prefix))
                            .map_or(upstream.clone(), |(_, u)| u.clone());
                        let fault = {
                            let mut t = tally.lock().unwrap();
                            t.requests.push(line.clone());
                            if line == faulted {
                                let n = t.batch_bodies.len();
                                t.batch_bodies.push(body);
                                faults.get(n).copied().unwrap_or(Fault::Pass)
                            } else {
                                Fault::Pass
                            }
                        };
                        let response = match fault {
                            Fault::DropRequest => {
                                tally.lock().unwrap().dropped += 1;
                                return;
                            }
                            Fault::CutResponse => {
                                let committed = exchange(&upstream, &request).is_some();
                                assert!(committed, "the registry answered the cut request");
                                tally.lock().unwrap().cut += 1;
                                return;
                            }
                            Fault::Hold { forward } => {
                                if forward {
                                    let committed = exchange(&upstream, &request).is_some();
                                    assert!(committed, "the registry answered the held request");
                                }
                                tally.lock().unwrap().held += 1;
                                while !stop.load(Ordering::SeqCst) {
                                    thread::sleep(Duration::from_millis(10));
                                }
                                return;
                            }
                            Fault::Delay(ms) => {
                                thread::sleep(Duration::from_millis(ms));
                                tally.lock().unwrap().delayed += 1;
                                exchange(&upstream, &request)
                            }
                            Fault::Duplicate => {
                                let first = exchange(&upstream, &request);
                                assert!(first.is_some(), "the registry answered the first copy");
                                tally.lock().unwrap().duplicated += 1;
                                exchange(&upstream, &request)
                            }
                            Fault::Pass => exchange(&upstream, &request),
                        };
                        let Some(response) = response else { return };
                        seen.lock().unwrap().extend_from_slice(&response);
                        if client.write_all(&response).is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    Proxy {
        url,
        seen,
        tally,
        stop,
    }
}

/// One request to the registrars' API (`/api/registrar/v1`) of the registry at `url`; (status, headers, JSON body).
pub(crate) fn registrar_call(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Value) {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} /api/registrar/v1{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

pub(crate) fn cookie_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The caregiver's credential of record `id` on `device` (`credential --format text`), checked
/// by `verify --json` against the registry's `trust` bundle: its exit code and its JSON.
pub(crate) fn verify_credential_of(device: &Path, id: &str, trust: &Path) -> (i32, Value) {
    let text = ok(&["credential", "--data", p(device), id, "--format", "text"]);
    let out = run(&[
        "verify",
        "--trust",
        p(trust),
        "--text",
        text.trim(),
        "--json",
    ]);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}
