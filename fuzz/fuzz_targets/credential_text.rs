#![no_main]
//! Credential text (prefix, base45, zlib with its output cap, COSE, claims, signature).
use base64::{Engine, engine::general_purpose::STANDARD};
use birthright_core::{
    credential::{decode_text, verify_text},
    keys::Ed25519Key,
    trust::{HPKE_SUITE, TRUST_BUNDLE_FORMAT, TrustBundle},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_text(text);
    let registry = Ed25519Key::from_secret(&[1; 32]);
    let trust = TrustBundle {
        format: TRUST_BUNDLE_FORMAT.into(),
        origin: "fuzz.test/births".into(),
        checkpoint_vkey: String::new(),
        registry_public_key: STANDARD.encode(registry.public_bytes()),
        registry_key_id: registry.key_id().to_hex(),
        hpke_public_key: STANDARD.encode([9u8; 32]),
        hpke_key_id: String::new(),
        hpke_suite: HPKE_SUITE.into(),
        witnesses: Vec::new(),
        witness_quorum: 0,
    };
    let _ = verify_text(text, &trust, None, 0);
});
