//! QR rendering (text-only builds: SVG and terminal; with the `qr-image` feature: PNG) and, with
//! that feature, reading a credential back from a photo or screenshot.

use qrcode::{Color, EcLevel, QrCode, Version};

use super::{Credential, CredentialError};

/// The QR code of a credential: alphanumeric mode (the text is all in the QR alphanumeric
/// set), error correction level M.
pub fn qr_code(credential: &Credential) -> Result<QrCode, CredentialError> {
    QrCode::with_error_correction_level(credential.text.as_bytes(), EcLevel::M)
        .map_err(|e| CredentialError::Issue(format!("QR encoding: {e}")))
}

/// The QR version (1-40) the credential needs at ECC level M.
pub fn qr_version(credential: &Credential) -> Result<i16, CredentialError> {
    Ok(match qr_code(credential)?.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    })
}

fn modules(code: &QrCode) -> (usize, Vec<bool>) {
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    (width, dark)
}

/// An SVG image of the QR code with a 4-module quiet zone.
pub fn to_svg(credential: &Credential) -> Result<String, CredentialError> {
    let (width, dark) = modules(&qr_code(credential)?);
    let size = width + 8;
    let mut path = String::new();
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        path.push_str(&format!("M{},{}h1v1h-1z", i % width + 4, i / width + 4));
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n",
        px = size * 8
    ))
}

/// The QR code drawn with Unicode half blocks, two modules per character cell, with explicit
/// black-on-white ANSI colours so it scans from light and dark terminals alike.
pub fn to_terminal(credential: &Credential) -> Result<String, CredentialError> {
    let (width, dark) = modules(&qr_code(credential)?);
    let quiet = 2usize;
    let size = width + 2 * quiet;
    let is_dark = |x: usize, y: usize| {
        x >= quiet
            && y >= quiet
            && x < width + quiet
            && y < width + quiet
            && dark[(y - quiet) * width + (x - quiet)]
    };
    let mut out = String::new();
    for y in (0..size).step_by(2) {
        let mut current = None;
        for x in 0..size {
            let top = is_dark(x, y);
            let bottom = y + 1 < size && is_dark(x, y + 1);
            // Upper half block: foreground = top module, background = bottom module.
            if current != Some((top, bottom)) {
                let fg = if top { 30 } else { 97 };
                let bg = if bottom { 40 } else { 107 };
                out.push_str(&format!("\x1b[{fg};{bg}m"));
                current = Some((top, bottom));
            }
            out.push('\u{2580}');
        }
        out.push_str("\x1b[0m\n");
    }
    Ok(out)
}

/// A PNG of the QR code, `scale` pixels per module, with a 4-module quiet zone.
#[cfg(feature = "qr-image")]
pub fn to_png(credential: &Credential, scale: u32) -> Result<Vec<u8>, CredentialError> {
    let image = qr_code(credential)?
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(scale.max(1), scale.max(1))
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| CredentialError::Issue(format!("PNG encoding: {e}")))?;
    Ok(png)
}

#[cfg(feature = "qr-image")]
mod reader;
#[cfg(feature = "qr-image")]
pub use reader::{
    MAX_DECODE_ALLOC, MAX_FINDER_PATTERNS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE,
    MAX_SEARCH_SIDE, QrImageError, WORK_BUDGET, decode, read_image, read_luma,
};
