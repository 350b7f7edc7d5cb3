//! Birthright's benchmarks. Every figure is printed next to the physical limit measured in the
//! same process and run, and their ratio: ratios hold on noisy machines where absolute numbers
//! do not. `--quick` is the CI smoke run (under a minute); the full run takes a few minutes.
//!
//! `cargo run --profile perf -p birthright-bench -- [--quick] [--ledger-10m] [--json FILE]`
//!
//! The peak memory of a sync is measured in a fresh child process (the same binary re-executed
//! with the hidden `--child-sync-rss DIR`) that holds only the device and syncs over loopback
//! HTTP to the registry this process serves, so neither earlier allocations of the run nor the
//! registry's own caches count. The full run also builds a minimal cdylib (bench/size-baseline)
//! as the same-run baseline of the binary size.

use std::{
    cell::RefCell,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result};
use birthright_core::{
    codec,
    cose::CoseSign1,
    credential::{self, qr},
    device::{Device, ListFilter},
    fixtures::{reference_input, sample_inputs},
    http_client::UreqTransport,
    keys::Ed25519Key,
    signed::SignedRecord,
    store::{StorageKey, crypto},
    sync::{
        HttpRequest, HttpResponse, Method, SyncConfig, SyncCounts, SyncProgress, Transport,
        TransportError,
    },
    trust::DeviceCertificate,
    wire::{self, Batch, BatchResponse, LedgerLeaf, Outcome, ResponseKey},
};
use birthright_registry::{
    Registry, http,
    local::LocalTransport,
    store::{RegistryStore, SqliteStore},
};
use clap::Parser;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_bytes::ByteBuf;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Birthright benchmarks against same-run physical limits")]
struct Args {
    /// Small sizes: a smoke run for CI (under a minute).
    #[arg(long)]
    quick: bool,
    /// Also build and measure a ledger of 10 million leaves (several minutes more).
    #[arg(long)]
    ledger_10m: bool,
    /// Write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Internal: sync the device and registry prepared in DIR and print its memory as JSON.
    #[arg(long, value_name = "DIR", hide = true)]
    child_sync_rss: Option<PathBuf>,
}

/// One figure with its same-run limit.
#[derive(serde::Serialize)]
struct Figure {
    section: &'static str,
    name: String,
    value: f64,
    unit: &'static str,
    limit_name: String,
    limit: Option<f64>,
    /// value / limit (for times: how many times slower than the limit; for rates: the fraction
    /// of the limit reached; for sizes: how many times the minimum).
    ratio: Option<f64>,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
    /// Figure 2's ingest rate over HTTP, the limit of figure 5's sync throughput.
    http_ingest_rate: Option<f64>,
}

impl Report {
    fn add(
        &mut self,
        section: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        limit_name: impl Into<String>,
        limit: Option<f64>,
    ) {
        let figure = Figure {
            section,
            name: name.into(),
            value,
            unit,
            limit_name: limit_name.into(),
            ratio: limit.filter(|l| *l > 0.0).map(|l| value / l),
            limit,
        };
        println!(
            "  {:<60} {:>10} {:<9} | {:<42} {:>10} | {}",
            figure.name,
            fmt(figure.value),
            figure.unit,
            figure.limit_name,
            figure.limit.map(fmt).unwrap_or_else(|| "-".into()),
            figure
                .ratio
                .map(|r| if r < 0.01 {
                    format!("{r:.4}x")
                } else {
                    format!("{r:.2}x")
                })
                .unwrap_or_else(|| "-".into())
        );
        self.figures.push(figure);
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn section(title: &str) {
    println!("\n{title}");
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

struct Quiet;
impl SyncProgress for Quiet {
    fn on_progress(&self, _: &SyncCounts) {}
}

fn file_device(dir: &Path, name: &str) -> Result<Device> {
    let device = Device::create(&dir.join(format!("{name}.db")), StorageKey::generate()?)?;
    device.init("bench")?;
    Ok(device)
}

fn enrolled(registry: &Registry, device: &Device) -> Result<()> {
    let token = registry.create_token("bench", "UA-46", 3600)?;
    let answer =
        registry.enrol(&device.enrolment_request(&token, &registry.trust_bundle().origin)?)?;
    device.complete_enrolment(&answer, registry.trust_bundle())?;
    Ok(())
}

/// The same pragmas as the device store, on a bare table.
fn bare_sqlite(path: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE t (id BLOB PRIMARY KEY, a BLOB NOT NULL, b BLOB NOT NULL) STRICT",
    )?;
    Ok(conn)
}

/// The device's search summary (the same fields and encoding as `device.rs` seals).
#[derive(serde::Serialize)]
struct Summary {
    child_name: String,
    date_of_birth: String,
    mother_name: String,
}

fn capture(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section(
        "1. Capture (device): validate, encode, sign, encrypt, insert in its own transaction (WAL, synchronous=FULL)",
    );
    let n = if quick { 100 } else { 1000 };
    let device = file_device(dir, "capture")?;
    let input = reference_input();
    device.capture(&input)?; // warm up
    let started = Instant::now();
    let mut last = None;
    for _ in 0..n {
        last = Some(device.capture(&input)?);
    }
    let per_capture = started.elapsed() / n;
    // The physical limit: the same primitives on the same bytes, nothing else. `capture` signs
    // the record once and seals twice: the signed record and the search summary.
    let stored = device.get(&last.map(|s| s.summary.id).context("no record")?)?;
    let cose = CoseSign1::parse(&stored.signed.bytes, 1 << 20)?;
    let to_sign = sig_structure(&cose);
    let signed_bytes = stored.signed.bytes.clone();
    let record = &stored.signed.record.enrolment;
    let summary = codec::to_vec(&Summary {
        child_name: record.child.display_name(),
        date_of_birth: record.child.date_of_birth.clone(),
        mother_name: format!(
            "{} {}",
            record.mother.given_names, record.mother.family_name
        )
        .trim()
        .to_string(),
    })?;
    println!(
        "  (bytes per record: signed record {} B, summary {} B)",
        signed_bytes.len(),
        summary.len()
    );
    let key = Ed25519Key::generate()?;
    let storage = StorageKey::generate()?;
    let conn = bare_sqlite(&dir.join("bare.db"))?;
    let bare_row = |tx: &rusqlite::Transaction<'_>| -> Result<()> {
        let id = Uuid::now_v7();
        let sig = key.sign(&to_sign);
        let record_context = crypto::context("records", "sealed_record", id.as_bytes());
        let summary_context = crypto::context("records", "sealed_summary", id.as_bytes());
        let sealed = storage.seal(&record_context, &signed_bytes)?;
        let sealed_summary = storage.seal(&summary_context, &summary)?;
        tx.prepare_cached("INSERT INTO t(id, a, b) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![
                id.as_bytes().as_slice(),
                [sealed.as_slice(), &sig].concat(),
                sealed_summary
            ])?;
        Ok(())
    };
    let started = Instant::now();
    for _ in 0..n {
        let tx = conn.unchecked_transaction()?;
        bare_row(&tx)?;
        tx.commit()?;
    }
    let limit = started.elapsed() / n;
    report.add(
        "capture",
        "Device::capture, per record",
        micros(per_capture),
        "µs",
        "sign + 2 seals + bare insert, own tx",
        Some(micros(limit)),
    );

    let batch: Vec<_> = std::iter::repeat_n(input, if quick { 500 } else { 5000 }).collect();
    let started = Instant::now();
    device.capture_batch(&batch, now())?;
    let rate = batch.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let tx = conn.unchecked_transaction()?;
    for _ in 0..batch.len() {
        bare_row(&tx)?;
    }
    tx.commit()?;
    let limit_rate = batch.len() as f64 / started.elapsed().as_secs_f64();
    report.add(
        "capture",
        "bulk capture (capture_batch, one transaction)",
        rate,
        "rec/s",
        "sign + 2 seals + bare insert, one tx",
        Some(limit_rate),
    );
    Ok(())
}

/// Signed records ready for batches, from one enrolled device.
fn records_for(device: &Device, n: usize, seed: u64) -> Result<Vec<Vec<u8>>> {
    let inputs = sample_inputs(n, seed, now().date());
    let mut out = Vec::with_capacity(n);
    for chunk in inputs.chunks(1000) {
        for s in device.capture_batch(chunk, now())? {
            out.push(device.get(&s.summary.id)?.signed.bytes);
        }
    }
    Ok(out)
}

/// A sealed batch of `records` and the key that opens the registry's answer.
fn seal_batch(
    registry: &Registry,
    device: &Device,
    records: &[Vec<u8>],
) -> Result<(Vec<u8>, ResponseKey, usize)> {
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: Uuid::now_v7(),
        device_kid: ByteBuf::from(device.identity()?.key_id.0.to_vec()),
        certificate: None,
        known_tree_size: 0,
        records: records.iter().cloned().map(ByteBuf::from).collect(),
    };
    let (body, key) = batch.seal(&registry.trust_bundle().hpke_public_key()?)?;
    Ok((body, key, records.len()))
}

/// Opens the registry's answer to a batch and fails loudly unless every record was accepted.
fn check_accepted(answer: &[u8], key: &ResponseKey, sent: usize) -> Result<()> {
    let response = BatchResponse::open(answer, key).context("opening the registry's answer")?;
    let accepted = response
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Accepted)
        .count();
    if accepted != sent || response.results.len() != sent {
        let first_problem = response
            .results
            .iter()
            .find(|r| r.outcome != Outcome::Accepted)
            .map(|r| format!("{:?} {:?}", r.outcome, r.rejection));
        anyhow::bail!(
            "the registry accepted {accepted} of {sent} records ({} results; first other: {first_problem:?})",
            response.results.len()
        );
    }
    Ok(())
}

/// A registry served over HTTP on loopback by a small tokio runtime of this process.
struct Server {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    url: String,
}

impl Server {
    fn start(registry: Arc<Registry>) -> Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(http::serve(
            registry,
            listener,
            http::Limits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Server {
            runtime,
            stop,
            task,
            url,
        })
    }

    fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.runtime.block_on(self.task)??;
        Ok(())
    }
}

fn ingest(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section(
        "2. Registry ingest: HPKE open, verify, validate, dedupe, store, ledger append, checkpoint",
    );
    let registry = Arc::new(Registry::init(&dir.join("registry"), "bench.test/births")?.0);
    let device = file_device(dir, "ingest-device")?;
    enrolled(&registry, &device)?;
    let key = VerifyingKey::from_bytes(&device.identity()?.public_key)?;
    let plans: &[(usize, usize)] = if quick {
        &[(1, 30), (100, 2), (1000, 1)]
    } else {
        &[(1, 300), (100, 10), (1000, 5)]
    };
    let total: usize = plans.iter().map(|(size, count)| size * count).sum();
    let records = records_for(&device, total, 7)?;
    // The limit: Ed25519 verification of exactly the records ingested below, one by one and
    // batched.
    let parsed: Vec<(Vec<u8>, Signature)> = records
        .iter()
        .map(|bytes| {
            let cose = CoseSign1::parse(bytes, 1 << 20)?;
            Ok((sig_structure(&cose), Signature::from_bytes(&cose.signature)))
        })
        .collect::<Result<_>>()?;
    let started = Instant::now();
    for (m, s) in &parsed {
        key.verify_strict(m, s)?;
    }
    let verify_rate = parsed.len() as f64 / started.elapsed().as_secs_f64();
    let messages: Vec<&[u8]> = parsed.iter().map(|(m, _)| m.as_slice()).collect();
    let signatures: Vec<Signature> = parsed.iter().map(|(_, s)| *s).collect();
    let keys = vec![key; parsed.len()];
    let started = Instant::now();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys)?;
    let batch_verify_rate = parsed.len() as f64 / started.elapsed().as_secs_f64();
    let mut records = records.into_iter();
    for &(size, count) in plans {
        let bodies = (0..count)
            .map(|_| {
                seal_batch(
                    &registry,
                    &device,
                    &records.by_ref().take(size).collect::<Vec<_>>(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let mut answers = Vec::with_capacity(bodies.len());
        let started = Instant::now();
        for (body, _, _) in &bodies {
            answers.push(registry.ingest(body)?);
        }
        let rate = (size * count) as f64 / started.elapsed().as_secs_f64();
        for ((_, key, sent), answer) in bodies.iter().zip(&answers) {
            check_accepted(answer, key, *sent)?;
        }
        report.add(
            "ingest",
            format!("ingest, batches of {size} (all accepted)"),
            rate,
            "rec/s",
            "Ed25519 verify_strict, one by one",
            Some(verify_rate),
        );
    }
    report.add(
        "ingest",
        "(limit) Ed25519 verify_batch",
        batch_verify_rate,
        "rec/s",
        "Ed25519 verify_strict, one by one",
        Some(verify_rate),
    );

    // Through HTTP on loopback, batches of 100.
    let server = Server::start(registry.clone())?;
    let extra = records_for(&device, if quick { 300 } else { 2000 }, 8)?;
    let bodies = extra
        .chunks(100)
        .map(|c| seal_batch(&registry, &device, c))
        .collect::<Result<Vec<_>>>()?;
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let url = format!("{}/v1/batches", server.url);
    let mut answers = Vec::with_capacity(bodies.len());
    let started = Instant::now();
    for (body, _, _) in &bodies {
        let mut response = agent
            .post(&url)
            .header("content-type", "application/cbor")
            .send(&body[..])?;
        answers.push(response.body_mut().read_to_vec()?);
    }
    let http_rate = extra.len() as f64 / started.elapsed().as_secs_f64();
    for ((_, key, sent), answer) in bodies.iter().zip(&answers) {
        check_accepted(answer, key, *sent)?;
    }
    let in_process = records_for(&device, extra.len(), 9)?;
    let local = in_process
        .chunks(100)
        .map(|c| seal_batch(&registry, &device, c))
        .collect::<Result<Vec<_>>>()?;
    let mut answers = Vec::with_capacity(local.len());
    let started = Instant::now();
    for (body, _, _) in &local {
        answers.push(registry.ingest(body)?);
    }
    let local_rate = in_process.len() as f64 / started.elapsed().as_secs_f64();
    for ((_, key, sent), answer) in local.iter().zip(&answers) {
        check_accepted(answer, key, *sent)?;
    }
    report.http_ingest_rate = Some(http_rate);
    report.add(
        "ingest",
        "ingest over HTTP on loopback, batches of 100",
        http_rate,
        "rec/s",
        "same batches in process",
        Some(local_rate),
    );
    server.stop()
}

/// A sealed batch, the key to its answer and its number of records.
type Sealed = (Vec<u8>, ResponseKey, usize);

/// Ingests `shares[i]` through `registries[i]`, one thread each, all at once, and returns
/// records per second; every record must be accepted.
fn ingest_rate(registries: &[Arc<Registry>], shares: Vec<Vec<Sealed>>) -> Result<f64> {
    let records: usize = shares.iter().flatten().map(|(_, _, n)| n).sum();
    let started = Instant::now();
    let threads: Vec<_> = registries
        .iter()
        .cloned()
        .zip(shares)
        .map(|(registry, share)| {
            std::thread::spawn(move || -> Result<()> {
                for (body, key, sent) in share {
                    let answer = registry.ingest(&body)?;
                    check_accepted(&answer, &key, sent)?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("an ingest thread panicked"))??;
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Ingest on PostgreSQL (one registry, and two registries on one database as two processes
/// would be) against SQLite, same batches, same run. Skipped when no PostgreSQL server is
/// reachable (`BIRTHRIGHT_TEST_DATABASE_URL`, default 127.0.0.1:5432).
fn ingest_postgres(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section("2b. Registry ingest on PostgreSQL vs SQLite (same batches, same run)");
    use birthright_registry::{pg::testing, service::Database};
    if !testing::available() {
        println!("skipped: no PostgreSQL server reachable");
        return Ok(());
    }
    let plans: &[(usize, usize)] = if quick {
        &[(100, 2), (1000, 1)]
    } else {
        &[(100, 20), (1000, 4)]
    };
    for &(size, count) in plans {
        let mut rates = Vec::new();
        for setup in ["sqlite", "postgres", "postgres x2"] {
            let db = (setup != "sqlite").then(testing::TestDatabase::create);
            let root = dir.join(format!("pg-{size}-{}", setup.replace(' ', "-")));
            let database = match &db {
                None => Database::Sqlite,
                Some(db) => Database::Postgres(db.url.clone()),
            };
            let a = Arc::new(Registry::init_on(&root.join("a"), "bench.test/births", &database)?.0);
            let mut registries = vec![a.clone()];
            if setup == "postgres x2" {
                let b_dir = root.join("b");
                std::fs::create_dir_all(&b_dir)?;
                for file in ["registry.keys", "trust.json"] {
                    std::fs::copy(root.join("a").join(file), b_dir.join(file))?;
                }
                registries.push(Arc::new(Registry::open_on(&b_dir, &database)?));
            }
            // The same records in the same batches for every setup, split between the
            // registries as two offices' devices would be.
            let device = file_device(&root, "device")?;
            enrolled(&a, &device)?;
            let records = records_for(&device, size * count, 11)?;
            let mut shares: Vec<Vec<Sealed>> = registries.iter().map(|_| Vec::new()).collect();
            for (i, chunk) in records.chunks(size).enumerate() {
                let registry = &registries[i % registries.len()];
                shares[i % registries.len()].push(seal_batch(registry, &device, chunk)?);
            }
            rates.push(ingest_rate(&registries, shares)?);
        }
        for (name, rate) in [
            ("PostgreSQL, one registry", rates[1]),
            ("PostgreSQL, two registries on one database", rates[2]),
        ] {
            report.add(
                "ingest",
                format!("ingest on {name}, batches of {size}"),
                rate,
                "rec/s",
                "SQLite, same batches",
                Some(rates[0]),
            );
        }
    }
    Ok(())
}

fn sig_structure(cose: &CoseSign1) -> Vec<u8> {
    use birthright_core::codec::Value;
    codec::value_to_vec(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(cose.protected_bytes.clone()),
        Value::Bytes(vec![]),
        Value::Bytes(cose.payload.clone()),
    ]))
    .unwrap_or_default()
}

/// Wraps a transport and keeps the size of every request body and answer it carries.
struct Recording<T> {
    inner: T,
    /// (method, path without the query, request body bytes, answer body bytes).
    log: RefCell<Vec<(Method, String, usize, usize)>>,
}

impl<T: Transport> Transport for Recording<T> {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let answer = self.inner.send(request)?;
        let route = request.path.split('?').next().unwrap_or("").to_string();
        self.log
            .borrow_mut()
            .push((request.method, route, request.body.len(), answer.body.len()));
        Ok(answer)
    }
}

fn zlib(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes)?;
    Ok(z.finish()?)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes)?;
    Ok(z.finish()?)
}

fn wire_size(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section(
        "3. Wire size per record: the request bodies Device::sync posts (default batching), varied records",
    );
    let n = if quick { 300 } else { 2000 };
    let registry = Arc::new(Registry::init(&dir.join("wire-registry"), "bench.test/births")?.0);
    let device = file_device(dir, "wire-device")?;
    enrolled(&registry, &device)?;
    let records = records_for(&device, n, 11)?;
    let transport = Recording {
        inner: LocalTransport::new(registry),
        log: RefCell::new(Vec::new()),
    };
    let synced = device.sync(&transport, &Quiet, SyncConfig::default())?;
    anyhow::ensure!(
        synced.accepted as usize == n,
        "the registry accepted {} of {n} records",
        synced.accepted
    );
    let log = transport.log.into_inner();
    let posts: Vec<usize> = log
        .iter()
        .filter(|(m, route, _, _)| *m == Method::Post && route == "/v1/batches")
        .map(|(_, _, sent, _)| *sent)
        .collect();
    let batches = posts.len();
    anyhow::ensure!(
        batches as u64 == synced.batches,
        "recorded {batches} batch posts for {} batches",
        synced.batches
    );
    let all_requests: usize = log.iter().map(|(_, _, sent, _)| sent).sum();
    let answers: usize = log.iter().map(|(_, _, _, got)| got).sum();
    let per_record = posts.iter().sum::<usize>() as f64 / n as f64;
    println!(
        "  ({n} records in {batches} batches, {:.1} records per batch; {} requests, {:.1} request bytes and {:.0} answer bytes per record in all)",
        n as f64 / batches as f64,
        log.len(),
        all_requests as f64 / n as f64,
        answers as f64 / n as f64
    );
    // The minimum: record CBOR + 64-byte signature each, plus HPKE's 32-byte encapsulated key
    // and 16-byte tag per batch, amortised over the same number of batches (records split in
    // capture order into `batches` equal chunks).
    let payloads: Vec<Vec<u8>> = records
        .iter()
        .map(|r| Ok(CoseSign1::parse(r, 1 << 20)?.payload))
        .collect::<Result<_>>()?;
    let hpke_overhead = (32 + 16) * batches;
    let chunk = n.div_ceil(batches);
    let minimum =
        (payloads.iter().map(|p| p.len() + 64).sum::<usize>() + hpke_overhead) as f64 / n as f64;
    let mut compressed = hpke_overhead;
    let mut json_gzip = 0;
    for (payload_chunk, record_chunk) in payloads.chunks(chunk).zip(records.chunks(chunk)) {
        compressed += zlib(&payload_chunk.concat())?.len() + 64 * payload_chunk.len();
        let json: Vec<serde_json::Value> = record_chunk
            .iter()
            .map(|r| {
                let s = SignedRecord::decode(r)?;
                // The same content, and the same (incompressible) signature, as JSON.
                let cose = CoseSign1::parse(r, 1 << 20)?;
                Ok(serde_json::json!({
                    "id": s.record.id, "captured_at": s.record.captured_at,
                    "worker_id": s.record.worker_id, "device": s.kid.to_hex(),
                    "signature": hex_encode(&cose.signature), "record": s.record.enrolment,
                }))
            })
            .collect::<Result<_>>()?;
        json_gzip += gzip(&serde_json::to_vec(&json)?)?.len();
    }
    let compressed_minimum = compressed as f64 / n as f64;
    report.add(
        "wire",
        "sealed batch bytes per record (as sent by sync)",
        per_record,
        "bytes",
        "record CBOR + signature + HPKE overhead",
        Some(minimum),
    );
    report.add(
        "wire",
        "sealed batch bytes per record (as sent by sync)",
        per_record,
        "bytes",
        "zlib(record CBORs) + signatures + HPKE",
        Some(compressed_minimum),
    );
    report.add(
        "wire",
        "JSON + gzip of the same records, same batches",
        json_gzip as f64 / n as f64,
        "bytes",
        "sealed batch bytes per record",
        Some(per_record),
    );
    Ok(())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ledger(report: &mut Report, dir: &Path, quick: bool, ten_million: bool) -> Result<()> {
    section("4. Ledger scale (SQLite, complete-subtree nodes): append, proofs, size");
    let path = dir.join("ledger.db");
    let store = SqliteStore::open(&path, StorageKey::generate()?)?;
    let mut targets = vec![10_000u64, 100_000];
    if !quick {
        targets.push(1_000_000);
    }
    if ten_million {
        targets.push(10_000_000);
    }
    let mut size = 0u64;
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 11
    };
    let make_leaf = |i: u64| {
        let mut commitment = [0u8; 32];
        commitment[..8].copy_from_slice(&i.to_be_bytes());
        LedgerLeaf {
            commitment: sha2::Digest::finalize(sha2::Digest::chain_update(
                sha2::Sha256::default(),
                commitment,
            ))
            .into(),
            device_kid: birthright_core::keys::KeyId([7; 8]),
            sequenced_at: 1_780_000_000,
        }
        .to_bytes()
        .to_vec()
    };
    // Limits: a bare insert of the same leaves with the leaf hash computed; one point read.
    let bare = rusqlite::Connection::open(dir.join("ledger-bare.db"))?;
    bare.pragma_update(None, "journal_mode", "WAL")?;
    bare.pragma_update(None, "synchronous", "FULL")?;
    bare.execute_batch("CREATE TABLE leaves (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, hash BLOB NOT NULL) STRICT")?;
    for target in targets {
        let started = Instant::now();
        let appended = target - size;
        while size < target {
            let chunk: Vec<Vec<u8>> = (size..(size + 50_000).min(target)).map(make_leaf).collect();
            size = store.append_leaves(&chunk)?;
        }
        let append_rate = appended as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut i = 0u64;
        while i < appended {
            let tx = bare.unchecked_transaction()?;
            let mut insert =
                tx.prepare_cached("INSERT INTO leaves(idx, data, hash) VALUES (?1, ?2, ?3)")?;
            for j in i..(i + 50_000).min(appended) {
                let leaf = make_leaf(j);
                let hash = birthright_core::ledger::merkle::leaf_hash(&leaf);
                insert.execute(rusqlite::params![
                    (target - appended + j) as i64,
                    leaf,
                    hash.as_slice()
                ])?;
            }
            drop(insert);
            tx.commit()?;
            i += 50_000;
        }
        let bare_rate = appended as f64 / started.elapsed().as_secs_f64();
        report.add(
            "ledger",
            format!("append to {target} leaves"),
            append_rate,
            "leaves/s",
            "bare insert of leaf + hash",
            Some(bare_rate),
        );
        // Proofs.
        let samples = 200;
        let started = Instant::now();
        for _ in 0..samples {
            store.inclusion_proof(next() % size, size)?;
        }
        let inclusion = started.elapsed() / samples;
        let started = Instant::now();
        for _ in 0..samples {
            store.consistency_proof(1 + next() % (size - 1), size)?;
        }
        let consistency = started.elapsed() / samples;
        let reader = rusqlite::Connection::open(&path)?;
        let mut stmt =
            reader.prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")?;
        let started = Instant::now();
        for _ in 0..2000 {
            let _: Vec<u8> =
                stmt.query_row(rusqlite::params![0, (next() % size) as i64], |r| r.get(0))?;
        }
        let point_read = started.elapsed() / 2000;
        let log2 = (size as f64).log2().ceil();
        let limit = micros(point_read) * log2;
        report.add(
            "ledger",
            format!("inclusion proof at {target} leaves"),
            micros(inclusion),
            "µs",
            format!("{log2} point reads of a node"),
            Some(limit),
        );
        report.add(
            "ledger",
            format!("consistency proof at {target} leaves"),
            micros(consistency),
            "µs",
            format!("{log2} point reads of a node"),
            Some(limit),
        );
        let ledger_bytes = db_bytes(&path)?;
        let bare_bytes = db_bytes(&dir.join("ledger-bare.db"))?;
        report.add(
            "ledger",
            format!("ledger-only database MB per million leaves (at {target})"),
            ledger_bytes as f64 / size as f64,
            "MB/1M",
            "bare leaf + hash table",
            Some(bare_bytes as f64 / size as f64),
        );
    }
    Ok(())
}

/// A `Vm...:` line of /proc/self/status, in KiB.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What the child process measured around one sync.
#[derive(serde::Serialize, serde::Deserialize)]
struct SyncMemory {
    queued: u64,
    accepted: u64,
    batches: u64,
    /// VmRSS after opening the device and registry, just before the sync.
    rss_before_kib: u64,
    /// VmHWM just before the sync (the peak of opening).
    peak_before_kib: u64,
    /// VmHWM after the sync: the process's peak, the sync included.
    peak_kib: u64,
    seconds: f64,
    /// VmRSS (KiB) after each tenth of the queue was acknowledged.
    rss_by_tenth_kib: Vec<u64>,
    /// After the sync: RssAnon (heap), RssFile (mapped files), RssShmem (SQLite's -shm), KiB.
    anon_file_shmem_kib: [u64; 3],
}

/// Samples VmRSS after each tenth of the queue is acknowledged.
struct RssTrace {
    queued: u64,
    samples: RefCell<Vec<u64>>,
}

impl SyncProgress for RssTrace {
    fn on_progress(&self, counts: &SyncCounts) {
        let mut samples = self.samples.borrow_mut();
        let due = (samples.len() as u64 + 1) * self.queued / 10;
        if self.queued > 0 && counts.acknowledged >= due {
            samples.push(proc_status_kib("VmRSS:").unwrap_or(0));
        }
    }
}

/// The hidden `--child-sync-rss DIR` mode: opens the device prepared in DIR, syncs its whole
/// queue over HTTP to the registry the parent serves (its URL in DIR), and prints a
/// [`SyncMemory`] line. A fresh process holding only the device side, so its peak is opening
/// the device plus the sync.
fn child_sync_rss(dir: &Path) -> Result<()> {
    let key = StorageKey::from_hex(std::fs::read_to_string(dir.join("device.key"))?.trim())
        .map_err(|_| anyhow::anyhow!("bad storage key"))?;
    let transport = UreqTransport::new(&std::fs::read_to_string(dir.join("registry.url"))?);
    let device = Device::open(&dir.join("device.db"), key)?;
    let queued = device.counts()?.pending;
    let rss_before_kib = proc_status_kib("VmRSS:").context("no VmRSS")?;
    let peak_before_kib = proc_status_kib("VmHWM:").context("no VmHWM")?;
    let trace = RssTrace {
        queued,
        samples: RefCell::new(Vec::new()),
    };
    let started = Instant::now();
    let synced = device.sync(&transport, &trace, SyncConfig::default())?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM:").context("no VmHWM")?;
    let anon_file_shmem_kib =
        ["RssAnon:", "RssFile:", "RssShmem:"].map(|field| proc_status_kib(field).unwrap_or(0));
    let memory = SyncMemory {
        queued,
        accepted: synced.accepted,
        batches: synced.batches,
        rss_before_kib,
        peak_before_kib,
        peak_kib,
        seconds,
        rss_by_tenth_kib: trace.samples.into_inner(),
        anon_file_shmem_kib,
    };
    println!("{}", serde_json::to_string(&memory)?);
    Ok(())
}

/// Prepares an enrolled device with `n` queued records in `dir` and a registry served on
/// loopback by this process, then syncs them in a child process and returns what it measured.
fn sync_in_child(dir: &Path, n: usize) -> Result<SyncMemory> {
    std::fs::create_dir_all(dir)?;
    let registry = Arc::new(Registry::init(&dir.join("registry"), "bench.test/births")?.0);
    {
        let key = StorageKey::generate()?;
        std::fs::write(dir.join("device.key"), key.to_hex().as_bytes())?;
        let device = Device::create(&dir.join("device.db"), key)?;
        device.init("bench")?;
        enrolled(&registry, &device)?;
        fill(&device, n, 3)?;
    }
    let server = Server::start(registry)?;
    std::fs::write(dir.join("registry.url"), &server.url)?;
    let output = Command::new(std::env::current_exe()?)
        .arg("--child-sync-rss")
        .arg(dir)
        .output();
    server.stop()?;
    let output = output?;
    anyhow::ensure!(
        output.status.success(),
        "the sync child failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout)?;
    let memory: SyncMemory =
        serde_json::from_str(stdout.lines().last().context("no output from the child")?)?;
    anyhow::ensure!(
        memory.queued as usize == n && memory.accepted as usize == n,
        "the child synced {} of {n} queued ({} queued)",
        memory.accepted,
        memory.queued
    );
    Ok(memory)
}

/// Bytes on disk of the SQLite database at `path` once its WAL is checkpointed into the
/// main file (main file and what is left of the WAL).
fn db_bytes(path: &Path) -> Result<u64> {
    rusqlite::Connection::open(path)?
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum())
}

/// Fills `device` with `n` varied records, a thousand per transaction.
fn fill(device: &Device, n: usize, seed: u64) -> Result<()> {
    let inputs = sample_inputs(1000, seed, now().date());
    let mut left = n;
    while left > 0 {
        let take = left.min(1000);
        device.capture_batch(&inputs[..take], now())?;
        left -= take;
    }
    Ok(())
}

fn device_scale(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section("5. Device scale: list and name search; memory of a sync of the whole queue");
    let sizes: &[usize] = if quick { &[2_000] } else { &[10_000, 100_000] };
    for &n in sizes {
        let key = StorageKey::generate()?;
        let path = dir.join(format!("scale-{n}.db"));
        let device = Device::create(&path, key.clone())?;
        device.init("bench")?;
        fill(&device, n, n as u64)?;
        let started = Instant::now();
        let all = device.list(&ListFilter::default())?;
        let list_time = started.elapsed();
        let started = Instant::now();
        let hits = device.list(&ListFilter {
            search: Some("олена".into()),
            ..ListFilter::default()
        })?;
        let search_time = started.elapsed();
        // The limit: read every row's sealed summary and decrypt it, nothing else.
        let raw = rusqlite::Connection::open(&path)?;
        let started = Instant::now();
        let mut stmt = raw.prepare("SELECT id, sealed_summary FROM records ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let id: Vec<u8> = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            if key
                .open(&crypto::context("records", "sealed_summary", &id), &sealed)
                .is_some()
            {
                count += 1;
            }
        }
        let limit = started.elapsed();
        anyhow::ensure!(count == all.len(), "read {count} of {}", all.len());
        report.add(
            "device",
            format!("list all {n} records"),
            list_time.as_secs_f64() * 1e3,
            "ms",
            "scan + decrypt summaries",
            Some(limit.as_secs_f64() * 1e3),
        );
        report.add(
            "device",
            format!("name search over {n} records ({} hits)", hits.len()),
            search_time.as_secs_f64() * 1e3,
            "ms",
            "scan + decrypt summaries",
            Some(limit.as_secs_f64() * 1e3),
        );
    }
    // Memory: sync a small queue and a large one, each in a fresh process; the peak must not
    // grow with the queue.
    let queues: &[usize] = if quick {
        &[1_000, 4_000]
    } else {
        &[10_000, 100_000]
    };
    let mut runs = Vec::new();
    for &n in queues {
        let run_dir = dir.join(format!("sync-{n}"));
        let memory = sync_in_child(&run_dir, n)?;
        let tenths: Vec<String> = memory
            .rss_by_tenth_kib
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        let [anon, file, shmem] = memory.anon_file_shmem_kib.map(|k| k as f64 / 1024.0);
        println!(
            "  ({n} queued: RSS after each tenth of the sync {} MiB; at the end heap {anon:.1}, files {file:.1}, SQLite shm {shmem:.1} MiB)",
            tenths.join(" ")
        );
        runs.push((n, run_dir, memory));
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (small_n, _, small) = &runs[0];
    let small_growth = small.peak_kib.saturating_sub(small.rss_before_kib);
    for (n, _, m) in &runs {
        report.add(
            "device",
            format!("RSS before the sync, {n} queued (fresh process)"),
            mib(m.rss_before_kib),
            "MiB",
            format!("same with {small_n} queued"),
            Some(mib(small.rss_before_kib)),
        );
        report.add(
            "device",
            format!("peak RSS (VmHWM) of a sync of {n} queued"),
            mib(m.peak_kib),
            "MiB",
            format!("same with {small_n} queued"),
            Some(mib(small.peak_kib)),
        );
        report.add(
            "device",
            format!("growth during the sync of {n} queued (peak - before)"),
            mib(m.peak_kib.saturating_sub(m.rss_before_kib)),
            "MiB",
            format!("same with {small_n} queued"),
            Some(mib(small_growth)),
        );
        report.add(
            "device",
            format!(
                "sync throughput, {n} records ({} batches, loopback HTTP)",
                m.batches
            ),
            *n as f64 / m.seconds,
            "rec/s",
            "fig. 2 ingest over HTTP, batches of 100",
            report.http_ingest_rate,
        );
    }
    // What the registry keeps per record (figure 4): its whole database after the largest
    // sync (records sealed at rest, salts, ledger leaves and nodes, checkpoints, batches),
    // against the signed records alone.
    let (n, run_dir, _) = &runs[runs.len() - 1];
    let registry_bytes = db_bytes(&run_dir.join("registry").join("registry.db"))?;
    let device = rusqlite::Connection::open(run_dir.join("device.db"))?;
    let sealed: i64 =
        device.query_row("SELECT sum(length(sealed_record)) FROM records", [], |r| {
            r.get(0)
        })?;
    let signed_bytes = sealed as u64 - (*n as u64) * crypto::SEAL_OVERHEAD as u64;
    report.add(
        "ledger",
        format!("registry database per million records (all tables, at {n})"),
        registry_bytes as f64 / *n as f64,
        "MB/1M",
        "the signed records alone",
        Some(signed_bytes as f64 / *n as f64),
    );
    Ok(())
}

fn qr_sizes(report: &mut Report) -> Result<()> {
    section(
        "6. QR credential of the reference record (ECC M as rendered, and ECC Q) vs the EU Digital COVID Certificate median (550 characters, version 18 at ECC Q)",
    );
    let registry_key = Ed25519Key::generate()?;
    let device_key = Ed25519Key::generate()?;
    let record = birthright_core::record::Record {
        schema_version: birthright_core::record::SCHEMA_VERSION,
        id: Uuid::now_v7(),
        captured_at: now().unix_timestamp(),
        worker_id: "oksana.m".into(),
        device_kid: device_key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    let certificate = DeviceCertificate {
        version: 1,
        origin: "registry.example.gov.ua/births".into(),
        device_public_key: ByteBuf::from(device_key.public_bytes().to_vec()),
        worker_id: "oksana.m".into(),
        region: "UA-46".into(),
        not_before: record.captured_at - 10,
        not_after: record.captured_at + 365 * 86_400,
    }
    .sign(&registry_key)?;
    let registered =
        credential::issue_registered(&registry_key, &record, 1_234_567, record.captured_at)?;
    let provisional =
        credential::issue_provisional(&device_key, &certificate, &record, record.captured_at)?;
    for (name, c) in [("registered", registered), ("provisional", provisional)] {
        report.add(
            "qr",
            format!("{name} ({} B COSE): base45 characters", c.bytes.len()),
            c.text.len() as f64,
            "chars",
            "EU DCC median",
            Some(550.0),
        );
        report.add(
            "qr",
            format!("{name}: QR version at ECC M (as rendered)"),
            f64::from(qr::qr_version(&c)?),
            "version",
            "EU DCC median (v18 at ECC Q)",
            Some(18.0),
        );
        // Like with like: the DCC's version 18 is at ECC level Q.
        let at_q =
            qrcode::QrCode::with_error_correction_level(c.text.as_bytes(), qrcode::EcLevel::Q)
                .map_err(|e| anyhow::anyhow!("QR encoding at ECC Q: {e}"))?;
        let version_q = match at_q.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        };
        report.add(
            "qr",
            format!("{name}: QR version at ECC Q"),
            f64::from(version_q),
            "version",
            "EU DCC median at ECC Q",
            Some(18.0),
        );
    }
    Ok(())
}

/// The signed status list's size at ledger scale (1% of leaves superseded at random positions,
/// seeded), against the entropy of that many statuses (the least any encoding needs) and the
/// decoder's declared limit.
fn status_list_sizes(report: &mut Report, quick: bool) -> Result<()> {
    use birthright_core::status_list::{
        LeafStatus, MAX_TOKEN_BYTES, StatusList, StatusListToken, TTL_SECS, VALIDITY_SECS,
    };
    section("7. Status list of registered credentials (2 bits per leaf, zlib), 1% superseded");
    let key = Ed25519Key::generate()?;
    let sizes: &[u64] = if quick {
        &[1_000_000]
    } else {
        &[1_000_000, 10_000_000]
    };
    for &n in sizes {
        // splitmix64, seeded: the same positions every run.
        let mut state = 0x5EED_u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut list = StatusList::new(n);
        let mut set = std::collections::HashSet::new();
        while (set.len() as u64) < n / 100 {
            let i = next() % n;
            if set.insert(i) {
                list.set(i, LeafStatus::Superseded);
            }
        }
        let started = Instant::now();
        let token = StatusListToken {
            origin: "registry.example.gov.ua/births".into(),
            issued_at: now().unix_timestamp(),
            expires_at: now().unix_timestamp() + VALIDITY_SECS,
            ttl: TTL_SECS,
            list,
        }
        .sign(&key)?;
        let built = started.elapsed();
        // Entropy of choosing which 1% are set: n·H(0.01) bits.
        let p = 0.01f64;
        let entropy_bytes = n as f64 * (-(p * p.log2()) - (1.0 - p) * (1.0 - p).log2()) / 8.0;
        let label = if n >= 10_000_000 { "10M" } else { "1M" };
        report.add(
            "status_list",
            format!("{label} leaves: signed token (compressed) bytes"),
            token.len() as f64,
            "B",
            "entropy of the statuses",
            Some(entropy_bytes),
        );
        report.add(
            "status_list",
            format!("{label} leaves: signed token (compressed) bytes"),
            token.len() as f64,
            "B",
            "decoder limit (MAX_TOKEN_BYTES)",
            Some(MAX_TOKEN_BYTES as f64),
        );
        report.add(
            "status_list",
            format!("{label} leaves: build, compress and sign"),
            built.as_secs_f64() * 1e3,
            "ms",
            "-",
            None,
        );
    }
    Ok(())
}

/// Drawing the registered credential for a phone screen: the module matrix the apps draw and
/// the 1-bit PNG, against the QR encoding and the zlib compression they are built on.
fn qr_rendering(report: &mut Report, quick: bool) -> Result<()> {
    section(
        "6b. Drawing the registered credential: QR module matrix and 1-bit PNG (6 px a module) vs the QR encoding (and zlib of the same pixels) alone",
    );
    let key = Ed25519Key::generate()?;
    let record = birthright_core::record::Record {
        schema_version: birthright_core::record::SCHEMA_VERSION,
        id: Uuid::now_v7(),
        captured_at: now().unix_timestamp(),
        worker_id: "oksana.m".into(),
        device_kid: key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    let c = credential::issue_registered(&key, &record, 1_234_567, record.captured_at)?;
    let n = if quick { 50 } else { 500 };
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        f()?; // warm up
        let started = Instant::now();
        for _ in 0..n {
            f()?;
        }
        Ok(micros(started.elapsed() / n))
    };
    let encode = time(&mut || {
        std::hint::black_box(
            qrcode::QrCode::with_error_correction_level(c.text.as_bytes(), qrcode::EcLevel::M)
                .map_err(|e| anyhow::anyhow!("QR encoding: {e}"))?,
        );
        Ok(())
    })?;
    let matrix = time(&mut || {
        std::hint::black_box(qr::matrix(&c)?);
        Ok(())
    })?;
    report.add(
        "qr",
        "registered: QR module matrix (for the apps to draw)",
        matrix,
        "µs",
        "QR encoding alone (qrcode crate)",
        Some(encode),
    );
    let scale = 6;
    let png = qr::to_png(&c, scale)?;
    // The same pixels as PNG scanlines (a filter byte, then 1 bit a pixel, 0 = black).
    let m = qr::matrix(&c)?;
    let (module, quiet) = (scale as usize, qr::QUIET_ZONE);
    let side = m.size_with_quiet_zone() * module;
    let row_bytes = side.div_ceil(8);
    let mut raw = vec![0xffu8; (row_bytes + 1) * side];
    for y in 0..side {
        raw[y * (row_bytes + 1)] = 0;
        for x in 0..side {
            let (mx, my) = (x / module, y / module);
            if mx >= quiet && my >= quiet && m.dark(mx - quiet, my - quiet) {
                raw[y * (row_bytes + 1) + 1 + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let deflate = time(&mut || {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw)?;
        std::hint::black_box(z.finish()?);
        Ok(())
    })?;
    let render = time(&mut || {
        std::hint::black_box(qr::to_png(&c, scale)?);
        Ok(())
    })?;
    report.add(
        "qr",
        format!("registered: PNG, {side} x {side} pixels"),
        render,
        "µs",
        "QR encoding + zlib of its 1-bit pixel rows",
        Some(encode + deflate),
    );
    report.add(
        "qr",
        "registered: PNG size",
        png.len() as f64,
        "bytes",
        "its 1-bit pixel rows uncompressed",
        Some(raw.len() as f64),
    );
    Ok(())
}

/// The binary-size figure's provenance, also written to the JSON.
#[derive(serde::Serialize, Default)]
struct BinaryInfo {
    ffi_path: String,
    ffi_bytes: Option<u64>,
    /// "fresh", "missing", "stale: ..." or "unknown freshness: ...".
    ffi_status: String,
    baseline_bytes: Option<u64>,
    /// "built", "skipped in --quick", or why it failed.
    baseline_status: String,
    baseline_build_seconds: Option<f64>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The source files listed in cargo's dep-info `depinfo` (every line `outputs: inputs`).
fn dep_info_sources(depinfo: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(depinfo).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((_, inputs)) = line.split_once(": ") else {
            continue;
        };
        // Paths are separated by spaces; a space inside a path is escaped as "\ ".
        let mut current = String::new();
        let mut chars = inputs.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        out.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            out.push(PathBuf::from(current));
        }
    }
    Some(out)
}

/// Whether the library at `lib` is older than what it was built from: every source file in its
/// dep-info plus the workspace, core and bindings manifests. (Not Cargo.lock: it changes with
/// any crate's dependencies, and cargo does not touch a library it finds up to date.)
fn freshness(lib: &Path, workspace: &Path) -> String {
    let Some(built) = modified(lib) else {
        return "missing".into();
    };
    let depinfo = lib.with_extension("d");
    let Some(mut sources) = dep_info_sources(&depinfo) else {
        return format!("unknown freshness: no dep-info at {}", depinfo.display());
    };
    for manifest in ["Cargo.toml", "core/Cargo.toml", "bindings/Cargo.toml"] {
        sources.push(workspace.join(manifest));
    }
    let newer: Vec<&PathBuf> = sources
        .iter()
        .filter(|s| modified(s).is_none_or(|m| m > built))
        .collect();
    match newer.first() {
        None => "fresh".into(),
        Some(first) => format!(
            "stale: {} of its {} sources are newer or gone, e.g. {}",
            newer.len(),
            sources.len(),
            first.display()
        ),
    }
}

/// The `[profile.release]` settings of a manifest, comments and blank lines dropped.
fn release_profile(manifest: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)?;
    Ok(text
        .lines()
        .skip_while(|l| l.trim() != "[profile.release]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Builds the size baseline (bundled SQLite + Ed25519 only, same release profile) into its
/// own target directory; returns its size and the build time.
fn build_baseline(workspace: &Path) -> Result<(u64, f64)> {
    let manifest = workspace.join("bench/size-baseline/Cargo.toml");
    let ours = release_profile(&manifest)?;
    let theirs = release_profile(&workspace.join("Cargo.toml"))?;
    anyhow::ensure!(
        ours == theirs,
        "the baseline's [profile.release] {ours:?} differs from the workspace's {theirs:?}"
    );
    let target = workspace.join("target/size-baseline");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "cargo build of the baseline: {status}");
    let lib = target.join("release/libbirthright_size_baseline.so");
    Ok((std::fs::metadata(&lib)?.len(), seconds))
}

fn binary_size(report: &mut Report, quick: bool) -> BinaryInfo {
    section(
        "8. Binary size: stripped release cdylib of the FFI crate (build it first: cargo build --release -p birthright-ffi) vs bundled SQLite + Ed25519 alone, same profile",
    );
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = bench.parent().unwrap_or(bench).to_path_buf();
    let lib = workspace.join("target/release/libbirthright_ffi.so");
    let mut info = BinaryInfo {
        ffi_path: lib.display().to_string(),
        ffi_bytes: std::fs::metadata(&lib).ok().map(|m| m.len()),
        ffi_status: freshness(&lib, &workspace),
        ..BinaryInfo::default()
    };
    if quick {
        info.baseline_status = "skipped in --quick".into();
    } else {
        match build_baseline(&workspace) {
            Ok((bytes, seconds)) => {
                info.baseline_bytes = Some(bytes);
                info.baseline_build_seconds = Some(seconds);
                info.baseline_status = "built".into();
                println!("  (baseline built or checked up to date in {seconds:.1} s)");
            }
            Err(e) => info.baseline_status = format!("failed: {e:#}"),
        }
    }
    let mb = |b: u64| b as f64 / 1e6;
    let baseline_name = match info.baseline_bytes {
        Some(_) => "rusqlite (bundled) + ed25519-dalek cdylib".to_string(),
        None => format!("baseline {}", info.baseline_status),
    };
    if info.ffi_status != "fresh" {
        println!("  WARNING: libbirthright_ffi.so is {}", info.ffi_status);
    }
    if let Some(bytes) = info.ffi_bytes {
        let name = if info.ffi_status == "fresh" {
            "libbirthright_ffi.so (x86_64, opt z, LTO, stripped)".to_string()
        } else {
            format!("libbirthright_ffi.so, NOT FRESH ({})", info.ffi_status)
        };
        report.add(
            "binary",
            name,
            mb(bytes),
            "MB",
            baseline_name,
            info.baseline_bytes.map(mb),
        );
    }
    if let Some(bytes) = info.baseline_bytes {
        report.add(
            "binary",
            "(limit) rusqlite (bundled) + ed25519-dalek cdylib",
            mb(bytes),
            "MB",
            "-",
            None,
        );
    }
    info
}

#[derive(serde::Serialize)]
struct Output<'a> {
    run: &'static str,
    wall_seconds: f64,
    figures: &'a [Figure],
    binary: BinaryInfo,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.child_sync_rss {
        return child_sync_rss(dir);
    }
    let dir = tempfile::Builder::new()
        .prefix("birthright-bench-")
        .tempdir()?;
    let started = Instant::now();
    let run = if args.quick { "quick" } else { "full" };
    println!(
        "Birthright benchmarks ({run} run). Columns: figure | same-run limit | ratio (figure / limit)"
    );
    let mut report = Report::default();
    capture(&mut report, dir.path(), args.quick)?;
    ingest(&mut report, dir.path(), args.quick)?;
    ingest_postgres(&mut report, dir.path(), args.quick)?;
    wire_size(&mut report, dir.path(), args.quick)?;
    ledger(&mut report, dir.path(), args.quick, args.ledger_10m)?;
    device_scale(&mut report, dir.path(), args.quick)?;
    qr_sizes(&mut report)?;
    qr_rendering(&mut report, args.quick)?;
    status_list_sizes(&mut report, args.quick)?;
    let binary = binary_size(&mut report, args.quick);
    let wall_seconds = started.elapsed().as_secs_f64();
    println!("\nwhole {run} run: {wall_seconds:.1} s wall time");
    if let Some(path) = args.json {
        let output = Output {
            run,
            wall_seconds,
            figures: &report.figures,
            binary,
        };
        std::fs::write(&path, serde_json::to_vec_pretty(&output)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
