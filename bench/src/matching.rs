//! Figure 11: duplicate detection (docs/MATCHING.md): precision, recall and F1 on the labelled
//! set at both thresholds; the device's check at capture against decrypting its summaries;
//! the registry's matching cost per record against its ingest cost.

use std::{collections::HashMap, path::Path, time::Instant};

use anyhow::Result;
use birthright_core::{
    codec,
    device::Device,
    fixtures::sample_inputs,
    keys::{Ed25519Key, KeyId},
    matching::{
        BoundFacts, Level, Prepared, Profile,
        blocking::{
            CANDIDATE_BUDGET, KeyedIndex, block_keys, chosen_blocks, commonness_with,
            is_child_name_key, keyed, keyed_block_keys,
        },
        bound::sealing_context,
        labelled::{Quality, evaluate, form_of, labelled_set},
        rules_out_prepared, weigh,
    },
    record::{Record, RegistrationForm, SCHEMA_VERSION},
    signed::SignedRecord,
    store::{StorageKey, crypto},
};
use birthright_registry::{
    Registry,
    service::{MAX_CANDIDATE_BYTES, StoredCandidate, candidate_context},
};
use uuid::Uuid;

use crate::{
    common::{check_accepted, enrolled, file_device, records_for, seal_batch},
    report::{Report, now, section},
};

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

/// The registry's matching of one new record, as the registry does it
/// (`registry/src/service/duplicates.rs`), over the same tables: records stored as sealed
/// signed records keyed by device and id, and each record's keyed hashes and sealed facts
/// for the bound (§6.4) in one appended row of `match_records`, read into the blocking index
/// in memory ([`KeyedIndex`]) when the registry first matches (WAL, `synchronous=FULL`, pages
/// read through `mmap_size`, as
/// the registry's store). Per new record (its form as verified): its keys and their hashes,
/// its blocks' sizes, the blocks chosen within the budget (docs/MATCHING.md §5.4); per
/// candidate the bound over the facts in memory, and for those it does not rule out the
/// sealed candidate form (`match_candidates`: the prepared profile) read by its row number
/// (a batch's all in one read transaction), opened, decoded and scored (the name's
/// commonness counted and the reasons written only where the registry needs them); the new
/// records' rows of hashes, sealed facts and candidate forms written in the transaction
/// that stores the batch's records (ingest's decisions' transaction at the registry; only
/// the inserts are counted) and added to the index as they are, then any rows stored since read on. The registry holds the labelled
/// set (1 000 000 records in the full run) but for 2 000 records held out of it, spread over
/// the set, which arrive as new records: the true duplicates of each in the registry give
/// precision and recall at that size too. The limit, ingest's cost per record, is measured
/// between the matching's batches (a real registry ingesting 20 batches of 100, one after
/// each batch matched), so a machine whose speed drifts during the run moves both alike.
fn registry(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    let n: usize = if quick { 100_000 } else { 1_000_000 };
    let chunk = 100_000;
    let hold_out = chunk / (2_000 / n.div_ceil(chunk));
    let secret = [5u8; 32];
    let key = StorageKey::generate()?;
    let device = Ed25519Key::generate()?;
    let kid = device.key_id();
    let path = dir.join("matching-registry.db");
    let db = rusqlite::Connection::open(&path)?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-16384;
         PRAGMA mmap_size=2147418112;
         CREATE TABLE records (
             device_kid BLOB NOT NULL, id BLOB NOT NULL, sealed_record BLOB NOT NULL,
             PRIMARY KEY (device_kid, id)) STRICT, WITHOUT ROWID;
         CREATE TABLE match_records (
             seq INTEGER PRIMARY KEY, device_kid BLOB NOT NULL, id BLOB NOT NULL,
             keys BLOB NOT NULL, sealed_facts BLOB NOT NULL, UNIQUE (device_kid, id)) STRICT;
         CREATE TABLE match_candidates (
             seq INTEGER PRIMARY KEY, sealed_candidate BLOB NOT NULL) STRICT;",
    )?;
    let seal = |id: &Uuid, form: &RegistrationForm| -> Result<Vec<u8>> {
        let record = Record {
            schema_version: SCHEMA_VERSION,
            id: *id,
            captured_at: 1_780_000_000,
            worker_id: "bench".into(),
            device_kid: kid.0.to_vec(),
            supersedes: None,
            enrolment: form.clone(),
        };
        let signed = SignedRecord::sign(&record, &device)?;
        Ok(key.seal(
            &crypto::context("records", "sealed_record", id.as_bytes()),
            &signed.bytes,
        )?)
    };
    // The registry's records, and the held-out new ones with the child each is of.
    let mut labels: HashMap<Uuid, (usize, u64)> = HashMap::new();
    let mut true_pairs: HashMap<(usize, u64), u64> = HashMap::new();
    let mut arriving: Vec<Arriving> = Vec::new();
    let mut next_id: u128 = 0;
    for part in 0..n.div_ceil(chunk) {
        let set = labelled_set(chunk.min(n - part * chunk), 100 + part as u64);
        let tx = db.unchecked_transaction()?;
        for (at, item) in set.into_iter().enumerate() {
            next_id += 1;
            let id = Uuid::from_u128(next_id);
            let label = (part, item.child);
            let sealed = seal(&id, &form_of(&item.profile))?;
            if at % hold_out == hold_out / 2 {
                arriving.push(Arriving {
                    id,
                    sealed,
                    profile: item.profile,
                    label,
                });
                continue;
            }
            let prepared = Prepared::new(item.profile);
            let keys = keyed_block_keys(&secret, &prepared);
            let facts = seal_facts(&key, &kid, &id, &keys, &BoundFacts::of(&prepared, &secret))?;
            let candidate = seal_candidate(&key, &kid, &id, &prepared)?;
            store_record(&tx, &kid, &id, &sealed)?;
            store_keys(&tx, &kid, &id, &keys, &facts, &candidate)?;
            labels.insert(id, label);
            *true_pairs.entry(label).or_default() += 1;
        }
        tx.commit()?;
    }
    let mut index = KeyedIndex::new();
    let mut numbered: Vec<(i64, Uuid, Option<BoundFacts>)> = Vec::new();
    let mut last_seq = 0i64;
    let started = Instant::now();
    read_new_rows(&db, &key, &kid, &mut index, &mut numbered, &mut last_seq)?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    // The index, and the record each number stands for (a device, an id and its facts, as
    // the registry keeps them).
    let names_bytes: usize = numbered
        .iter()
        .filter_map(|(_, _, facts)| facts.as_ref()?.mother.as_ref())
        .map(|m| m.given.skeleton_text().len() + m.family.skeleton_text().len())
        .sum();
    let index_mb = (index.memory_bytes()
        + numbered.len() * std::mem::size_of::<(i64, KeyId, Uuid, Option<BoundFacts>)>()
        + names_bytes) as f64
        / 1e6;

    let mut read = db.prepare("SELECT sealed_candidate FROM match_candidates WHERE seq = ?1")?;
    let open = |id: &Uuid, sealed: &[u8]| -> Result<StoredCandidate> {
        let plain = key
            .open(&candidate_context(&kid, id), sealed)
            .ok_or_else(|| anyhow::anyhow!("a candidate did not open"))?;
        Ok(codec::from_own_sealed_slice(&plain, MAX_CANDIDATE_BYTES)?)
    };
    // Ingest's cost, measured between the matching's batches (the same time, so a machine
    // that speeds up or slows down during the run moves both alike): a registry ingesting
    // batches of 100 as figure 2 does.
    let ingest_registry = Registry::init(&dir.join("matching-ingest"), "bench.test/births")?.0;
    let ingest_device = file_device(dir, "matching-ingest-device")?;
    enrolled(&ingest_registry, &ingest_device)?;
    let ingest_records = records_for(&ingest_device, arriving.len(), 17)?;
    let ingest_bodies = ingest_records
        .chunks(100)
        .map(|records| seal_batch(&ingest_registry, &ingest_device, records))
        .collect::<Result<Vec<_>>>()?;
    let mut ingest_bodies = ingest_bodies.iter();
    let (mut ingested, mut ingesting) = (0usize, std::time::Duration::ZERO);
    let (mut examined, mut read_back, mut scored, mut held) = (0u64, 0u64, 0u64, 0u64);
    let mut quality = [Quality::default(); 2];
    let mut matching = std::time::Duration::ZERO;
    for batch in arriving.chunks(100) {
        let started = Instant::now();
        let mut matched: Vec<MatchRow> = Vec::new();
        // The pairs scored (the new record's child, the candidate, the level), counted
        // against the truth once the batch is matched (not matching's cost).
        let mut levels: Vec<((usize, u64), Uuid, Level)> = Vec::new();
        // As the registry: each record's blocks and the candidates the bound leaves first,
        // then all their forms read together (one read transaction), then the scoring.
        let mut planned = Vec::with_capacity(batch.len());
        let mut survivors: Vec<(i64, Uuid, bool)> = Vec::new();
        for new in batch {
            // The registry matches the form it has just verified (it does not read it back).
            let this = Prepared::new(new.profile.clone());
            let facts = BoundFacts::of(&this, &secret);
            let keys = block_keys(&this);
            let hashes: Vec<[u8; 32]> = keys.iter().map(|k| keyed(&secret, k)).collect();
            let sizes: Vec<u64> = hashes.iter().map(|h| index.size(h)).collect();
            let counts: HashMap<String, u64> = keys
                .into_iter()
                .zip(&sizes)
                .filter(|(k, _)| is_child_name_key(k))
                .map(|(k, n)| (k, *n))
                .collect();
            let chosen: Vec<[u8; 32]> = chosen_blocks(&sizes, CANDIDATE_BUDGET)
                .into_iter()
                .map(|at| hashes[at])
                .collect();
            let found = index.records_under(&chosen);
            examined += found.len() as u64;
            // Ruled out by the facts in memory (docs/MATCHING.md §6.4): not read.
            let from = survivors.len();
            survivors.extend(
                found
                    .into_iter()
                    .filter_map(|number| numbered.get(number as usize))
                    .filter(|(_, _, other)| {
                        !other.as_ref().is_some_and(|other| facts.rules_out(other))
                    })
                    .map(|(seq, id, other)| (*seq, *id, other.is_some())),
            );
            planned.push((this, facts, hashes, counts, from..survivors.len()));
        }
        // The survivors' forms read together (more than one in one read transaction).
        let together = survivors.len() > 1;
        if together {
            db.execute_batch("BEGIN")?;
        }
        let mut forms = Vec::with_capacity(survivors.len());
        for (other_seq, _, _) in &survivors {
            forms.push(read.query_row([other_seq], |r| r.get::<_, Vec<u8>>(0))?);
        }
        if together {
            db.execute_batch("COMMIT")?;
        }
        for (new, (this, facts, hashes, counts, range)) in batch.iter().zip(planned) {
            let mut best = Level::None;
            for ((_, other_id, judged), sealed) in
                survivors[range.clone()].iter().zip(&forms[range])
            {
                read_back += 1;
                let other = open(other_id, sealed)?.prepared;
                if !judged && rules_out_prepared(&this, &other) {
                    continue;
                }
                scored += 1;
                // The commonness is counted only for the same child's name, the reasons
                // written only for a pair kept, as the registry does.
                let common = || commonness_with(|k| counts.get(k).copied(), &other);
                let evidence = weigh(&this, &other, common);
                let level = evidence.level;
                if level != Level::None {
                    std::hint::black_box(evidence.into_match());
                }
                best = best.max(level);
                levels.push((new.label, *other_id, level));
            }
            held += u64::from(best != Level::None);
            let mut stored = hashes;
            stored.sort_unstable();
            stored.dedup();
            let sealed_facts = seal_facts(&key, &kid, &new.id, &stored, &facts)?;
            let sealed_candidate = seal_candidate(&key, &kid, &new.id, &this)?;
            matched.push((new.id, stored, facts, sealed_facts, sealed_candidate));
        }
        matching += started.elapsed();
        for new in batch {
            // Its true duplicates are the records of its child stored so far.
            let stored_of_child = true_pairs.get(&new.label).copied().unwrap_or(0);
            for q in &mut quality {
                q.true_pairs += stored_of_child;
            }
        }
        for (label, other_id, level) in levels {
            let truth = labels.get(&other_id) == Some(&label);
            for (q, at_least) in quality.iter_mut().zip([Level::Possible, Level::Likely]) {
                if level >= at_least {
                    q.found += 1;
                    q.true_found += u64::from(truth);
                }
            }
        }
        // Ingest stores the batch's records (not matching's cost) and, in the same
        // transaction (its decisions' at the registry), the batch's rows of hashes and facts.
        let tx = db.unchecked_transaction()?;
        for new in batch {
            store_record(&tx, &kid, &new.id, &new.sealed)?;
            labels.insert(new.id, new.label);
            *true_pairs.entry(new.label).or_default() += 1;
        }
        let started = Instant::now();
        let mut rows = Vec::with_capacity(matched.len());
        for (id, keys, _, sealed_facts, candidate) in &matched {
            rows.push(store_keys(&tx, &kid, id, keys, sealed_facts, candidate)?);
        }
        matching += started.elapsed();
        tx.commit()?;
        // The rows just stored join the index as they are (not read back) where they follow
        // its last row; the next batch reads on from the store first (none here).
        let started = Instant::now();
        for ((id, keys, facts, _, _), seq) in matched.iter().zip(rows) {
            if seq != Some(last_seq + 1) {
                break;
            }
            index.add(keys);
            numbered.push((last_seq + 1, *id, Some(facts.clone())));
            last_seq += 1;
        }
        read_new_rows(&db, &key, &kid, &mut index, &mut numbered, &mut last_seq)?;
        matching += started.elapsed();
        if let Some((body, response_key, sent)) = ingest_bodies.next() {
            let started = Instant::now();
            let answer = ingest_registry.ingest(body)?;
            ingesting += started.elapsed();
            ingested += sent;
            check_accepted(&answer, response_key, *sent)?;
        }
    }
    let micros = matching.as_secs_f64() * 1e6 / arriving.len() as f64;
    let arrived = arriving.len() as f64;
    println!(
        "  (registry of {n}: {:.2} candidates examined per new record, {:.2} of them read, {:.2} scored; {held} of {} new records held; {} true duplicates of them in the registry; blocking index in memory built in {build_ms:.0} ms)",
        examined as f64 / arrived,
        read_back as f64 / arrived,
        scored as f64 / arrived,
        arriving.len(),
        quality[0].true_pairs
    );
    let ingest_us = (ingested > 0).then(|| ingesting.as_secs_f64() * 1e6 / ingested as f64);
    report.add(
        "matching",
        format!("registry of {n}: matching per new record"),
        micros,
        "us",
        "ingest per record (batches of 100, between)",
        ingest_us,
    );
    report.add(
        "matching",
        format!("registry of {n}: matching per new record "),
        micros,
        "us",
        "goal: 20 % of ingest per record",
        ingest_us.map(|us| 0.2 * us),
    );
    report.add(
        "matching",
        format!("registry of {n}: candidates examined per new record"),
        examined as f64 / arrived,
        "",
        "budget (docs/MATCHING.md §5.4)",
        Some(CANDIDATE_BUDGET as f64),
    );
    report.add(
        "matching",
        format!("registry of {n}: blocking index built in memory (first match after opening)"),
        build_ms,
        "ms",
        "-",
        None,
    );
    report.add(
        "matching",
        format!("registry of {n}: memory the blocking index holds"),
        index_mb,
        "MB",
        "-",
        None,
    );
    for (q, level, goal) in [(quality[0], "possible", 0.90), (quality[1], "likely", 0.98)] {
        report.add(
            "matching",
            format!("registry of {n}: precision at {level} (new records against the registry)"),
            q.precision(),
            "",
            "goal",
            Some(goal),
        );
        report.add(
            "matching",
            format!("registry of {n}: recall at {level} (new records against the registry)"),
            q.recall(),
            "",
            if level == "possible" { "goal" } else { "-" },
            (level == "possible").then_some(0.95),
        );
    }
    drop(read);
    drop(db);
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// A new record's row to store: its id, keyed hashes, facts, sealed facts and sealed candidate
/// form.
type MatchRow = (Uuid, Vec<[u8; 32]>, BoundFacts, Vec<u8>, Vec<u8>);

/// A record held out of the registry, arriving as a new one.
struct Arriving {
    id: Uuid,
    sealed: Vec<u8>,
    /// What the registry reads of its form once it has verified it.
    profile: Profile,
    /// The chunk of the labelled set it came from, and the child it is of.
    label: (usize, u64),
}

fn store_record(
    tx: &rusqlite::Transaction<'_>,
    kid: &KeyId,
    id: &Uuid,
    sealed: &[u8],
) -> Result<()> {
    tx.prepare_cached("INSERT INTO records(device_kid, id, sealed_record) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![
            kid.0.as_slice(),
            id.as_bytes().as_slice(),
            sealed
        ])?;
    Ok(())
}

/// Stores a record's row and candidate form; returns its row number (`None`: kept as it was).
fn store_keys(
    tx: &rusqlite::Transaction<'_>,
    kid: &KeyId,
    id: &Uuid,
    keys: &[[u8; 32]],
    sealed_facts: &[u8],
    sealed_candidate: &[u8],
) -> Result<Option<i64>> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO match_records(device_kid, id, keys, sealed_facts)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(rusqlite::params![
            kid.0.as_slice(),
            id.as_bytes().as_slice(),
            keys.concat(),
            sealed_facts
        ])?;
    if inserted != 1 {
        return Ok(None);
    }
    let seq = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO match_candidates(seq, sealed_candidate) VALUES (?1, ?2)
         ON CONFLICT(seq) DO UPDATE SET sealed_candidate = excluded.sealed_candidate",
    )?
    .execute(rusqlite::params![seq, sealed_candidate])?;
    Ok(Some(seq))
}

/// A record's candidate form sealed, as the registry seals it (the bench's records show no
/// name or capture time: only their cost is measured).
fn seal_candidate(
    key: &StorageKey,
    kid: &KeyId,
    id: &Uuid,
    prepared: &Prepared,
) -> Result<Vec<u8>> {
    let candidate = StoredCandidate {
        child_name: prepared.profile.child_name(),
        date_of_birth: prepared.profile.date_of_birth.clone(),
        captured_at: 1_780_000_000,
        prepared: prepared.scoring_only(),
    };
    Ok(key.seal(&candidate_context(kid, id), &codec::to_vec(&candidate)?)?)
}

/// A record's facts sealed for its row, as the registry seals them.
fn seal_facts(
    key: &StorageKey,
    kid: &KeyId,
    id: &Uuid,
    keys: &[[u8; 32]],
    facts: &BoundFacts,
) -> Result<Vec<u8>> {
    Ok(key.seal(&sealing_context(kid, id, keys), &facts.to_bytes())?)
}

/// Reads the rows of `match_records` after `last_seq` into the index, as the registry does
/// before each use.
fn read_new_rows(
    db: &rusqlite::Connection,
    key: &StorageKey,
    kid: &KeyId,
    index: &mut KeyedIndex,
    numbered: &mut Vec<(i64, Uuid, Option<BoundFacts>)>,
    last_seq: &mut i64,
) -> Result<()> {
    let mut stmt = db.prepare_cached(
        "SELECT seq, id, keys, sealed_facts FROM match_records WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([*last_seq])?;
    while let Some(row) = rows.next()? {
        let keys: Vec<u8> = row.get(2)?;
        let hashes: Vec<[u8; 32]> = keys
            .chunks_exact(32)
            .map(|c| c.try_into())
            .collect::<Result<_, _>>()?;
        index.add(&hashes);
        let id = Uuid::from_slice(&row.get::<_, Vec<u8>>(1)?)?;
        let sealed: Vec<u8> = row.get(3)?;
        let facts = key
            .open(&sealing_context(kid, &id, &hashes), &sealed)
            .and_then(|plain| BoundFacts::from_bytes(&plain).ok());
        let seq: i64 = row.get(0)?;
        numbered.push((seq, id, facts));
        *last_seq = seq;
    }
    Ok(())
}
