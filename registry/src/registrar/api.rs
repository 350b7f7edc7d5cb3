//! The registrars' JSON API under `/api/registrar/v1/` (axum), mounted by [`crate::http`].
//! Handlers translate between HTTP and [`Registrar`] calls, run on the blocking pool (Argon2
//! and the database), and answer errors as the registry's JSON [`ErrorBody`].
//!
//! Order of checks on a route that needs a session: the session cookie (401
//! `unauthenticated` / `session_expired`), then for a state-changing request the
//! `X-CSRF-Token` header (403 `csrf`), then a pending first step (403
//! `password_change_required` / `totp_enrolment_required`), then role and region (403).
//! Request bodies are JSON (`Content-Type: application/json`, else 415), at most
//! [`MAX_BODY_BYTES`]. The routes are [`ROUTES`], from which both the router and the OpenAPI
//! document's test are made.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Router,
    body::Bytes,
    extract::{
        ConnectInfo, DefaultBodyLimit, Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use birthright_core::wire::ErrorBody;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;
use uuid::Uuid;

use super::{
    Registrar, RegistrarError, access,
    records::Filter,
    review::{DecisionBody, QueueFilter},
    sessions::{COOKIE, LoginRequest, Session},
};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the API is mounted.
pub const PREFIX: &str = "/api/registrar/v1";

/// The time source: Unix seconds (tests move it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// Who may say what about the client, copied from [`crate::http::Limits`].
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    /// The header with the client's address, honoured from loopback and `proxies`.
    pub header: Option<HeaderName>,
    /// Trusted proxies besides loopback.
    pub proxies: Vec<IpAddr>,
}

/// The API's state.
pub struct ApiState {
    registrar: Arc<Registrar>,
    proxy: ProxyTrust,
    limits: crate::http::Limits,
}

type Shared = Arc<ApiState>;

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /login`.
    Login,
    /// `POST /logout`.
    Logout,
    /// `POST /password`.
    Password,
    /// `POST /totp/enrol`.
    TotpEnrol,
    /// `POST /totp/confirm`.
    TotpConfirm,
    /// `GET /me`.
    Me,
    /// `GET /records`.
    Records,
    /// `GET /records/{id}`.
    Record,
    /// `GET /queue`.
    Queue,
    /// `POST /records/{id}/decision`.
    Decision,
    /// `GET /audit`.
    Audit,
    /// `GET /openapi.json`.
    OpenApi,
}

/// Every route: endpoint, method (lower case, as OpenAPI writes it), path under [`PREFIX`].
pub const ROUTES: &[(Endpoint, &str, &str)] = &[
    (Endpoint::Login, "post", "/login"),
    (Endpoint::Logout, "post", "/logout"),
    (Endpoint::Password, "post", "/password"),
    (Endpoint::TotpEnrol, "post", "/totp/enrol"),
    (Endpoint::TotpConfirm, "post", "/totp/confirm"),
    (Endpoint::Me, "get", "/me"),
    (Endpoint::Records, "get", "/records"),
    (Endpoint::Record, "get", "/records/{id}"),
    (Endpoint::Queue, "get", "/queue"),
    (Endpoint::Decision, "post", "/records/{id}/decision"),
    (Endpoint::Audit, "get", "/audit"),
    (Endpoint::OpenApi, "get", "/openapi.json"),
];

fn method_router(endpoint: Endpoint) -> MethodRouter<Shared> {
    match endpoint {
        Endpoint::Login => post(login),
        Endpoint::Logout => post(logout),
        Endpoint::Password => post(change_password),
        Endpoint::TotpEnrol => post(totp_enrol),
        Endpoint::TotpConfirm => post(totp_confirm),
        Endpoint::Me => get(me),
        Endpoint::Records => get(records),
        Endpoint::Record => get(record),
        Endpoint::Queue => get(queue),
        Endpoint::Decision => post(decision),
        Endpoint::Audit => get(audit),
        Endpoint::OpenApi => get(openapi),
    }
}

/// The API's router (paths relative to [`PREFIX`]), for any outer state.
pub fn router<S: Clone + Send + Sync + 'static>(
    registrar: Arc<Registrar>,
    limits: &crate::http::Limits,
) -> Router<S> {
    let state = Arc::new(ApiState {
        registrar,
        proxy: ProxyTrust {
            header: limits.trusted_proxy_header.clone(),
            proxies: limits.trusted_proxies.clone(),
        },
        limits: limits.clone(),
    });
    ROUTES
        .iter()
        .fold(Router::new(), |router, (endpoint, _, path)| {
            router.route(path, method_router(*endpoint))
        })
        .fallback(|| async { error(RegistrarError::new(404, "not_found", "no such endpoint")) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn error(e: RegistrarError) -> Response {
    if e.status >= 500 {
        tracing::error!(code = e.code, message = %e.message, "registrar request failed");
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        axum::Json(ErrorBody {
            code: e.code.into(),
            message: e.message,
        }),
    )
        .into_response();
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

impl IntoResponse for RegistrarError {
    fn into_response(self) -> Response {
        error(self)
    }
}

/// What every handler learns about the request.
struct Context {
    address: String,
    https: bool,
    token: Option<String>,
    csrf: Option<String>,
}

fn context(state: &ApiState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Context {
    let peer_ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
    let address = crate::http::client_address(peer_ip, headers, &state.limits);
    let trusted = state.proxy.header.is_some()
        && (peer_ip.is_loopback() || state.proxy.proxies.contains(&peer_ip));
    let https = trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string());
    let csrf = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Context {
        address: address.to_string(),
        https,
        token,
        csrf,
    }
}

fn peer(info: Option<axum::Extension<ConnectInfo<SocketAddr>>>) -> Option<SocketAddr> {
    info.map(|axum::Extension(ConnectInfo(addr))| addr)
}

/// Runs `f` on the blocking pool with the registrar and the time.
async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Registrar, i64) -> Result<T, RegistrarError> + Send + 'static,
) -> Result<T, RegistrarError> {
    let registrar = state.registrar.clone();
    let now = registrar.now();
    tokio::task::spawn_blocking(move || f(&registrar, now))
        .await
        .map_err(|e| RegistrarError::new(500, "internal", format!("worker failed: {e}")))?
}

/// The session of the request, checked as the module documentation says.
fn session_of(
    registrar: &Registrar,
    ctx: &Context,
    now: i64,
    state_changing: bool,
    allow_pending: bool,
) -> Result<Session, RegistrarError> {
    let session = registrar.authenticate(ctx.token.as_deref(), now)?;
    if state_changing && !session.csrf_ok(ctx.csrf.as_deref()) {
        return Err(RegistrarError::new(
            403,
            "csrf",
            "this request needs the session's CSRF token in the X-CSRF-Token header",
        ));
    }
    if !allow_pending && let Some(e) = session.pending_step() {
        return Err(e);
    }
    Ok(session)
}

fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, RegistrarError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(RegistrarError::new(
            415,
            "unsupported_media_type",
            "send the request body as JSON (Content-Type: application/json)",
        ));
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RegistrarError::new(
                413,
                "body_too_large",
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            RegistrarError::bad_request("bad_body", r.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        // serde_json's message names the field and position, never the value.
        RegistrarError::bad_request("bad_body", format!("the JSON body is not as expected: {e}"))
    })
}

fn session_cookie(token: &str, max_age: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("birthright_session=; Max-Age=0"))
}

fn session_json(session: &Session) -> serde_json::Value {
    let user = &session.user;
    json!({
        "csrf_token": session.csrf_token,
        "user": user.username,
        "roles": user.roles,
        "regions": user.regions,
        "must_change_password": user.must_change_password,
        "totp_enrolled": user.totp_secret.is_some(),
        "totp_enrolment_required": access::has(user, access::Role::Admin) && user.totp_secret.is_none(),
    })
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn login(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let body: LoginBody = match json_body(&headers, body) {
        Ok(b) => b,
        Err(e) => return error(e),
    };
    let https = ctx.https;
    let result = blocking(&state, move |r, now| {
        let ok = r.login(
            &LoginRequest {
                username: &body.username,
                password: &body.password,
                totp: body.totp.as_deref(),
                address: &ctx.address,
            },
            now,
        )?;
        Ok((ok, r.config().session_lifetime_secs))
    })
    .await;
    match result {
        Ok((ok, lifetime)) => {
            let mut response = axum::Json(session_json(&ok.session)).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&ok.token, lifetime, https),
            );
            no_store(response)
        }
        Err(e) => error(e),
    }
}

async fn logout(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let https = ctx.https;
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, true, true)?;
        r.logout(&session, &ctx.address, now)
    })
    .await
    {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie("", 0, https));
            response
        }
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<PasswordBody, _> = json_body(&headers, body);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, true, true)?;
        let body = parsed?;
        r.change_password(
            &session,
            &body.current_password,
            &body.new_password,
            &ctx.address,
            now,
        )
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn totp_enrol(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, true, true)?;
        if session.user.must_change_password {
            return Err(session
                .pending_step()
                .unwrap_or_else(RegistrarError::unauthenticated));
        }
        r.totp_enrol(&session, &ctx.address, now)
    })
    .await
    {
        Ok((secret, uri)) => {
            no_store(axum::Json(json!({ "secret": *secret, "otpauth_uri": *uri })).into_response())
        }
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn totp_confirm(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<CodeBody, _> = json_body(&headers, body);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, true, true)?;
        if session.user.must_change_password {
            return Err(session
                .pending_step()
                .unwrap_or_else(RegistrarError::unauthenticated));
        }
        r.totp_confirm(&session, &parsed?.code, &ctx.address, now)
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn me(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    match blocking(&state, move |r, now| session_of(r, &ctx, now, false, true)).await {
        Ok(session) => no_store(axum::Json(session_json(&session)).into_response()),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    query: Option<String>,
    dob: Option<String>,
    region: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

fn query_error(e: QueryRejection) -> RegistrarError {
    RegistrarError::bad_request("bad_query", e.body_text())
}

fn empty_none(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

async fn records(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    q: Result<Query<RecordsQuery>, QueryRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let q = q.map_err(query_error);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, false, false)?;
        let Query(q) = q?;
        let filter = Filter {
            query: empty_none(q.query),
            dob: empty_none(q.dob),
            region: empty_none(q.region),
            status: empty_none(q.status),
            limit: q.limit,
        };
        r.search(&session, &filter, &ctx.address, now)
    })
    .await
    {
        Ok(list) => no_store(axum::Json(json!({ "records": list })).into_response()),
        Err(e) => error(e),
    }
}

async fn record(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let id = id
        .ok()
        .and_then(|Path(id)| Uuid::parse_str(&id).ok())
        .ok_or_else(|| RegistrarError::bad_request("bad_id", "a record id is a UUID"));
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, false, false)?;
        r.record(&session, &id?, &ctx.address, now)
    })
    .await
    {
        Ok(view) => no_store(axum::Json(view).into_response()),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueQuery {
    reason: Option<String>,
    region: Option<String>,
    device: Option<String>,
    min_age_days: Option<i64>,
    max_age_days: Option<i64>,
    limit: Option<usize>,
}

async fn queue(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    q: Result<Query<QueueQuery>, QueryRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let q = q.map_err(query_error);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, false, false)?;
        let Query(q) = q?;
        let filter = QueueFilter {
            reason: empty_none(q.reason),
            region: empty_none(q.region),
            device: empty_none(q.device),
            min_age_days: q.min_age_days,
            max_age_days: q.max_age_days,
            limit: q.limit,
        };
        r.queue(&session, &filter, &ctx.address, now)
    })
    .await
    {
        Ok(queue) => no_store(axum::Json(queue).into_response()),
        Err(e) => error(e),
    }
}

async fn decision(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let id = id
        .ok()
        .and_then(|Path(id)| Uuid::parse_str(&id).ok())
        .ok_or_else(|| RegistrarError::bad_request("bad_id", "a record id is a UUID"));
    let parsed: Result<DecisionBody, _> = json_body(&headers, body);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, true, false)?;
        r.decide(&session, &id?, &parsed?, &ctx.address, now)
    })
    .await
    {
        Ok(answer) => no_store(axum::Json(answer).into_response()),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// Most audit entries per page.
pub const MAX_AUDIT_PAGE: u32 = 1000;

async fn audit(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let q = q.map_err(query_error);
    match blocking(&state, move |r, now| {
        let session = session_of(r, &ctx, now, false, false)?;
        access::require_auditor(&session.user)?;
        let Query(q) = q?;
        let limit = q.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE);
        let entries = r.store().audit(q.after.unwrap_or(0), limit)?;
        r.audit(
            now,
            Some(&session.user.username),
            "audit_read",
            None,
            Some(&ctx.address),
        )?;
        Ok(entries)
    })
    .await
    {
        Ok(entries) => {
            let next = entries.last().map(|e| e.seq);
            let entries: Vec<_> = entries
                .iter()
                .map(|e| {
                    json!({
                        "seq": e.seq,
                        "at": super::rfc3339(e.at),
                        "actor": e.actor,
                        "action": e.action,
                        "target": e.target,
                        "address": e.address,
                    })
                })
                .collect();
            no_store(axum::Json(json!({ "entries": entries, "next_after": next })).into_response())
        }
        Err(e) => error(e),
    }
}

async fn openapi() -> Response {
    axum::Json(super::openapi::document()).into_response()
}
