//! QR rendering and, with the `qr-image` feature, reading a credential back from a photo or
//! screenshot.
//!
//! Every drawing comes from one [`QrMatrix`]: SVG and the terminal in every build, PNG with the
//! `qr-png` feature (the apps draw the matrix themselves, or take the PNG). Each has the
//! 4-module light quiet zone ISO/IEC 18004 asks for on every side.

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
    let code = qr_code(credential)?;
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
    let m = matrix(credential)?;
    let size = m.size_with_quiet_zone();
    let mut path = String::new();
    for (i, _) in m.modules.iter().enumerate().filter(|(_, d)| **d) {
        path.push_str(&format!(
            "M{},{}h1v1h-1z",
            i % m.size + QUIET_ZONE,
            i / m.size + QUIET_ZONE
        ));
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n",
        px = size * 8
    ))
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
#[cfg(feature = "qr-png")]
pub fn to_png(credential: &Credential, scale: u32) -> Result<Vec<u8>, CredentialError> {
    matrix_png(&matrix(credential)?, scale)
}

/// A PNG of `matrix`, as [`to_png`].
#[cfg(feature = "qr-png")]
pub fn matrix_png(matrix: &QrMatrix, scale: u32) -> Result<Vec<u8>, CredentialError> {
    if !(1..=MAX_PNG_SCALE).contains(&scale) {
        return Err(CredentialError::Render(format!(
            "the PNG scale must be 1 to {MAX_PNG_SCALE} pixels a module, not {scale}"
        )));
    }
    let scale = scale as usize;
    let side = matrix.size_with_quiet_zone() * scale;
    // 1 bit a pixel, 0 = black, most significant bit first, each row padded to a byte.
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0xffu8; row_bytes * side];
    for y in 0..side {
        for x in 0..side {
            if matrix.dark_with_quiet_zone(x / scale, y / scale) {
                pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let failed = |e: png::EncodingError| CredentialError::Render(format!("PNG encoding: {e}"));
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
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
