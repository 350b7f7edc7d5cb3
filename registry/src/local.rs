//! An in-process [`Transport`] that hands a device's sync requests straight to a [`Registry`],
//! with no HTTP: for deterministic tests (wrapped with fault injection), benchmarks and
//! simulations. It routes the endpoints a device's sync and enrolment use (`/v1/trust`,
//! `/v1/enrol`, `/v1/batches`, `/v1/checkpoint`, `/v1/revocations`, `/v1/status-list`,
//! `/v1/proof/consistency`), answering with the service's own bodies, status codes and error
//! bodies as [`crate::http`] does; not the auditors' `/v1/proof/inclusion` and
//! `/v1/leaves` (answered 404 here), nor the HTTP server's body limits and rate limiting.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::{
    sync::{HttpRequest, HttpResponse, Method, Transport, TransportError},
    wire::ErrorBody,
};

use crate::{Registry, ServiceError};

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

fn query(path: &str, name: &str) -> Option<u64> {
    let (_, q) = path.split_once('?')?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn ok(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        retry_after_secs: None,
        body,
    }
}

fn failure(e: ServiceError) -> HttpResponse {
    HttpResponse {
        status: e.status,
        retry_after_secs: None,
        body: serde_json::to_vec(&ErrorBody {
            code: e.code.into(),
            message: e.message,
        })
        .unwrap_or_default(),
    }
}

fn proof_json(proof: &[birthright_core::ledger::Hash]) -> Vec<u8> {
    let hashes: Vec<String> = proof.iter().map(|h| B64.encode(h)).collect();
    serde_json::to_vec(&serde_json::json!({ "proof": hashes })).unwrap_or_default()
}

impl Transport for LocalTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let r = &self.registry;
        let route = request.path.split('?').next().unwrap_or("");
        let result = match (request.method, route) {
            (Method::Post, "/v1/batches") => r.ingest(&request.body),
            (Method::Post, "/v1/enrol") => r.enrol(&request.body),
            (Method::Get, "/v1/revocations") => r.revocation_list(),
            (Method::Get, "/v1/status-list") => r.status_list().map(|b| b.as_ref().clone()),
            (Method::Get, "/v1/checkpoint") => r.checkpoint().map(String::into_bytes),
            (Method::Get, "/v1/trust") => Ok(r.trust_bundle().to_json().into_bytes()),
            (Method::Get, "/v1/proof/consistency") => {
                match (query(&request.path, "from"), query(&request.path, "to")) {
                    (Some(from), Some(to)) => r.consistency_proof(from, to).map(|p| proof_json(&p)),
                    _ => Err(ServiceError {
                        status: 400,
                        code: "bad_query",
                        message: "from and to are required".into(),
                    }),
                }
            }
            _ => Err(ServiceError {
                status: 404,
                code: "not_found",
                message: "no such endpoint".into(),
            }),
        };
        Ok(result.map(ok).unwrap_or_else(failure))
    }
}
