#![no_main]
//! The registry's sealed matching facts as bytes (`BoundFacts::from_bytes`, docs/MATCHING.md
//! §6.4), read after the row's seal opened. Properties: no panic; facts of version 2 read
//! give back the bytes they were read from (those of version 1 are written as version 2 and
//! read back the same); the bound is symmetric against the facts of the reference record and
//! never rules the facts out against themselves.
use birthright_core::{
    fixtures::reference_input,
    matching::{BoundFacts, Prepared},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = BoundFacts::from_bytes(data) else {
        return;
    };
    if data.first() == Some(&1) {
        assert_eq!(BoundFacts::from_bytes(&facts.to_bytes()).as_ref(), Ok(&facts));
    } else {
        assert_eq!(facts.to_bytes().as_slice(), data);
    }
    let reference = BoundFacts::of(&Prepared::from_form(&reference_input()), &[7; 32]);
    assert_eq!(facts.rules_out(&reference), reference.rules_out(&facts));
    assert!(!facts.rules_out(&facts));
});
