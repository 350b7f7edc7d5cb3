#![no_main]
//! Credential claims behind a valid signature. The rest of the input after the first byte is
//! the CWT claims payload; bit 0 of the first byte signs it as a provisional credential (the
//! fixed device, with its valid certificate) instead of a registered one (the registry), bit 1
//! verifies with the revocation list. The bytes then go through `verify_bytes`, and through
//! `Credential::from_bytes` and the text form, which must give the same bytes back.
use birthright_core::{
    credential::{Credential, CredentialError, decode_text, verify_bytes, verify_text},
    trust::RevocationList,
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, claims)) = data.split_first() else {
        return;
    };
    let certificate = (mode & 1 == 1).then(h::device_certificate);
    let bytes = h::sign_credential_payload(claims, certificate.as_deref());
    let trust = h::trust();
    let list = (mode & 2 == 2)
        .then(|| RevocationList::verify(&h::revocation_list(), &trust).ok())
        .flatten();
    let verification = verify_bytes(&bytes, &trust, list.as_ref(), h::NOW);
    let Ok(credential) = Credential::from_bytes(bytes.clone()) else {
        return;
    };
    match decode_text(&credential.text) {
        Ok(back) => {
            assert_eq!(back, bytes, "the text form must give the same bytes back");
            let again = verify_text(&credential.text, &trust, list.as_ref(), h::NOW);
            assert_eq!(
                again, verification,
                "text and bytes must get the same verdict"
            );
        }
        Err(CredentialError::TooLong(_)) => {}
        Err(e) => panic!("a credential's own text does not decode: {e}"),
    }
});
