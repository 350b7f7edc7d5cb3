//! The registry's HTTP API (axum on tokio). Handlers only translate between HTTP and
//! [`Registry`] calls, which run on the blocking pool (SQLite and signatures), never on the
//! async workers. Every error answer is a JSON [`ErrorBody`].
//!
//! Robustness: a body size limit per route, a per-client token-bucket rate limit (429 with
//! `Retry-After`), a timeout per request, and nothing personal in any log line.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::wire::{ErrorBody, MAX_SEALED_BATCH_BYTES};
use serde::{Deserialize, Serialize};

use crate::{Registry, ServiceError};

/// Largest enrolment request.
pub const MAX_ENROL_BYTES: usize = 16 * 1024;

/// Limits applied to every client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests per second a client may sustain.
    pub requests_per_second: f64,
    /// Requests a client may make in a burst.
    pub burst: f64,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers: a slow-loris client holding
    /// connections open is cut off.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: 20.0,
            burst: 100.0,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(20),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct AppState {
    registry: Arc<Registry>,
    limits: Limits,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

type Shared = Arc<AppState>;

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        code: code.into(),
        message: message.into(),
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        if self.status >= 500 {
            eprintln!("registry: {} {}", self.code, self.message);
        }
        error(self.status, self.code, self.message)
    }
}

/// Runs a registry call on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Registry) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let registry = state.registry.clone();
    tokio::task::spawn_blocking(move || f(&registry))
        .await
        .map_err(|e| ServiceError {
            status: 500,
            code: "internal",
            message: format!("worker failed: {e}"),
        })?
}

fn body_or_error(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ServiceError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServiceError {
                status: 413,
                code: "body_too_large",
                message: format!("request body larger than {limit} bytes"),
            }
        } else {
            ServiceError {
                status: 400,
                code: "bad_body",
                message: rejection.body_text(),
            }
        }
    })
}

fn cbor(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/cbor")], bytes).into_response()
}

async fn trust(State(state): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.registry.trust_bundle().to_json(),
    )
        .into_response()
}

async fn enrol(State(state): State<Shared>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body_or_error(body, MAX_ENROL_BYTES) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match blocking(&state, move |r| r.enrol(&body)).await {
        Ok(bytes) => cbor(bytes),
        Err(e) => e.into_response(),
    }
}

async fn batches(State(state): State<Shared>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body_or_error(body, MAX_SEALED_BATCH_BYTES) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match blocking(&state, move |r| r.ingest(&body)).await {
        Ok(bytes) => cbor(bytes),
        Err(e) => e.into_response(),
    }
}

async fn checkpoint(State(state): State<Shared>) -> Response {
    match blocking(&state, |r| r.checkpoint()).await {
        Ok(note) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revocations(State(state): State<Shared>) -> Response {
    match blocking(&state, |r| r.revocation_list()).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/cose")], bytes).into_response(),
        Err(e) => e.into_response(),
    }
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

/// `GET /v1/proof/inclusion` answer.
#[derive(Serialize)]
pub struct InclusionJson {
    /// Leaf index.
    pub index: u64,
    /// Tree size.
    pub size: u64,
    /// Proof hashes, standard base64.
    pub proof: Vec<String>,
}

/// `GET /v1/proof/consistency` answer.
#[derive(Serialize)]
pub struct ConsistencyJson {
    /// Old size.
    pub from: u64,
    /// New size.
    pub to: u64,
    /// Proof hashes, standard base64.
    pub proof: Vec<String>,
}

/// `GET /v1/leaves` answer.
#[derive(Serialize)]
pub struct LeavesJson {
    /// First index.
    pub start: u64,
    /// Leaf data, standard base64, in order.
    pub leaves: Vec<String>,
}

fn query_error(e: axum::extract::rejection::QueryRejection) -> Response {
    error(400, "bad_query", e.body_text())
}

async fn inclusion(
    State(state): State<Shared>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return query_error(e),
    };
    match blocking(&state, move |r| r.inclusion_proof(q.index, q.size)).await {
        Ok(proof) => axum::Json(InclusionJson {
            index: q.index,
            size: q.size,
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn consistency(
    State(state): State<Shared>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return query_error(e),
    };
    match blocking(&state, move |r| r.consistency_proof(q.from, q.to)).await {
        Ok(proof) => axum::Json(ConsistencyJson {
            from: q.from,
            to: q.to,
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn leaves(
    State(state): State<Shared>,
    q: Result<Query<LeavesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return query_error(e),
    };
    match blocking(&state, move |r| r.leaves(q.start, q.end)).await {
        Ok(leaves) => axum::Json(LeavesJson {
            start: q.start,
            leaves: leaves.iter().map(|l| B64.encode(l)).collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn not_found() -> Response {
    error(404, "not_found", "no such endpoint")
}

/// Per-client token bucket, then a timeout around the handler.
async fn guard(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limits = state.limits;
    let wait = {
        let mut buckets = state.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let now = Instant::now();
        let bucket = buckets.entry(peer.ip()).or_insert(Bucket {
            tokens: limits.burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limits.requests_per_second).min(limits.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(
                ((1.0 - bucket.tokens) / limits.requests_per_second)
                    .ceil()
                    .max(1.0) as u64,
            )
        }
    };
    if let Some(secs) = wait {
        let mut response = error(
            429,
            "rate_limited",
            "too many requests: slow down and retry",
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(503, "timeout", "the request took too long; retry later"),
    }
}

/// The router with every endpoint.
pub fn router(registry: Arc<Registry>, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        registry,
        limits,
        buckets: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/v1/trust", get(trust))
        .route(
            "/v1/enrol",
            post(enrol).layer(DefaultBodyLimit::max(MAX_ENROL_BYTES)),
        )
        .route(
            "/v1/batches",
            post(batches).layer(DefaultBodyLimit::max(MAX_SEALED_BATCH_BYTES)),
        )
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/revocations", get(revocations))
        .route("/v1/proof/inclusion", get(inclusion))
        .route("/v1/proof/consistency", get(consistency))
        .route("/v1/leaves", get(leaves))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves `registry` on `listener` until `shutdown` completes, then lets requests in progress
/// finish (for at most [`Limits::request_timeout`]).
pub async fn serve(
    registry: Arc<Registry>,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    let app = router(registry, limits);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            TowerToHyperService::new(app.clone().layer(axum::Extension(ConnectInfo(peer))));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    let _ = tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Blocking entry point for `birthright registry serve`: binds `listen`, calls `ready` with
/// the bound address, and serves until Ctrl-C or SIGTERM.
pub fn run(
    registry: Registry,
    listen: &str,
    limits: Limits,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        ready(listener.local_addr()?);
        serve(Arc::new(registry), listener, limits, shutdown_signal()).await
    })
}
