//! Printable birth certificates of registered records, and reissue for a lost paper.
//!
//! A certificate is an HTML page (A4 and A5 print CSS, `@page size`) with the registration
//! details, the registration number (the record id, which the credential's `sub` carries),
//! the ledger index, and the registered credential as an inline SVG QR code with its text.
//! The credential is the newest one issued for the record: the one issued when the record
//! was registered (issued at its sequencing time, byte-identical to the device's), or the
//! latest reissue (`POST /records/{id}/reissue`): a NEW registered credential, issued now; the
//! old one stays valid unless revoked. The registry keeps only the reissue times: each
//! credential is signed again from the sealed record when shown (Ed25519 is deterministic).
//!
//! Printing and reissuing are for registrars and supervisors in their regions; every view
//! of a certificate is audited as a view of the child's record (`certificate_view`), every
//! reissue too (`certificate_reissue`); neither log line holds a name.
//!
//! A record is printable while it is registered: not superseded by a correction, not revoked,
//! not held for a duplicate review.

use birthright_core::{
    credential::{Credential, qr},
    record::{RegistrationForm, Sex},
};
use serde::Serialize;
use uuid::Uuid;

use super::{Registrar, RegistrarError, access, sessions::Session, store::RecordMeta};

/// A certificate's contents.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// The registration number: the record id.
    pub registration_number: String,
    /// Ledger leaf.
    pub leaf_index: u64,
    /// The registry's origin.
    pub registry: String,
    /// Region of the capturing device.
    pub region: String,
    /// When the registry registered it (Unix seconds).
    pub registered_at: i64,
    /// When this certificate's credential was issued (Unix seconds).
    pub issued_at: i64,
    /// Whether the credential is a reissue.
    pub reissued: bool,
    /// The registered credential's text (`BR1:…`), as its QR code holds it.
    pub credential: String,
    /// The QR code, SVG.
    pub qr_svg: String,
    /// The form as the device signed it.
    pub form: RegistrationForm,
}

impl Registrar {
    /// The record `id` the user may print, and its index entry.
    fn printable(
        &self,
        session: &Session,
        id: &Uuid,
        address: &str,
        now: i64,
    ) -> Result<RecordMeta, RegistrarError> {
        let user = &session.user;
        access::require_printer(user)?;
        let meta = self
            .store
            .record_index()?
            .into_iter()
            .find(|m| m.id == *id)
            .ok_or_else(|| RegistrarError::new(404, "not_found", format!("no record {id}")))?;
        if !access::sees_region(user, &meta.region) {
            self.audit(
                now,
                Some(&user.username),
                "certificate_refused",
                Some(id.to_string()),
                Some(address),
            )?;
            return Err(RegistrarError::new(
                403,
                "region_forbidden",
                "this record is outside your regions",
            ));
        }
        if self.status_of(&meta)? != "registered" || self.registry.is_held(&meta.kid, &meta.id)? {
            return Err(RegistrarError::new(
                409,
                "not_registered",
                "this record is not registered (it is held for review, corrected by a later \
                 record, or revoked): it has no certificate",
            ));
        }
        Ok(meta)
    }

    fn certificate_of(
        &self,
        meta: &RecordMeta,
        issued_at: i64,
        reissued: bool,
    ) -> Result<Certificate, RegistrarError> {
        let not_found = || RegistrarError::new(404, "not_found", format!("no record {}", meta.id));
        let credential: Credential = self
            .registry
            .registered_credential(&meta.kid, &meta.id, meta.leaf_index, issued_at)?
            .ok_or_else(not_found)?;
        let qr_svg = qr::to_svg(&credential)
            .map_err(|e| RegistrarError::new(500, "internal", e.to_string()))?;
        let bytes = self
            .registry
            .record_bytes_of(&meta.kid, &meta.id)?
            .ok_or_else(not_found)?;
        let signed = birthright_core::signed::SignedRecord::decode(&bytes).map_err(|_| {
            RegistrarError::new(
                500,
                "internal",
                format!("stored record {} is damaged", meta.id),
            )
        })?;
        Ok(Certificate {
            registration_number: meta.id.to_string(),
            leaf_index: meta.leaf_index,
            registry: self.registry.trust_bundle().origin.clone(),
            region: meta.region.clone(),
            registered_at: meta.sequenced_at,
            issued_at,
            reissued,
            credential: credential.text,
            qr_svg,
            form: signed.record.enrolment,
        })
    }

    /// The certificate of record `id` with its newest registered credential. Audited as a
    /// view of the record.
    pub fn certificate(
        &self,
        session: &Session,
        id: &Uuid,
        address: &str,
        now: i64,
    ) -> Result<Certificate, RegistrarError> {
        let meta = self.printable(session, id, address, now)?;
        let reissue = self.store.latest_credential_issue(meta.leaf_index)?;
        let certificate = self.certificate_of(
            &meta,
            reissue.unwrap_or(meta.sequenced_at),
            reissue.is_some(),
        )?;
        self.audit(
            now,
            Some(&session.user.username),
            "certificate_view",
            Some(id.to_string()),
            Some(address),
        )?;
        Ok(certificate)
    }

    /// Issues a new registered credential for record `id` (a lost paper), issued `now`; the
    /// old ones stay valid unless revoked. Audited. Returns the new certificate.
    pub fn reissue(
        &self,
        session: &Session,
        id: &Uuid,
        address: &str,
        now: i64,
    ) -> Result<Certificate, RegistrarError> {
        let meta = self.printable(session, id, address, now)?;
        if self.store.latest_credential_issue(meta.leaf_index)? == Some(now)
            || meta.sequenced_at == now
        {
            return Err(RegistrarError::new(
                409,
                "just_issued",
                "a credential for this record was issued this very second: try again",
            ));
        }
        let certificate = self.certificate_of(&meta, now, true)?;
        self.store.add_credential_issue(meta.leaf_index, now)?;
        self.audit(
            now,
            Some(&session.user.username),
            "certificate_reissue",
            Some(id.to_string()),
            Some(address),
        )?;
        Ok(certificate)
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A recorded date (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`) in words: `2 November 2025`,
/// `November 2025`, `2025`; anything else as it is.
pub fn date_words(date: &str) -> String {
    let parts: Vec<&str> = date.split('-').collect();
    let month = |m: &str| {
        m.parse::<usize>()
            .ok()
            .and_then(|m| m.checked_sub(1))
            .and_then(|m| MONTHS.get(m))
    };
    match parts.as_slice() {
        [y, m, d] => match (month(m), d.parse::<u8>()) {
            (Some(m), Ok(d)) => format!("{d} {m} {y}"),
            _ => date.to_string(),
        },
        [y, m] => match month(m) {
            Some(m) => format!("{m} {y}"),
            None => date.to_string(),
        },
        _ => date.to_string(),
    }
}

/// A Unix time as a date in words (UTC).
fn unix_date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .map(|d| date_words(&d))
        .unwrap_or_else(|_| unix.to_string())
}

fn sex_words(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Female) => "female",
        Some(Sex::Male) => "male",
        Some(Sex::Unknown) | None => "not recorded",
    }
}

/// The printable page of `c`: A4 by default, A5 with `?paper=a5`.
pub fn render_html(c: &Certificate, a5: bool) -> String {
    let f = &c.form;
    let mut rows: Vec<(&str, String)> = vec![
        (
            "Child",
            format!("{} {}", f.child.given_names, f.child.family_name),
        ),
        ("Sex", sex_words(f.child.sex).to_string()),
        ("Date of birth", date_words(&f.child.date_of_birth)),
    ];
    if let Some(t) = &f.child.time_of_birth {
        rows.push(("Time of birth", t.clone()));
    }
    let mut place = f.place_of_birth.locality.clone();
    if let Some(facility) = &f.place_of_birth.facility {
        place = format!("{facility}, {place}");
    }
    place = format!("{place} ({})", f.place_of_birth.admin_area);
    rows.push(("Place of birth", place));
    rows.push((
        "Mother",
        format!("{} {}", f.mother.given_names, f.mother.family_name),
    ));
    if let Some(father) = &f.father {
        rows.push((
            "Father",
            format!("{} {}", father.given_names, father.family_name),
        ));
    }
    rows.push(("Registration number", c.registration_number.clone()));
    rows.push(("Ledger index", c.leaf_index.to_string()));
    rows.push(("Registered on", unix_date(c.registered_at)));
    rows.push(("Registry", c.registry.clone()));
    rows.push(("Region", c.region.clone()));
    let mut table = String::new();
    for (label, value) in rows {
        table.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(label),
            escape(&value)
        ));
    }
    let paper = if a5 { "A5" } else { "A4" };
    let issued = if c.reissued {
        format!(
            "Reissued on {}: this is a new credential; earlier ones stay valid unless revoked.",
            unix_date(c.issued_at)
        )
    } else {
        format!("Issued on {}.", unix_date(c.issued_at))
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Birth certificate {number}</title>\n<style>\n\
         @page {{ size: {paper} portrait; margin: 12mm; }}\n\
         @media print {{ .no-print {{ display: none; }} body {{ margin: 0; }} }}\n\
         body {{ font-family: serif; max-width: 180mm; margin: 1em auto; color: #000; }}\n\
         body.a5 {{ max-width: 124mm; font-size: 10pt; }}\n\
         h1 {{ text-align: center; font-size: 1.6em; margin: 0 0 .2em; }}\n\
         .registry {{ text-align: center; margin: 0 0 1em; }}\n\
         table {{ width: 100%; border-collapse: collapse; }}\n\
         th {{ text-align: left; width: 40%; padding: .3em; vertical-align: top; }}\n\
         td {{ padding: .3em; border-bottom: 1px solid #888; }}\n\
         .qr {{ text-align: center; margin-top: 1em; }}\n\
         .qr svg {{ width: 60mm; height: 60mm; }}\n\
         body.a5 .qr svg {{ width: 45mm; height: 45mm; }}\n\
         .credential {{ font-family: monospace; font-size: 6pt; word-break: break-all; }}\n\
         </style>\n</head>\n<body class=\"{class}\">\n\
         <p class=\"no-print\"><a href=\"?paper=a4\">A4</a> · <a href=\"?paper=a5\">A5</a> · \
         <button type=\"button\" onclick=\"window.print()\">Print</button></p>\n\
         <h1>Birth certificate</h1>\n<p class=\"registry\">{registry}</p>\n\
         <table>\n{table}</table>\n\
         <div class=\"qr\">{svg}<p>Scan to verify offline against the registry's key.</p>\n\
         <p class=\"credential\" id=\"credential\">{credential}</p>\n<p>{issued}</p></div>\n\
         </body>\n</html>\n",
        number = escape(&c.registration_number),
        registry = escape(&c.registry),
        class = if a5 { "a5" } else { "a4" },
        svg = c.qr_svg,
        credential = escape(&c.credential),
        issued = escape(&issued),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_words_and_text_is_escaped() {
        assert_eq!(date_words("2025-11-02"), "2 November 2025");
        assert_eq!(date_words("2025-11"), "November 2025");
        assert_eq!(date_words("2025"), "2025");
        assert_eq!(date_words("2025-13-01"), "2025-13-01");
        assert_eq!(unix_date(0), "1 January 1970");
        assert_eq!(
            escape("<b a=\"x\">O'Neil & co</b>"),
            "&lt;b a=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/b&gt;"
        );
    }
}
