//! An in-process [`Transport`] that hands a device's requests straight to a [`Registry`], with
//! no HTTP: for deterministic tests (wrapped with fault injection), benchmarks and simulations.
//! It answers through the same route table and dispatcher as the HTTP server
//! ([`crate::api::dispatch`]), so every endpoint, status, body and error body is the server's,
//! body limits included; only the network's hardening (rate limits, timeouts, the bound on
//! batches opened at once) is the server's alone.

use std::sync::Arc;

use birthright_core::sync::{HttpRequest, HttpResponse, Transport, TransportError};

use crate::{Registry, api};

/// Routes requests to a registry in the same process.
#[derive(Clone)]
pub struct LocalTransport {
    registry: Arc<Registry>,
}

impl LocalTransport {
    /// A transport to `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        LocalTransport { registry }
    }
}

impl Transport for LocalTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let (path, query) = api::split_query(&request.path);
        let answer = api::dispatch(
            &self.registry,
            Some(request.method),
            path,
            query,
            &request.body,
        );
        Ok(HttpResponse {
            status: answer.status,
            retry_after_secs: answer.retry_after_secs,
            body: answer.body,
        })
    }
}
