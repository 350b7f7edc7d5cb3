#![no_main]
//! The batch behind the HPKE seal. The first byte picks the way in: 0 decodes the plaintext
//! directly; 1 seals the rest uncompressed and opens it with `open_batch`; 2 seals the rest as
//! an already compressed (zlib) plaintext, so the inflate step with its cap runs on fuzz bytes;
//! 3 compresses the rest first, so inflate succeeds and the decoder sees the fuzz bytes. Whatever
//! batch comes out, its certificate and records go through the registry's checks.
use std::io::Write;

use birthright_core::{
    codec,
    trust::DeviceCertificate,
    signed::SignedRecord,
    validate::validate,
    wire::{self, Batch, MAX_BATCH_PLAINTEXT_BYTES},
};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;

fn seal_and_open(plaintext: &[u8], compressed: bool) -> Option<Batch> {
    let (sealed, _) =
        wire::seal_batch_plaintext(plaintext, &h::BATCH_ID, compressed, &h::hpke_public()).ok()?;
    wire::open_batch(&sealed, &h::HPKE_SECRET)
        .ok()
        .map(|(batch, _)| batch)
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let batch = match mode % 4 {
        0 => codec::from_slice::<Batch>(rest, MAX_BATCH_PLAINTEXT_BYTES).ok(),
        1 => seal_and_open(rest, false),
        2 => seal_and_open(rest, true),
        _ => seal_and_open(&zlib(rest), true),
    };
    let Some(batch) = batch else { return };
    let trust = h::trust();
    if let Some(certificate) = &batch.certificate
        && let Ok(cert) = DeviceCertificate::verify(certificate, &trust)
    {
        let _ = cert.check_valid_at(h::NOW);
        let _ = cert.device_kid();
    }
    let device = h::device_key().verifying_key();
    for bytes in &batch.records {
        if let Ok(signed) = SignedRecord::decode(bytes) {
            let _ = signed.verify(&device);
            let _ = validate(&signed.record.enrolment, h::now());
        }
    }
});
