//! What several figures share: enrolled devices, sealed batches, a registry served on loopback.

use std::{io::Write as _, path::Path, sync::Arc};

use anyhow::{Context, Result};
use birthright_core::{
    codec,
    cose::CoseSign1,
    device::Device,
    fixtures::sample_inputs,
    store::StorageKey,
    wire::{self, Batch, BatchResponse, Outcome, ResponseKey},
};
use birthright_registry::{Registry, http};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::report::now;

pub(crate) fn file_device(dir: &Path, name: &str) -> Result<Device> {
    let device = Device::create(&dir.join(format!("{name}.db")), StorageKey::generate()?)?;
    device.init("bench")?;
    Ok(device)
}

pub(crate) fn enrolled(registry: &Registry, device: &Device) -> Result<()> {
    let token = registry.create_token("bench", "UA-46", 3600)?;
    let answer =
        registry.enrol(&device.enrolment_request(&token, &registry.trust_bundle().origin)?)?;
    device.complete_enrolment(&answer, registry.trust_bundle())?;
    Ok(())
}

/// Signed records ready for batches, from one enrolled device.
pub(crate) fn records_for(device: &Device, n: usize, seed: u64) -> Result<Vec<Vec<u8>>> {
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
pub(crate) fn seal_batch(
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
pub(crate) fn check_accepted(answer: &[u8], key: &ResponseKey, sent: usize) -> Result<()> {
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
pub(crate) struct Server {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(registry: Arc<Registry>) -> Result<Server> {
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

    pub(crate) fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.runtime.block_on(self.task)??;
        Ok(())
    }
}

pub(crate) fn sig_structure(cose: &CoseSign1) -> Vec<u8> {
    use birthright_core::codec::Value;
    codec::value_to_vec(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(cose.protected_bytes.clone()),
        Value::Bytes(vec![]),
        Value::Bytes(cose.payload.clone()),
    ]))
    .unwrap_or_default()
}

pub(crate) fn zlib(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes)?;
    Ok(z.finish()?)
}

/// Bytes on disk of the SQLite database at `path` once its WAL is checkpointed into the
/// main file (main file and what is left of the WAL).
pub(crate) fn db_bytes(path: &Path) -> Result<u64> {
    rusqlite::Connection::open(path)?
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum())
}
