#![no_main]
//! The device's handling of the registry's notices answer (PROTOCOL §9.1), behind the seal: a
//! fresh device, enrolled, whose one record is on the ledger awaiting a decision, has sent its
//! notices request; the fuzz bytes are the answer's plaintext, which the harness seals with
//! that request's response key and hands to the sync state machine (then it plays the
//! registry for the status list). Before sealing, placeholders are replaced with this device's
//! values, so a seed can name the request, the record, its one-leaf checkpoint, a two-leaf
//! checkpoint for each decision with its consistency and inclusion proofs, and the record's
//! registered credential, all of which verify (see `NoticesParts::fill_in`).
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = h::with_notices_context(|machine, parts| {
        let plaintext = parts.fill_in(data);
        let _ = h::drive_notices(machine, parts, &plaintext);
    });
});
