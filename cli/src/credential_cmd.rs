//! `credential`: render a caregiver's QR (`verify` is in `verify_cmd`).

use std::{
    io::{IsTerminal, Write},
    path::Path,
};

use anyhow::{Result, anyhow, bail};
use birthright_core::credential::{
    CredentialKind,
    qr::{self, TerminalStyle},
};
use uuid::Uuid;

use crate::{DeviceArgs, device_cmd, files};

/// What `credential` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The credential text (BR1:...), one line.
    Text,
    /// A PNG image, 6 pixels a module (binary: to a file, or to a redirected standard output).
    Png,
    /// An SVG image.
    Svg,
    /// The QR code drawn in the terminal with half-block characters (plain blocks, no colour
    /// codes, when NO_COLOR is set).
    Terminal,
}

/// Pixels a module of the PNG.
const PNG_SCALE: u32 = 6;

/// `credential`: prints or writes the credential of a record. `out` of `-` is standard output.
pub(crate) fn credential(
    args: &DeviceArgs,
    id: &str,
    format: Format,
    out: Option<&Path>,
) -> Result<()> {
    let out = out.filter(|path| path.as_os_str() != "-");
    let stdout = std::io::stdout();
    // Refused before the store is opened: nothing would be written.
    if out.is_none() && format == Format::Png && stdout.is_terminal() {
        bail!(
            "--format png writes binary data, which would garble this terminal: redirect              standard output to a file (> credential.png), or give --out FILE"
        );
    }
    let device = device_cmd::open(args)?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| anyhow!("'{id}' is not a record id"))?;
    let credential = device.credential(&id)?;
    let bytes = match format {
        Format::Text => format!("{}\n", credential.text).into_bytes(),
        Format::Svg => qr::to_svg(&credential)?.into_bytes(),
        Format::Png => qr::to_png(&credential, PNG_SCALE)?,
        Format::Terminal => {
            if out.is_none() && stdout.is_terminal() {
                let needed = qr::terminal_columns(&credential)?;
                if let Some(reason) = too_narrow(needed, terminal_columns()) {
                    bail!("{reason}");
                }
            }
            qr::to_terminal(&credential, terminal_style())?.into_bytes()
        }
    };
    match out {
        Some(path) => {
            files::write_replacing(path, &bytes)?;
            eprintln!(
                "{} credential, {} characters, QR version {}: written to {}",
                match credential.kind {
                    CredentialKind::Provisional => "provisional",
                    CredentialKind::Registered => "registered",
                },
                credential.text.len(),
                qr::qr_version(&credential)?,
                path.display()
            );
        }
        None => {
            let mut stdout = stdout.lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// The terminal drawing's style: no escape codes when `NO_COLOR` is set and not empty
/// (<https://no-color.org>).
pub(crate) fn terminal_style() -> TerminalStyle {
    match std::env::var_os("NO_COLOR") {
        Some(v) if !v.is_empty() => TerminalStyle::Plain,
        _ => TerminalStyle::Colour,
    }
}

/// The width of the terminal on standard output, in columns: from the terminal itself, else
/// the `COLUMNS` environment variable; `None` when neither says.
fn terminal_columns() -> Option<usize> {
    window_columns().or_else(|| columns_from_env(std::env::var("COLUMNS").ok().as_deref()))
}

#[cfg(unix)]
fn window_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills the `winsize` it is given and nothing else; a zeroed `winsize`
    // is a valid value of that plain C struct.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn window_columns() -> Option<usize> {
    None
}

fn columns_from_env(value: Option<&str>) -> Option<usize> {
    value?.trim().parse().ok().filter(|&n: &usize| n > 0)
}

/// Why a drawing `needed` columns wide does not fit a terminal of `columns` (unknown: it is
/// not refused).
fn too_narrow(needed: usize, columns: Option<usize>) -> Option<String> {
    let columns = columns?;
    (columns < needed).then(|| {
        format!(
            "the QR code needs {needed} columns but this terminal has {columns}: a cut code \
             does not scan. Widen the window, or use --format png --out FILE (an image to \
             show or print) or --format text"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_too_narrow_for_the_code_is_refused_with_the_numbers() {
        assert_eq!(
            too_narrow(69, Some(40)).unwrap(),
            "the QR code needs 69 columns but this terminal has 40: a cut code does not scan. \
             Widen the window, or use --format png --out FILE (an image to show or print) or \
             --format text"
        );
        assert_eq!(too_narrow(69, Some(68)).map(|_| ()), Some(()));
        assert_eq!(too_narrow(69, Some(69)), None);
        assert_eq!(too_narrow(69, Some(200)), None);
        // Width unknown: drawn anyway.
        assert_eq!(too_narrow(69, None), None);
    }

    #[test]
    fn columns_come_from_the_environment_when_the_terminal_does_not_say() {
        assert_eq!(columns_from_env(Some("40")), Some(40));
        assert_eq!(columns_from_env(Some(" 120\n")), Some(120));
        for bad in [None, Some(""), Some("0"), Some("-3"), Some("wide")] {
            assert_eq!(columns_from_env(bad), None, "{bad:?}");
        }
    }
}
