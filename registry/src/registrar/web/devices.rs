//! The devices and enrolment tokens page (`/registrar/devices`): supervisors manage, auditors
//! read, both only in their regions. The page lists the devices (records, last sync,
//! rejections, revocation), the unused tokens with a cancel button, and for supervisors the
//! form that creates a token (shown once, with its QR code for the phone to scan) and a revoke
//! form per device (a public reason code, the only thing the signed revocation list carries,
//! and an internal note kept in the database).
//!
//! Every read and change is [`Registrar::devices`], [`Registrar::tokens`],
//! [`Registrar::create_token`], [`Registrar::cancel_token`] or [`Registrar::revoke_device`],
//! as the JSON API calls them: the same roles, regions and audit entries.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use birthright_core::trust::REVOCATION_REASONS;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::{
    PREFIX, Page, Req, Shared, auth::Empty, error_text, layout, redirect, with_form, with_session,
};
use crate::{
    registrar::{RegistrarError, access, devices::MAX_NOTE_CHARS, devices::NewToken, i18n::Lang},
    service::parse_ttl,
};

/// The page's path.
pub const PATH: &str = "/registrar/devices";

/// The validities a new token may have (the API's `ttl` texts, at most 30 days).
pub const TOKEN_TTLS: [&str; 6] = ["1h", "12h", "1d", "7d", "14d", "30d"];

/// The validity the form proposes.
const DEFAULT_TTL: &str = "7d";

fn reason_text(lang: Lang, code: &str) -> String {
    lang.t(&format!("revoke-reason-{code}"))
}

/// An error's text on this page: the revocation note's own length and a region outside the
/// user's said of devices and tokens, else the common text.
fn page_error_text(lang: Lang, e: &RegistrarError) -> String {
    match e.code {
        "bad_note" => lang.ta(
            "devices-error-bad-note",
            &[("count", MAX_NOTE_CHARS.into())],
        ),
        "region_forbidden" => lang.t("devices-error-region"),
        _ => error_text(lang, e),
    }
}

/// The whole page; `problem` (a refused form) is said above the token form, with its status.
fn devices_page(
    page: &Page<'_>,
    problem: Option<&RegistrarError>,
) -> Result<Response, RegistrarError> {
    let lang = page.lang();
    let user = &page.session.user;
    let devices = page.registrar.devices(page.session)?;
    let tokens = page.registrar.tokens(page.session, page.now)?;
    let manages = access::has(user, access::Role::Supervisor);
    let body = html! {
        h1 { (lang.t("devices-title")) }
        @if let Some(e) = problem {
            p.error role="alert" { (page_error_text(lang, e)) }
        }
        @if manages {
            section.token-form {
                h2 { (lang.t("tokens-new")) }
                p.hint { (lang.t("tokens-new-hint")) }
                form.search method="post" action={ (PREFIX) "/tokens" } {
                    (layout::csrf(page.session))
                    label { (lang.t("tokens-worker"))
                        input type="text" name="worker_id" required maxlength="64"; }
                    label { (lang.t("col-region"))
                        @if user.regions.is_empty() {
                            input type="text" name="region" required maxlength="16"
                                pattern="[A-Z0-9-]{1,16}" placeholder="UA-46";
                        } @else {
                            select name="region" required {
                                @for r in &user.regions {
                                    option value=(r) { (r) }
                                }
                            }
                        }
                    }
                    label { (lang.t("tokens-ttl"))
                        select name="ttl" {
                            @for ttl in TOKEN_TTLS {
                                option value=(ttl) selected[ttl == DEFAULT_TTL] { (lang.t(&format!("ttl-{ttl}"))) }
                            }
                        }
                    }
                    button type="submit" { (lang.t("tokens-create")) }
                }
            }
        }
        h2 { (lang.t("tokens-unused")) }
        @if tokens.is_empty() {
            p.empty { (lang.t("tokens-none")) }
        } @else {
            table.list.tokens {
                thead { tr {
                    th { (lang.t("tokens-worker")) }
                    th { (lang.t("col-region")) }
                    th { (lang.t("tokens-id")) }
                    th { (lang.t("tokens-created")) }
                    th { (lang.t("tokens-expires")) }
                    @if manages { th { } }
                } }
                tbody {
                    @for t in &tokens {
                        tr {
                            td { (t.worker_id) }
                            td { (t.region) }
                            td { code title=(t.id) { (t.id.get(..12).unwrap_or(&t.id)) "…" } }
                            td { (lang.rfc3339(&t.created_at)) }
                            td { (lang.rfc3339(&t.expires_at)) }
                            @if manages {
                                td {
                                    form method="post" action={ (PREFIX) "/tokens/" (t.id) "/cancel" } {
                                        (layout::csrf(page.session))
                                        button.danger type="submit" { (lang.t("tokens-cancel")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("devices-list")) }
        @if devices.is_empty() {
            p.empty { (lang.t("devices-none")) }
        } @else {
            table.list.devices {
                thead { tr {
                    th { (lang.t("tokens-worker")) }
                    th { (lang.t("col-region")) }
                    th { (lang.t("devices-kid")) }
                    th { (lang.t("devices-enrolled")) }
                    th { (lang.t("devices-valid-until")) }
                    th { (lang.t("devices-records")) }
                    th { (lang.t("devices-last-sync")) }
                    th { (lang.t("devices-rejections")) }
                    th { (lang.t("devices-state")) }
                } }
                tbody {
                    @for d in &devices {
                        tr id={ "device-" (d.device_kid) } {
                            td { (d.worker_id) }
                            td { (d.region) }
                            td { code { (d.device_kid) } }
                            td { (lang.rfc3339(&d.enrolled_at)) }
                            td { (lang.rfc3339(&d.valid_until)) }
                            td { (d.records) }
                            td {
                                @match &d.last_sync {
                                    Some(at) => { (lang.rfc3339(at)) }
                                    None => { span.hint { (lang.t("devices-never")) } }
                                }
                            }
                            td { (d.rejections) }
                            td {
                                @if d.revoked {
                                    span.status.status-revoked { (lang.t("devices-revoked")) }
                                    @if let Some(at) = &d.revoked_at { " " (lang.rfc3339(at)) }
                                    @if let Some(reason) = &d.revoke_reason {
                                        p { (lang.t("devices-reason")) ": " (reason_text(lang, reason)) }
                                    }
                                    @if let Some(note) = &d.revoke_note {
                                        p.note { (lang.t("devices-note")) ": " (note) }
                                    }
                                } @else {
                                    span.status.status-registered { (lang.t("devices-active")) }
                                    @if manages { (revoke_form(page, lang, &d.device_kid)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = problem
        .and_then(|e| StatusCode::from_u16(e.status).ok())
        .unwrap_or(StatusCode::OK);
    Ok(page.html_status(status, &lang.t("devices-title"), PATH, body))
}

/// The revoke form of device `kid`: the public reason code and the internal note.
fn revoke_form(page: &Page<'_>, lang: Lang, kid: &str) -> Markup {
    html! {
        details.revoke {
            summary { (lang.t("devices-revoke")) }
            form.stack method="post" action={ (PREFIX) "/devices/" (kid) "/revoke" } {
                (layout::csrf(page.session))
                label { (lang.t("devices-reason"))
                    select name="reason" required {
                        @for code in REVOCATION_REASONS {
                            option value=(code) { (reason_text(lang, code)) }
                        }
                    }
                    span.hint { (lang.t("devices-reason-hint")) }
                }
                label { (lang.t("devices-note"))
                    textarea name="note" rows="2" maxlength=(MAX_NOTE_CHARS) {}
                    span.hint { (lang.t("devices-note-hint")) }
                }
                button.danger type="submit" { (lang.t("devices-revoke")) }
            }
        }
    }
}

/// `GET /registrar/devices`.
pub(crate) async fn devices(State(state): State<Shared>, req: Req) -> Response {
    with_session(&state, req, false, |page| devices_page(page, None)).await
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    worker_id: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    ttl: String,
}

/// Whether a refusal is said on the page, with its status (bad input, a region outside the
/// user's, a token or device no longer there), rather than as an error page (a role that
/// does not allow it, an expired form).
fn said_on_the_page(e: &RegistrarError) -> bool {
    (400..500).contains(&e.status) && e.code != "forbidden" && e.code != "csrf"
}

/// `POST /registrar/tokens`: creates the token and shows it once, with its QR code.
pub(crate) async fn token_create(State(state): State<Shared>, req: Req, body: Bytes) -> Response {
    with_form(&state, req, body, false, |page, form: TokenForm| {
        let created = parse_ttl(if form.ttl.trim().is_empty() {
            DEFAULT_TTL
        } else {
            &form.ttl
        })
        .map_err(|e| RegistrarError::bad_request("bad_ttl", e.to_string()))
        .and_then(|ttl| {
            page.registrar.create_token(
                page.session,
                form.worker_id.trim(),
                &form.region,
                ttl,
                &page.req.address,
                page.now,
            )
        });
        match created {
            Ok(token) => Ok(token_page(page, &token)),
            Err(e) if said_on_the_page(&e) => devices_page(page, Some(&e)),
            Err(e) => Err(e),
        }
    })
    .await
}

/// The token just created: the only time it is shown.
fn token_page(page: &Page<'_>, token: &NewToken) -> Response {
    let lang = page.lang();
    let body = html! {
        h1 { (lang.t("tokens-created-title")) }
        p.notice { (lang.t("tokens-shown-once")) }
        div.token-qr {
            // The SVG is the core's drawing of the token: numbers and fixed markup.
            (PreEscaped(&token.qr_svg))
        }
        dl.fields {
            dt { (lang.t("tokens-worker")) } dd { (token.worker_id) }
            dt { (lang.t("col-region")) } dd { (token.region) }
            dt { (lang.t("tokens-expires")) } dd { (lang.rfc3339(&token.expires_at)) }
            dt { (lang.t("tokens-token")) } dd.secret { code #token { (token.token) } }
            dt { (lang.t("tokens-fingerprint")) } dd { code { (token.trust_fingerprint) } }
        }
        p.hint { (lang.t("tokens-scan-hint")) }
        p { a href=(PATH) { (lang.t("tokens-back")) } }
    };
    page.html(&lang.t("tokens-created-title"), PATH, body)
}

fn path_text(p: Result<Path<String>, PathRejection>) -> Result<String, RegistrarError> {
    p.map(|Path(text)| text)
        .map_err(|_| RegistrarError::bad_request("bad_id", "the address is not as expected"))
}

/// `POST /registrar/tokens/{id}/cancel`: back to the page.
pub(crate) async fn token_cancel(
    State(state): State<Shared>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, false, move |page, _: Empty| {
        match page.registrar.cancel_token(
            page.session,
            &path_text(id)?,
            &page.req.address,
            page.now,
        ) {
            Ok(()) => Ok(redirect(PATH)),
            Err(e) if said_on_the_page(&e) => devices_page(page, Some(&e)),
            Err(e) => Err(e),
        }
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /registrar/devices/{kid}/revoke`: back to the page, at the device.
pub(crate) async fn device_revoke(
    State(state): State<Shared>,
    req: Req,
    kid: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, false, move |page, form: RevokeForm| {
        let kid = path_text(kid)?;
        match page.registrar.revoke_device(
            page.session,
            &kid,
            form.reason.trim(),
            Some(&form.note),
            &page.req.address,
            page.now,
        ) {
            Ok(device) => Ok(redirect(&format!("{PATH}#device-{}", device.device_kid))),
            Err(e) if said_on_the_page(&e) => devices_page(page, Some(&e)),
            Err(e) => Err(e),
        }
    })
    .await
}
