//! `device enrol` and `sync`.

use std::{
    cell::Cell,
    io::IsTerminal,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};
use birthright_core::{
    sync::{SyncConfig, SyncCounts, SyncError, SyncProgress, SyncReport},
    trust::{TrustBundle, TrustPin},
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    DeviceArgs, device_cmd,
    http::{UreqTransport, registry_url},
    output::coded,
};

/// `device enrol`: checks the registry's trust bundle against the pin (`--trust` or
/// `--fingerprint`; neither only for a registry on this machine), then proves knowledge of the
/// one-time token bound to the device key, and stores the registry's certificate and bundle.
pub(crate) fn enrol(
    args: &DeviceArgs,
    registry: &str,
    token: &str,
    trust: Option<&Path>,
    fingerprint: Option<&str>,
    json: bool,
) -> Result<()> {
    let url = registry_url(registry)?;
    let registry = url.base.as_str();
    let pin = match (trust, fingerprint) {
        (Some(path), None) => {
            let bytes = crate::files::read_bounded_or_stdin(path, crate::files::MAX_TRUST_BYTES)?;
            TrustPin::Bundle(TrustBundle::from_json(&bytes)?)
        }
        (None, Some(text)) => TrustPin::fingerprint(text)?,
        (None, None) if url.loopback => TrustPin::LoopbackFirstUse,
        (None, None) => {
            return Err(coded(
                "usage",
                "pass --trust FILE or --fingerprint (printed by registry enrol-token with the \
                 token): without a pin, an impostor on the network could enrol this device",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(coded(
                "usage",
                "pass either --trust or --fingerprint, not both",
            ));
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
            } => coded(
                "refused",
                format!("the registry refused the enrolment (HTTP {status}): {message} ({code})"),
            ),
            SyncError::Unreachable { last_error, .. } => coded(
                "network_unreachable",
                format!("could not reach the registry at {registry}: {last_error}"),
            ),
            other => other.into(),
        })?;
    device.set_registry_url(registry)?;
    let bundle = device
        .trust_bundle()?
        .ok_or_else(|| anyhow!("trust bundle not stored"))?;
    if json {
        return crate::output::print_json(&serde_json::json!({
            "origin": bundle.origin,
            "registry": registry,
            "device_kid": certificate.device_kid().to_string(),
            "worker_id": certificate.worker_id,
            "worker_id_before": worker_before,
            "region": certificate.region,
            "valid_from": crate::output::rfc3339(certificate.not_before),
            "valid_until": crate::output::rfc3339(certificate.not_after),
        }));
    }
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

/// Shows a sync's progress on standard error: a bar on a terminal, one plain line per event
/// otherwise (no carriage returns or escape sequences), nothing with `--json`.
struct Progress {
    mode: Mode,
    started: Instant,
    last: Cell<Option<SyncCounts>>,
}

enum Mode {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

/// `n` bytes for people: 512 B, 32.0 KiB, 1.5 MiB.
fn bytes_text(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A duration for people, rounded up to whole seconds (minutes past 90 s).
fn duration_text(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs > 90 {
        format!("{} min", secs.div_ceil(60))
    } else {
        format!("{secs} s")
    }
}

impl Progress {
    fn new(json: bool) -> Progress {
        let mode = if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Bar(bar)
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            started: Instant::now(),
            last: Cell::new(None),
        }
    }

    /// The counts last reported, if any.
    fn last(&self) -> Option<SyncCounts> {
        self.last.get()
    }

    /// "sent 3 of 10, 2 acknowledged, 0 rejected, 12.1 KiB sent, about 4 s left".
    fn describe(&self, c: &SyncCounts) -> String {
        let mut text = format!(
            "sent {} of {}, {} acknowledged, {} rejected, {} sent",
            c.sent,
            c.queued,
            c.acknowledged,
            c.rejected,
            bytes_text(c.bytes_sent)
        );
        let done = c.acknowledged + c.rejected;
        if done > 0 && c.queued > done {
            let left = self
                .started
                .elapsed()
                .mul_f64((c.queued - done) as f64 / done as f64);
            text.push_str(&format!(", about {} left", duration_text(left)));
        }
        text
    }

    /// Waits `duration` before a retry, showing the time left: a countdown on the bar, one
    /// line otherwise.
    fn wait(&self, duration: Duration) {
        match &self.mode {
            Mode::Bar(bar) => {
                let until = Instant::now() + duration;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    bar.set_message(format!(
                        "the registry is out of reach or busy: retrying in {}",
                        duration_text(left)
                    ));
                    std::thread::sleep(left.min(Duration::from_secs(1)));
                }
            }
            Mode::Lines => {
                eprintln!(
                    "the registry is out of reach or busy: retrying in {}",
                    duration_text(duration)
                );
                std::thread::sleep(duration);
            }
            Mode::Quiet => std::thread::sleep(duration),
        }
    }

    fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

impl SyncProgress for Progress {
    fn on_progress(&self, counts: &SyncCounts) {
        let previous = self.last.replace(Some(*counts));
        tracing::debug!(
            queued = counts.queued,
            sent = counts.sent,
            acknowledged = counts.acknowledged,
            rejected = counts.rejected,
            bytes_sent = counts.bytes_sent,
            retry_in_ms = counts.retry_in_ms,
            "sync progress"
        );
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_length(counts.queued);
                bar.set_position(counts.acknowledged + counts.rejected);
                bar.set_message(self.describe(counts));
            }
            Mode::Lines => {
                // One line per change of what was sent or answered (a retry is shown by the
                // wait itself).
                let changed = previous.is_none_or(|p| {
                    (p.sent, p.acknowledged, p.rejected, p.bytes_sent)
                        != (
                            counts.sent,
                            counts.acknowledged,
                            counts.rejected,
                            counts.bytes_sent,
                        )
                });
                if changed && (counts.queued > 0 || previous.is_none()) {
                    eprintln!("{}", self.describe(counts));
                }
            }
            Mode::Quiet => {}
        }
    }
}

/// What a sync that stopped part of the way had done: "201 of 600 acknowledged before the
/// link dropped; ...".
pub(crate) fn partial_summary(counts: &SyncCounts, error: &SyncError) -> String {
    let why = match error {
        SyncError::Unreachable { .. } => "before the link dropped",
        _ => "before the sync stopped",
    };
    let rejected = if counts.rejected > 0 {
        format!(" ({} rejected)", counts.rejected)
    } else {
        String::new()
    };
    format!(
        "{} of {} acknowledged{rejected} {why}; the rest stay on this device and the next sync \
         resumes where this one stopped",
        counts.acknowledged, counts.queued
    )
}

/// Exit code of `sync` when some records were rejected (the rest synced).
pub(crate) const EXIT_REJECTED: u8 = 3;
/// Exit code of `sync` when the registry has revoked this device.
pub(crate) const EXIT_REVOKED: u8 = 4;
/// Exit code of `sync` when another sync of the same device is running.
pub(crate) const EXIT_IN_PROGRESS: u8 = 5;

/// `sync`; returns the exit code (0: all synced, [`EXIT_REJECTED`], [`EXIT_REVOKED`],
/// [`EXIT_IN_PROGRESS`]).
pub(crate) fn sync(
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
    tracing::info!(
        max_batch_bytes = config.max_batch_bytes,
        max_batch_records = config.max_batch_records,
        "sync started"
    );
    let progress = Progress::new(json);
    let report = device.sync_with_sleep(&transport, &progress, config, &mut |d| progress.wait(d));
    progress.finish();
    let report = match report {
        Err(SyncError::InProgress) => {
            crate::output::print_error(&SyncError::InProgress.into(), json);
            return Ok(EXIT_IN_PROGRESS);
        }
        Err(error) => {
            return Err(match progress.last() {
                Some(counts) if counts.queued > 0 => {
                    crate::output::PartialSync { counts, error }.into()
                }
                _ => error.into(),
            });
        }
        Ok(report) => report,
    };
    tracing::info!(
        batches = report.batches,
        accepted = report.accepted,
        duplicate = report.duplicate,
        registered = report.registered,
        rejected = report.rejected.len(),
        tree_size = report.tree_size,
        "sync finished"
    );
    if json {
        crate::output::print_json(&report)?;
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
        "synced: {} accepted, {} already on the ledger, {} registered, {} rejected ({} batch(es))",
        report.accepted,
        report.duplicate,
        report.registered,
        report.rejected.len(),
        report.batches
    );
    for r in &report.rejected {
        println!("  rejected {}: {} ({})", r.id, r.message, r.code);
    }
    println!("ledger size {} (checkpoint verified)", report.tree_size);
    if let Some(waiting) = &report.awaiting_witnesses {
        println!(
            "{waiting}: the records sent stay waiting until enough witnesses cosign the \
             registry's checkpoint; sync again later"
        );
    }
    if report.device_revoked {
        println!(
            "this device has been revoked by the registry: it can no longer capture; give the \
             records on it to your supervisor"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_times_and_the_partial_summary_read_plainly() {
        assert_eq!(bytes_text(631), "631 B");
        assert_eq!(bytes_text(32 * 1024), "32.0 KiB");
        assert_eq!(bytes_text(3 * 1_048_576 / 2), "1.5 MiB");
        assert_eq!(duration_text(Duration::from_millis(7_200)), "8 s");
        assert_eq!(duration_text(Duration::from_secs(8)), "8 s");
        assert_eq!(duration_text(Duration::from_secs(600)), "10 min");
        let counts = SyncCounts {
            queued: 600,
            sent: 300,
            acknowledged: 201,
            ..SyncCounts::default()
        };
        let dropped = SyncError::Unreachable {
            attempts: 6,
            last_error: "reset".into(),
        };
        assert!(
            partial_summary(&counts, &dropped)
                .starts_with("201 of 600 acknowledged before the link dropped; ")
        );
        let stopped = SyncError::InvalidResponse("bad proof".into());
        assert!(
            partial_summary(&counts, &stopped)
                .starts_with("201 of 600 acknowledged before the sync stopped; ")
        );
    }
}
