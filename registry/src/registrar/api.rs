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
    statistics::{Statistics, StatisticsFilter},
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
    /// `GET /statistics`.
    Statistics,
    /// `GET /statistics.csv`.
    StatisticsCsv,
    /// `GET /audit`.
    Audit,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /devices`.
    Devices,
    /// `POST /devices/{kid}/revoke`.
    DeviceRevoke,
    /// `GET /tokens`.
    Tokens,
    /// `POST /tokens`.
    TokenCreate,
    /// `POST /tokens/{id}/cancel`.
    TokenCancel,
    /// `GET /users`.
    Users,
    /// `POST /users`.
    UserAdd,
    /// `POST /users/{username}/disable`.
    UserDisable,
    /// `POST /users/{username}/reset-password`.
    UserResetPassword,
    /// `POST /users/{username}/access`.
    UserAccess,
    /// `GET /records/{id}/certificate`.
    Certificate,
    /// `POST /records/{id}/reissue`.
    Reissue,
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
    (Endpoint::Statistics, "get", "/statistics"),
    (Endpoint::StatisticsCsv, "get", "/statistics.csv"),
    (Endpoint::Audit, "get", "/audit"),
    (Endpoint::OpenApi, "get", "/openapi.json"),
    (Endpoint::Devices, "get", "/devices"),
    (Endpoint::DeviceRevoke, "post", "/devices/{kid}/revoke"),
    (Endpoint::Tokens, "get", "/tokens"),
    (Endpoint::TokenCreate, "post", "/tokens"),
    (Endpoint::TokenCancel, "post", "/tokens/{id}/cancel"),
    (Endpoint::Users, "get", "/users"),
    (Endpoint::UserAdd, "post", "/users"),
    (Endpoint::UserDisable, "post", "/users/{username}/disable"),
    (
        Endpoint::UserResetPassword,
        "post",
        "/users/{username}/reset-password",
    ),
    (Endpoint::UserAccess, "post", "/users/{username}/access"),
    (Endpoint::Certificate, "get", "/records/{id}/certificate"),
    (Endpoint::Reissue, "post", "/records/{id}/reissue"),
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
        Endpoint::Statistics => get(statistics),
        Endpoint::StatisticsCsv => get(statistics_csv),
        Endpoint::Audit => get(audit),
        Endpoint::OpenApi => get(openapi),
        Endpoint::Devices => get(devices),
        Endpoint::DeviceRevoke => post(device_revoke),
        Endpoint::Tokens => get(tokens),
        Endpoint::TokenCreate => post(token_create),
        Endpoint::TokenCancel => post(token_cancel),
        Endpoint::Users => get(users),
        Endpoint::UserAdd => post(user_add),
        Endpoint::UserDisable => post(user_disable),
        Endpoint::UserResetPassword => post(user_reset_password),
        Endpoint::UserAccess => post(user_access),
        Endpoint::Certificate => get(certificate),
        Endpoint::Reissue => post(reissue),
    }
}

/// The API's router (paths relative to [`PREFIX`]), for any outer state.
pub fn router<S: Clone + Send + Sync + 'static>(
    registrar: Arc<Registrar>,
    limits: &crate::http::Limits,
) -> Router<S> {
    let state = Arc::new(ApiState {
        registrar,
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
    let (address, https) = client_facts(&state.limits, headers, peer);
    Context {
        address,
        https,
        token: cookie(headers, COOKIE),
        csrf: headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The client's address (behind a trusted proxy, the one it names) and whether the client
/// reached the registry over HTTPS (a trusted proxy's `X-Forwarded-Proto: https`); shared by
/// the API and the web workspace.
pub(crate) fn client_facts(
    limits: &crate::http::Limits,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> (String, bool) {
    let peer_ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
    let address = crate::http::client_address(peer_ip, headers, limits);
    let trusted = limits.trusted_proxy_header.is_some()
        && (peer_ip.is_loopback() || limits.trusted_proxies.contains(&peer_ip));
    let https = trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    (address.to_string(), https)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
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

/// The session of a TOTP enrolment request (state-changing): an administrator's pending
/// second factor is what it sets up, so only a pending password change refuses it.
fn totp_session_of(
    registrar: &Registrar,
    ctx: &Context,
    now: i64,
) -> Result<Session, RegistrarError> {
    let session = session_of(registrar, ctx, now, true, true)?;
    if session.user.must_change_password {
        return Err(session
            .pending_step()
            .unwrap_or_else(RegistrarError::unauthenticated));
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

/// The session cookie (`HttpOnly; SameSite=Strict; Path=/`, `Secure` over HTTPS).
pub(crate) fn session_cookie(token: &str, max_age: i64, https: bool) -> HeaderValue {
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
        let session = totp_session_of(r, &ctx, now)?;
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
        let session = totp_session_of(r, &ctx, now)?;
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
    mother: Option<String>,
    dob: Option<String>,
    dob_from: Option<String>,
    dob_to: Option<String>,
    number: Option<String>,
    region: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    after: Option<u64>,
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
            mother: empty_none(q.mother),
            dob: empty_none(q.dob),
            dob_from: empty_none(q.dob_from),
            dob_to: empty_none(q.dob_to),
            number: empty_none(q.number),
            region: empty_none(q.region),
            status: empty_none(q.status),
            limit: q.limit,
            after: q.after,
        };
        r.search_page(&session, &filter, &ctx.address, now)
    })
    .await
    {
        Ok(page) => no_store(axum::Json(page).into_response()),
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
    offset: Option<usize>,
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
            offset: q.offset.unwrap_or(0),
        };
        r.queue(&session, &filter, &ctx.address, now)
    })
    .await
    {
        Ok(queue) => no_store(axum::Json(queue).into_response()),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatisticsQuery {
    region: Option<String>,
}

async fn compute_statistics(
    state: &Shared,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    q: Result<Query<StatisticsQuery>, QueryRejection>,
) -> Result<Statistics, RegistrarError> {
    let ctx = context(state, headers, peer(info));
    let q = q.map_err(query_error);
    blocking(state, move |r, now| {
        let session = session_of(r, &ctx, now, false, false)?;
        let Query(q) = q?;
        let filter = StatisticsFilter {
            region: empty_none(q.region),
        };
        r.statistics(&session, &filter, &ctx.address, now)
    })
    .await
}

async fn statistics(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    q: Result<Query<StatisticsQuery>, QueryRejection>,
) -> Response {
    match compute_statistics(&state, info, &headers, q).await {
        Ok(stats) => no_store(axum::Json(stats).into_response()),
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

async fn statistics_csv(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    q: Result<Query<StatisticsQuery>, QueryRejection>,
) -> Response {
    match compute_statistics(&state, info, &headers, q).await {
        Ok(stats) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"birthright-statistics.csv\"",
                    ),
                ],
                stats.csv(),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
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

/// Runs `f` with the request's checked session (state-changing requests need the CSRF token)
/// and the client's address, on the blocking pool.
async fn with_session<T: Send + 'static>(
    state: &Shared,
    ctx: Context,
    state_changing: bool,
    f: impl FnOnce(&Registrar, &Session, &str, i64) -> Result<T, RegistrarError> + Send + 'static,
) -> Result<T, RegistrarError> {
    blocking(state, move |r, now| {
        let session = session_of(r, &ctx, now, state_changing, false)?;
        f(r, &session, &ctx.address, now)
    })
    .await
}

fn json_answer<T: serde::Serialize>(result: Result<T, RegistrarError>) -> Response {
    match result {
        Ok(value) => no_store(axum::Json(value).into_response()),
        Err(e) => error(e),
    }
}

fn path_text(p: Result<Path<String>, PathRejection>) -> Result<String, RegistrarError> {
    p.map(|Path(s)| s)
        .map_err(|e| RegistrarError::bad_request("bad_path", e.body_text()))
}

fn record_id(p: Result<Path<String>, PathRejection>) -> Result<Uuid, RegistrarError> {
    p.ok()
        .and_then(|Path(id)| Uuid::parse_str(&id).ok())
        .ok_or_else(|| RegistrarError::bad_request("bad_id", "a record id is a UUID"))
}

fn roles_of(codes: &[String]) -> Result<Vec<access::Role>, RegistrarError> {
    codes
        .iter()
        .map(|c| {
            access::Role::parse(c).ok_or_else(|| {
                RegistrarError::bad_request(
                    "bad_role",
                    "a role is registrar, supervisor, auditor or admin",
                )
            })
        })
        .collect()
}

async fn devices(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    json_answer(
        with_session(&state, ctx, false, |r, s, _, _| {
            Ok(json!({ "devices": r.devices(s)? }))
        })
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
    #[serde(default)]
    note: Option<String>,
}

async fn device_revoke(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    kid: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<RevokeBody, _> = json_body(&headers, body);
    let kid = path_text(kid);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            let body = parsed?;
            r.revoke_device(s, &kid?, &body.reason, body.note.as_deref(), address, now)
        })
        .await,
    )
}

async fn tokens(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    json_answer(
        with_session(&state, ctx, false, |r, s, _, now| {
            Ok(json!({ "tokens": r.tokens(s, now)? }))
        })
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    worker_id: String,
    region: String,
    /// `30m`, `12h`, `7d` (at most `30d`); default `7d`.
    #[serde(default)]
    ttl: Option<String>,
}

async fn token_create(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<TokenBody, _> = json_body(&headers, body);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            let body = parsed?;
            let ttl = crate::service::parse_ttl(body.ttl.as_deref().unwrap_or("7d"))
                .map_err(|e| RegistrarError::bad_request("bad_ttl", e.to_string()))?;
            r.create_token(s, &body.worker_id, &body.region, ttl, address, now)
        })
        .await,
    )
}

async fn token_cancel(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let id = path_text(id);
    match with_session(&state, ctx, true, move |r, s, address, now| {
        r.cancel_token(s, &id?, address, now)
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn users(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    json_answer(
        with_session(&state, ctx, false, |r, s, _, _| {
            Ok(json!({ "users": r.admin_users(s)? }))
        })
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    username: String,
    roles: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

async fn user_add(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<UserBody, _> = json_body(&headers, body);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            let body = parsed?;
            let roles = roles_of(&body.roles)?;
            let (user, password) =
                r.admin_add_user(s, &body.username, &roles, &body.regions, address, now)?;
            Ok(json!({ "user": user, "one_time_password": *password }))
        })
        .await,
    )
}

async fn user_disable(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let name = path_text(name);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            r.admin_disable_user(s, &name?, address, now)
        })
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    reset_totp: bool,
}

async fn user_reset_password(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<ResetBody, _> = json_body(&headers, body);
    let name = path_text(name);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            let body = parsed?;
            let (user, password) =
                r.admin_reset_password(s, &name?, body.reset_totp, address, now)?;
            Ok(json!({ "user": user, "one_time_password": *password }))
        })
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    roles: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

async fn user_access(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let parsed: Result<AccessBody, _> = json_body(&headers, body);
    let name = path_text(name);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            let body = parsed?;
            let roles = roles_of(&body.roles)?;
            r.admin_set_access(s, &name?, &roles, &body.regions, address, now)
        })
        .await,
    )
}

fn certificate_json(c: &super::certificate::Certificate) -> serde_json::Value {
    json!({
        "registration_number": c.registration_number,
        "leaf_index": c.leaf_index,
        "registry": c.registry,
        "region": c.region,
        "registered_at": super::rfc3339(c.registered_at),
        "issued_at": super::rfc3339(c.issued_at),
        "reissued": c.reissued,
        "credential": c.credential,
        "qr_svg": c.qr_svg,
    })
}

async fn certificate(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let id = record_id(id);
    json_answer(
        with_session(&state, ctx, false, move |r, s, address, now| {
            Ok(certificate_json(&r.certificate(s, &id?, address, now)?))
        })
        .await,
    )
}

async fn reissue(
    State(state): State<Shared>,
    info: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let ctx = context(&state, &headers, peer(info));
    let id = record_id(id);
    json_answer(
        with_session(&state, ctx, true, move |r, s, address, now| {
            Ok(certificate_json(&r.reissue(s, &id?, address, now)?))
        })
        .await,
    )
}
