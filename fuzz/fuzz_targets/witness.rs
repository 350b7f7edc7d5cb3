#![no_main]
//! C2SP tlog-witness and tlog-cosignature (docs/PROTOCOL.md §17): the `add-checkpoint` body a
//! witness parses, cosignature lines, verifier keys, a witness's 200 and 409 answers, and the
//! witness policy evaluated over a note with any signature lines.
use birthright_core::ledger::{
    cosignature::{Cosignature, CosignatureVerifier, WitnessPolicy, split_note},
    witness::{AddCheckpoint, checkpoint_origin, parse_conflict_body, verify_response},
};
use libfuzzer_sys::fuzz_target;

/// The verifier key of the known-answer test (PROTOCOL §17).
const VKEY: &str = "witness.test/w1+63686739+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = AddCheckpoint::parse(data) {
        // What parses re-encodes to a body that parses to the same request.
        let again = AddCheckpoint::parse(request.to_body().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&request));
        let _ = checkpoint_origin(&request.checkpoint);
    }
    let _ = parse_conflict_body(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        if let Ok(cosignature) = Cosignature::parse_line(line) {
            assert_eq!(
                Cosignature::parse_line(&cosignature.to_line()).ok(),
                Some(cosignature)
            );
        }
        if let Ok(verifier) = CosignatureVerifier::from_vkey(line) {
            assert_eq!(verifier.to_vkey(), line);
        }
    }
    let _ = split_note(text);
    if let Ok(verifier) = CosignatureVerifier::from_vkey(VKEY) {
        let _ = verify_response(&verifier, text, data);
        if let Ok(policy) = WitnessPolicy::new(vec![verifier], 1) {
            let _ = policy.evaluate(text);
        }
    }
});
