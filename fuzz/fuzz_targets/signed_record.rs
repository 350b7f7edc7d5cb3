#![no_main]
//! COSE_Sign1 records, certificates and revocation lists from arbitrary bytes.
use birthright_core::{cose::CoseSign1, signed::SignedRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SignedRecord::decode(data);
    let _ = CoseSign1::parse(data, 1 << 20);
});
