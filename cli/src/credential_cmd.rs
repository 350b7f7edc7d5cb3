//! `credential` (render a caregiver's QR) and `verify` (check one offline).

use std::{fs, io::Read, path::Path};

use anyhow::{Context, Result, anyhow, bail};
use birthright_core::credential::{Verdict, Verification, Verifier, qr};
use uuid::Uuid;

use crate::{DeviceArgs, device_cmd};

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
            fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "{:?} credential, {} characters, QR version {}: written to {}",
                credential.kind,
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

/// An image file, read up to one byte past the size the reader accepts: a larger file (or a
/// device such as /dev/zero) is then refused by the reader without being read whole.
fn read_image_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|file| {
            file.take(qr::MAX_IMAGE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
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
    let read = |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
    let trust = read(trust)?;
    let revocations = match (revocations, device) {
        (Some(path), _) => Some(read(path)?),
        (None, Some(args)) => device_cmd::open(args)?
            .revocations()?
            .map(|(list, _fetched_at)| list),
        (None, None) => None,
    };
    let verifier = Verifier::from_bytes(&trust, revocations.as_deref())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verification = match (text, image) {
        (Some(text), None) => verifier.verify_text(text, now),
        (None, Some(path)) => verifier.verify_image(&read_image_file(path)?, now),
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
