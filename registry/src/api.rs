//! The registry's HTTP API as one table of routes and one dispatcher: method, path, query and
//! body in, status, content type, `Retry-After` and body out. The axum server
//! ([`crate::http`]) and the in-process transport ([`crate::local`]) both serve through
//! [`dispatch`], so they answer every endpoint alike, error bodies included; the server adds
//! only what belongs to a network (rate limits, timeouts, the bound on batches opened at once,
//! streaming body limits, request logs).
//!
//! A new endpoint is one [`Route`] in [`ROUTES`] and one handler function here.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
pub use birthright_core::sync::Method;
use birthright_core::wire::{
    ConsistencyJson, ErrorBody, InclusionJson, LeavesJson, MAX_SEALED_BATCH_BYTES, hashes_to_base64,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Registry, ServiceError};

/// Largest enrolment request.
pub const MAX_ENROL_BYTES: usize = 16 * 1024;

/// Seconds a client told `database_unavailable` is asked to wait (the registry reconnects on
/// the next request).
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

/// How the HTTP server schedules a route's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Answered at once (reads, enrolment).
    Plain,
    /// Opening and ingesting a batch: bounded by the server's `max_concurrent_ingests`.
    Ingest,
}

/// What a handler is given: the path, the query string (without `?`, empty when none) and the
/// body.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The path, e.g. `/v1/checkpoint` (what follows a prefix route's path is the handler's to
    /// read).
    pub path: &'a str,
    /// The query string, e.g. `from=1&to=5`.
    pub query: &'a str,
    /// The request body.
    pub body: &'a [u8],
}

/// One endpoint.
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, e.g. `/v1/checkpoint` (also the route name in log lines). A path ending in
    /// `/` is a prefix: it matches every path under it (a family such as tiles).
    pub path: &'static str,
    /// Largest body accepted (413 `body_too_large` beyond); `None`: the body is ignored.
    pub body_limit: Option<usize>,
    /// How the server schedules it.
    pub work: Work,
    handler: fn(&Registry, Call<'_>) -> Result<Answer, ServiceError>,
}

/// An answer: status, content type, `Retry-After` and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Retry-After`, seconds.
    pub retry_after_secs: Option<u64>,
    /// `Cache-Control`, when the answer sets one (the tiles of [`crate::tiles`]).
    pub cache_control: Option<&'static str>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// A 200 answer.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Answer {
            status: 200,
            content_type,
            retry_after_secs: None,
            cache_control: None,
            body,
        }
    }

    fn json(value: &impl Serialize) -> Self {
        // Plain data with string keys: serialising cannot fail.
        Answer::ok(
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }

    /// The JSON [`ErrorBody`] answer.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Answer {
            status,
            content_type: "application/json",
            retry_after_secs: None,
            cache_control: None,
            body: serde_json::to_vec(&ErrorBody {
                code: code.into(),
                message: message.into(),
            })
            .unwrap_or_default(),
        }
    }
}

impl From<ServiceError> for Answer {
    fn from(e: ServiceError) -> Self {
        if e.status >= 500 {
            tracing::error!(code = e.code, message = %e.message, "request failed");
        }
        // Both say: nothing was committed, send it again shortly.
        let retry_soon = e.code == "database_unavailable" || e.code == "busy";
        let mut answer = Answer::error(e.status, e.code, e.message);
        if retry_soon {
            answer.retry_after_secs = Some(DATABASE_RETRY_AFTER_SECS);
        }
        answer
    }
}

/// Every endpoint of the API.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::Get,
        path: "/v1/trust",
        body_limit: None,
        work: Work::Plain,
        handler: trust,
    },
    Route {
        method: Method::Post,
        path: "/v1/enrol",
        body_limit: Some(MAX_ENROL_BYTES),
        work: Work::Plain,
        handler: enrol,
    },
    Route {
        method: Method::Post,
        path: "/v1/batches",
        body_limit: Some(MAX_SEALED_BATCH_BYTES),
        work: Work::Ingest,
        handler: batches,
    },
    Route {
        method: Method::Post,
        path: "/v1/notices",
        body_limit: Some(MAX_ENROL_BYTES),
        work: Work::Plain,
        handler: notices,
    },
    Route {
        method: Method::Get,
        path: "/v1/checkpoint",
        body_limit: None,
        work: Work::Plain,
        handler: checkpoint,
    },
    Route {
        method: Method::Get,
        path: "/v1/revocations",
        body_limit: None,
        work: Work::Plain,
        handler: revocations,
    },
    Route {
        method: Method::Get,
        path: "/v1/status-list",
        body_limit: None,
        work: Work::Plain,
        handler: status_list,
    },
    Route {
        method: Method::Get,
        path: "/v1/proof/inclusion",
        body_limit: None,
        work: Work::Plain,
        handler: inclusion,
    },
    Route {
        method: Method::Get,
        path: "/v1/proof/consistency",
        body_limit: None,
        work: Work::Plain,
        handler: consistency,
    },
    Route {
        method: Method::Get,
        path: "/v1/leaves",
        body_limit: None,
        work: Work::Plain,
        handler: leaves,
    },
    Route {
        method: Method::Get,
        path: "/tlog/checkpoint",
        body_limit: None,
        work: Work::Plain,
        handler: crate::tiles::checkpoint_answer,
    },
    // A prefix: every tile and entry bundle (`/tlog/tile/<L>/<N>[.p/<W>]`).
    Route {
        method: Method::Get,
        path: "/tlog/tile/",
        body_limit: None,
        work: Work::Plain,
        handler: crate::tiles::tile_answer,
    },
];

/// The route for `method` and `path` (without the query), or the answer when there is none:
/// 404 `not_found` for an unknown path, 405 `method_not_allowed` for a known path with
/// another method.
pub fn route(method: Option<Method>, path: &str) -> Result<&'static Route, Answer> {
    let mut known_path = false;
    for route in ROUTES {
        let matches = match route.path.strip_suffix('/') {
            Some(_) => path.len() > route.path.len() && path.starts_with(route.path),
            None => route.path == path,
        };
        if matches {
            if Some(route.method) == method {
                return Ok(route);
            }
            known_path = true;
        }
    }
    Err(if known_path {
        Answer::error(
            405,
            "method_not_allowed",
            "this endpoint does not take that method",
        )
    } else {
        Answer::error(404, "not_found", "no such endpoint")
    })
}

/// The 413 answer for a body over `limit`.
pub fn body_too_large(limit: usize) -> Answer {
    Answer::error(
        413,
        "body_too_large",
        format!("request body larger than {limit} bytes"),
    )
}

impl Route {
    /// Answers `call` with `registry` (the body already within [`Route::body_limit`]).
    pub fn answer(&self, registry: &Registry, call: Call<'_>) -> Answer {
        (self.handler)(registry, call).unwrap_or_else(Answer::from)
    }
}

/// Answers one request: `method` (`None`: one the API does not use), `path` and `query`
/// (without `?`) and the body.
pub fn dispatch(
    registry: &Registry,
    method: Option<Method>,
    path: &str,
    query: &str,
    body: &[u8],
) -> Answer {
    let route = match route(method, path) {
        Ok(route) => route,
        Err(answer) => return answer,
    };
    if let Some(limit) = route.body_limit
        && body.len() > limit
    {
        return body_too_large(limit);
    }
    route.answer(registry, Call { path, query, body })
}

/// Splits `path?query` into the path and the query (empty when none).
pub fn split_query(path_and_query: &str) -> (&str, &str) {
    path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""))
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ServiceError> {
    serde_urlencoded::from_str(query).map_err(|e| ServiceError {
        status: 400,
        code: "bad_query",
        message: format!("Failed to deserialize query string: {e}"),
    })
}

fn trust(registry: &Registry, _: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok(
        "application/json",
        registry.trust_bundle().to_json().into_bytes(),
    ))
}

fn enrol(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok("application/cbor", registry.enrol(call.body)?))
}

fn batches(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok("application/cbor", registry.ingest(call.body)?))
}

fn notices(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok("application/cbor", registry.notices(call.body)?))
}

fn checkpoint(registry: &Registry, _: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok(
        "text/plain; charset=utf-8",
        registry.checkpoint()?.into_bytes(),
    ))
}

fn revocations(registry: &Registry, _: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok("application/cose", registry.revocation_list()?))
}

fn status_list(registry: &Registry, _: Call<'_>) -> Result<Answer, ServiceError> {
    Ok(Answer::ok(
        "application/statuslist+cwt",
        registry.status_list()?.as_ref().clone(),
    ))
}

#[derive(Deserialize)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

#[derive(Deserialize)]
struct LeavesQuery {
    start: u64,
    end: u64,
}

fn inclusion(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    let q: InclusionQuery = parse_query(call.query)?;
    let proof = registry.inclusion_proof(q.index, q.size)?;
    Ok(Answer::json(&InclusionJson {
        index: q.index,
        size: q.size,
        proof: hashes_to_base64(&proof),
    }))
}

fn consistency(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    let q: ConsistencyQuery = parse_query(call.query)?;
    let proof = registry.consistency_proof(q.from, q.to)?;
    Ok(Answer::json(&ConsistencyJson {
        from: q.from,
        to: q.to,
        proof: hashes_to_base64(&proof),
    }))
}

fn leaves(registry: &Registry, call: Call<'_>) -> Result<Answer, ServiceError> {
    let q: LeavesQuery = parse_query(call.query)?;
    let leaves = registry.leaves(q.start, q.end)?;
    Ok(Answer::json(&LeavesJson {
        start: q.start,
        leaves: leaves.iter().map(|l| B64.encode(l)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!((a.method, a.path) != (b.method, b.path), "{} twice", a.path);
            }
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(
            route(Some(Method::Get), "/v1/nothing")
                .err()
                .map(|a| a.status),
            Some(404)
        );
        assert_eq!(
            route(Some(Method::Post), "/v1/checkpoint")
                .err()
                .map(|a| a.status),
            Some(405)
        );
        assert_eq!(
            route(None, "/v1/checkpoint").err().map(|a| a.status),
            Some(405)
        );
        assert!(route(Some(Method::Get), "/v1/checkpoint").is_ok());
        assert_eq!(
            split_query("/v1/leaves?start=0&end=2"),
            ("/v1/leaves", "start=0&end=2")
        );
        assert_eq!(split_query("/v1/trust"), ("/v1/trust", ""));
    }
}
