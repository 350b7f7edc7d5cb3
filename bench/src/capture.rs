//! Figure 1: capture on the device, against the bare SQLite insert and the crypto it is built on.

use std::{path::Path, time::Instant};

use anyhow::{Context, Result};
use birthright_core::{
    codec,
    cose::CoseSign1,
    fixtures::reference_input,
    keys::Ed25519Key,
    store::{StorageKey, crypto},
};
use uuid::Uuid;

use crate::{
    common::{file_device, sig_structure},
    report::{Report, micros, now, section},
};

/// The same pragmas as the device store, on a bare table.
pub(crate) fn bare_sqlite(path: &Path) -> Result<rusqlite::Connection> {
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
pub(crate) struct Summary {
    child_name: String,
    date_of_birth: String,
    mother_name: String,
}

pub(crate) fn capture(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
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
