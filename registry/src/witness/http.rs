//! The witness's HTTP interface (C2SP tlog-witness): `POST /add-checkpoint` and the monitoring
//! read `GET /<origin hash>/checkpoint`. The same hardening as the registry's API: a body
//! limit, a per-client token bucket (429 with `Retry-After`), a timeout per request, a header
//! read timeout, and log lines without bodies or addresses.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use birthright_core::ledger::witness::{CONTENT_TYPE_SIZE, MAX_ADD_CHECKPOINT_BYTES, Refusal};

use super::{Witness, WitnessError};
use crate::http::{Buckets, Limits, log_request, rate_limit_wait, serve_router, shutdown_signal};

struct AppState {
    witness: Arc<Witness>,
    limits: Limits,
    buckets: Mutex<Buckets>,
}

type Shared = Arc<AppState>;

fn text(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn refusal(r: &Refusal) -> Response {
    match r {
        Refusal::Conflict { latest } => {
            let mut response = text(409, format!("{latest}\n"));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_SIZE),
            );
            response
        }
        other => text(other.status(), format!("{other}\n")),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
}

async fn add_checkpoint(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return text(e.status().as_u16(), format!("{}\n", e.body_text())),
    };
    let witness = state.witness.clone();
    let result = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now())).await;
    match result {
        Ok(Ok(lines)) => text(200, lines),
        Ok(Err(WitnessError::Refused(r))) => {
            tracing::info!(status = r.status(), "checkpoint refused");
            refusal(&r)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "add-checkpoint failed");
            text(500, "the witness could not record the checkpoint\n")
        }
        Err(_) => text(500, "internal error\n"),
    }
}

async fn latest(State(state): State<Shared>, Path(origin_hash): Path<String>) -> Response {
    if origin_hash.len() != 64 || !origin_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return text(404, "not found\n");
    }
    let witness = state.witness.clone();
    match tokio::task::spawn_blocking(move || witness.latest_checkpoint(&origin_hash)).await {
        Ok(Ok(Some(note))) => text(200, note),
        Ok(Ok(None)) => text(404, "this witness never cosigned that log\n"),
        _ => text(500, "internal error\n"),
    }
}

async fn not_found() -> Response {
    text(404, "no such endpoint\n")
}

async fn guard(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let wait = rate_limit_wait(&state.buckets, peer, request.headers(), limits);
    if let Some(secs) = wait {
        let mut response = text(429, "too many requests: slow down and retry\n");
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => text(503, "the request took too long; retry later\n"),
    }
}

/// The witness's router.
pub fn router(witness: Arc<Witness>, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        witness,
        buckets: Mutex::new(Buckets::new(limits.max_clients)),
        limits,
    });
    Router::new()
        .route(
            "/add-checkpoint",
            post(add_checkpoint).layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES)),
        )
        .route("/{origin_hash}/checkpoint", get(latest))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Serves `witness` on `listener` until `shutdown` completes.
pub async fn serve(
    witness: Arc<Witness>,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (header_read_timeout, request_timeout) =
        (limits.header_read_timeout, limits.request_timeout);
    serve_router(
        router(witness, limits),
        listener,
        header_read_timeout,
        request_timeout,
        shutdown,
    )
    .await
}

/// Blocking entry point for `birthright witness serve`: binds `listen`, calls `ready` with the
/// bound address, and serves until Ctrl-C or SIGTERM.
pub fn run(
    witness: Witness,
    listen: &str,
    limits: Limits,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        ready(listener.local_addr()?);
        serve(Arc::new(witness), listener, limits, shutdown_signal()).await
    })
}
