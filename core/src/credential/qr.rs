//! QR rendering and, with the `qr-image` feature, reading a credential back from a photo or
//! screenshot.
//!
//! Every drawing comes from one [`QrMatrix`] (which the apps can draw themselves): SVG, PNG and
//! the terminal. Each has the 4-module light quiet zone ISO/IEC 18004 asks for on every side.

use qrcode::{Color, EcLevel, QrCode, Version};

use super::{Credential, CredentialError};

/// Light modules around the code on every side (ISO/IEC 18004 §5.3.8: at least 4).
pub const QUIET_ZONE: usize = 4;
/// Largest PNG scale, pixels a module: 32 gives a version 11 credential a 2 240-pixel square
/// (a version 40 code, 5 920 pixels), far more than a screen or a printer needs.
pub const MAX_PNG_SCALE: u32 = 32;

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

/// The modules of a QR code, without its quiet zone: `size` x `size`, row by row from the top
/// left, `true` for a dark module. Draw it with [`QUIET_ZONE`] light modules around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules a side (21 for version 1, 17 + 4 x version).
    pub size: usize,
    /// `size * size` modules, row-major, `true` = dark.
    pub modules: Vec<bool>,
}

impl QrMatrix {
    /// Whether the module at column `x`, row `y` of the code is dark.
    pub fn dark(&self, x: usize, y: usize) -> bool {
        x < self.size && y < self.size && self.modules[y * self.size + x]
    }

    /// Whether the module at (`x`, `y`) of the drawing with its quiet zone (`size + 8` a side)
    /// is dark: the quiet zone is light.
    fn dark_with_quiet_zone(&self, x: usize, y: usize) -> bool {
        x >= QUIET_ZONE && y >= QUIET_ZONE && self.dark(x - QUIET_ZONE, y - QUIET_ZONE)
    }

    /// Modules a side with the quiet zone.
    pub fn size_with_quiet_zone(&self) -> usize {
        self.size + 2 * QUIET_ZONE
    }
}

/// The module matrix of the credential's QR code.
pub fn matrix(credential: &Credential) -> Result<QrMatrix, CredentialError> {
    matrix_of(&qr_code(credential)?)
}

/// The module matrix of the QR code of any short `text` at ECC level M (the densest mode the
/// text allows), e.g. an enrolment token for a phone to scan.
pub fn text_matrix(text: &str) -> Result<QrMatrix, CredentialError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| CredentialError::Issue(format!("QR encoding: {e}")))?;
    matrix_of(&code)
}

fn matrix_of(code: &QrCode) -> Result<QrMatrix, CredentialError> {
    let size = code.width();
    let modules = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok(QrMatrix { size, modules })
}

/// An SVG image of the QR code with a 4-module quiet zone.
pub fn to_svg(credential: &Credential) -> Result<String, CredentialError> {
    Ok(matrix_svg(&matrix(credential)?))
}

/// An SVG image of a QR matrix with a 4-module quiet zone, 8 pixels a module.
pub fn matrix_svg(m: &QrMatrix) -> String {
    let size = m.size_with_quiet_zone();
    let mut path = String::new();
    for (i, _) in m.modules.iter().enumerate().filter(|(_, d)| **d) {
        path.push_str(&format!(
            "M{},{}h1v1h-1z",
            i % m.size + QUIET_ZONE,
            i / m.size + QUIET_ZONE
        ));
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n",
        px = size * 8
    )
}

/// How [`to_terminal`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalStyle {
    /// Explicit black-on-white ANSI colours: scans from light and dark terminals alike.
    Colour,
    /// No escape codes at all (for `NO_COLOR`): the light modules, quiet zone included, are
    /// drawn as blocks in the terminal's text colour on its background, so the code is right
    /// way round on light text over a dark background and inverted on dark text over a light
    /// one (most phone scanners, and `birthright verify --image`, read both).
    Plain,
}

/// Character columns the terminal drawing of a code needs: one per module, quiet zone included.
pub fn terminal_columns(credential: &Credential) -> Result<usize, CredentialError> {
    Ok(matrix(credential)?.size_with_quiet_zone())
}

/// The QR code drawn with Unicode half blocks, two modules (one above the other) per character
/// cell, one cell per module across, with the 4-module quiet zone on every side. Every line is
/// [`terminal_columns`] characters wide.
pub fn to_terminal(
    credential: &Credential,
    style: TerminalStyle,
) -> Result<String, CredentialError> {
    let m = matrix(credential)?;
    let size = m.size_with_quiet_zone();
    // Below the last row (the size is odd): light, part of the quiet zone.
    let dark = |x: usize, y: usize| y < size && m.dark_with_quiet_zone(x, y);
    let mut out = String::new();
    for y in (0..size).step_by(2) {
        let mut current = None;
        for x in 0..size {
            let (top, bottom) = (dark(x, y), dark(x, y + 1));
            match style {
                TerminalStyle::Colour => {
                    // Upper half block: foreground = top module, background = bottom module.
                    if current != Some((top, bottom)) {
                        let fg = if top { 30 } else { 97 };
                        let bg = if bottom { 40 } else { 107 };
                        out.push_str(&format!("\x1b[{fg};{bg}m"));
                        current = Some((top, bottom));
                    }
                    out.push('\u{2580}');
                }
                // The light modules are the ink.
                TerminalStyle::Plain => out.push(match (top, bottom) {
                    (false, false) => '\u{2588}',
                    (false, true) => '\u{2580}',
                    (true, false) => '\u{2584}',
                    (true, true) => ' ',
                }),
            }
        }
        if style == TerminalStyle::Colour {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    Ok(out)
}

/// A PNG of the QR code, `scale` pixels a module (1 to [`MAX_PNG_SCALE`]), with the 4-module
/// quiet zone: 1-bit greyscale, black on white.
pub fn to_png(credential: &Credential, scale: u32) -> Result<Vec<u8>, CredentialError> {
    matrix_png(&matrix(credential)?, scale)
}

/// A PNG of `matrix`, as [`to_png`]. Written here (PNG, ISO/IEC 15948: signature, `IHDR`, one
/// `IDAT` of zlib-compressed scanlines without filtering, `IEND`) with the zlib and CRC-32 the
/// core already has, rather than with a PNG crate that would add its own deflate
/// implementation to the phones' library.
pub fn matrix_png(matrix: &QrMatrix, scale: u32) -> Result<Vec<u8>, CredentialError> {
    use std::io::Write;
    if !(1..=MAX_PNG_SCALE).contains(&scale) {
        return Err(CredentialError::Render(format!(
            "the PNG scale must be 1 to {MAX_PNG_SCALE} pixels a module, not {scale}"
        )));
    }
    let scale = scale as usize;
    let side = matrix.size_with_quiet_zone() * scale;
    // Each scanline: filter type 0 (none), then 1 bit a pixel, most significant first, 0 =
    // black, padded to a whole byte. One scanline per row of modules, repeated `scale` times.
    let line = 1 + side.div_ceil(8);
    let mut scanlines = Vec::with_capacity(line * side);
    for y in 0..matrix.size_with_quiet_zone() {
        let mut row = vec![0xffu8; line];
        row[0] = 0;
        for x in 0..side {
            if matrix.dark_with_quiet_zone(x / scale, y) {
                row[1 + x / 8] &= !(0x80 >> (x % 8));
            }
        }
        for _ in 0..scale {
            scanlines.extend_from_slice(&row);
        }
    }
    let failed = |e: std::io::Error| CredentialError::Render(format!("PNG compression: {e}"));
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&scanlines).map_err(failed)?;
    let compressed = z.finish().map_err(failed)?;
    let side = u32::try_from(side)
        .map_err(|_| CredentialError::Render("the image would be too large".into()))?;
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&side.to_be_bytes()); // width
    header.extend_from_slice(&side.to_be_bytes()); // height
    // Bit depth 1, colour type 0 (greyscale), compression 0, filter method 0, no interlace.
    header.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &header);
    png_chunk(&mut png, b"IDAT", &compressed);
    png_chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

/// A PNG chunk: length, type, data, and the CRC-32 of type and data.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(feature = "qr-image")]
mod reader;
#[cfg(feature = "qr-image")]
pub use reader::{
    MAX_DECODE_ALLOC, MAX_FINDER_PATTERNS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE,
    MAX_SEARCH_SIDE, QrImageError, WORK_BUDGET, decode, read_image, read_luma,
};

#[cfg(test)]
mod tests;
