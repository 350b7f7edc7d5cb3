//! `device enrol` and `sync`.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use birthright_core::{
    registry_keys::TrustBundle,
    sync::{SyncConfig, SyncCounts, SyncError, SyncProgress, SyncReport},
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{DeviceArgs, device_cmd, http::UreqTransport};

/// `device enrol`: proves possession of the device key with a one-time token and stores the
/// registry's certificate and trust bundle.
pub fn enrol(args: &DeviceArgs, registry: &str, token: &str, trust: Option<&Path>) -> Result<()> {
    let device = device_cmd::open(args)?;
    let pinned = trust
        .map(|path| -> Result<TrustBundle> {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(TrustBundle::from_json(&bytes)?)
        })
        .transpose()?;
    let certificate = device
        .enrol(&UreqTransport::new(registry), token, pinned.as_ref())
        .map_err(|e| match e {
            SyncError::Refused {
                status,
                code,
                message,
            } => {
                anyhow!("the registry refused the enrolment (HTTP {status}): {message} ({code})")
            }
            SyncError::Unreachable { last_error, .. } => {
                anyhow!("could not reach the registry at {registry}: {last_error}")
            }
            other => other.into(),
        })?;
    device.set_registry_url(registry)?;
    let bundle = device
        .trust_bundle()?
        .ok_or_else(|| anyhow!("trust bundle not stored"))?;
    println!("enrolled with   {}", bundle.origin);
    println!("device key id   {}", certificate.device_kid());
    println!("worker id       {}", certificate.worker_id);
    println!("region          {}", certificate.region);
    Ok(())
}

struct Bar(ProgressBar);

impl SyncProgress for Bar {
    fn on_progress(&self, counts: &SyncCounts) {
        self.0.set_length(counts.queued);
        self.0.set_position(counts.acknowledged + counts.rejected);
        self.0.set_message(format!(
            "sent {}, acknowledged {}, rejected {}",
            counts.sent, counts.acknowledged, counts.rejected
        ));
    }
}

/// `sync`.
pub fn sync(
    args: &DeviceArgs,
    registry: Option<&str>,
    config: SyncConfig,
    json: bool,
) -> Result<()> {
    let device = device_cmd::open(args)?;
    let url = match registry {
        Some(url) => url.to_string(),
        None => device
            .registry_url()?
            .ok_or_else(|| anyhow!("no registry URL: pass --registry or enrol the device first"))?,
    };
    let transport = UreqTransport::new(&url);
    let bar = ProgressBar::new(0);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = device.sync(&transport, &Bar(bar.clone()), config);
    bar.finish_and_clear();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &SyncReport) {
    println!(
        "synced: {} accepted, {} already on the ledger, {} rejected ({} batch(es))",
        report.accepted,
        report.duplicate,
        report.rejected.len(),
        report.batches
    );
    for r in &report.rejected {
        println!("  rejected {}: {} ({})", r.id, r.message, r.code);
    }
    println!("ledger size {} (checkpoint verified)", report.tree_size);
    if report.device_revoked {
        println!("warning: this device has been revoked by the registry");
    }
}
