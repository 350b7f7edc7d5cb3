//! Figure 5: device scale: list and name search, and the memory of a sync (measured in a child
//! process).

use std::{cell::RefCell, path::Path, process::Command, sync::Arc, time::Instant};

use anyhow::{Context, Result};
use birthright_core::{
    device::{Device, ListFilter},
    fixtures::sample_inputs,
    http_client::UreqTransport,
    store::{StorageKey, crypto},
    sync::{SyncConfig, SyncCounts, SyncProgress},
};
use birthright_registry::Registry;

use crate::{
    common::{Server, db_bytes, enrolled},
    report::{Report, now, section},
};

/// A `Vm...:` line of /proc/self/status, in KiB.
pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What the child process measured around one sync.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SyncMemory {
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
pub(crate) struct RssTrace {
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
pub(crate) fn child_sync_rss(dir: &Path) -> Result<()> {
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
pub(crate) fn sync_in_child(dir: &Path, n: usize) -> Result<SyncMemory> {
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

/// Fills `device` with `n` varied records, a thousand per transaction.
pub(crate) fn fill(device: &Device, n: usize, seed: u64) -> Result<()> {
    let inputs = sample_inputs(1000, seed, now().date());
    let mut left = n;
    while left > 0 {
        let take = left.min(1000);
        device.capture_batch(&inputs[..take], now())?;
        left -= take;
    }
    Ok(())
}

pub(crate) fn device_scale(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
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
