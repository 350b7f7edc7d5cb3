//! Login (with its pre-session double-submit CSRF token), logout, the first-login password
//! change, TOTP enrolment, and the language switcher.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use maud::{Markup, html};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    PREFIX, Page, Req, Shared, error_text, html as html_response, layout, local_target, parse_form,
    redirect, with_form, with_session,
};
use crate::registrar::{
    access,
    api::session_cookie,
    i18n::{LANG_COOKIE, Lang},
    sessions::{LoginRequest, Session},
};

/// The pre-session CSRF cookie of the login form.
pub const LOGIN_CSRF_COOKIE: &str = "birthright_login_csrf";

fn login_csrf_cookie(value: &str, max_age: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={value}; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("birthright_login_csrf=; Max-Age=0"))
}

/// Where a session goes after login or a finished step: its pending step, else `next`.
fn after_login(session: &Session, next: Option<&str>) -> String {
    if session.user.must_change_password {
        format!("{PREFIX}/password")
    } else if access::has(&session.user, access::Role::Admin) && session.user.totp_secret.is_none()
    {
        format!("{PREFIX}/totp")
    } else if next.is_none() {
        super::start_page(&session.user)
    } else {
        local_target(next)
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn login_form(lang: Lang, token: &str, next: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        section.narrow {
            h1 { (lang.t("login-title")) }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.stack method="post" action={ (PREFIX) "/login" } {
                input type="hidden" name="csrf" value=(token);
                @if let Some(next) = next {
                    input type="hidden" name="next" value=(next);
                }
                label { (lang.t("login-username"))
                    input type="text" name="username" autocomplete="username" required autofocus; }
                label { (lang.t("login-password"))
                    input type="password" name="password" autocomplete="current-password" required; }
                label { (lang.t("login-totp"))
                    input type="text" name="totp" inputmode="numeric" autocomplete="one-time-code"
                        pattern="[0-9]{6}" maxlength="6"; }
                p.hint { (lang.t("login-totp-hint")) }
                button type="submit" { (lang.t("login-submit")) }
            }
        }
    }
}

/// Renders the login page with a fresh pre-session token (set in its cookie).
fn login_response(
    req: &Req,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
) -> Response {
    let mut raw = [0u8; 32];
    if birthright_core::keys::os_random(&mut raw).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let token = B64URL.encode(raw);
    let lang = req.lang;
    let back = match next {
        Some(n) => super::with_next(&format!("{PREFIX}/login"), n),
        None => format!("{PREFIX}/login"),
    };
    let page = layout::page(
        lang,
        None,
        "",
        &back,
        &lang.t("login-title"),
        login_form(lang, &token, next, error),
    );
    let mut response = html_response(status, page);
    response.headers_mut().append(
        header::SET_COOKIE,
        login_csrf_cookie(&token, 3600, req.https),
    );
    response
}

/// `GET /registrar/login`: the form (or, with a live session, on to the workspace).
pub(crate) async fn login_page(
    State(state): State<Shared>,
    req: Req,
    query: Result<axum::extract::Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|q| q.0.next);
    let registrar = state.registrar.clone();
    tokio::task::spawn_blocking(move || {
        if let Ok(session) = registrar.authenticate(req.token.as_deref(), registrar.now()) {
            return redirect(&after_login(&session, next.as_deref()));
        }
        login_response(&req, StatusCode::OK, next.as_deref(), None)
    })
    .await
    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    next: Option<String>,
}

/// `POST /registrar/login`: the double-submit token, then the API's login.
pub(crate) async fn login_submit(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    let registrar = state.registrar.clone();
    tokio::task::spawn_blocking(move || {
        let form: LoginForm = match parse_form(&body) {
            Ok(f) => f,
            Err(e) => {
                return login_response(
                    &req,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some(&error_text(req.lang, &e)),
                );
            }
        };
        let next = form.next.as_deref().filter(|n| !n.is_empty());
        let cookie = req.cookie(LOGIN_CSRF_COOKIE).unwrap_or_default();
        if cookie.is_empty()
            || form.csrf.is_empty()
            || !bool::from(cookie.as_bytes().ct_eq(form.csrf.as_bytes()))
        {
            return login_response(
                &req,
                StatusCode::FORBIDDEN,
                next,
                Some(&req.lang.t("login-expired")),
            );
        }
        let totp = form.totp.trim();
        let result = registrar.login(
            &LoginRequest {
                username: &form.username,
                password: &form.password,
                totp: (!totp.is_empty()).then_some(totp),
                address: &req.address,
            },
            registrar.now(),
        );
        match result {
            Ok(ok) => {
                let mut response = redirect(&after_login(&ok.session, next));
                let headers = response.headers_mut();
                headers.append(
                    header::SET_COOKIE,
                    session_cookie(
                        &ok.token,
                        registrar.config().session_lifetime_secs,
                        req.https,
                    ),
                );
                headers.append(header::SET_COOKIE, login_csrf_cookie("", 0, req.https));
                response
            }
            Err(e) => {
                let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED);
                let mut response =
                    login_response(&req, status, next, Some(&error_text(req.lang, &e)));
                if let Some(secs) = e.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                response
            }
        }
    })
    .await
    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /registrar/logout`.
pub(crate) async fn logout(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    let https = req.https;
    with_form(&state, req, body, true, move |page, _: Empty| {
        page.registrar
            .logout(page.session, &page.req.address, page.now)?;
        let mut response = redirect(&format!("{PREFIX}/login"));
        response
            .headers_mut()
            .append(header::SET_COOKIE, session_cookie("", 0, https));
        Ok(response)
    })
    .await
}

fn password_form(page: &Page<'_>, error: Option<&str>) -> Response {
    let lang = page.lang();
    let first = page.session.user.must_change_password;
    let body = html! {
        section.narrow {
            h1 { (lang.t("password-title")) }
            @if first {
                p.notice { (lang.t("password-first-login")) }
            }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.stack method="post" action={ (PREFIX) "/password" } {
                (layout::csrf(page.session))
                label { (lang.t("password-current"))
                    input type="password" name="current_password" autocomplete="current-password" required; }
                label { (lang.t("password-new"))
                    input type="password" name="new_password" autocomplete="new-password" required minlength="12"; }
                label { (lang.t("password-repeat"))
                    input type="password" name="repeat_password" autocomplete="new-password" required minlength="12"; }
                p.hint { (lang.t("password-rules")) }
                button type="submit" { (lang.t("password-submit")) }
            }
        }
    };
    page.html(&lang.t("password-title"), "", body)
}

/// `GET /registrar/password`.
pub(crate) async fn password_page(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, true, |page| Ok(password_form(page, None))).await
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

/// `POST /registrar/password`.
pub(crate) async fn password_submit(
    State(state): State<Shared>,
    req: Req,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, true, |page, form: PasswordForm| {
        let lang = page.lang();
        if form.new_password != form.repeat_password {
            return Ok(with_status(
                password_form(page, Some(&lang.t("password-mismatch"))),
                StatusCode::BAD_REQUEST,
            ));
        }
        match page.registrar.change_password(
            page.session,
            &form.current_password,
            &form.new_password,
            &page.req.address,
            page.now,
        ) {
            Ok(()) => {
                let mut session = page.session.clone();
                session.user.must_change_password = false;
                Ok(redirect(&after_login(&session, None)))
            }
            Err(e) if e.status < 500 => Ok(with_status(
                password_form(page, Some(&error_text(lang, &e))),
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            )),
            Err(e) => Err(e),
        }
    })
    .await
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

fn totp_start(page: &Page<'_>, error: Option<&str>) -> Response {
    let lang = page.lang();
    let user = &page.session.user;
    let body = html! {
        section.narrow {
            h1 { (lang.t("totp-title")) }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            @if user.totp_secret.is_some() {
                p { (lang.t("totp-enrolled")) }
            } @else {
                @if access::has(user, access::Role::Admin) {
                    p.notice { (lang.t("totp-required-admin")) }
                }
                p { (lang.t("totp-explain")) }
                form method="post" action={ (PREFIX) "/totp/enrol" } {
                    (layout::csrf(page.session))
                    button type="submit" { (lang.t("totp-start")) }
                }
            }
        }
    };
    page.html(&lang.t("totp-title"), "", body)
}

/// `GET /registrar/totp`.
pub(crate) async fn totp_page(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, true, |page| {
        if page.session.user.must_change_password {
            return Ok(redirect(&format!("{PREFIX}/password")));
        }
        Ok(totp_start(page, None))
    })
    .await
}

fn confirm_form(page: &Page<'_>) -> Markup {
    let lang = page.lang();
    html! {
        form.stack method="post" action={ (PREFIX) "/totp/confirm" } {
            (layout::csrf(page.session))
            label { (lang.t("totp-code"))
                input type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                    pattern="[0-9]{6}" maxlength="6" required autofocus; }
            button type="submit" { (lang.t("totp-confirm")) }
        }
    }
}

/// `POST /registrar/totp/enrol`: a new secret, shown once, and the confirmation form.
pub(crate) async fn totp_enrol(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    with_form(&state, req, body, true, |page, _: Empty| {
        if page.session.user.must_change_password {
            return Ok(redirect(&format!("{PREFIX}/password")));
        }
        let lang = page.lang();
        let (secret, uri) =
            match page
                .registrar
                .totp_enrol(page.session, &page.req.address, page.now)
            {
                Ok(pair) => pair,
                Err(e) if e.status < 500 => {
                    return Ok(totp_start(page, Some(&error_text(lang, &e))));
                }
                Err(e) => return Err(e),
            };
        let body = html! {
            section.narrow {
                h1 { (lang.t("totp-title")) }
                p { (lang.t("totp-scan")) }
                p { a href=(uri.as_str()) { (lang.t("totp-open-app")) } }
                p { (lang.t("totp-secret")) }
                p.secret { code { (secret.as_str()) } }
                (confirm_form(page))
            }
        };
        Ok(page.html(&lang.t("totp-title"), "", body))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /registrar/totp/confirm`.
pub(crate) async fn totp_confirm(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    with_form(&state, req, body, true, |page, form: CodeForm| {
        if page.session.user.must_change_password {
            return Ok(redirect(&format!("{PREFIX}/password")));
        }
        let lang = page.lang();
        match page.registrar.totp_confirm(
            page.session,
            form.code.trim(),
            &page.req.address,
            page.now,
        ) {
            Ok(()) => {
                let mut session = page.session.clone();
                session.user.totp_secret = Some(Vec::new());
                Ok(redirect(&after_login(&session, None)))
            }
            Err(e) if e.status < 500 => {
                let body = html! {
                    section.narrow {
                        h1 { (lang.t("totp-title")) }
                        p.error role="alert" { (error_text(lang, &e)) }
                        (confirm_form(page))
                    }
                };
                Ok(with_status(
                    page.html(&lang.t("totp-title"), "", body),
                    StatusCode::BAD_REQUEST,
                ))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

/// `GET /registrar/lang/{code}?next=PATH`: remembers the language in a cookie (a preference
/// of this browser, nothing on the server) and goes back.
pub(crate) async fn set_lang(
    Path(code): Path<String>,
    req: Req,
    query: Result<axum::extract::Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = local_target(query.ok().and_then(|q| q.0.next).as_deref());
    let mut response = redirect(&next);
    if let Some(lang) = Lang::parse(&code) {
        let secure = if req.https { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; SameSite=Strict; Path={PREFIX}; Max-Age=31536000{secure}",
            lang.code()
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `GET /registrar/account`: who is logged in, with which roles and regions; the password
/// and second-factor pages.
pub(crate) async fn account(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, false, |page| {
        let lang = page.lang();
        let user = &page.session.user;
        let body = html! {
            section.narrow {
                h1 { (lang.t("account-title")) }
                dl.fields {
                    dt { (lang.t("login-username")) } dd { (user.username) }
                    dt { (lang.t("account-roles")) }
                    dd { @for (i, role) in user.roles.iter().enumerate() {
                        @if i > 0 { ", " } (lang.t(&format!("role-{role}")))
                    } }
                    dt { (lang.t("account-regions")) }
                    dd { @if user.regions.is_empty() { (lang.t("account-all-regions")) }
                         @else { (user.regions.join(", ")) } }
                }
                ul.links {
                    li { a href={ (PREFIX) "/password" } { (lang.t("password-title")) } }
                    li { a href={ (PREFIX) "/totp" } { (lang.t("totp-title")) } }
                }
            }
        };
        Ok(page.html(&lang.t("account-title"), "/registrar/account", body))
    })
    .await
}
