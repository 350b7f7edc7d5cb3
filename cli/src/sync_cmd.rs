//! `device enrol` and `sync`.

use std::path::Path;

use anyhow::{Result, anyhow};
use birthright_core::{
    registry_keys::{TrustBundle, TrustPin},
    sync::{SyncConfig, SyncCounts, SyncError, SyncProgress, SyncReport},
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    DeviceArgs, device_cmd,
    http::{UreqTransport, registry_url},
};

/// `device enrol`: checks the registry's trust bundle against the pin (`--trust` or
/// `--fingerprint`; neither only for a registry on this machine), then proves knowledge of the
/// one-time token bound to the device key, and stores the registry's certificate and bundle.
pub fn enrol(
    args: &DeviceArgs,
    registry: &str,
    token: &str,
    trust: Option<&Path>,
    fingerprint: Option<&str>,
) -> Result<()> {
    let url = registry_url(registry)?;
    let registry = url.base.as_str();
    let pin = match (trust, fingerprint) {
        (Some(path), None) => {
            let bytes = crate::files::read_bounded(path, crate::files::MAX_TRUST_BYTES)?;
            TrustPin::Bundle(TrustBundle::from_json(&bytes)?)
        }
        (None, Some(text)) => TrustPin::fingerprint(text)?,
        (None, None) if url.loopback => TrustPin::LoopbackFirstUse,
        (None, None) => {
            return Err(anyhow!(
                "pass --trust FILE or --fingerprint (printed by registry enrol-token with the \
                 token): without a pin, an impostor on the network could enrol this device"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(anyhow!("pass either --trust or --fingerprint, not both"));
        }
    };
    let device = device_cmd::open(args)?;
    let worker_before = device.identity()?.worker_id;
    let certificate = device
        .enrol(&UreqTransport::new(registry), token, &pin)
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
    if certificate.worker_id != worker_before {
        // `device init --worker` is a label until enrolment; the token decides (it names
        // the worker the supervisor enrolled), and every record is signed with that id.
        println!(
            "note: the token is for worker {}, so this device now captures as {} (it was \
             initialised as {worker_before})",
            certificate.worker_id, certificate.worker_id
        );
    }
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

/// Exit code of `sync` when some records were rejected (the rest synced).
pub const EXIT_REJECTED: u8 = 3;
/// Exit code of `sync` when the registry has revoked this device.
pub const EXIT_REVOKED: u8 = 4;
/// Exit code of `sync` when another sync of the same device is running.
pub const EXIT_IN_PROGRESS: u8 = 5;

/// `sync`; returns the exit code (0: all synced, [`EXIT_REJECTED`], [`EXIT_REVOKED`],
/// [`EXIT_IN_PROGRESS`]).
pub fn sync(
    args: &DeviceArgs,
    registry: Option<&str>,
    config: SyncConfig,
    json: bool,
) -> Result<u8> {
    let device = device_cmd::open(args)?;
    let url = match registry {
        Some(url) => url.to_string(),
        None => device
            .registry_url()?
            .ok_or_else(|| anyhow!("no registry URL: pass --registry or enrol the device first"))?,
    };
    let transport = UreqTransport::new(&registry_url(&url)?.base);
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
    let report = match report {
        Err(SyncError::InProgress) => {
            eprintln!("error: {}", SyncError::InProgress);
            return Ok(EXIT_IN_PROGRESS);
        }
        other => other?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.device_revoked {
        EXIT_REVOKED
    } else if !report.rejected.is_empty() {
        EXIT_REJECTED
    } else {
        0
    })
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
        println!(
            "this device has been revoked by the registry: it can no longer capture; give the \
             records on it to your supervisor"
        );
    }
}
