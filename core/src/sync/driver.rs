//! The blocking drivers over a host [`Transport`]: [`Device::sync`] runs a [`SyncMachine`] to
//! its end (one sync of a store at a time, cancellable, sleeping between retries), and
//! [`send_with_retry`] sends one request with the enrolment back-off
//! ([`super::backoff::enrol_wait`]).

use std::time::Duration;

use uuid::Uuid;

use super::{
    HttpRequest, HttpResponse, Receipt, Step, SyncConfig, SyncError, SyncMachine, SyncProgress,
    SyncReport, Transport, backoff::enrol_wait, error_body,
};
use crate::{
    codec,
    device::{Device, DeviceError},
    store::StoreError,
};

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Device {
    /// Sends every pending record to the registry through `transport`, verifies the receipts,
    /// and refreshes the revocation list and checkpoint. Blocking (it sleeps between retries):
    /// call it off the UI thread. Safe to interrupt at any point and call again.
    pub fn sync(
        &self,
        transport: &dyn Transport,
        progress: &dyn SyncProgress,
        config: SyncConfig,
    ) -> Result<SyncReport, SyncError> {
        let cancel = config.cancel.clone().unwrap_or_default();
        // Back-off waits in slices, so a cancellation during a long one is seen soon.
        let mut sleep = |duration: Duration| {
            let mut left = duration;
            while !left.is_zero() && !cancel.is_cancelled() {
                let slice = left.min(Duration::from_millis(100));
                std::thread::sleep(slice);
                left = left.saturating_sub(slice);
            }
        };
        self.sync_with_sleep(transport, progress, config, &mut sleep)
    }

    /// [`Self::sync`] with the waiting done by `sleep` (tests use a virtual clock).
    pub fn sync_with_sleep(
        &self,
        transport: &dyn Transport,
        progress: &dyn SyncProgress,
        config: SyncConfig,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<SyncReport, SyncError> {
        // One sync at a time per store, across threads and processes.
        let _lock = self
            .store()
            .sync_lock(config.wait_for_other_sync)?
            .ok_or(SyncError::InProgress)?;
        let cancel = config.cancel.clone().unwrap_or_default();
        let cancelled = || -> Result<(), SyncError> {
            if cancel.is_cancelled() {
                Err(SyncError::Cancelled)
            } else {
                Ok(())
            }
        };
        let mut machine = SyncMachine::new(self, config.clone(), unix_now())?;
        let mut reported = machine.counts();
        progress.on_progress(&reported);
        let mut report_change = |machine: &SyncMachine<&Device>| {
            if machine.counts() != reported {
                reported = machine.counts();
                progress.on_progress(&reported);
            }
        };
        loop {
            cancelled()?;
            match machine.poll()? {
                Step::Send(request) => {
                    report_change(&machine);
                    let outcome = transport.send(&request);
                    machine.handle(outcome)?;
                    report_change(&machine);
                }
                Step::Wait(duration) => {
                    sleep(duration);
                    cancelled()?;
                    machine.set_now(unix_now());
                }
                Step::Done(report) => return Ok(report),
            }
        }
    }

    /// The verified ledger receipt of record `id`, once acknowledged.
    pub fn receipt(&self, id: &Uuid) -> Result<Option<Receipt>, DeviceError> {
        self.store()
            .read(|c| self.store().receipt(c, id))?
            .map(|bytes| {
                codec::from_slice(&bytes, 1024 * 1024).map_err(|_| {
                    DeviceError::Store(StoreError::Tampered {
                        what: "receipt".into(),
                    })
                })
            })
            .transpose()
    }
}

/// Sends `request`, retrying a lost connection or a registry that is busy (408, 429, 5xx) on
/// the enrolment schedule ([`enrol_wait`]: 0.5 s, 1 s, 2 s, or the `Retry-After` it asks, up to
/// 30 s). Safe for enrolment because the registry answers a repeated enrolment of the same key
/// with the same token with the same certificate.
pub fn send_with_retry(
    transport: &dyn Transport,
    request: &HttpRequest,
    sleep: &mut dyn FnMut(Duration),
) -> Result<HttpResponse, SyncError> {
    let mut attempt = 1;
    loop {
        let (error, asked) = match transport.send(request) {
            Ok(r) if r.status == 408 || r.status == 429 || r.status >= 500 => {
                let (code, message) = error_body(&r.body);
                (
                    format!("HTTP {} {code}: {message}", r.status),
                    r.retry_after_secs.map(Duration::from_secs),
                )
            }
            Ok(r) => return Ok(r),
            Err(e) => (e.message, None),
        };
        let Some(wait) = enrol_wait(attempt, asked) else {
            return Err(SyncError::Unreachable {
                attempts: attempt,
                last_error: error,
            });
        };
        sleep(wait);
        attempt += 1;
    }
}
