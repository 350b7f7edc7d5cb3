#![no_main]
//! Signed notes, checkpoints and verifier keys.
use birthright_core::ledger::{checkpoint::Checkpoint, note::NoteVerifier};
use libfuzzer_sys::fuzz_target;

const VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Checkpoint::parse(text);
        let _ = NoteVerifier::from_vkey(text);
        if let Ok(verifier) = NoteVerifier::from_vkey(VKEY) {
            let _ = verifier.verify(text);
        }
    }
});
