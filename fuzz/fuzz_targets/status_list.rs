#![no_main]
//! The registry's status list behind a valid registry signature. First byte: 0, the rest is
//! the CWT claims payload, signed by the registry with the documented headers; 1, the rest is
//! the `lst` (zlib) of an otherwise valid token; 2, the rest is taken as already signed bytes.
//! A token that verifies is given to an offline verifier, which checks a registered credential
//! against it. Properties: no panic, bounded work (the inflate limit), and a verified list's
//! statuses are 2-bit values.
use std::collections::BTreeMap;

use birthright_core::{
    codec::{self, Value},
    cose,
    credential::{Verdict, Verifier, issue_registered},
    status_list::{
        CLAIM_EXP, CLAIM_IAT, CLAIM_STATUS_LIST, CLAIM_SUB, CLAIM_TTL, HEADER_TYP, StatusListToken,
        TYP_STATUS_LIST_CWT,
    },
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fn sign(payload: &[u8]) -> Vec<u8> {
    let key = h::registry_key();
    let mut protected = BTreeMap::new();
    protected.insert(HEADER_TYP, Value::Text(TYP_STATUS_LIST_CWT.into()));
    cose::sign1(&key.key_id().0, protected, BTreeMap::new(), payload, |m| {
        key.sign(m)
    })
}

fn claims_with_lst(lst: &[u8]) -> Vec<u8> {
    let int = |k: i64| Value::Integer(k.into());
    let mut inner = BTreeMap::new();
    inner.insert(Value::Text("bits".into()), Value::Integer(2));
    inner.insert(Value::Text("lst".into()), Value::Bytes(lst.to_vec()));
    let claims = Value::Map(
        [
            (int(CLAIM_SUB), Value::Text(h::trust().origin)),
            (int(CLAIM_EXP), Value::Integer((h::NOW + 3600).into())),
            (int(CLAIM_IAT), Value::Integer(h::NOW.into())),
            (int(CLAIM_STATUS_LIST), Value::Map(inner)),
            (int(CLAIM_TTL), Value::Integer(3600)),
        ]
        .into_iter()
        .collect(),
    );
    codec::value_to_vec(&claims).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let trust = h::trust();
    let token = match mode % 3 {
        0 => sign(rest),
        1 => sign(&claims_with_lst(rest)),
        _ => rest.to_vec(),
    };
    let Ok(decoded) = StatusListToken::verify(&token, &trust) else {
        return;
    };
    for i in [
        0u64,
        1,
        7,
        decoded.list.capacity().saturating_sub(1),
        u64::MAX,
    ] {
        if let Some(status) = decoded.list.get(i) {
            assert!(status.value() <= 3);
        }
    }
    let mut verifier = Verifier::new();
    verifier
        .add_trust_bundle(trust.to_json().as_bytes())
        .expect("the fixed bundle");
    verifier.add_status_list(&token).expect("verified above");
    let record = h::sample_record();
    if let Ok(credential) = issue_registered(&h::registry_key(), &record, 5, h::NOW) {
        let v = verifier.verify_text(&credential.text, h::NOW);
        assert!(!matches!(v.verdict, Verdict::Unreadable(_)));
    }
});
