//! Birthright's benchmarks. Every figure is printed next to the physical limit measured in the
//! same process and run, and their ratio: ratios hold on noisy machines where absolute numbers
//! do not. `--quick` is the CI smoke run (under a minute); the full run takes a few minutes.
//!
//! `cargo run --profile perf -p birthright-bench -- [--quick] [--ledger-10m] [--json FILE]`
//! (`--registrar-only`, `--matching-only`: one figure)
//!
//! The peak memory of a sync is measured in a fresh child process (the same binary re-executed
//! with the hidden `--child-sync-rss DIR`) that holds only the device and syncs over loopback
//! HTTP to the registry this process serves, so neither earlier allocations of the run nor the
//! registry's own caches count. The full run also builds a minimal cdylib (bench/size-baseline)
//! as the same-run baseline of the binary size.
//!
//! One module per figure (`capture`, `ingest`, ...); `report` prints and keeps the figures,
//! `common` holds what several figures share.

mod binary_size;
mod capture;
mod common;
mod device_scale;
mod ingest;
mod ledger;
mod matching;
mod monitor;
mod qr_rendering;
mod qr_size;
mod registrar;
mod report;
mod status_list;
mod wire_size;
mod witnessing;

use std::{path::PathBuf, time::Instant};

use anyhow::Result;
use clap::Parser;

use crate::{
    binary_size::{BinaryInfo, binary_size},
    capture::capture,
    device_scale::{child_sync_rss, device_scale},
    ingest::{ingest, ingest_postgres},
    ledger::ledger,
    monitor::monitor,
    qr_rendering::qr_rendering,
    qr_size::qr_sizes,
    report::{Figure, Report},
    status_list::status_list_sizes,
    wire_size::wire_size,
    witnessing::witnessing,
};

#[derive(Parser)]
#[command(about = "Birthright benchmarks against same-run physical limits")]
struct Args {
    /// Small sizes: a smoke run for CI (under a minute).
    #[arg(long)]
    quick: bool,
    /// Also build and measure a ledger of 10 million leaves (several minutes more).
    #[arg(long)]
    ledger_10m: bool,
    /// Write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only figure 12, the registrars' search and statistics (for a look at one figure).
    #[arg(long)]
    registrar_only: bool,
    /// Only figure 11, duplicate detection, after figure 2 (registry ingest, its same-run
    /// baseline).
    #[arg(long)]
    matching_only: bool,
    /// Internal: sync the device and registry prepared in DIR and print its memory as JSON.
    #[arg(long, value_name = "DIR", hide = true)]
    child_sync_rss: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    run: &'static str,
    wall_seconds: f64,
    figures: &'a [Figure],
    binary: BinaryInfo,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.child_sync_rss {
        return child_sync_rss(dir);
    }
    let dir = tempfile::Builder::new()
        .prefix("birthright-bench-")
        .tempdir()?;
    let started = Instant::now();
    let run = if args.quick { "quick" } else { "full" };
    println!(
        "Birthright benchmarks ({run} run). Columns: figure | same-run limit | ratio (figure / limit)"
    );
    let mut report = Report::default();
    if args.registrar_only {
        registrar::registrar(&mut report, dir.path(), args.quick)?;
        return Ok(());
    }
    if args.matching_only {
        matching::matching(&mut report, dir.path(), args.quick)?;
        return Ok(());
    }
    capture(&mut report, dir.path(), args.quick)?;
    ingest(&mut report, dir.path(), args.quick)?;
    ingest_postgres(&mut report, dir.path(), args.quick)?;
    wire_size(&mut report, dir.path(), args.quick)?;
    ledger(&mut report, dir.path(), args.quick, args.ledger_10m)?;
    ledger::ledger_postgres(&mut report, args.quick)?;
    device_scale(&mut report, dir.path(), args.quick)?;
    matching::matching(&mut report, dir.path(), args.quick)?;
    registrar::registrar(&mut report, dir.path(), args.quick)?;
    qr_sizes(&mut report)?;
    qr_rendering(&mut report, args.quick)?;
    status_list_sizes(&mut report, args.quick)?;
    monitor(&mut report, dir.path(), args.quick)?;
    let binary = binary_size(&mut report, args.quick);
    witnessing(&mut report, dir.path(), args.quick)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    println!("\nwhole {run} run: {wall_seconds:.1} s wall time");
    if let Some(path) = args.json {
        let output = Output {
            run,
            wall_seconds,
            figures: &report.figures,
            binary,
        };
        std::fs::write(&path, serde_json::to_vec_pretty(&output)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
