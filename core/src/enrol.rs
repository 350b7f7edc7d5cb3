//! Device enrolment over a host [`Transport`]: the registry's trust bundle is fetched and
//! checked against the pin the supervisor gave before any request that uses the enrolment
//! token is sent; each request is retried on the enrolment schedule
//! ([`crate::sync::backoff::enrol_wait`]).

use std::time::Duration;

use crate::{
    device::{Device, DeviceError},
    sync::{HttpRequest, Method, SyncError, Transport, driver::send_with_retry, get, refused},
    trust::{DeviceCertificate, TrustBundle, TrustPin},
};

impl Device {
    /// Enrols this device with the registry behind `transport` using a supervisor's one-time
    /// `token`. The registry's trust bundle (`GET /v1/trust`) is fetched and checked against
    /// `pin` first; only then is a request that uses the token sent, and the token itself
    /// never is (see [`crate::wire::EnrolRequest`]). Stores the certificate and trust bundle.
    /// Blocking; retried with back-off, and safe to call again after a cut connection.
    pub fn enrol(
        &self,
        transport: &dyn Transport,
        token: &str,
        pin: &TrustPin,
    ) -> Result<DeviceCertificate, SyncError> {
        self.enrol_with_sleep(transport, token, pin, &mut std::thread::sleep)
    }

    /// [`Self::enrol`] with the waiting done by `sleep` (tests use a virtual clock).
    pub fn enrol_with_sleep(
        &self,
        transport: &dyn Transport,
        token: &str,
        pin: &TrustPin,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<DeviceCertificate, SyncError> {
        self.identity()?;
        let trust = send_with_retry(transport, &get("/v1/trust"), sleep)?;
        if trust.status != 200 {
            return Err(refused(&trust));
        }
        let bundle = TrustBundle::from_json(&trust.body)
            .map_err(|e| SyncError::InvalidResponse(format!("the registry's {e}")))?;
        pin.check(&bundle)
            .map_err(|e| DeviceError::Enrolment(e.to_string()))?;
        self.check_can_enrol_with(&bundle)?;
        let request = HttpRequest {
            method: Method::Post,
            path: "/v1/enrol".into(),
            content_type: Some("application/cbor".into()),
            body: self.enrolment_request(token, &bundle.origin)?,
        };
        let response = send_with_retry(transport, &request, sleep)?;
        if response.status != 200 {
            return Err(refused(&response));
        }
        Ok(self.complete_enrolment(&response.body, &bundle)?)
    }
}
