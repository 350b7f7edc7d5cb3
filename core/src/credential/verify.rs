//! Offline verification of a credential's bytes: the signature under the pinned trust bundle
//! (the registry's key, or a device key the registry certified), then the verdict, from the
//! registry's status list for a registered credential and from the revocation list and the
//! certificate's expiry for a provisional one. One function per step.

use super::{
    CONTENT_TYPE_CWT, CredentialError, HEADER_DEVICE_CERTIFICATE, MAX_DECOMPRESSED_BYTES,
    Registration, Verdict, Verification, kind_of, list_age, parse_registration,
};
use crate::{
    codec::Value,
    cose::{CoseSign1, HEADER_CONTENT_TYPE},
    keys::KeyId,
    status_list::{LeafStatus, StatusListToken},
    trust::{DeviceCertificate, RevocationList, TrustBundle},
};

/// A Unix time as `YYYY-MM-DD` (UTC), or the number if it is outside the calendar.
fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| unix.to_string())
}

/// Checks credential COSE bytes against the pinned `trust` bundle (and, when given, a verified
/// revocation list, whose age is reported). Returns the verdict and the claims.
pub fn verify_bytes(
    bytes: &[u8],
    trust: &TrustBundle,
    revocations: Option<&RevocationList>,
    now: i64,
) -> Verification {
    verify_with(bytes, trust, revocations, None, now)
}

/// A credential whose signature checked out under the trust bundle.
struct Signed {
    registration: Registration,
    /// The signer's key id.
    signer: KeyId,
    /// The device certificate of a provisional credential; `None`: signed by the registry.
    certificate: Option<DeviceCertificate>,
}

/// Why a credential is invalid, with its signer's key id (hex) once it is known.
type Refusal = (CredentialError, Option<String>);

/// Like [`verify_bytes`], also checking a registered credential's ledger entry in the
/// registry's verified status list (`status`, when there is one): superseded by a correction,
/// or revoked.
pub fn verify_with(
    bytes: &[u8],
    trust: &TrustBundle,
    revocations: Option<&RevocationList>,
    status: Option<&StatusListToken>,
    now: i64,
) -> Verification {
    let revocation_list_age_secs = list_age(revocations, now);
    let status_list_age_secs = status.map(|s| now.saturating_sub(s.issued_at));
    let verdict = signed(bytes, trust).and_then(|signed| {
        let signer_hex = Some(signed.signer.to_hex());
        let verdict = match &signed.certificate {
            None => registered_verdict(&signed.registration, status),
            Some(cert) => provisional_verdict(&signed, cert, revocations, now)
                .map_err(|e| (e, signer_hex.clone()))?,
        };
        Ok((verdict, signed.registration, signer_hex))
    });
    match verdict {
        Ok((verdict, registration, signer)) => Verification {
            verdict,
            registration: Some(registration),
            signer,
            revocation_list_age_secs,
            status_list_age_secs,
        },
        Err((e, signer)) => Verification {
            verdict: Verdict::Invalid(e.to_string()),
            registration: None,
            signer,
            revocation_list_age_secs,
            status_list_age_secs,
        },
    }
}

/// Parses the COSE_Sign1, finds the key that must have signed it (the registry's, or the
/// device key of the certificate it carries, which must verify under `trust`), checks the
/// signature and reads the registration.
fn signed(bytes: &[u8], trust: &TrustBundle) -> Result<Signed, Refusal> {
    let cose = CoseSign1::parse(bytes, MAX_DECOMPRESSED_BYTES)
        .map_err(|e| (CredentialError::Malformed(e.to_string()), None))?;
    if cose.protected.get(&HEADER_CONTENT_TYPE) != Some(&Value::Integer(CONTENT_TYPE_CWT.into())) {
        return Err((CredentialError::Malformed("not a CWT".into()), None));
    }
    kind_of(&cose).map_err(|e| (e, None))?;
    let Some(signer) = cose.kid().and_then(KeyId::from_slice) else {
        return Err((CredentialError::Malformed("no key id".into()), None));
    };
    let refuse = |e: CredentialError| (e, Some(signer.to_hex()));
    let registry_key = trust
        .registry_verifying_key()
        .map_err(|e| refuse(CredentialError::BadCertificate(e.to_string())))?;
    let certificate = match cose.unprotected.get(&HEADER_DEVICE_CERTIFICATE) {
        None => None,
        Some(Value::Bytes(cert)) => Some(
            DeviceCertificate::verify(cert, trust)
                .map_err(|e| refuse(CredentialError::BadCertificate(e.to_string())))?,
        ),
        Some(_) => {
            return Err(refuse(CredentialError::Malformed(
                "device certificate".into(),
            )));
        }
    };
    let key = match &certificate {
        None if signer == KeyId::of(&registry_key.to_bytes()) => registry_key,
        None => return Err(refuse(CredentialError::UnknownSigner)),
        Some(cert) if cert.device_kid() == signer => cert
            .device_key()
            .map_err(|e| refuse(CredentialError::BadCertificate(e.to_string())))?,
        Some(_) => {
            return Err(refuse(CredentialError::BadCertificate(
                "it certifies another device key".into(),
            )));
        }
    };
    if cose.verify(&key).is_err() {
        return Err(refuse(CredentialError::BadSignature));
    }
    let registration = parse_registration(&cose.payload, &trust.origin).map_err(refuse)?;
    Ok(Signed {
        registration,
        signer,
        certificate,
    })
}

/// The verdict on a registry-signed credential: its ledger entry in the status list, when
/// there is one.
fn registered_verdict(registration: &Registration, status: Option<&StatusListToken>) -> Verdict {
    let (Some(index), Some(status)) = (registration.leaf_index, status) else {
        return Verdict::Valid;
    };
    match status.list.get(index) {
        Some(LeafStatus::Superseded) => Verdict::Superseded(format!(
            "a correction of this registration is on the ledger (entry {index} was \
             superseded): this credential is out of date; ask for the corrected one"
        )),
        Some(LeafStatus::Revoked) => Verdict::Revoked(format!(
            "the registry revoked this credential (ledger entry {index}); ask the \
             registry for a new one"
        )),
        Some(LeafStatus::Other(v)) => Verdict::Invalid(format!(
            "the registry's status list gives ledger entry {index} status {v}, which \
             this verifier does not know"
        )),
        // Beyond the list: the credential is newer than the list (nothing can have
        // corrected it yet as far as this list knows).
        Some(LeafStatus::Valid) | None => Verdict::Valid,
    }
}

/// The verdict on a device-signed credential carrying `cert`: refused outright when it claims
/// a ledger index or was issued outside the certificate's validity; revoked once its device's
/// revocation is in force; expired after the certificate.
fn provisional_verdict(
    signed: &Signed,
    cert: &DeviceCertificate,
    revocations: Option<&RevocationList>,
    now: i64,
) -> Result<Verdict, CredentialError> {
    if signed.registration.leaf_index.is_some() {
        return Err(CredentialError::ProvisionalWithLedgerIndex);
    }
    if cert.check_valid_at(signed.registration.issued_at).is_err() {
        return Err(CredentialError::CertificateNotValidAtIssue);
    }
    let signer = signed.signer;
    // A revoked key may be in a thief's hands, and its holder can write any issue time: once
    // a revocation is in force, no provisional credential of that device is trusted, whatever
    // it claims. The registered credential is unaffected.
    Ok(match revocations.and_then(|list| list.find(&signer)) {
        Some(r) if r.revoked_at <= now => Verdict::Revoked(format!(
            "device {signer} has been revoked ({}): its provisional credentials are no \
             longer trusted; ask for the registered credential",
            r.reason
        )),
        // `iat` is written by the device: a retired phone could backdate it forever. What
        // counts is the verifier's clock against the registry-signed expiry.
        _ if now > cert.not_after => Verdict::Expired(format!(
            "the certificate of device {signer} expired on {}: its provisional \
             credentials are no longer valid; ask for the registered credential",
            day(cert.not_after)
        )),
        _ => Verdict::ValidProvisional,
    })
}
