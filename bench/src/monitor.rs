//! Figure 7b: the monitor's throughput. The real `birthright monitor` process follows a
//! registry's ledger through its C2SP tiles over loopback HTTP (served by this process with
//! `/tlog/`), recomputing the tree from every entry; the limit is hashing the same leaves
//! alone (SHA-256 of each 49-byte leaf, RFC 6962 leaf hash), in the same run.

use std::{path::Path, process::Command, sync::Arc, time::Instant};

use anyhow::{Context, Result};
use birthright_core::{keys::KeyId, ledger::merkle::leaf_hash, wire::LedgerLeaf};
use birthright_registry::{Registry, http, keys::RegistryKeys, store::SqliteStore};

use crate::report::{Report, section};

fn leaf(i: u64) -> Vec<u8> {
    let mut commitment = [0x5a; 32];
    commitment[..8].copy_from_slice(&i.to_be_bytes());
    LedgerLeaf {
        commitment,
        device_kid: KeyId([3; 8]),
        sequenced_at: 1_780_000_000,
    }
    .to_bytes()
    .to_vec()
}

/// The `birthright` binary beside this benchmark's (same profile). Built by
/// `cargo build --profile perf -p birthright-cli`; the full run builds it when missing.
fn cli_binary(quick: bool) -> Result<Option<std::path::PathBuf>> {
    let exe = std::env::current_exe()?;
    let Some(dir) = exe.parent() else {
        return Ok(None);
    };
    let binary = dir.join("birthright");
    if binary.is_file() {
        return Ok(Some(binary));
    }
    if quick {
        return Ok(None);
    }
    let profile = dir
        .file_name()
        .and_then(|p| p.to_str())
        .map(|p| if p == "debug" { "dev" } else { p })
        .unwrap_or("perf")
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--offline",
            "--quiet",
            "--profile",
            &profile,
            "-p",
            "birthright-cli",
        ])
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cargo build of the birthright binary: {status}"
    );
    Ok(binary.is_file().then_some(binary))
}

pub(crate) fn monitor(report: &mut Report, dir: &Path, quick: bool) -> Result<()> {
    section("7b. Monitor: a whole ledger verified through its tiles over loopback HTTP");
    let Some(binary) = cli_binary(quick)? else {
        println!(
            "  skipped: no birthright binary beside the benchmark (cargo build --profile perf -p birthright-cli)"
        );
        return Ok(());
    };
    let n: u64 = if quick { 20_000 } else { 200_000 };
    let registry_dir = dir.join("monitor-registry");
    Registry::init(&registry_dir, "bench.test/births")?;
    let keys = RegistryKeys::load(&registry_dir)?;
    let store = SqliteStore::open(&registry_dir.join("registry.db"), keys.data_key.clone())?;
    let leaves: Vec<Vec<u8>> = (0..n).map(leaf).collect();
    for chunk in leaves.chunks(50_000) {
        store.append_leaves(chunk)?;
    }
    drop(store);
    let registry = Arc::new(Registry::open(&registry_dir)?);
    registry.checkpoint()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/tlog", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // A mirror or CDN serves tiles without a per-client limit; so does this one.
    let limits = http::Limits {
        requests_per_second: 1e9,
        burst: 1e9,
        ..http::Limits::default()
    };
    let task = runtime.spawn(http::serve(registry, listener, limits, async move {
        let _ = stopped.await;
    }));
    let state = dir.join("monitor-state");
    let started = Instant::now();
    let output = Command::new(&binary)
        .args(["monitor", "--trust"])
        .arg(registry_dir.join("trust.json"))
        .args(["--url", &url, "--state"])
        .arg(&state)
        .arg("--json")
        .output()
        .context("running birthright monitor")?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    runtime.block_on(task)??;
    anyhow::ensure!(
        output.status.success(),
        "birthright monitor failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    anyhow::ensure!(
        verdict["status"] == "verified" && verdict["size"] == n,
        "the monitor did not verify the ledger: {verdict}"
    );
    let monitor_rate = n as f64 / seconds;

    let started = Instant::now();
    let mut sink = 0u8;
    for l in &leaves {
        sink ^= leaf_hash(l)[0];
    }
    std::hint::black_box(sink);
    let hash_rate = n as f64 / started.elapsed().as_secs_f64();
    report.add(
        "monitor",
        format!("monitor verifying {n} leaves from tiles (process, HTTP, all tiles checked)"),
        monitor_rate,
        "leaves/s",
        "SHA-256 leaf hashes of the same leaves alone",
        Some(hash_rate),
    );
    Ok(())
}
