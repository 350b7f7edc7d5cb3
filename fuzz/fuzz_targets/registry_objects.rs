#![no_main]
//! Device certificates and revocation lists behind a valid registry signature. First byte:
//! 0, the rest is a certificate payload, signed by the registry, verified, and then embedded in a
//! provisional credential of fixed claims signed by the fixed device; 1, the rest is a
//! revocation-list payload, signed, verified, and used by an offline verifier on a provisional
//! credential; 2, the rest is taken as already signed bytes of either.
use birthright_core::{
    credential::{Verifier, verify_bytes},
    trust::{DeviceCertificate, RevocationList},
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let trust = h::trust();
    match mode % 3 {
        0 => {
            let certificate = h::sign_certificate_payload(rest);
            if let Ok(cert) = DeviceCertificate::verify(&certificate, &trust) {
                let _ = cert.check_valid_at(h::NOW);
                let _ = cert.device_kid();
            }
            let claims = h::provisional_claims(&h::sample_record());
            let credential = h::sign_credential_payload(&claims, Some(&certificate));
            let _ = verify_bytes(&credential, &trust, None, h::NOW);
        }
        1 => {
            let list = h::sign_revocations_payload(rest);
            if let Ok(decoded) = RevocationList::verify(&list, &trust) {
                let _ = decoded.find(&h::device_key().key_id());
            }
            if let Ok(verifier) = Verifier::from_bytes(trust.to_json().as_bytes(), Some(&list)) {
                let claims = h::provisional_claims(&h::sample_record());
                let credential = birthright_core::credential::Credential::from_bytes(
                    h::sign_credential_payload(&claims, Some(&h::device_certificate())),
                );
                if let Ok(credential) = credential {
                    let _ = verifier.verify_text(&credential.text, h::NOW);
                }
            }
        }
        _ => {
            let _ = DeviceCertificate::verify(rest, &trust);
            let _ = RevocationList::verify(rest, &trust);
        }
    }
});
