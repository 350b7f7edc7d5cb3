//! Figures 2 and 2b: registry ingest (in process, over HTTP, on PostgreSQL) against its parts.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::Result;
use birthright_core::{cose::CoseSign1, wire::ResponseKey};
use birthright_registry::Registry;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::{
    common::{
        Server, check_accepted, enrolled, file_device, records_for, seal_batch, sig_structure,
    },
    report::{Report, section},
};

pub(crate) fn ingest(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
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
    // The CLI's and the device's transport (core::http_client), so the row measures what a
    // device's sync pays for HTTP.
    let transport = birthright_core::http_client::UreqTransport::new(&server.url);
    let mut answers = Vec::with_capacity(bodies.len());
    let started = Instant::now();
    for (body, _, _) in &bodies {
        let response = birthright_core::sync::Transport::send(
            &transport,
            &birthright_core::sync::HttpRequest {
                method: birthright_core::sync::Method::Post,
                path: "/v1/batches".into(),
                content_type: Some("application/cbor".into()),
                body: body.clone(),
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            response.status == 200,
            "ingest over HTTP: status {}",
            response.status
        );
        answers.push(response.body);
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
pub(crate) type Sealed = (Vec<u8>, ResponseKey, usize);

/// Ingests `shares[i]` through `registries[i]`, one thread each, all at once, and returns
/// records per second; every record must be accepted.
pub(crate) fn ingest_rate(registries: &[Arc<Registry>], shares: Vec<Vec<Sealed>>) -> Result<f64> {
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
pub(crate) fn ingest_postgres(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
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
        // Two registries (as two processes: their own connections, one advisory lock) against
        // one: sequencing is serialised by the database, so the second adds capacity for
        // opening batches, not for appending.
        report.add(
            "ingest",
            format!("PostgreSQL, two registries vs one, batches of {size}"),
            rates[2],
            "rec/s",
            "one registry on PostgreSQL, same batches",
            Some(rates[1]),
        );
    }
    Ok(())
}
