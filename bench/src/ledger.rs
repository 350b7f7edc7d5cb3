//! Figure 4: ledger scale: append, proofs and size on disk.

use std::{path::Path, time::Instant};

use anyhow::Result;
use birthright_core::{store::StorageKey, wire::LedgerLeaf};
use birthright_registry::store::{RegistryStore, SqliteStore};

use crate::{
    common::db_bytes,
    report::{Report, micros, section},
};

pub(crate) fn ledger(
    report: &mut Report,
    dir: &Path,
    quick: bool,
    ten_million: bool,
) -> Result<()> {
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
    let make_leaf = synthetic_leaf;
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

/// The 49-byte leaf number `i` of the synthetic ledgers.
fn synthetic_leaf(i: u64) -> Vec<u8> {
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
}

/// Proofs served from PostgreSQL (the same sequencer and stored nodes as SQLite) against
/// the reads they are made of: `ceil(log2 n)` point reads of a node by primary key, measured
/// on the same database in the same run, over the same kind of connection. 1M leaves in the
/// full run, 100k in `--quick`. Skipped when no PostgreSQL server is reachable.
pub(crate) fn ledger_postgres(report: &mut Report, quick: bool) -> Result<()> {
    use birthright_registry::pg::{PgStore, testing};
    section(
        "4b. Ledger on PostgreSQL: proofs vs the node reads they need (same database, same run)",
    );
    if !testing::available() {
        println!("skipped: no PostgreSQL server reachable");
        return Ok(());
    }
    let target: u64 = if quick { 100_000 } else { 1_000_000 };
    let db = testing::TestDatabase::create();
    let store = PgStore::open(&db.url, StorageKey::generate()?)?;
    let started = Instant::now();
    let mut size = 0u64;
    while size < target {
        let chunk: Vec<Vec<u8>> = (size..(size + 50_000).min(target))
            .map(synthetic_leaf)
            .collect();
        size = store.append_leaves(&chunk)?;
    }
    report.add(
        "ledger",
        format!("PostgreSQL: append to {target} leaves"),
        target as f64 / started.elapsed().as_secs_f64(),
        "leaves/s",
        "-",
        None,
    );
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 11
    };
    let samples = 300u32;
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
    // The limit: one read transaction (as a proof runs in) of log2(n) prepared point reads.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls)?;
    let point = client.prepare("SELECT hash FROM nodes WHERE level = $1 AND idx = $2")?;
    let log2 = (size as f64).log2().ceil();
    let rounds = 300u32;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        for _ in 0..log2 as u32 {
            tx.query_one(&point, &[&0i16, &((next() % size) as i64)])?;
        }
        tx.commit()?;
    }
    let limit = micros(started.elapsed() / rounds);
    for (name, value) in [("inclusion", inclusion), ("consistency", consistency)] {
        report.add(
            "ledger",
            format!("PostgreSQL: {name} proof at {target} leaves"),
            micros(value),
            "µs",
            format!("{log2} point reads of a node in one read transaction"),
            Some(limit),
        );
    }
    Ok(())
}
