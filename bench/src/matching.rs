//! Figure 11: duplicate detection (docs/MATCHING.md): precision, recall and F1 on the labelled
//! set at both thresholds; the device's check at capture against decrypting its summaries;
//! the registry's matching cost per record against its ingest cost.

use std::{collections::HashMap, path::Path, time::Instant};

use anyhow::Result;
use birthright_core::{
    codec,
    device::Device,
    fixtures::sample_inputs,
    matching::{
        Level, Prepared, Profile,
        blocking::{block_keys, commonness, is_child_name_key, keyed, keyed_block_keys},
        labelled::{Labelled, evaluate, labelled_set},
        rules_out, score_in,
    },
    store::{StorageKey, crypto},
};

use crate::report::{Report, now, section};

pub(crate) fn matching(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section(
        "11. Duplicate detection: quality on a labelled set, cost on the device and at the registry",
    );
    let sizes: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    for &n in sizes {
        let set = labelled_set(n, 11);
        let e = evaluate(&set);
        let per = e.candidates as f64 / n as f64;
        println!(
            "  ({n} records: {} true duplicate pairs; {per:.2} candidates scored per record)",
            e.possible.true_pairs
        );
        for (level, q, goal) in [
            ("possible", e.possible, Some(0.90)),
            ("likely", e.likely, Some(0.98)),
        ] {
            report.add(
                "matching",
                format!("precision at {level}, {n} records"),
                q.precision(),
                "",
                "goal",
                goal,
            );
            let recall_goal = (level == "possible").then_some(0.95);
            report.add(
                "matching",
                format!("recall at {level}, {n} records"),
                q.recall(),
                "",
                "goal",
                recall_goal,
            );
            report.add(
                "matching",
                format!("F1 at {level}, {n} records"),
                q.f1(),
                "",
                "-",
                None,
            );
        }
    }
    device(report, dir, quick)?;
    registry(report, dir, quick)
}

/// The device's check at capture over its records, against reading and decrypting every
/// summary (what any check without a plaintext index must do), and the 50 ms goal.
fn device(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    let n = if quick { 2_000 } else { 10_000 };
    let key = StorageKey::generate()?;
    let path = dir.join(format!("matching-{n}.db"));
    let device = Device::create(&path, key.clone())?;
    device.init("bench")?;
    let inputs = sample_inputs(n + 1, 21, now().date());
    for chunk in inputs[..n].chunks(1_000) {
        device.capture_batch(chunk, now())?;
    }
    drop(device);
    // The first check after the device is opened builds its in-memory index (docs/MATCHING.md
    // §5.3); the checks at capture after it read only their candidates.
    let device = Device::open(&path, key.clone())?;
    let fresh = &inputs[n];
    let again = &inputs[n / 2]; // the same child captured again: its record is read and shown
    let started = Instant::now();
    device.possible_duplicates(fresh)?;
    let first = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        !device.possible_duplicates(again)?.is_empty(),
        "the same child again was not found"
    );
    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        device.possible_duplicates(fresh)?;
        device.possible_duplicates(again)?;
    }
    let check = started.elapsed().as_secs_f64() * 1e3 / (2 * runs) as f64;
    let raw = rusqlite::Connection::open(&path)?;
    let started = Instant::now();
    for _ in 0..runs {
        let mut stmt = raw.prepare_cached("SELECT id, sealed_summary FROM records ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: Vec<u8> = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            anyhow::ensure!(
                key.open(&crypto::context("records", "sealed_summary", &id), &sealed)
                    .is_some(),
                "a summary did not open"
            );
        }
    }
    let limit = started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    report.add(
        "matching",
        format!("device: duplicate check at capture over {n} records"),
        check,
        "ms",
        "scan + decrypt summaries",
        Some(limit),
    );
    report.add(
        "matching",
        format!("device: duplicate check at capture over {n} records "),
        check,
        "ms",
        "goal (capture screen)",
        Some(50.0),
    );
    report.add(
        "matching",
        format!("device: first check after opening ({n} records: builds the index)"),
        first,
        "ms",
        "scan + decrypt summaries",
        Some(limit),
    );
    Ok(())
}

/// The registry's matching of one new record, as the registry does it: keyed blocking hashes,
/// an index lookup, and for each candidate one sealed row read, opened, decoded, prepared
/// and scored. The registry's records are the labelled set (1 000 000 in the full run, kept
/// sealed in a SQLite table; the index of keyed hashes in memory, 8 bytes of each).
fn registry(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    let n: usize = if quick { 100_000 } else { 1_000_000 };
    let probes = 2_000;
    let secret = [5u8; 32];
    let key = StorageKey::generate()?;
    let db = rusqlite::Connection::open(dir.join("matching-registry.db"))?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
         CREATE TABLE profiles (id INTEGER PRIMARY KEY, sealed BLOB NOT NULL);",
    )?;
    let mut index: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut probe_set: Vec<Labelled> = Vec::new();
    let chunk = 100_000;
    let mut id: u32 = 0;
    let tx = db.unchecked_transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO profiles(id, sealed) VALUES (?1, ?2)")?;
        for part in 0..n.div_ceil(chunk) {
            let set = labelled_set(chunk.min(n - part * chunk), 100 + part as u64);
            for item in set {
                let prepared = Prepared::new(item.profile.clone());
                for k in keyed_block_keys(&secret, &prepared) {
                    let short = u64::from_le_bytes(k[..8].try_into()?);
                    index.entry(short).or_default().push(id);
                }
                let bytes = codec::to_vec(&item.profile)?;
                let sealed = key.seal(
                    &crypto::context("profiles", "sealed", &id.to_le_bytes()),
                    &bytes,
                )?;
                insert.execute(rusqlite::params![id, sealed])?;
                id += 1;
            }
        }
        // New records arriving: duplicates and look-alikes of what is there, and fresh ones.
        probe_set.extend(labelled_set(probes, 100));
    }
    tx.commit()?;
    let mut read = db.prepare("SELECT sealed FROM profiles WHERE id = ?1")?;
    let mut candidates = 0u64;
    let mut scored = 0u64;
    let mut held = 0u64;
    let started = Instant::now();
    for item in &probe_set {
        let prepared = Prepared::new(item.profile.clone());
        let mut found: Vec<u32> = keyed_block_keys(&secret, &prepared)
            .iter()
            .filter_map(|k| index.get(&u64::from_le_bytes(k[..8].try_into().ok()?)))
            .flatten()
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        candidates += found.len() as u64;
        // How common the child's name is that month (docs/MATCHING.md §6.3), as the registry
        // counts it: records under each of its child's-name keys.
        let counts: HashMap<String, u64> = block_keys(&prepared)
            .into_iter()
            .filter(|k| is_child_name_key(k))
            .map(|k| {
                let short =
                    u64::from_le_bytes(keyed(&secret, &k)[..8].try_into().unwrap_or_default());
                let n = index.get(&short).map_or(0, |v| v.len() as u64);
                (k, n)
            })
            .collect();
        let mut best = Level::None;
        for at in found {
            let sealed: Vec<u8> = read.query_row([at], |r| r.get(0))?;
            let plain = key
                .open(
                    &crypto::context("profiles", "sealed", &at.to_le_bytes()),
                    &sealed,
                )
                .ok_or_else(|| anyhow::anyhow!("a profile did not open"))?;
            let other: Profile = codec::from_slice(&plain, codec::MAX_RECORD_BYTES)?;
            // As the registry does: a candidate whose dates alone keep it below `possible`
            // is not prepared.
            if rules_out(&prepared, &other) {
                continue;
            }
            scored += 1;
            let other = Prepared::new(other);
            let common = commonness(&prepared, &other, |k| counts.get(k).copied().unwrap_or(0));
            best = best.max(score_in(&prepared, &other, common).level);
        }
        held += u64::from(best != Level::None);
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / probes as f64;
    println!(
        "  (registry of {n}: {:.2} candidates examined per new record, {:.2} of them prepared and scored; {held} of {probes} new records would be held)",
        candidates as f64 / probes as f64,
        scored as f64 / probes as f64
    );
    let ingest_us = report
        .value("ingest, batches of 100")
        .map(|rate| 1e6 / rate);
    report.add(
        "matching",
        format!("registry of {n}: matching per new record"),
        micros,
        "us",
        "ingest per record (batches of 100)",
        ingest_us,
    );
    report.add(
        "matching",
        format!("registry of {n}: candidates examined per new record"),
        candidates as f64 / probes as f64,
        "",
        "-",
        None,
    );
    Ok(())
}
