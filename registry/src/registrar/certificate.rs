//! Printable birth certificates of registered records, and reissue for a lost paper.
//!
//! A certificate (the page: [`super::web::certificate`], A4 and A5 print CSS) has the registration
//! details, the registration number (the record id, which the credential's `sub` carries),
//! the ledger index, and the registered credential as an inline SVG QR code with its text.
//! The credential is the newest one issued for the record: one issued at the time the record
//! was registered (by the review policy at sequencing, or by a registrar's decision), or the
//! latest reissue (`POST /records/{id}/reissue`): a NEW registered credential, issued now; the
//! old one stays valid unless revoked. The registry keeps only the reissue times: each
//! credential is signed again from the sealed record when shown (Ed25519 is deterministic).
//!
//! Printing and reissuing are for registrars and supervisors in their regions; every view
//! of a certificate is audited as a view of the child's record (`certificate_view`), every
//! reissue too (`certificate_reissue`); neither log line holds a name.
//!
//! A record is printable while it is registered: not superseded by a correction, not revoked,
//! not awaiting review, rejected or found a duplicate ([`Registrar::status_of`]).

use birthright_core::{
    credential::{Credential, qr},
    record::RegistrationForm,
};
use serde::Serialize;
use uuid::Uuid;

use super::{
    RefusedAccess, Registrar, RegistrarError, access, sessions::Session, store::RecordMeta,
};

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
        self.refuse_outside_region(
            user,
            &meta.region,
            "this record is outside your regions",
            RefusedAccess {
                action: "certificate_refused",
                record: id,
                address,
                now,
            },
        )?;
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

    /// When the record was registered: its registration's time (the policy's at sequencing,
    /// or a registrar's decision), or its sequencing for a record from before review statuses.
    fn registered_at(&self, meta: &RecordMeta) -> Result<i64, RegistrarError> {
        Ok(self
            .registry
            .registration(&meta.kid, &meta.id)?
            .filter(|r| r.status == "registered")
            .map_or(meta.sequenced_at, |r| r.updated_at))
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
            registered_at: self.registered_at(meta)?,
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
        let certificate = match reissue {
            Some(at) => self.certificate_of(&meta, at, true)?,
            None => self.certificate_of(&meta, self.registered_at(&meta)?, false)?,
        };
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
            || self.registered_at(&meta)? == now
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
