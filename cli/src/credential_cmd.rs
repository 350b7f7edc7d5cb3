//! `credential` (render a caregiver's QR) and `verify` (check one offline).

use std::{
    io::{IsTerminal, Write},
    path::Path,
};

use anyhow::{Result, anyhow, bail};
use birthright_core::credential::{
    CredentialKind, Verdict, Verification, Verifier,
    qr::{self, TerminalStyle},
};
use uuid::Uuid;

use crate::{
    DeviceArgs, device_cmd,
    files::{self, MAX_IMAGE_BYTES, MAX_REVOCATIONS_BYTES, MAX_TRUST_BYTES, read_bounded},
};

/// What `credential` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
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
pub fn credential(args: &DeviceArgs, id: &str, format: Format, out: Option<&Path>) -> Result<()> {
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
pub fn terminal_style() -> TerminalStyle {
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

/// `verify`: checks a credential offline against a trust bundle and, when there is one, a
/// revocation list: the file given, else the one a device data directory cached at its last
/// sync.
pub fn verify(
    trust: &Path,
    text: Option<&str>,
    image: Option<&Path>,
    revocations: Option<&Path>,
    device: Option<&DeviceArgs>,
    json: bool,
) -> Result<bool> {
    let trust = read_bounded(trust, MAX_TRUST_BYTES)?;
    let revocations = match (revocations, device) {
        (Some(path), _) => Some(read_bounded(path, MAX_REVOCATIONS_BYTES)?),
        (None, Some(args)) => device_cmd::open(args)?
            .revocations()?
            .map(|(list, _fetched_at)| list),
        (None, None) => None,
    };
    let verifier = Verifier::from_bytes(&trust, revocations.as_deref())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verification = match (text, image) {
        (Some(text), None) => verifier.verify_text(text, now),
        (None, Some(path)) => verifier.verify_image(&read_bounded(path, MAX_IMAGE_BYTES)?, now),
        _ => bail!("give exactly one of --text or --image"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&verification)?);
    } else {
        print_verification(&verification);
    }
    Ok(matches!(
        verification.verdict,
        Verdict::Valid | Verdict::ValidProvisional
    ))
}

fn print_verification(v: &Verification) {
    match &v.verdict {
        Verdict::Valid => println!("VALID: registered by the registry"),
        Verdict::ValidProvisional => {
            println!(
                "VALID (PROVISIONAL): issued offline by a certified device, not yet on the ledger"
            )
        }
        Verdict::Revoked(reason) => println!("REVOKED: {reason}"),
        Verdict::Expired(reason) => println!("EXPIRED (NOT VALID): {reason}"),
        Verdict::Invalid(reason) => println!("INVALID: {reason}"),
    }
    if let Some(r) = &v.registration {
        println!("child          {} {}", r.given_names, r.family_name);
        println!(
            "born           {} ({}), {}, {}",
            r.date_of_birth, r.sex, r.locality, r.admin_area
        );
        for c in &r.caregivers {
            println!("caregiver      {} ({})", c.name, c.relationship);
        }
        println!("record         {}", r.record_id);
        if let Some(i) = r.leaf_index {
            println!("ledger index   {i}");
        }
        println!("issuer         {}", r.issuer);
    }
    if let Some(signer) = &v.signer {
        println!("signed by key  {signer}");
    }
    match v.revocation_list_age_secs {
        Some(age) => println!("revocation list checked, {} h old", age / 3600),
        None => println!(
            "no revocation list (give --revocations FILE, or --data DIR of a synced device): \
             revocation not checked"
        ),
    }
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
