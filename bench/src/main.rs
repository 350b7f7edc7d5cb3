//! Birthright's benchmarks. Every figure is printed next to the physical limit measured in the
//! same process and run, and their ratio: ratios hold on noisy machines where absolute numbers
//! do not. `--quick` is the CI smoke run (under a minute); the full run takes a few minutes.
//!
//! `cargo run --profile perf -p birthright-bench -- [--quick] [--ledger-10m] [--json FILE]`

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use birthright_core::{
    codec,
    cose::CoseSign1,
    credential::{self, qr},
    device::{Device, ListFilter},
    fixtures::{reference_input, sample_inputs},
    keys::Ed25519Key,
    registry_keys::DeviceCertificate,
    signed::SignedRecord,
    store::{StorageKey, crypto},
    sync::{SyncConfig, SyncCounts, SyncProgress},
    wire::{self, Batch, LedgerLeaf},
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
    json: Option<std::path::PathBuf>,
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
            "  {:<52} {:>12} {:<9} | {:<44} {:>12} | {}",
            figure.name,
            fmt(figure.value),
            figure.unit,
            figure.limit_name,
            figure.limit.map(fmt).unwrap_or_else(|| "-".into()),
            figure
                .ratio
                .map(|r| format!("{r:.2}x"))
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
    let device = Device::open(&dir.join(format!("{name}.db")), StorageKey::generate()?)?;
    device.init("bench")?;
    Ok(device)
}

fn enrolled(registry: &Registry, device: &Device) -> Result<()> {
    let token = registry.create_token("bench", "UA-46", 3600)?;
    let answer = registry.enrol(&device.enrolment_request(&token)?)?;
    device.complete_enrolment(&answer, Some(registry.trust_bundle()))?;
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
    // The physical limit: the same primitives on the same bytes, nothing else.
    let stored = device.get(&last.map(|s| s.id).context("no record")?)?;
    let cose = CoseSign1::parse(&stored.signed.bytes, 1 << 20)?;
    let to_sign = stored.signed.bytes.clone();
    let key = Ed25519Key::generate()?;
    let storage = StorageKey::generate()?;
    let conn = bare_sqlite(&dir.join("bare.db"))?;
    let summary = vec![0u8; 64];
    let started = Instant::now();
    for i in 0..n {
        let sig = key.sign(&to_sign);
        let context = crypto::context("records", "sealed_record", &(i as u128).to_be_bytes());
        let sealed = storage.seal(&context, &cose.payload)?;
        let sealed_summary = storage.seal(&context, &summary)?;
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO t(id, a, b) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                Uuid::now_v7().as_bytes().as_slice(),
                [sealed.as_slice(), &sig].concat(),
                sealed_summary
            ],
        )?;
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
        let sig = key.sign(&to_sign);
        let sealed = storage.seal(b"ctx", &cose.payload)?;
        tx.execute(
            "INSERT INTO t(id, a, b) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                Uuid::now_v7().as_bytes().as_slice(),
                [sealed.as_slice(), &sig].concat(),
                &summary
            ],
        )?;
    }
    tx.commit()?;
    let limit_rate = batch.len() as f64 / started.elapsed().as_secs_f64();
    report.add(
        "capture",
        "bulk capture (capture_batch, one transaction)",
        rate,
        "rec/s",
        "sign + seal + bare insert, one tx",
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
            out.push(device.get(&s.id)?.signed.bytes);
        }
    }
    Ok(out)
}

fn seal_batch(registry: &Registry, device: &Device, records: &[Vec<u8>]) -> Result<Vec<u8>> {
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: Uuid::now_v7(),
        device_kid: ByteBuf::from(device.identity()?.key_id.0.to_vec()),
        certificate: None,
        known_tree_size: 0,
        records: records.iter().cloned().map(ByteBuf::from).collect(),
    };
    Ok(batch.seal(&registry.trust_bundle().hpke_public_key()?)?.0)
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
    let mut records = records_for(&device, total + 1000, 7)?.into_iter();
    // The limit: Ed25519 verification of the same records, one by one and batched.
    let sample: Vec<Vec<u8>> = records.by_ref().take(1000).collect();
    let parsed: Vec<(Vec<u8>, Signature)> = sample
        .iter()
        .map(|bytes| {
            let cose = CoseSign1::parse(bytes, 1 << 20).expect("our own record");
            let message = sig_structure(&cose);
            (message, Signature::from_bytes(&cose.signature))
        })
        .collect();
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
    for &(size, count) in plans {
        let bodies: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                seal_batch(
                    &registry,
                    &device,
                    &records.by_ref().take(size).collect::<Vec<_>>(),
                )
            })
            .collect::<Result<_>>()?;
        let started = Instant::now();
        for body in &bodies {
            registry.ingest(body)?;
        }
        let rate = (size * count) as f64 / started.elapsed().as_secs_f64();
        report.add(
            "ingest",
            format!("ingest, batches of {size}"),
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(http::serve(
        registry.clone(),
        listener,
        http::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let extra = records_for(&device, if quick { 300 } else { 2000 }, 8)?;
    let bodies: Vec<Vec<u8>> = extra
        .chunks(100)
        .map(|c| seal_batch(&registry, &device, c))
        .collect::<Result<_>>()?;
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let url = format!("http://{addr}/v1/batches");
    let started = Instant::now();
    for body in &bodies {
        agent
            .post(&url)
            .header("content-type", "application/cbor")
            .send(&body[..])?;
    }
    let http_rate = extra.len() as f64 / started.elapsed().as_secs_f64();
    let in_process = records_for(&device, extra.len(), 9)?;
    let local: Vec<Vec<u8>> = in_process
        .chunks(100)
        .map(|c| seal_batch(&registry, &device, c))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    for body in &local {
        registry.ingest(body)?;
    }
    let local_rate = in_process.len() as f64 / started.elapsed().as_secs_f64();
    report.add(
        "ingest",
        "ingest over HTTP on loopback, batches of 100",
        http_rate,
        "rec/s",
        "same batches in process",
        Some(local_rate),
    );
    let _ = stop.send(());
    let _ = runtime.block_on(server);
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

fn wire_size(report: &mut Report, dir: &Path) -> Result<()> {
    section("3. Wire size per record, batches of 100 (varied realistic records)");
    let registry = Registry::init(&dir.join("wire-registry"), "bench.test/births")?.0;
    let device = file_device(dir, "wire-device")?;
    enrolled(&registry, &device)?;
    let records = records_for(&device, 100, 11)?;
    let sealed = seal_batch(&registry, &device, &records)?;
    let per_record = sealed.len() as f64 / 100.0;
    let minimum: f64 = records
        .iter()
        .map(|r| CoseSign1::parse(r, 1 << 20).map(|c| c.payload.len() as f64 + 64.0))
        .sum::<Result<f64, _>>()?
        / 100.0
        + (32.0 + 16.0) / 100.0;
    report.add(
        "wire",
        "sealed batch bytes per record",
        per_record,
        "bytes",
        "record CBOR + signature + HPKE overhead/100",
        Some(minimum),
    );
    let json: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let s = SignedRecord::decode(r).expect("our own record");
            // The same content, and the same (incompressible) signature, as JSON.
            let cose = CoseSign1::parse(r, 1 << 20).expect("our own record");
            serde_json::json!({
                "id": s.record.id, "captured_at": s.record.captured_at, "worker_id": s.record.worker_id,
                "device": s.kid.to_hex(), "signature": hex_encode(&cose.signature), "record": s.record.enrolment,
            })
        })
        .collect();
    let json = serde_json::to_vec(&json)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &json)?;
    let gzipped = gz.finish()?;
    report.add(
        "wire",
        "JSON + gzip of the same records (form-based systems)",
        gzipped.len() as f64 / 100.0,
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
        let db_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{}", path.display(), suffix)).ok())
            .map(|m| m.len())
            .sum();
        let bare_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                std::fs::metadata(format!(
                    "{}{}",
                    dir.join("ledger-bare.db").display(),
                    suffix
                ))
                .ok()
            })
            .map(|m| m.len())
            .sum();
        report.add(
            "ledger",
            format!("database MB per million leaves (at {target})"),
            db_bytes as f64 / size as f64,
            "MB/1M",
            "bare leaf + hash table",
            Some(bare_bytes as f64 / size as f64),
        );
    }
    Ok(())
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
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
        let device = Device::open(&path, key.clone())?;
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
    // Memory: sync a small queue and a large one; the peak must not grow with the queue.
    let queues: &[usize] = if quick {
        &[1_000, 4_000]
    } else {
        &[10_000, 100_000]
    };
    let mut peaks = Vec::new();
    for &n in queues {
        let registry = Arc::new(
            Registry::init(&dir.join(format!("mem-registry-{n}")), "bench.test/births")?.0,
        );
        let device = file_device(dir, &format!("mem-{n}"))?;
        enrolled(&registry, &device)?;
        fill(&device, n, 3)?;
        let transport = LocalTransport::new(registry);
        reset_peak_rss();
        let started = Instant::now();
        let report_sync = device.sync(&transport, &Quiet, SyncConfig::default())?;
        let elapsed = started.elapsed();
        let peak = peak_rss_kib().unwrap_or(0);
        anyhow::ensure!(
            report_sync.accepted as usize == n,
            "synced {} of {n}: {:?}",
            report_sync.accepted,
            (
                report_sync.duplicate,
                report_sync.batches,
                report_sync.rejected.len(),
                device.counts()?
            )
        );
        peaks.push((n, peak, elapsed));
    }
    let (small_n, small_peak, _) = peaks[0];
    for (n, peak, elapsed) in &peaks {
        report.add(
            "device",
            format!("peak RSS during a sync of {n} queued records"),
            *peak as f64 / 1024.0,
            "MiB",
            format!("same with {small_n} queued"),
            Some(small_peak.max(1) as f64 / 1024.0),
        );
        report.add(
            "device",
            format!("sync throughput, {n} records (in process)"),
            *n as f64 / elapsed.as_secs_f64(),
            "rec/s",
            "-",
            None,
        );
    }
    Ok(())
}

fn qr_sizes(report: &mut Report) -> Result<()> {
    section(
        "6. QR credential of the reference record (ECC M) vs the EU Digital COVID Certificate median (550 characters, version 18 at ECC Q)",
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
            format!("{name}: bytes (COSE)"),
            c.bytes.len() as f64,
            "bytes",
            "-",
            None,
        );
        report.add(
            "qr",
            format!("{name}: characters"),
            c.text.len() as f64,
            "chars",
            "EU DCC median",
            Some(550.0),
        );
        report.add(
            "qr",
            format!("{name}: QR version"),
            f64::from(qr::qr_version(&c)?),
            "version",
            "EU DCC median",
            Some(18.0),
        );
    }
    Ok(())
}

fn binary_size(report: &mut Report) {
    section(
        "7. Binary size: stripped release cdylib of the FFI crate (build it first: cargo build --release -p birthright-ffi)",
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = workspace.join("target/release/libbirthright_ffi.so");
    match std::fs::metadata(&lib) {
        Ok(m) => report.add(
            "binary",
            "libbirthright_ffi.so (x86_64, opt-level z, LTO, stripped)",
            m.len() as f64 / 1e6,
            "MB",
            "-",
            None,
        ),
        Err(_) => println!("  not built: {}", lib.display()),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::Builder::new()
        .prefix("birthright-bench-")
        .tempdir()?;
    let started = Instant::now();
    println!(
        "Birthright benchmarks ({} run). Columns: figure | same-run limit | ratio (figure / limit)",
        if args.quick { "quick" } else { "full" }
    );
    let mut report = Report::default();
    capture(&mut report, dir.path(), args.quick)?;
    ingest(&mut report, dir.path(), args.quick)?;
    wire_size(&mut report, dir.path())?;
    ledger(&mut report, dir.path(), args.quick, args.ledger_10m)?;
    device_scale(&mut report, dir.path(), args.quick)?;
    qr_sizes(&mut report)?;
    binary_size(&mut report);
    println!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report.figures)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
