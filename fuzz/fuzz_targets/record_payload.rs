#![no_main]
//! Record payloads behind a valid device signature: the fuzz bytes are signed as the COSE
//! payload with the fixed device key, so decoding, the kid check, verification and validation
//! run on them; a record that decodes is then issued as both kinds of credential and verified.
use std::collections::BTreeMap;

use birthright_core::{
    cose,
    credential::{issue_provisional, issue_registered, verify_text},
    signed::SignedRecord,
    validate::validate,
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = h::device_key();
    let bytes = cose::sign1(
        &key.key_id().0,
        BTreeMap::new(),
        BTreeMap::new(),
        data,
        |m| key.sign(m),
    );
    let Ok(signed) = SignedRecord::decode(&bytes) else {
        return;
    };
    assert!(
        signed.verify(&key.verifying_key()).is_ok(),
        "a record signed by the harness must verify"
    );
    let _ = validate(&signed.record.enrolment, h::now());
    let trust = h::trust();
    if let Ok(c) = issue_provisional(&key, &h::device_certificate(), &signed.record, h::NOW) {
        let _ = verify_text(&c.text, &trust, None, h::NOW);
    }
    if let Ok(c) = issue_registered(&h::registry_key(), &signed.record, 3, h::NOW) {
        let _ = verify_text(&c.text, &trust, None, h::NOW);
    }
});
