#![no_main]
//! Trust bundle JSON: parsing and its consistency checks, the fingerprint and the pin built
//! from it (a bundle must match its own fingerprint and survive its JSON round trip, as the
//! device stores it re-serialised), and an offline verifier with the revocation list.
use birthright_core::{
    credential::Verifier,
    trust::{TrustBundle, TrustPin},
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = TrustPin::fingerprint(text);
    }
    let Ok(bundle) = TrustBundle::from_json(data) else {
        return;
    };
    let again = TrustBundle::from_json(bundle.to_json().as_bytes());
    assert_eq!(
        again.as_ref().ok(),
        Some(&bundle),
        "bundle JSON round trip: {again:?}"
    );
    let fingerprint = bundle
        .fingerprint()
        .expect("a parsed bundle has a fingerprint");
    let pin = TrustPin::fingerprint(&fingerprint).expect("its own fingerprint parses");
    assert!(
        pin.check(&bundle).is_ok(),
        "a bundle matches its own fingerprint"
    );
    if let Ok(verifier) = Verifier::from_bytes(data, Some(&h::revocation_list())) {
        let _ = verifier.verify_text("BR1:C00", h::NOW);
    }
});
