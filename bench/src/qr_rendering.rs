//! Figure 6b: drawing the registered credential against the QR encoding and zlib it is built on.

use std::time::Instant;

use crate::report::{Report, micros, now, section};
use anyhow::Result;
use birthright_core::{
    credential::{self, qr},
    fixtures::reference_input,
    keys::Ed25519Key,
};
use uuid::Uuid;

/// Drawing the registered credential for a phone screen: the module matrix the apps draw and
/// the 1-bit PNG, against the QR encoding and the zlib compression they are built on.
pub(crate) fn qr_rendering(report: &mut Report, quick: bool) -> Result<()> {
    section(
        "6b. Drawing the registered credential: QR module matrix and 1-bit PNG (6 px a module) vs the QR encoding (and zlib of the same pixels) alone",
    );
    let key = Ed25519Key::generate()?;
    let record = birthright_core::record::Record {
        schema_version: birthright_core::record::SCHEMA_VERSION,
        id: Uuid::now_v7(),
        captured_at: now().unix_timestamp(),
        worker_id: "oksana.m".into(),
        device_kid: key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    let c = credential::issue_registered(&key, &record, 1_234_567, record.captured_at)?;
    let n = if quick { 50 } else { 500 };
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        f()?; // warm up
        let started = Instant::now();
        for _ in 0..n {
            f()?;
        }
        Ok(micros(started.elapsed() / n))
    };
    let encode = time(&mut || {
        std::hint::black_box(
            qrcode::QrCode::with_error_correction_level(c.text.as_bytes(), qrcode::EcLevel::M)
                .map_err(|e| anyhow::anyhow!("QR encoding: {e}"))?,
        );
        Ok(())
    })?;
    let matrix = time(&mut || {
        std::hint::black_box(qr::matrix(&c)?);
        Ok(())
    })?;
    report.add(
        "qr",
        "registered: QR module matrix (for the apps to draw)",
        matrix,
        "µs",
        "QR encoding alone (qrcode crate)",
        Some(encode),
    );
    let scale = 6;
    let png = qr::to_png(&c, scale)?;
    // The same pixels as PNG scanlines (a filter byte, then 1 bit a pixel, 0 = black).
    let m = qr::matrix(&c)?;
    let (module, quiet) = (scale as usize, qr::QUIET_ZONE);
    let side = m.size_with_quiet_zone() * module;
    let row_bytes = side.div_ceil(8);
    let mut raw = vec![0xffu8; (row_bytes + 1) * side];
    for y in 0..side {
        raw[y * (row_bytes + 1)] = 0;
        for x in 0..side {
            let (mx, my) = (x / module, y / module);
            if mx >= quiet && my >= quiet && m.dark(mx - quiet, my - quiet) {
                raw[y * (row_bytes + 1) + 1 + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let deflate = time(&mut || {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw)?;
        std::hint::black_box(z.finish()?);
        Ok(())
    })?;
    let render = time(&mut || {
        std::hint::black_box(qr::to_png(&c, scale)?);
        Ok(())
    })?;
    report.add(
        "qr",
        format!("registered: PNG, {side} x {side} pixels"),
        render,
        "µs",
        "QR encoding + zlib of its 1-bit pixel rows",
        Some(encode + deflate),
    );
    report.add(
        "qr",
        "registered: PNG size",
        png.len() as f64,
        "bytes",
        "its 1-bit pixel rows uncompressed",
        Some(raw.len() as f64),
    );
    Ok(())
}
