//! The registry's HTTP server (axum on tokio) over the one route table and dispatcher of
//! [`crate::api`]: every request is answered by [`api::Route::answer`] on the blocking pool
//! (SQLite and signatures), never on the async workers. Every error answer is a JSON
//! [`birthright_core::wire::ErrorBody`].
//!
//! Robustness: a body size limit per route, a per-client token-bucket rate limit (429 with
//! `Retry-After`) over a bounded table of clients (least recently seen evicted first), a
//! bound on batches opened at once (503 with `Retry-After`), a timeout per request, and nothing
//! personal in any log line. Behind a reverse proxy, the client's address can be taken from a
//! configured header, honoured only from loopback or configured proxy addresses.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use crate::{
    Registry, ServiceError,
    api::{self, Answer, Call, Method, Work},
};

pub use crate::api::MAX_ENROL_BYTES;
pub use axum::http::HeaderName;
pub use birthright_core::wire::{ConsistencyJson, InclusionJson, LeavesJson};

/// Limits applied to every client.
#[derive(Debug, Clone)]
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
    /// Batches opened and processed at once; beyond, `POST /v1/batches` is answered 503
    /// `busy` with `Retry-After` (each can take tens of MB while it is opened).
    pub max_concurrent_ingests: usize,
    /// Clients whose rate-limit buckets are kept; beyond, the least recently seen is dropped.
    pub max_clients: usize,
    /// A header carrying the client's address set by a reverse proxy (e.g.
    /// `X-Forwarded-For`; its last entry is used), honoured only on connections from loopback
    /// or from [`Self::trusted_proxies`]. `None`: the peer address is the client.
    pub trusted_proxy_header: Option<HeaderName>,
    /// Proxy addresses, besides loopback, whose [`Self::trusted_proxy_header`] is honoured.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: 20.0,
            burst: 100.0,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(20),
            max_concurrent_ingests: 4,
            max_clients: 100_000,
            trusted_proxy_header: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Seconds a client told `busy` is asked to wait.
const BUSY_RETRY_AFTER_SECS: u64 = 2;

struct Bucket {
    tokens: f64,
    at: Instant,
    /// When it was last used, in [`Buckets::tick`]s: its key in [`Buckets::order`].
    used: u64,
}

/// Token buckets per client, at most `capacity`, the least recently used dropped first (so a
/// flood of new addresses never resets the bucket of a client being limited right now).
pub(crate) struct Buckets {
    map: HashMap<IpAddr, Bucket>,
    order: BTreeMap<u64, IpAddr>,
    tick: u64,
    capacity: usize,
}

impl Buckets {
    pub(crate) fn new(capacity: usize) -> Self {
        Buckets {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    /// Takes a token for `client`: `None` if it may go ahead, or the seconds to wait.
    pub(crate) fn take(
        &mut self,
        client: IpAddr,
        now: Instant,
        requests_per_second: f64,
        burst: f64,
    ) -> Option<u64> {
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        if let Some(bucket) = self.map.get_mut(&client) {
            self.order.remove(&bucket.used);
            bucket.used = tick;
        } else {
            while self.map.len() >= self.capacity {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                self.map.remove(&oldest);
            }
            self.map.insert(
                client,
                Bucket {
                    tokens: burst,
                    at: now,
                    used: tick,
                },
            );
        }
        self.order.insert(tick, client);
        let bucket = self.map.get_mut(&client)?;
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * requests_per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(
                ((1.0 - bucket.tokens) / requests_per_second)
                    .ceil()
                    .clamp(1.0, 86_400.0) as u64,
            )
        }
    }
}

/// The client's address: the peer's, or the last entry of the trusted proxy header when the
/// peer is loopback or a configured proxy (anyone else could write any address there).
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, limits: &Limits) -> IpAddr {
    let Some(name) = &limits.trusted_proxy_header else {
        return peer;
    };
    if !(peer.is_loopback() || limits.trusted_proxies.contains(&peer)) {
        return peer;
    }
    headers
        .get_all(name)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .and_then(|v| {
            v.parse::<IpAddr>()
                .ok()
                .or_else(|| v.parse::<SocketAddr>().ok().map(|a| a.ip()))
        })
        .unwrap_or(peer)
}

struct AppState {
    registry: Arc<Registry>,
    limits: Limits,
    buckets: Mutex<Buckets>,
    ingests: Arc<Semaphore>,
}

type Shared = Arc<AppState>;

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response();
        if let Some(cache) = self.cache_control {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    Answer::error(status, code, message).into_response()
}

/// The API method of an HTTP method (`HEAD` is answered as `GET`, without the body).
fn api_method(method: &axum::http::Method) -> Option<Method> {
    match *method {
        axum::http::Method::GET | axum::http::Method::HEAD => Some(Method::Get),
        axum::http::Method::POST => Some(Method::Post),
        _ => None,
    }
}

/// Every request: finds its route in [`api::ROUTES`], reads its body within the route's limit,
/// bounds batch ingests, and answers through [`api::Route::answer`] on the blocking pool
/// (SQLite and signatures never run on the async workers).
async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let route = match api::route(api_method(&parts.method), parts.uri.path()) {
        Ok(route) => route,
        Err(answer) => return answer.into_response(),
    };
    let body = match route.body_limit {
        Some(limit) => match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => bytes,
            Err(e) if is_too_large(&e) => return api::body_too_large(limit).into_response(),
            Err(e) => {
                return error(
                    400,
                    "bad_body",
                    format!("the request body could not be read: {e}"),
                );
            }
        },
        None => Bytes::new(),
    };
    // Held until the blocking work ends, even if the request times out meanwhile.
    let permit = match route.work {
        Work::Plain => None,
        Work::Ingest => match state.ingests.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let mut response = error(
                    503,
                    "busy",
                    "the registry is processing as many batches as it can: retry shortly",
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(BUSY_RETRY_AFTER_SECS),
                );
                return response;
            }
        },
    };
    let registry = state.registry.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    // The request's span follows the work, so what the service records (the device's key id)
    // reaches the request's log line.
    let span = tracing::Span::current();
    let answer = tokio::task::spawn_blocking(move || {
        let answer = span.in_scope(|| {
            route.answer(
                &registry,
                Call {
                    path: &path,
                    query: &query,
                    body: &body,
                },
            )
        });
        drop(permit);
        answer
    })
    .await
    .unwrap_or_else(|e| {
        Answer::from(ServiceError {
            status: 500,
            code: "internal",
            message: format!("worker failed: {e}"),
        })
    });
    answer.into_response()
}

/// Whether a body read failed on the length limit (not on the connection).
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The seconds a client must wait before this request is served, if its token bucket is
/// empty (the client as [`client_address`] tells it, behind a trusted proxy too).
pub(crate) fn rate_limit_wait(
    buckets: &Mutex<Buckets>,
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
    limits: &Limits,
) -> Option<u64> {
    let client = client_address(peer.ip(), headers, limits);
    // The buckets are plain counters: a panic elsewhere cannot leave them inconsistent.
    buckets.lock().unwrap_or_else(|e| e.into_inner()).take(
        client,
        Instant::now(),
        limits.requests_per_second,
        limits.burst,
    )
}

/// Per-client token bucket, then a timeout around the handler.
async fn guard(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let wait = rate_limit_wait(&state.buckets, peer, request.headers(), limits);
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
    let timeout = limits.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(503, "timeout", "the request took too long; retry later"),
    }
}

/// The route for a request's log line: the route's path in [`api::ROUTES`]
/// (`/v1/proof/inclusion`), never the raw path or query.
fn route_of(request: &Request) -> String {
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return path.as_str().to_string();
    }
    api::route(api_method(request.method()), request.uri().path())
        .map_or("(no such route)", |route| route.path)
        .to_string()
}

/// One log line per request, through `tracing` at info level: method, route template, status,
/// duration and, once the service knows it, the device's key id. Never a body, a query, a
/// name or an address.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_of(&request),
        device_kid = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "answered"
        );
    });
    response
}

/// Records the device a request is from in its log line.
pub fn log_device_kid(kid: &birthright_core::keys::KeyId) {
    tracing::Span::current().record("device_kid", tracing::field::display(kid));
}

/// The router: every endpoint of [`api::ROUTES`] behind the limits.
pub fn router(registry: Arc<Registry>, limits: Limits) -> Router {
    router_with(registry, limits, None)
}

/// [`router`], with the registrars' API under `/api/registrar/v1/` and their web workspace
/// under `/registrar/` when `registrar` is given.
pub fn router_with(
    registry: Arc<Registry>,
    limits: Limits,
    registrar: Option<Arc<crate::registrar::Registrar>>,
) -> Router {
    let registrar_api = registrar.map(|r| {
        (
            crate::registrar::api::router(r.clone(), &limits),
            crate::registrar::web::router(r, &limits),
        )
    });
    let state = Arc::new(AppState {
        registry,
        buckets: Mutex::new(Buckets::new(limits.max_clients)),
        ingests: Arc::new(Semaphore::new(limits.max_concurrent_ingests)),
        limits,
    });
    // Every route is in api::ROUTES: add an endpoint there, not here (the registrars' API
    // has its own table, registrar::api::ROUTES).
    let app = match registrar_api {
        Some((api, web)) => Router::new()
            .nest(crate::registrar::api::PREFIX, api)
            .nest(crate::registrar::web::PREFIX, web),
        None => Router::new(),
    };
    app.fallback(handle)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn(log_request))
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
    serve_with(registry, None, listener, limits, shutdown).await
}

/// [`serve`], with the registrars' API when `registrar` is given.
pub async fn serve_with(
    registry: Arc<Registry>,
    registrar: Option<Arc<crate::registrar::Registrar>>,
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (header_read_timeout, request_timeout) =
        (limits.header_read_timeout, limits.request_timeout);
    let app = router_with(registry, limits, registrar);
    serve_router(
        app,
        listener,
        header_read_timeout,
        request_timeout,
        shutdown,
    )
    .await
}

/// Serves `app` on `listener` (HTTP/1.1, keep-alive, headers read within
/// `header_read_timeout`) until `shutdown`, then lets requests finish for `request_timeout`.
pub(crate) async fn serve_router(
    app: Router,
    listener: tokio::net::TcpListener,
    header_read_timeout: Duration,
    request_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
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
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    let _ = tokio::time::timeout(request_timeout, graceful.shutdown()).await;
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
    run_with(Arc::new(registry), None, listen, limits, ready)
}

/// [`run`], with the registrars' API when `registrar` is given.
pub fn run_with(
    registry: Arc<Registry>,
    registrar: Option<Arc<crate::registrar::Registrar>>,
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
        serve_with(registry, registrar, listener, limits, shutdown_signal()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_new_addresses_never_resets_a_limited_client() {
        let mut buckets = Buckets::new(3);
        let now = Instant::now();
        let limited: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(buckets.take(limited, now, 0.001, 2.0), None);
        assert_eq!(buckets.take(limited, now, 0.001, 2.0), None);
        assert!(buckets.take(limited, now, 0.001, 2.0).is_some());
        for i in 0..1000u32 {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(buckets.take(other, now, 0.001, 2.0), None);
            assert!(
                buckets.take(limited, now, 0.001, 2.0).is_some(),
                "reset after {i} new addresses"
            );
            assert!(buckets.map.len() <= 3 && buckets.order.len() == buckets.map.len());
        }
    }

    #[test]
    fn the_proxy_header_is_honoured_only_from_trusted_peers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.7, 203.0.113.9"),
        );
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.50".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let mut limits = Limits::default();
        // Not configured: the header is ignored.
        assert_eq!(client_address(loopback, &headers, &limits), loopback);
        limits.trusted_proxy_header = Some(HeaderName::from_static("x-forwarded-for"));
        limits.trusted_proxies = vec![proxy];
        assert_eq!(client_address(loopback, &headers, &limits), client);
        assert_eq!(client_address(proxy, &headers, &limits), client);
        // Anyone else could write any address there.
        assert_eq!(client_address(stranger, &headers, &limits), stranger);
        // Garbage in the header: the peer.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not an address"),
        );
        assert_eq!(client_address(proxy, &headers, &limits), proxy);
    }
}
