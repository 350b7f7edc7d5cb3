#![no_main]
//! The device's handling of the registry's answer to a batch, behind the seal: a fresh device,
//! enrolled, with one record, has sent its batch; the fuzz bytes are the answer's plaintext,
//! which the harness seals with that batch's response key and hands to the sync state machine
//! (then it plays the registry for the checkpoint). Before sealing, placeholders are replaced
//! with this batch's values, so a seed can name the batch, the record, the one-leaf
//! checkpoint and a registered credential that all verify (see `AnswerParts::fill_in`).
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = h::with_answer_context(|machine, parts| {
        let plaintext = parts.fill_in(data);
        let _ = h::drive_answer(machine, parts, &plaintext);
    });
});
