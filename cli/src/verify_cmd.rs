//! `verify` (check a caregiver credential offline) and `lists fetch` (cache registries' signed
//! revocation and status lists for offline use).
//!
//! Exit codes of `verify` (README.md): 0 valid, 10 valid provisional, 11 expired, 12
//! superseded, 13 revoked, 14 invalid, 15 unreadable (no QR code read: scan again), 1 any
//! other error (an unreadable trust file, a bad list), 2 a usage error.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use birthright_core::{
    credential::{Verdict, Verification, Verifier, VerifierError},
    status_list::MAX_TOKEN_BYTES,
};

use crate::{
    DeviceArgs, device_cmd,
    files::{self, MAX_IMAGE_BYTES, MAX_REVOCATIONS_BYTES, MAX_TRUST_BYTES, read_bounded},
    http::{UreqTransport, registry_url},
};

/// File name suffix of a cached revocation list in a `--lists` directory (after the
/// registry's key id).
pub const REVOCATIONS_SUFFIX: &str = ".revocations.cose";
/// File name suffix of a cached status list.
pub const STATUS_LIST_SUFFIX: &str = ".status-list.cwt";
/// File name suffix of the latest witnessed checkpoint cached for a registry (a signed note).
pub const CHECKPOINT_SUFFIX: &str = ".checkpoint";
/// Largest checkpoint note accepted.
const MAX_CHECKPOINT_BYTES: u64 = birthright_core::ledger::note::MAX_NOTE_BYTES as u64;

/// The exit code of a verdict.
pub fn exit_code(verdict: &Verdict) -> u8 {
    match verdict {
        Verdict::Valid => 0,
        Verdict::ValidProvisional => 10,
        Verdict::Expired(_) => 11,
        Verdict::Superseded(_) => 12,
        Verdict::Revoked(_) => 13,
        Verdict::Invalid(_) => 14,
        Verdict::Unreadable(_) => 15,
    }
}

/// A duration as typed: `90s`, `30m`, `12h`, `7d`.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 12h or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        _ => return Err(format!("'{text}': the unit must be s, m, h or d")),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("'{text}' is too long"))
}

fn days(secs: i64) -> String {
    if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if secs < 2 * 86_400 {
        format!("{} hours", secs / 3600)
    } else {
        format!("{} days", secs / 86_400)
    }
}

/// Where `verify` takes its lists from.
pub struct ListSources<'a> {
    /// `--revocations FILE`.
    pub revocations: Option<&'a Path>,
    /// `--lists DIR`.
    pub lists: Option<&'a Path>,
    /// `--data DIR` (a synced device's cache).
    pub device: Option<&'a DeviceArgs>,
}

/// Loads every cached list in `dir` into `verifier`; lists of registries not trusted are
/// skipped (a directory may serve several borders), anything else wrong is an error.
fn load_dir(verifier: &mut Verifier, dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let result = if name.ends_with(REVOCATIONS_SUFFIX) {
            verifier.add_revocation_list(&read_bounded(&path, MAX_REVOCATIONS_BYTES)?)
        } else if name.ends_with(STATUS_LIST_SUFFIX) {
            verifier.add_status_list(&read_bounded(&path, MAX_TOKEN_BYTES as u64)?)
        } else {
            continue;
        };
        match result {
            Ok(_) | Err(VerifierError::UnknownRegistry(_)) => {}
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    Ok(())
}

fn read_text(text: &str) -> Result<String> {
    if text != "-" {
        return Ok(text.to_string());
    }
    let mut out = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut out)
        .context("reading the credential text from standard input")?;
    Ok(out)
}

/// `verify`: returns the exit code of the verdict.
pub fn verify(
    trust: &[PathBuf],
    text: Option<&str>,
    image: Option<&Path>,
    sources: ListSources<'_>,
    max_list_age: i64,
    json: bool,
) -> Result<u8> {
    let mut verifier = Verifier::new();
    for path in trust {
        verifier
            .add_trust_bundle(&read_bounded(path, MAX_TRUST_BYTES)?)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    if let Some(path) = sources.revocations {
        verifier
            .add_revocation_list(&read_bounded(path, MAX_REVOCATIONS_BYTES)?)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    if let Some(dir) = sources.lists {
        load_dir(&mut verifier, dir)?;
    }
    if let Some(args) = sources.device {
        let device = device_cmd::open(args)?;
        // The device verified these at sync; they are verified again here, under the bundles
        // given (a device of another registry contributes nothing).
        if let Some((list, _)) = device.revocations()? {
            match verifier.add_revocation_list(&list) {
                Ok(_) | Err(VerifierError::UnknownRegistry(_)) => {}
                Err(e) => bail!("the device's cached revocation list: {e}"),
            }
        }
        if let Some((list, _)) = device.status_list()? {
            match verifier.add_status_list(&list) {
                Ok(_) | Err(VerifierError::UnknownRegistry(_)) => {}
                Err(e) => bail!("the device's cached status list: {e}"),
            }
        }
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verification = match (text, image) {
        (Some(text), None) => verifier.verify_text(&read_text(text)?, now),
        (None, Some(path)) => verifier.verify_image(&read_bounded(path, MAX_IMAGE_BYTES)?, now),
        _ => bail!("give exactly one of --text or --image"),
    };
    let warnings = warnings(&verification, max_list_age);
    let headline = verification.headline(now);
    if json {
        let mut value = serde_json::to_value(&verification)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("headline".into(), headline.into());
            map.insert("warnings".into(), warnings.into());
            map.insert("exit_code".into(), exit_code(&verification.verdict).into());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{headline}");
        print_details(&verification);
        for w in &warnings {
            println!("warning: {w}");
        }
    }
    Ok(exit_code(&verification.verdict))
}

/// What the officer should know about the lists the verdict rests on.
fn warnings(v: &Verification, max_age: i64) -> Vec<String> {
    if matches!(v.verdict, Verdict::Unreadable(_) | Verdict::Invalid(_)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let refresh = "run `birthright lists fetch`, or give --lists DIR or --data DIR of a synced \
                   device";
    let registered = v
        .registration
        .as_ref()
        .is_some_and(|r| r.leaf_index.is_some());
    match v.status_list_age_secs {
        None if registered => out.push(format!(
            "no status list: a corrected or revoked registered credential would still show \
             VALID ({refresh})"
        )),
        Some(age) if registered && age > max_age => out.push(format!(
            "the status list is {} old (more than {}): newer corrections or revocations are \
             not known here ({refresh})",
            days(age),
            days(max_age)
        )),
        _ => {}
    }
    if !registered {
        match v.revocation_list_age_secs {
            None => out.push(format!(
                "no revocation list: a revoked device's provisional credential would still \
                 show VALID ({refresh})"
            )),
            Some(age) if age > max_age => out.push(format!(
                "the revocation list is {} old (more than {}): newer revocations are not \
                 known here ({refresh})",
                days(age),
                days(max_age)
            )),
            _ => {}
        }
    }
    out
}

fn print_details(v: &Verification) {
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
    if let Some(age) = v.revocation_list_age_secs {
        println!("revocation list checked, {} old", days(age));
    }
    if let Some(age) = v.status_list_age_secs {
        println!("status list checked, {} old", days(age));
    }
}

/// `lists fetch`: fetches each registry's lists, verifies them under the trust bundles given,
/// and writes them into `out` (`KEYID.revocations.cose`, `KEYID.status-list.cwt`) unless the
/// file there is newer.
pub fn fetch(trust: &[PathBuf], registries: &[String], out: &Path, json: bool) -> Result<()> {
    let mut verifier = Verifier::new();
    for path in trust {
        verifier
            .add_trust_bundle(&read_bounded(path, MAX_TRUST_BYTES)?)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // What is cached already counts: an older list fetched now (a replay) does not replace it.
    load_dir(&mut verifier, out)?;
    let mut results = Vec::new();
    for url in registries {
        let url = registry_url(url)?;
        let fetched = verifier
            .refresh(&UreqTransport::new(&url.base))
            .map_err(|e| anyhow!("{}: {e}", url.base))?;
        let kid = &fetched.registry_key_id;
        if fetched.revocations_kept {
            files::write_replacing(
                &out.join(format!("{kid}{REVOCATIONS_SUFFIX}")),
                &fetched.revocations,
            )?;
        }
        match (&fetched.status_list, fetched.status_list_kept) {
            (Some(list), true) => {
                files::write_replacing(&out.join(format!("{kid}{STATUS_LIST_SUFFIX}")), list)?
            }
            (None, _) => eprintln!(
                "warning: {} publishes no status list: corrected or revoked registered \
                 credentials cannot be told apart",
                fetched.origin
            ),
            _ => {}
        }
        let checkpoint = cache_checkpoint(trust, &fetched.origin, kid, &url.base, out)?;
        let status_list = match (&fetched.status_list, fetched.status_list_kept) {
            (Some(_), true) => "saved",
            (Some(_), false) => "kept",
            (None, _) => "absent",
        };
        let revocations = if fetched.revocations_kept {
            "saved"
        } else {
            "kept"
        };
        if json {
            results.push(serde_json::json!({
                "origin": fetched.origin,
                "registry_key_id": kid.to_string(),
                "revocation_list": revocations,
                "status_list": status_list,
                "checkpoint": checkpoint,
            }));
            continue;
        }
        let why = |what: &str| {
            match what {
                "kept" => "kept (the cached one is newer)",
                other => other,
            }
            .to_string()
        };
        println!(
            "{}: revocation list {}, status list {}, checkpoint {}",
            fetched.origin,
            why(revocations),
            why(status_list),
            checkpoint
        );
    }
    if json {
        crate::output::print_json(&serde_json::Value::Array(results))?;
    }
    Ok(())
}

/// Fetches the registry's checkpoint and caches it beside the lists if it carries the trust
/// bundle's witness quorum and extends the one cached (checked by a consistency proof): an
/// offline verifier then holds the latest witnessed state of the ledger. Returns what happened,
/// in words.
fn cache_checkpoint(
    trust: &[PathBuf],
    origin: &str,
    kid: &str,
    base: &str,
    out: &Path,
) -> Result<String> {
    use birthright_core::{
        store::sync_rows::VerifiedCheckpoint,
        sync::{
            Transport, verify,
            verify::{check_consistency, parse_consistency_json, signed_checkpoint},
        },
        trust::TrustBundle,
    };
    let Some(bundle) = trust
        .iter()
        .filter_map(|p| read_bounded(p, MAX_TRUST_BYTES).ok())
        .filter_map(|b| TrustBundle::from_json(&b).ok())
        .find(|b| b.origin == origin)
    else {
        return Ok("not cached (no trust bundle for it)".into());
    };
    let transport = UreqTransport::new(base);
    let get = |path: &str| -> Result<Vec<u8>> {
        let response = transport
            .send(&birthright_core::sync::HttpRequest {
                method: birthright_core::sync::Method::Get,
                path: path.into(),
                content_type: None,
                body: Vec::new(),
            })
            .map_err(|e| anyhow!("{base}{path}: {}", e.message))?;
        if response.status != 200 {
            bail!(
                "{base}{path}: the registry answered HTTP {}",
                response.status
            );
        }
        Ok(response.body)
    };
    let note = String::from_utf8(get("/v1/checkpoint")?)
        .map_err(|_| anyhow!("{base}: the checkpoint is not text"))?;
    let verifier = verify::pinned_checkpoint_verifier(&bundle)?;
    let checkpoint = signed_checkpoint(&verifier, &note, origin)?;
    let witnesses = verify::witnessed(&bundle, &note)?;
    if witnesses.cosigned < witnesses.quorum {
        return Ok(format!("not cached ({witnesses})"));
    }
    let path = out.join(format!("{kid}{CHECKPOINT_SUFFIX}"));
    let cached = match std::fs::metadata(&path) {
        Ok(_) => {
            let text = String::from_utf8(read_bounded(&path, MAX_CHECKPOINT_BYTES)?)
                .map_err(|_| anyhow!("{}: not text", path.display()))?;
            let c = signed_checkpoint(&verifier, &text, origin)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            Some(VerifiedCheckpoint {
                size: c.size,
                root_hash: c.root_hash,
                note: text,
            })
        }
        Err(_) => None,
    };
    if let Some(cached) = &cached {
        if checkpoint.size < cached.size {
            return Ok(format!(
                "kept (the cached one, size {}, is newer)",
                cached.size
            ));
        }
        if checkpoint.size == cached.size && checkpoint.root_hash != cached.root_hash {
            bail!(
                "{origin}: two different checkpoints for size {}: the registry's ledger was \
                 rewritten (both are evidence: {} and the registry's /v1/checkpoint)",
                checkpoint.size,
                path.display()
            );
        }
        if checkpoint.size > cached.size && cached.size > 0 {
            let proof = parse_consistency_json(&get(&format!(
                "/v1/proof/consistency?from={}&to={}",
                cached.size, checkpoint.size
            ))?)?;
            check_consistency(cached, &checkpoint, &proof).map_err(|e| {
                anyhow!(
                    "{origin}: {e}; the cached checkpoint {} is evidence",
                    path.display()
                )
            })?;
        }
    }
    files::write_replacing(&path, note.as_bytes())?;
    Ok(format!(
        "size {} saved ({} witnesses)",
        checkpoint.size, witnesses.cosigned
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_as_typed() {
        assert_eq!(parse_age("7d"), Ok(7 * 86_400));
        assert_eq!(parse_age("12h"), Ok(12 * 3600));
        assert_eq!(parse_age("90s"), Ok(90));
        assert_eq!(parse_age("3"), Ok(3 * 86_400));
        assert!(parse_age("7w").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
    }

    #[test]
    fn every_verdict_has_its_own_exit_code() {
        let codes: Vec<u8> = [
            Verdict::Valid,
            Verdict::ValidProvisional,
            Verdict::Expired(String::new()),
            Verdict::Superseded(String::new()),
            Verdict::Revoked(String::new()),
            Verdict::Invalid(String::new()),
            Verdict::Unreadable(String::new()),
        ]
        .iter()
        .map(exit_code)
        .collect();
        assert_eq!(codes, [0, 10, 11, 12, 13, 14, 15]);
    }
}
