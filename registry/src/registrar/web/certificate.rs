//! The printable birth certificate: `GET /registrar/records/{id}/certificate` (`?paper=a5`
//! for A5, else A4), a page of its own (no navigation) in the registrar's language, with the
//! print CSS inline (`@page size`) and allowed by its hash in the Content-Security-Policy,
//! and the registered credential's QR code as inline SVG. The contents and the audit entry
//! are [`Registrar::certificate`]'s (registrars and supervisors of the record's region).
//!
//! For a lost paper, the page's reissue button (`POST /registrar/records/{id}/reissue`, the
//! session's CSRF token in the form) issues a new registered credential through
//! [`Registrar::reissue`], audited as the API's, and comes back to the page, which shows the
//! newest credential: the new one.

use axum::{
    body::Bytes,
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use birthright_core::record::Sex;
use maud::{DOCTYPE, PreEscaped, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{PREFIX, Req, Shared, auth::Empty, redirect, with_form, with_session};
use crate::registrar::{RegistrarError, certificate::Certificate, i18n::Lang};

/// The print CSS, with `{size}` for the paper (`A4`, `A5`).
const STYLE: &str = "@page { size: {size} portrait; margin: 12mm; }
@media print { .no-print { display: none; } body { margin: 0; } }
body { font-family: serif; max-width: 180mm; margin: 1em auto; color: #000; }
body.a5 { max-width: 124mm; font-size: 10pt; }
h1 { text-align: center; font-size: 1.6em; margin: 0 0 .2em; }
.registry { text-align: center; margin: 0 0 1em; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; width: 40%; padding: .3em; vertical-align: top; }
td { padding: .3em; border-bottom: 1px solid #888; }
.qr { text-align: center; margin-top: 1em; }
.qr svg { width: 60mm; height: 60mm; }
body.a5 .qr svg { width: 45mm; height: 45mm; }
.credential { font-family: monospace; font-size: 6pt; word-break: break-all; }
form.reissue { margin: 1em 0; padding: .6em; border: 1px solid #888; }
form.reissue button { font: inherit; padding: .3em .8em; }
";

/// The stylesheet for `a5` or A4.
pub fn style(a5: bool) -> String {
    STYLE.replace("{size}", if a5 { "A5" } else { "A4" })
}

#[derive(Deserialize)]
pub(crate) struct PaperQuery {
    paper: Option<String>,
}

fn sex_text(lang: Lang, sex: Option<Sex>) -> String {
    lang.t(match sex {
        Some(Sex::Female) => "cert-sex-female",
        Some(Sex::Male) => "cert-sex-male",
        Some(Sex::Unknown) | None => "cert-sex-unknown",
    })
}

fn unix_day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix).map_or_else(
        |_| unix.to_string(),
        |t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
    )
}

/// The certificate page of `c` in `lang`; `csrf` (the session's token) for its reissue form.
pub fn render(lang: Lang, c: &Certificate, a5: bool, csrf: &str) -> String {
    let f = &c.form;
    let mut rows: Vec<(String, String)> = vec![
        (
            lang.t("cert-child"),
            format!("{} {}", f.child.given_names, f.child.family_name),
        ),
        (lang.t("cert-sex"), sex_text(lang, f.child.sex)),
        (
            lang.t("cert-date-of-birth"),
            lang.date(&f.child.date_of_birth),
        ),
    ];
    if let Some(t) = &f.child.time_of_birth {
        rows.push((lang.t("cert-time-of-birth"), t.clone()));
    }
    let mut place = f.place_of_birth.locality.clone();
    if let Some(facility) = &f.place_of_birth.facility {
        place = format!("{facility}, {place}");
    }
    rows.push((
        lang.t("cert-place-of-birth"),
        format!("{place} ({})", f.place_of_birth.admin_area),
    ));
    rows.push((
        lang.t("cert-mother"),
        format!("{} {}", f.mother.given_names, f.mother.family_name),
    ));
    if let Some(father) = &f.father {
        rows.push((
            lang.t("cert-father"),
            format!("{} {}", father.given_names, father.family_name),
        ));
    }
    rows.push((lang.t("cert-number"), c.registration_number.clone()));
    rows.push((lang.t("cert-ledger-index"), c.leaf_index.to_string()));
    rows.push((
        lang.t("cert-registered-on"),
        lang.date(&unix_day(c.registered_at)),
    ));
    rows.push((lang.t("cert-registry"), c.registry.clone()));
    rows.push((lang.t("cert-region"), c.region.clone()));
    let issued_on = lang.date(&unix_day(c.issued_at));
    let issued = if c.reissued {
        lang.ta("cert-reissued", &[("date", issued_on.as_str().into())])
    } else {
        lang.ta("cert-issued", &[("date", issued_on.as_str().into())])
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t("cert-title")) " " (c.registration_number) }
                style { (PreEscaped(style(a5))) }
            }
            body class=(if a5 { "a5" } else { "a4" }) {
                p.no-print {
                    (lang.t("cert-paper")) " "
                    a href="?paper=a4" { "A4" } " · " a href="?paper=a5" { "A5" }
                    " — " (lang.t("cert-print-hint"))
                }
                h1 { (lang.t("cert-title")) }
                p.registry { (c.registry) }
                table {
                    @for (label, value) in &rows {
                        tr { th { (label) } td { (value) } }
                    }
                }
                div.qr {
                    // The SVG is the core's drawing of the credential: numbers and fixed markup.
                    (PreEscaped(&c.qr_svg))
                    p { (lang.t("cert-scan")) }
                    p.credential #credential { (c.credential) }
                    p { (issued) }
                }
                form.reissue.no-print method="post"
                    action={ (PREFIX) "/records/" (c.registration_number) "/reissue" } {
                    input type="hidden" name="csrf" value=(csrf);
                    p { (lang.t("cert-reissue-explain")) }
                    button type="submit" { (lang.t("cert-reissue")) }
                }
            }
        }
    }
    .into_string()
}

/// `GET /registrar/records/{id}/certificate`.
pub(crate) async fn page(
    State(state): State<Shared>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<PaperQuery>, QueryRejection>,
) -> Response {
    let a5 = q
        .ok()
        .and_then(|Query(q)| q.paper)
        .is_some_and(|p| p.eq_ignore_ascii_case("a5"));
    with_session(&state, req, false, move |page| {
        let id = record_id(id)?;
        let c = page
            .registrar
            .certificate(page.session, &id, &page.req.address, page.now)?;
        let mut response = super::html(
            StatusCode::OK,
            PreEscaped(render(page.lang(), &c, a5, &page.session.csrf_token)),
        );
        let hash = STANDARD.encode(Sha256::digest(style(a5).as_bytes()));
        if let Ok(csp) = HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        Ok(response)
    })
    .await
}

fn record_id(id: Result<Path<String>, PathRejection>) -> Result<Uuid, RegistrarError> {
    id.ok()
        .and_then(|Path(id)| Uuid::parse_str(&id).ok())
        .ok_or_else(|| RegistrarError::bad_request("bad_id", "a record id is a UUID"))
}

/// `POST /registrar/records/{id}/reissue`: a new registered credential for a lost paper
/// ([`Registrar::reissue`], audited), then back to the certificate page, which shows it.
pub(crate) async fn reissue(
    State(state): State<Shared>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    with_form(&state, req, body, false, move |page, _: Empty| {
        let id = record_id(id)?;
        page.registrar
            .reissue(page.session, &id, &page.req.address, page.now)?;
        Ok(redirect(&format!("{PREFIX}/records/{id}/certificate")))
    })
    .await
}
