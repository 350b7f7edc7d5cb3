//! End-to-end tests of the real `birthright` binary: a registry process on 127.0.0.1 with an
//! ephemeral port, devices driven through the CLI, and a loopback TCP proxy between them that
//! drops connections, cuts answers after the registry committed, delays and duplicates
//! requests, and records every byte that crosses it.
//!
//! (Answers altered by a malicious registry, and a forked ledger, are tested in process in
//! `registry/tests/ingest.rs`, where the test can hold the registry's keys.)

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_birthright");
const OLENA: &str = "../docs/examples/olena.json";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "birthright {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A registry process, killed when dropped.
struct RegistryProcess {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(root: &Path) -> RegistryProcess {
    let dir = root.join("registry");
    ok(&[
        "registry",
        "init",
        "--data",
        p(&dir),
        "--origin",
        "registry.e2e/births",
    ]);
    let mut child = Command::new(BIN)
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            p(&dir),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    RegistryProcess { child, url, dir }
}

/// Initialises and enrols a device; returns its data dir.
fn enrolled_device(root: &Path, registry: &RegistryProcess, url: &str, name: &str) -> PathBuf {
    let dir = root.join(name);
    ok(&["device", "init", "--data", p(&dir), "--worker", name]);
    let token = ok(&[
        "registry",
        "enrol-token",
        "--data",
        p(&registry.dir),
        "--worker",
        name,
        "--region",
        "UA-46",
    ]);
    let trust = registry.dir.join("trust.json");
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
        p(&trust),
    ]);
    dir
}

fn capture(dir: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            ok(&["capture", "--data", p(dir), "--json", OLENA])
                .trim()
                .to_string()
        })
        .collect()
}

fn list_json(dir: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(&["list", "--data", p(dir), "--json"])).unwrap()
}

fn tree_size(url: &str) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let note = agent
        .get(&format!("{url}/v1/checkpoint"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

fn assert_all_acknowledged(dir: &Path, ids: &[String]) {
    let listed = list_json(dir);
    for id in ids {
        let record = listed.iter().find(|r| r["id"] == id.as_str()).unwrap();
        assert_eq!(record["status"], "acknowledged", "{id}");
        assert!(record["leaf_index"].is_u64());
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Pass,
    /// Close the connection without forwarding the request.
    DropRequest,
    /// Forward, let the registry commit, then close without answering.
    CutResponse,
    /// Forward after a delay.
    Delay(u64),
    /// Forward the request twice; answer with the second response.
    Duplicate,
}

/// A loopback HTTP/1.1 proxy with scripted faults that records every byte.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
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

fn start_proxy(upstream_url: &str, plan: Vec<Fault>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream_url.trim_start_matches("http://").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let plan = Arc::new(plan);
    {
        let (seen, stop) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = client else { continue };
                let (seen, counter, plan, upstream) = (
                    seen.clone(),
                    counter.clone(),
                    plan.clone(),
                    upstream.clone(),
                );
                thread::spawn(move || {
                    while let Some(request) = read_message(&mut client) {
                        seen.lock().unwrap().extend_from_slice(&request);
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let fault = plan.get(n).copied().unwrap_or(Fault::Pass);
                        let response = match fault {
                            Fault::DropRequest => return,
                            Fault::CutResponse => {
                                exchange(&upstream, &request);
                                return;
                            }
                            Fault::Delay(ms) => {
                                thread::sleep(Duration::from_millis(ms));
                                exchange(&upstream, &request)
                            }
                            Fault::Duplicate => {
                                exchange(&upstream, &request);
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
    Proxy { url, seen, stop }
}

#[test]
fn happy_path_through_the_real_processes() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-happy");
    let ids = capture(&device, 7);
    let out = ok(&["sync", "--data", p(&device)]);
    assert!(out.contains("synced: 7 accepted"), "{out}");
    assert_all_acknowledged(&device, &ids);
    assert_eq!(tree_size(&registry.url), 7);
    let devices = ok(&["registry", "devices", "--data", p(&registry.dir)]);
    assert!(
        devices.contains("w-happy") && devices.contains("active"),
        "{devices}"
    );
}

#[test]
fn faults_on_the_wire_leave_every_record_on_the_ledger_exactly_once() {
    use Fault::*;
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-faults");
    let ids = capture(&device, 9);
    let proxy = start_proxy(
        &registry.url,
        vec![
            Pass,
            CutResponse,
            DropRequest,
            Delay(300),
            Duplicate,
            CutResponse,
            Pass,
            Duplicate,
            CutResponse,
            DropRequest,
        ],
    );
    // The CLI sends batches of up to 32 KiB; each of these records is ~600 bytes, so the
    // whole queue fits in one batch: retry it until the answer arrives.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let output = run(&["sync", "--data", p(&device), "--registry", &proxy.url]);
        if output.status.success() {
            break;
        }
        assert!(
            attempts < 5,
            "sync kept failing: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_all_acknowledged(&device, &ids);
    assert_eq!(tree_size(&registry.url), 9, "no record twice on the ledger");
    // Everything that crossed the wire was sealed: no name, date or place in the clear.
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(seen.len() > 5_000, "the proxy saw the traffic");
    for needle in [
        "Олена".as_bytes(),
        "Коваленко".as_bytes(),
        "Зимна Вода".as_bytes(),
        b"2026-03-14",
        b"380501234567",
    ] {
        assert!(
            !seen.windows(needle.len()).any(|w| w == needle),
            "plaintext on the wire"
        );
    }
}

#[test]
fn a_sync_killed_mid_flight_resumes_without_loss_or_duplicates() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-kill");
    let ids = capture(&device, 12);
    for round in 0..4u64 {
        // Slow every exchange so the kill lands while a batch is in flight.
        let proxy = start_proxy(&registry.url, vec![Fault::Delay(150); 50]);
        let mut child = Command::new(BIN)
            .args(["sync", "--data", p(&device), "--registry", &proxy.url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(120 + 70 * round));
        let _ = child.kill();
        let _ = child.wait();
    }
    let started = Instant::now();
    let out = ok(&["sync", "--data", p(&device), "--registry", &registry.url]);
    assert!(started.elapsed() < Duration::from_secs(60), "{out}");
    assert_all_acknowledged(&device, &ids);
    assert_eq!(tree_size(&registry.url), 12);
}

#[test]
fn a_revoked_device_is_told_why() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-revoked");
    let kid = ok(&[
        "show",
        "--data",
        p(&device),
        &capture(&device, 1)[0],
        "--json",
    ]);
    let kid: serde_json::Value = serde_json::from_str(&kid).unwrap();
    ok(&["sync", "--data", p(&device)]);
    let kid = kid["device_kid"].as_str().unwrap().to_string();
    ok(&[
        "registry",
        "revoke",
        "--data",
        p(&registry.dir),
        &kid,
        "--reason",
        "phone stolen",
    ]);
    thread::sleep(Duration::from_millis(1100));
    let late = capture(&device, 1);
    let out = ok(&["sync", "--data", p(&device)]);
    assert!(out.contains("1 rejected"), "{out}");
    assert!(out.contains("revoked_device"), "{out}");
    assert!(out.contains("this device has been revoked"), "{out}");
    let record = list_json(&device)
        .into_iter()
        .find(|r| r["id"] == late[0].as_str())
        .unwrap();
    assert_eq!(record["status"], "rejected");
    assert_eq!(record["reject_code"], "revoked_device");
    let devices = ok(&["registry", "devices", "--data", p(&registry.dir)]);
    assert!(
        devices.contains("revoked") && devices.contains("phone stolen"),
        "{devices}"
    );
    assert_eq!(tree_size(&registry.url), 1);
}

#[test]
fn bad_input_gets_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let registry = start_registry(root.path());
    let device = enrolled_device(root.path(), &registry, &registry.url, "w-errors");
    // A reused token.
    let token = ok(&[
        "registry",
        "enrol-token",
        "--data",
        p(&registry.dir),
        "--worker",
        "x",
        "--region",
        "UA-46",
    ]);
    let other = root.path().join("other");
    ok(&["device", "init", "--data", p(&other)]);
    ok(&[
        "device",
        "enrol",
        "--data",
        p(&other),
        "--registry",
        &registry.url,
        "--token",
        token.trim(),
    ]);
    let third = root.path().join("third");
    ok(&["device", "init", "--data", p(&third)]);
    let reuse = run(&[
        "device",
        "enrol",
        "--data",
        p(&third),
        "--registry",
        &registry.url,
        "--token",
        token.trim(),
    ]);
    assert!(!reuse.status.success());
    assert!(String::from_utf8_lossy(&reuse.stderr).contains("already been used"));
    // Oversized and malformed batches get JSON errors.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut big = agent
        .post(&format!("{}/v1/batches", registry.url))
        .send(&vec![0u8; 3 * 1024 * 1024][..])
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    assert!(
        big.body_mut()
            .read_to_string()
            .unwrap()
            .contains("body_too_large")
    );
    let mut junk = agent
        .post(&format!("{}/v1/batches", registry.url))
        .send(&b"not cbor"[..])
        .unwrap();
    assert_eq!(junk.status().as_u16(), 400);
    assert!(
        junk.body_mut()
            .read_to_string()
            .unwrap()
            .contains("malformed_batch")
    );
    // An unreachable registry: a clear message, and nothing lost.
    capture(&device, 1);
    let down = run(&[
        "sync",
        "--data",
        p(&device),
        "--registry",
        "http://127.0.0.1:9",
    ]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("could not be reached"));
    assert_eq!(list_json(&device)[0]["status"], "pending");
}
