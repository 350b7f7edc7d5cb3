//! The registrars' web workspace at `/registrar/`: server-rendered HTML (maud, every value
//! escaped), one CSS file, no script, in English, Ukrainian and Romanian ([`super::i18n`]).
//! The pages call the same [`Registrar`] functions as the JSON API, so roles, regions and
//! the audit log apply exactly as there (a page view of a record is the API's audited view).
//!
//! - Sessions are the API's: the same `birthright_session` cookie (`HttpOnly;
//!   SameSite=Strict`). No session: a redirect to the login page (back to the page after
//!   login). A pending first step (a one-time password, an admin without TOTP): a redirect to
//!   its page. A role or region that does not allow the page: the 403 page.
//! - Every form that changes something carries the session's CSRF token in a hidden field
//!   `csrf`, checked before anything else. The login form, before there is a session, is
//!   protected by a double-submit token: a random value in the `birthright_login_csrf` cookie
//!   (`HttpOnly; SameSite=Strict; Path=/registrar`) and the same in the form.
//! - Every answer is `Cache-Control: no-store` with a strict Content-Security-Policy (no
//!   script, styles from the registry only, no framing).
//!
//! Adding a page: a handler in a file of this folder that calls [`with_session`] (GET) or
//! [`with_form`] (POST, CSRF checked), builds its body with maud and wraps it in
//! [`layout::page`]; a line in [`router`]; its texts in `registry/locales/*/` (all three);
//! a nav entry, if it has one, in [`layout::NAV`].

pub mod auth;
pub mod certificate;
pub mod devices;
pub mod layout;
pub mod records;
pub mod statistics;
pub mod users;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use maud::Markup;
use serde::de::DeserializeOwned;

use super::{
    Registrar, RegistrarError, api,
    i18n::{self, LANG_COOKIE, Lang},
    sessions::{COOKIE, Session},
};

/// Where the workspace is mounted.
pub const PREFIX: &str = "/registrar";
/// Largest form body.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// The stylesheet's path.
pub const CSS_PATH: &str = "/registrar/static/registrar.css";
/// The stylesheet.
pub const CSS: &str = include_str!("../../../static/registrar.css");

/// The web workspace's state.
pub struct WebState {
    registrar: Arc<Registrar>,
    limits: crate::http::Limits,
}

pub(crate) type Shared = Arc<WebState>;

/// The workspace's router (paths relative to [`PREFIX`]), for any outer state.
pub fn router<S: Clone + Send + Sync + 'static>(
    registrar: Arc<Registrar>,
    limits: &crate::http::Limits,
) -> Router<S> {
    let state = Arc::new(WebState {
        registrar,
        limits: limits.clone(),
    });
    Router::new()
        .route("/", get(home))
        .route("/static/registrar.css", get(css))
        .route("/lang/{code}", get(auth::set_lang))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", post(auth::logout))
        .route("/account", get(auth::account))
        .route(
            "/password",
            get(auth::password_page).post(auth::password_submit),
        )
        .route("/totp", get(auth::totp_page))
        .route("/totp/enrol", post(auth::totp_enrol))
        .route("/totp/confirm", post(auth::totp_confirm))
        .route("/queue", get(records::queue))
        .route("/search", get(records::search))
        .route("/records/{id}", get(records::record))
        .route("/statistics", get(statistics::statistics))
        .route("/records/{id}/certificate", get(certificate::page))
        .route("/records/{id}/reissue", post(certificate::reissue))
        .route("/devices", get(devices::devices))
        .route("/devices/{kid}/revoke", post(devices::device_revoke))
        .route("/tokens", post(devices::token_create))
        .route("/tokens/{id}/cancel", post(devices::token_cancel))
        .route("/users", get(users::users).post(users::user_add))
        .route("/users/{username}/disable", post(users::user_disable))
        .route("/users/{username}/reset-password", post(users::user_reset))
        .route("/users/{username}/access", post(users::user_access))
        .route("/records/{id}/decision", post(records::decide))
        .route(
            "/records/{id}/duplicates/{candidate}",
            post(records::decide_pair),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

/// What a page knows about its request.
pub struct Req {
    /// The client's address (for the audit log and back-off).
    pub address: String,
    /// Whether the client came over HTTPS (the cookies' `Secure`).
    pub https: bool,
    /// The session cookie.
    pub token: Option<String>,
    /// The page's language.
    pub lang: Lang,
    /// Path and query of the request (where to come back after login).
    pub target: String,
    /// Whether it is a GET (a page one can come back to).
    pub get: bool,
    headers: HeaderMap,
}

impl Req {
    /// Where the language switcher comes back to: this page if it was a GET, else the queue.
    pub fn back(&self) -> String {
        if self.get {
            self.target.clone()
        } else {
            format!("{PREFIX}/queue")
        }
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        api::cookie(&self.headers, name)
    }
}

impl FromRequestParts<Shared> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let (address, https) = api::client_facts(&state.limits, &parts.headers, peer);
        let lang = i18n::choose(
            api::cookie(&parts.headers, LANG_COOKIE).as_deref(),
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        let target = format!(
            "{PREFIX}{}",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        Ok(Req {
            address,
            https,
            token: api::cookie(&parts.headers, COOKIE),
            lang,
            target,
            get: parts.method == axum::http::Method::GET,
            headers: parts.headers.clone(),
        })
    }
}

/// A page's view of the workspace during one request.
pub struct Page<'a> {
    /// The workspace.
    pub registrar: &'a Registrar,
    /// The logged-in session.
    pub session: &'a Session,
    /// The request.
    pub req: &'a Req,
    /// The time now (Unix seconds).
    pub now: i64,
}

impl Page<'_> {
    /// The page's language.
    pub fn lang(&self) -> Lang {
        self.req.lang
    }

    /// A complete HTML page (200) around `body`, with the navigation; `current` is the
    /// path of the nav entry to mark.
    pub fn html(&self, title: &str, current: &str, body: Markup) -> Response {
        self.html_status(StatusCode::OK, title, current, body)
    }

    /// [`Self::html`] with another status (a form refused, said on its page).
    pub fn html_status(
        &self,
        status: StatusCode,
        title: &str,
        current: &str,
        body: Markup,
    ) -> Response {
        html(
            status,
            layout::page(
                self.req.lang,
                Some(self.session),
                current,
                &self.req.back(),
                title,
                body,
            ),
        )
    }
}

/// An HTML answer: no caching, a strict Content-Security-Policy.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A `303 See Other` to `location` (a path of this registry).
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(response.headers_mut());
    response
}

/// `next` if it is a path of the workspace (never another site: no `//`, no scheme), else the
/// queue.
pub fn local_target(next: Option<&str>) -> String {
    next.filter(|n| {
        n.starts_with("/registrar/")
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    })
    .map_or_else(|| format!("{PREFIX}/queue"), str::to_string)
}

/// `path?next=target`, the target URL-encoded.
pub fn with_next(path: &str, target: &str) -> String {
    match serde_urlencoded::to_string([("next", target)]) {
        Ok(q) => format!("{path}?{q}"),
        Err(_) => path.to_string(),
    }
}

/// The answer to a refused or failed page: a redirect to the login page (no session), to the
/// first step still pending, or an error page in the user's language.
pub fn error_response(req: &Req, session: Option<&Session>, e: &RegistrarError) -> Response {
    match e.code {
        "unauthenticated" | "session_expired" => {
            return redirect(&with_next(&format!("{PREFIX}/login"), &req.target));
        }
        "password_change_required" => return redirect(&format!("{PREFIX}/password")),
        "totp_enrolment_required" => return redirect(&format!("{PREFIX}/totp")),
        _ => {}
    }
    if e.status >= 500 {
        tracing::error!(code = e.code, message = %e.message, "registrar page failed");
    }
    let lang = req.lang;
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = match e.status {
        403 => lang.t("error-title-forbidden"),
        404 => lang.t("error-title-not-found"),
        400..=499 => lang.t("error-title-bad-request"),
        _ => lang.t("error-title-internal"),
    };
    let body = maud::html! {
        h1 { (title) }
        p.error role="alert" { (error_text(lang, e)) }
        p { a href=(session.map_or_else(|| format!("{PREFIX}/login"), |s| start_page(&s.user))) { (lang.t("error-back")) } }
    };
    let back = req.back();
    html(status, layout::page(lang, session, "", &back, &title, body))
}

/// An error's text for people, from the catalog (`error-CODE`), never the Rust error.
pub fn error_text(lang: Lang, e: &RegistrarError) -> String {
    let id = format!("error-{}", e.code);
    if let Some(secs) = e.retry_after {
        return lang.ta(
            &id,
            &[("seconds", i64::try_from(secs).unwrap_or(i64::MAX).into())],
        );
    }
    if i18n::has(Lang::En, &id) {
        lang.t(&id)
    } else if e.status == 403 {
        lang.t("error-forbidden")
    } else if e.status == 404 {
        lang.t("error-not_found")
    } else if e.status < 500 {
        lang.t("error-bad_request")
    } else {
        lang.t("error-internal")
    }
}

/// Runs `f` on the blocking pool with the request's session (checked, marked used): the
/// page's answer, or its error as [`error_response`] answers it. With `allow_pending` the
/// page is open to a session whose first step (password change, TOTP) is still pending.
pub async fn with_session<F>(state: &Shared, req: Req, allow_pending: bool, f: F) -> Response
where
    F: FnOnce(&Page<'_>) -> Result<Response, RegistrarError> + Send + 'static,
{
    let registrar = state.registrar.clone();
    tokio::task::spawn_blocking(move || {
        let now = registrar.now();
        let session = match registrar.authenticate(req.token.as_deref(), now) {
            Ok(s) => s,
            Err(e) => return error_response(&req, None, &e),
        };
        if !allow_pending && let Some(e) = session.pending_step() {
            return error_response(&req, Some(&session), &e);
        }
        let page = Page {
            registrar: &registrar,
            session: &session,
            req: &req,
            now,
        };
        f(&page).unwrap_or_else(|e| error_response(&req, Some(&session), &e))
    })
    .await
    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, RegistrarError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| RegistrarError::bad_request("bad_form", "the form is not as expected"))
}

/// The `csrf` field of a form body.
fn csrf_field(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
}

/// A form post that needs a session: the session, then the form's CSRF token (403 `csrf`),
/// then (unless `allow_pending`) no pending first step, then `f` with the parsed form.
pub async fn with_form<T, F>(
    state: &Shared,
    req: Req,
    body: Bytes,
    allow_pending: bool,
    f: F,
) -> Response
where
    T: DeserializeOwned + Send + 'static,
    F: FnOnce(&Page<'_>, T) -> Result<Response, RegistrarError> + Send + 'static,
{
    with_session(state, req, true, move |page| {
        if !page.session.csrf_ok(csrf_field(&body).as_deref()) {
            return Err(RegistrarError::new(
                403,
                "csrf",
                "the form's CSRF token is missing or wrong",
            ));
        }
        if !allow_pending && let Some(e) = page.session.pending_step() {
            return Err(e);
        }
        f(page, parse_form(&body)?)
    })
    .await
}

/// The page a user starts on: the queue for those who read records, the users page for an
/// admin who does not, else the account page.
pub fn start_page(user: &super::store::UserRow) -> String {
    if super::access::reads_records(user) {
        format!("{PREFIX}/queue")
    } else if super::access::has(user, super::Role::Admin) {
        users::PATH.to_string()
    } else {
        format!("{PREFIX}/account")
    }
}

async fn home(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, false, |page| {
        Ok(redirect(&start_page(&page.session.user)))
    })
    .await
}

async fn css() -> Response {
    let mut response = CSS.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn not_found(State(state): State<Shared>, req: Req) -> Response {
    let registrar = state.registrar.clone();
    tokio::task::spawn_blocking(move || {
        let session = registrar
            .authenticate(req.token.as_deref(), registrar.now())
            .ok();
        error_response(
            &req,
            session.as_ref(),
            &RegistrarError::new(404, "not_found", "no such page"),
        )
    })
    .await
    .unwrap_or_else(|_| StatusCode::NOT_FOUND.into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every message id the pages name literally (`.t("…")`, `.ta("…"`) exists in English
    /// (and so, by the catalog test, in every language).
    #[test]
    fn every_message_the_pages_use_is_in_the_catalogs() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("layout.rs"),
            include_str!("auth.rs"),
            include_str!("records.rs"),
            include_str!("statistics.rs"),
            include_str!("certificate.rs"),
            include_str!("devices.rs"),
            include_str!("users.rs"),
        ];
        let mut used = BTreeSet::new();
        for source in sources {
            for pattern in [".t(\"", ".ta(\""] {
                for (i, _) in source.match_indices(pattern) {
                    let rest = &source[i + pattern.len()..];
                    if let Some(end) = rest.find('"') {
                        let id = &rest[..end];
                        if id.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        }) {
                            used.insert(id.to_string());
                        }
                    }
                }
            }
        }
        assert!(used.len() > 40, "{}", used.len());
        // The ids the pages make from codes.
        for entry in layout::NAV {
            used.insert(entry.label.to_string());
        }
        for status in crate::registrar::records::STATUSES {
            used.insert(format!("status-{status}"));
        }
        for role in crate::registrar::Role::ALL {
            used.insert(format!("role-{}", role.code()));
        }
        for level in ["likely", "possible"] {
            used.insert(format!("level-{level}"));
        }
        for code in birthright_core::trust::REVOCATION_REASONS {
            used.insert(format!("revoke-reason-{code}"));
        }
        for ttl in devices::TOKEN_TTLS {
            used.insert(format!("ttl-{ttl}"));
        }
        for title in ["users-added-title", "users-reset-title"] {
            used.insert(title.to_string());
        }
        for code in [
            "forbidden",
            "region_forbidden",
            "not_found",
            "bad_request",
            "bad_query",
            "bad_id",
            "bad_form",
            "csrf",
            "internal",
            "login_failed",
            "login_backoff",
            "totp_required",
            "wrong_password",
            "weak_password",
            "totp_already_enrolled",
            "no_totp_enrolment",
            "wrong_code",
            "unknown_pair",
            "bad_role",
            "bad_username",
            "bad_region",
            "no_role",
            "bad_ttl",
            "bad_worker",
            "bad_reason",
            "unknown_token",
            "unknown_device",
            "unknown_user",
            "already_revoked",
            "own_account",
            "user_exists",
            "just_issued",
            "not_registered",
        ] {
            used.insert(format!("error-{code}"));
        }
        let missing: Vec<_> = used.iter().filter(|id| !i18n::has(Lang::En, id)).collect();
        assert!(missing.is_empty(), "not in the catalogs: {missing:?}");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            local_target(Some("/registrar/search?q=a")),
            "/registrar/search?q=a"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/registrar/",
            "/registrar\\..\\",
            "/v1/checkpoint",
            "/registrar/\r\nSet-Cookie: x",
        ] {
            assert_eq!(local_target(Some(bad)), "/registrar/queue", "{bad}");
        }
        assert_eq!(local_target(None), "/registrar/queue");
        assert_eq!(
            with_next("/registrar/login", "/registrar/search?query=a b&dob=2026"),
            "/registrar/login?next=%2Fregistrar%2Fsearch%3Fquery%3Da+b%26dob%3D2026"
        );
    }
}
