#![no_main]
//! The registry's sealed matching facts as bytes (`BoundFacts::from_bytes`, docs/MATCHING.md
//! §6.4), read after the row's seal opened. Properties: no panic; facts read give back the
//! bytes they were read from; the bound is symmetric against the facts of the reference
//! record and never rules the facts out against themselves.
use birthright_core::{
    fixtures::reference_input,
    matching::{BoundFacts, Prepared},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = BoundFacts::from_bytes(data) else {
        return;
    };
    assert_eq!(facts.to_bytes().as_slice(), data);
    let reference = BoundFacts::of(&Prepared::from_form(&reference_input()), &[7; 32]);
    assert_eq!(facts.rules_out(&reference), reference.rules_out(&facts));
    assert!(!facts.rules_out(&facts));
});
