//! The CLI's HTTP transport for sync and enrolment (ureq, blocking, with timeouts).

use std::time::Duration;

use birthright_core::sync::{HttpRequest, HttpResponse, Method, Transport, TransportError};

/// A blocking HTTP client bound to one registry base URL.
pub struct UreqTransport {
    base: String,
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport for the registry at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build();
        UreqTransport {
            base: base.trim_end_matches('/').to_string(),
            agent: config.into(),
        }
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = format!("{}{}", self.base, request.path);
        let result = match request.method {
            Method::Get => self.agent.get(&url).call(),
            Method::Post => {
                let mut post = self.agent.post(&url);
                if let Some(ct) = &request.content_type {
                    post = post.header("content-type", ct);
                }
                post.send(&request.body[..])
            }
        };
        let mut response = result.map_err(|e| TransportError {
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let retry_after_secs = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response
            .body_mut()
            .with_config()
            .limit(birthright_core::wire::MAX_SEALED_RESPONSE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| TransportError {
                message: format!("reading the answer: {e}"),
            })?;
        Ok(HttpResponse {
            status,
            retry_after_secs,
            body,
        })
    }
}
