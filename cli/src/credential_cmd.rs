//! `credential`: render a caregiver's QR (`verify` is in `verify_cmd`).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use birthright_core::credential::{CredentialKind, qr};
use uuid::Uuid;

use crate::{DeviceArgs, device_cmd, files};

/// `credential`: prints or writes the credential of a record.
pub fn credential(args: &DeviceArgs, id: &str, format: &str, out: Option<&Path>) -> Result<()> {
    let device = device_cmd::open(args)?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| anyhow!("'{id}' is not a record id"))?;
    let credential = device.credential(&id)?;
    let bytes = match format {
        "text" => format!("{}\n", credential.text).into_bytes(),
        "svg" => qr::to_svg(&credential)?.into_bytes(),
        "terminal" => qr::to_terminal(&credential)?.into_bytes(),
        "png" => qr::to_png(&credential, 6)?,
        other => bail!("unknown format '{other}': use text, png, svg or terminal"),
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
        None if format == "png" => bail!("--format png needs --out FILE"),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}
