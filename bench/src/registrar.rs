//! Figure 12: the registrars' search and statistics, which open sealed records (the database
//! keeps no names, dates of birth or sexes in the clear), against opening the same records
//! with nothing else done.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::Result;
use birthright_core::signed::SignedRecord;
use birthright_registry::{
    Registry,
    registrar::{
        Registrar, Role,
        records::{Filter, MAX_SCAN},
        sessions::LoginRequest,
        statistics::StatisticsFilter,
    },
    service::Database,
};

use crate::{
    common::{enrolled, file_device, records_for, seal_batch},
    report::{Report, now, section},
};

const PASSWORD: &str = "a long enough password";

pub(crate) fn registrar(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section("12. Registrar search and statistics over sealed records");
    let n: usize = if quick { 2_000 } else { 20_000 };
    let data = dir.join("registrar");
    let registry = Arc::new(Registry::init(&data, "bench.test/births")?.0);
    let device = file_device(dir, "registrar-device")?;
    enrolled(&registry, &device)?;
    let records = records_for(&device, n, 12)?;
    for chunk in records.chunks(500) {
        let (body, _, _) = seal_batch(&registry, &device, chunk)?;
        registry.ingest(&body)?;
    }
    let registrar = Registrar::open(&data, &Database::Sqlite, registry.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let at = now().unix_timestamp();
    registrar
        .add_user("bench", &[Role::Registrar], &[], Some(PASSWORD), at)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let session = registrar
        .login(
            &LoginRequest {
                username: "bench",
                password: PASSWORD,
                totp: None,
                address: "127.0.0.1",
            },
            at,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .session;
    let index = registrar.store().record_index()?;
    let stored = index.len();

    // The limit: open and decode every record, nothing else.
    let open_all = |count: usize| -> Result<f64> {
        let started = Instant::now();
        for meta in index.iter().take(count) {
            let bytes = registry
                .record_bytes_of(&meta.kid, &meta.id)?
                .ok_or_else(|| anyhow::anyhow!("a record is missing"))?;
            SignedRecord::decode(&bytes)?;
        }
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };
    let scanned = stored.min(MAX_SCAN);
    let runs = 3;
    let limit_search = (0..runs).map(|_| open_all(scanned)).sum::<Result<f64>>()? / runs as f64;
    // A name nobody has: the search opens every record it may (one request's bound).
    let filter = Filter {
        query: Some("Zzyzxwq".into()),
        ..Filter::default()
    };
    let started = Instant::now();
    for _ in 0..runs {
        let page = registrar
            .search_page(&session, &filter, "127.0.0.1", at)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(page.records.is_empty(), "the search found a made-up name");
    }
    let search = started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    report.add(
        "registrar",
        format!("search by name, no match, {scanned} records opened (of {stored})"),
        search,
        "ms",
        "open + decode the same records",
        Some(limit_search),
    );
    let limit_all = (0..runs).map(|_| open_all(stored)).sum::<Result<f64>>()? / runs as f64;
    let started = Instant::now();
    for _ in 0..runs {
        registrar
            .statistics(&session, &StatisticsFilter::default(), "127.0.0.1", at)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let stats = started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    report.add(
        "registrar",
        format!("statistics over {stored} records"),
        stats,
        "ms",
        "open + decode every record",
        Some(limit_all),
    );
    Ok(())
}
