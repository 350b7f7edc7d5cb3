//! Figure 3: the bytes a sync posts per record, against the signed record and its compressions.

use std::{cell::RefCell, io::Write as _, path::Path, sync::Arc};

use anyhow::Result;
use birthright_core::{
    cose::CoseSign1,
    signed::SignedRecord,
    sync::{
        HttpRequest, HttpResponse, Method, SyncConfig, SyncCounts, SyncProgress, Transport,
        TransportError,
    },
};
use birthright_registry::{Registry, local::LocalTransport};

use crate::{
    common::{enrolled, file_device, records_for, zlib},
    report::{Report, section},
};

pub(crate) struct Quiet;
impl SyncProgress for Quiet {
    fn on_progress(&self, _: &SyncCounts) {}
}

/// Wraps a transport and keeps the size of every request body and answer it carries.
pub(crate) struct Recording<T> {
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

pub(crate) fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes)?;
    Ok(z.finish()?)
}

pub(crate) fn wire_size(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
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
    notices(report, dir)
}

/// The notices of a registrar's decisions (PROTOCOL §9.1): late registrations, synced and
/// waiting, registered by a registrar; the next sync's notices request and answer, per
/// decision, against the batch answer's bytes per record of the first sync.
fn notices(report: &mut Report, dir: &Path) -> Result<()> {
    use birthright_core::{fixtures::sample_inputs, ledger::leaf::DecisionReason};
    use birthright_registry::service::decisions::{Action, DecisionRequest};
    let n = 20;
    let registry = Arc::new(Registry::init(&dir.join("notices-registry"), "bench.test/births")?.0);
    let device = file_device(dir, "notices-device")?;
    enrolled(&registry, &device)?;
    let today = crate::report::now().date();
    let mut forms = sample_inputs(n, 17, today);
    for form in &mut forms {
        form.child.date_of_birth = (today - time::Duration::days(3 * 365)).to_string();
        form.child.date_of_birth_precision = Some(birthright_core::record::DatePrecision::Day);
    }
    let ids: Vec<_> = device
        .capture_batch(&forms, crate::report::now())?
        .into_iter()
        .map(|c| c.summary.id)
        .collect();
    let first = Recording {
        inner: LocalTransport::new(registry.clone()),
        log: RefCell::new(Vec::new()),
    };
    device.sync(&first, &Quiet, SyncConfig::default())?;
    let batch_answers: usize = first
        .log
        .borrow()
        .iter()
        .filter(|(_, route, _, _)| route == "/v1/batches")
        .map(|(_, _, _, got)| *got)
        .sum();
    let now = crate::report::now().unix_timestamp();
    for id in &ids {
        registry.decide(
            &DecisionRequest {
                record: *id,
                action: Action::Register,
                reason: Some(DecisionReason::Reviewed),
                note: None,
                actor: Some("bench".into()),
            },
            now,
        )?;
    }
    let second = Recording {
        inner: LocalTransport::new(registry),
        log: RefCell::new(Vec::new()),
    };
    let report_2 = device.sync(&second, &Quiet, SyncConfig::default())?;
    anyhow::ensure!(
        report_2.registered as usize == n,
        "{} of {n} registrations reached the device",
        report_2.registered
    );
    let (sent, got) = second
        .log
        .borrow()
        .iter()
        .filter(|(_, route, _, _)| route == "/v1/notices")
        .fold((0, 0), |(s, g), (_, _, sent, got)| (s + sent, g + got));
    report.add(
        "wire",
        format!("notices: request + answer bytes per registrar's decision ({n} registered)"),
        (sent + got) as f64 / n as f64,
        "bytes",
        "batch answer bytes per record",
        Some(batch_answers as f64 / n as f64),
    );
    Ok(())
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
