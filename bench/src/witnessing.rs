//! Figure 9: the cost of witnessing. The same batches of 10 records answered by a registry
//! without witnesses and by one that has three witnesses (C2SP tlog-witness over loopback HTTP,
//! in this process) cosign every checkpoint before it answers, alternately, in the same run:
//! the latency the witnesses add to a batch answer, per checkpoint.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::{Result, bail};
use birthright_core::{ledger::cosignature::WitnessPolicy, wire::BatchResponse};
use birthright_registry::{Registry, http::Limits, witness::Witness};

use crate::{
    common::{check_accepted, enrolled, file_device, records_for, seal_batch},
    report::{Report, section},
};

/// Three witnesses served by one small tokio runtime of this process.
struct Witnesses {
    runtime: tokio::runtime::Runtime,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    urls: Vec<String>,
    vkeys: Vec<String>,
}

impl Witnesses {
    fn start(dir: &Path, origin: &str, log_vkey: &str, n: usize) -> Result<Witnesses> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut w = Witnesses {
            runtime,
            stops: Vec::new(),
            tasks: Vec::new(),
            urls: Vec::new(),
            vkeys: Vec::new(),
        };
        for i in 0..n {
            let witness =
                Witness::init(&dir.join(format!("witness-{i}")), &format!("w{i}.bench/w"))?;
            witness.add_log(origin, log_vkey)?;
            w.vkeys.push(witness.verifier_key());
            let listener = w
                .runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            w.urls.push(format!("http://{}", listener.local_addr()?));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            // The bench is one client sending as fast as it can: no rate limit.
            let limits = Limits {
                requests_per_second: 1e9,
                burst: 1e9,
                ..Limits::default()
            };
            w.tasks
                .push(w.runtime.spawn(birthright_registry::witness::http::serve(
                    Arc::new(witness),
                    listener,
                    limits,
                    async move {
                        let _ = stopped.await;
                    },
                )));
            w.stops.push(stop);
        }
        Ok(w)
    }

    fn stop(self) -> Result<()> {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            self.runtime.block_on(task)??;
        }
        Ok(())
    }
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0) * 1000.0
}

pub(crate) fn witnessing(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section("9. Witnessing: a batch answer with three witnesses cosigning (quorum 2)");
    let origin = "bench.test/witnessed";
    let plain = Registry::init(&dir.join("plain-registry"), origin)?.0;
    let witnessed = Registry::init(&dir.join("witnessed-registry"), origin)?.0;
    let witnesses = Witnesses::start(dir, origin, &witnessed.trust_bundle().checkpoint_vkey, 3)?;
    for (vkey, url) in witnesses.vkeys.iter().zip(&witnesses.urls) {
        witnessed.add_witness(vkey, url)?;
    }
    witnessed.set_witness_quorum(2)?;
    let policy = WitnessPolicy::from_vkeys(&witnesses.vkeys, 3)?;
    // One device per registry (a device enrols with one registry), the same forms for both.
    let plain_device = file_device(dir, "unwitnessed-device")?;
    let device = file_device(dir, "witnessed-device")?;
    enrolled(&plain, &plain_device)?;
    enrolled(&witnessed, &device)?;
    let batches = if quick { 20 } else { 200 };
    let plain_records = records_for(&plain_device, batches * 10, 11)?;
    let records = records_for(&device, batches * 10, 11)?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for (plain_chunk, chunk) in plain_records.chunks(10).zip(records.chunks(10)) {
        // Alternately, so both see the same machine at the same moment.
        let (body, key, sent) = seal_batch(&plain, &plain_device, plain_chunk)?;
        let started = Instant::now();
        let answer = plain.ingest(&body)?;
        without.push(started.elapsed().as_secs_f64());
        check_accepted(&answer, &key, sent)?;
        let (body, key, sent) = seal_batch(&witnessed, &device, chunk)?;
        let started = Instant::now();
        let answer = witnessed.ingest(&body)?;
        with.push(started.elapsed().as_secs_f64());
        check_accepted(&answer, &key, sent)?;
        let response = BatchResponse::open(&answer, &key)?;
        let outcome = policy.evaluate(&response.checkpoint)?;
        if outcome.count() != 3 {
            bail!(
                "a witnessed answer carried {} of 3 cosignatures",
                outcome.count()
            );
        }
    }
    let (without, with) = (median_ms(without), median_ms(with));
    report.add(
        "witnessing",
        "batch of 10 answered, 3 witnesses cosigning (median)",
        with,
        "ms",
        "same batches, no witnesses (median)",
        Some(without),
    );
    report.add(
        "witnessing",
        "latency added per checkpoint by witnessing (median)",
        with - without,
        "ms",
        "batch answer without witnesses (median)",
        Some(without),
    );
    witnesses.stop()
}
