//! Credentials on the device: the registered one once synced, else a provisional one.

use uuid::Uuid;

use super::{Credential, issue_provisional};
use crate::device::{Device, DeviceError};

impl Device {
    /// The caregiver's credential for record `id`: the registry-signed one if the registry has
    /// issued it, else a provisional one signed now by this device (deterministically: issued at
    /// the capture time, or at enrolment if that came later, so the same record always gives the
    /// same credential). Needs enrolment,
    /// since a provisional credential carries the device certificate. Refused for a record the
    /// registry rejected or that was corrected since.
    pub fn credential(&self, id: &Uuid) -> Result<Credential, DeviceError> {
        let stored = self.get(id)?;
        // A credential vouches for the registration: none for a record the registry refused,
        // or for one that has been corrected since.
        if let Some(by) = stored.summary.superseded_by {
            return Err(DeviceError::Credential(format!(
                "record {id} was corrected by {by}: issue the credential of that record"
            )));
        }
        if stored.summary.status == crate::store::RecordStatus::Rejected {
            return Err(DeviceError::Credential(format!(
                "the registry rejected record {id} ({}): correct it first",
                stored
                    .summary
                    .reject_message
                    .as_deref()
                    .unwrap_or("no reason given")
            )));
        }
        if let Some(bytes) = self.registered_credential(id)? {
            return Credential::from_bytes(bytes)
                .map_err(|e| DeviceError::Credential(e.to_string()));
        }
        // A revoked device's provisional credentials are worthless at the border: none is
        // handed out (registered ones, above, stay valid).
        if self.revoked_at()?.is_some() {
            return Err(DeviceError::Revoked);
        }
        let certificate = self.certificate()?.ok_or(DeviceError::NotEnrolled)?;
        let record = &stored.signed.record;
        // Issued at the capture time, or at enrolment for a record captured before it: the
        // certificate must be valid at the time of issue.
        let trust = self.trust_bundle()?.ok_or(DeviceError::NotEnrolled)?;
        let certified = crate::trust::DeviceCertificate::verify(&certificate, &trust)
            .map_err(|e| DeviceError::Credential(e.to_string()))?;
        let issued_at = record.captured_at.max(certified.not_before);
        self.with_device_key(|key| issue_provisional(key, &certificate, record, issued_at))?
            .map_err(|e| DeviceError::Credential(e.to_string()))
    }
}
