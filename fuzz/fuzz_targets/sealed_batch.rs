#![no_main]
//! Sealed batches, sealed responses, ledger leaves, enrolment requests.
use birthright_core::{
    codec,
    wire::{BatchResponse, EnrolRequest, LedgerLeaf, ResponseKey, open_batch},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = open_batch(data, &[7; 32]);
    let key = ResponseKey {
        secret: zeroize_free([1; 32]),
        enc: [2; 32],
    };
    let _ = BatchResponse::open(data, &key);
    let _ = LedgerLeaf::parse(data);
    let _ = codec::from_slice::<EnrolRequest>(data, 16 * 1024);
});

fn zeroize_free(bytes: [u8; 32]) -> zeroize::Zeroizing<[u8; 32]> {
    zeroize::Zeroizing::new(bytes)
}
