//! `birthright demo`: the main job end to end, on embedded defaults, in a temporary directory.
//!
//! Starts a registry (a real `birthright registry serve` process on loopback), enrols a field
//! device with a one-time token, captures realistic registrations offline, syncs, and prints
//! the verified receipts and the ledger checkpoint.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result, anyhow};
use birthright_core::{
    credential::{self, qr},
    device::{Device, ListFilter},
    fixtures::{reference_input_born, sample_inputs},
    ledger::{checkpoint::verify_checkpoint, note::NoteVerifier},
    store::StorageKey,
    sync::{SyncConfig, SyncCounts, SyncProgress},
};
use birthright_registry::Registry;

use crate::http::UreqTransport;

/// Stops the registry process when the demo ends, however it ends.
struct RegistryProcess(Child);

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(data: &Path) -> Result<(RegistryProcess, String)> {
    let exe = std::env::current_exe().context("finding the birthright binary")?;
    let mut child = Command::new(exe)
        .args(["registry", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the registry")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no registry output"))?;
    let process = RegistryProcess(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow!("the registry did not start: {line}"))?
        .to_string();
    Ok((process, url))
}

struct Printer;

impl SyncProgress for Printer {
    fn on_progress(&self, c: &SyncCounts) {
        if c.sent > 0 {
            println!(
                "    sent {:>2} of {} · acknowledged {} · rejected {}",
                c.sent, c.queued, c.acknowledged, c.rejected
            );
        }
    }
}

/// Runs the demo.
pub(crate) fn run(keep: bool) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("birthright-demo-")
        .tempdir()?;
    let registry_dir = dir.path().join("registry");
    let device_dir = dir.path().join("device");
    std::fs::create_dir_all(&device_dir)?;

    println!("1. A registry for the region, with its keys and an empty ledger");
    let (registry, trust_path) =
        Registry::init(&registry_dir, "registry.demo.birthright.org/ua-46")?;
    println!("   origin       {}", registry.trust_bundle().origin);
    println!("   trust bundle {}", trust_path.display());
    let token = registry.create_token("oksana.m", "UA-46", 3600)?;
    drop(registry);
    let (_process, url) = start_registry(&registry_dir)?;
    println!("   serving on   {url}");

    println!("\n2. A field worker's phone: a new device key, enrolled with a one-time token");
    let storage_key = StorageKey::generate()?;
    crate::device_cmd::create_key_file(&device_dir.join("storage.key"), &storage_key)?;
    let device = Device::create(&device_dir.join("device.db"), storage_key)?;
    let identity = device.init("oksana.m")?;
    let transport = UreqTransport::new(&url);
    let trust = birthright_core::trust::TrustBundle::from_json(&std::fs::read(&trust_path)?)?;
    let fingerprint = trust.fingerprint()?;
    println!("   the supervisor gives the token with the registry's fingerprint {fingerprint}");
    let pin = birthright_core::trust::TrustPin::fingerprint(&fingerprint)?;
    let certificate = device.enrol(&transport, &token, &pin)?;
    println!(
        "   device {} enrolled for worker {} in {}",
        identity.key_id, certificate.worker_id, certificate.region
    );

    println!("\n3. Registrations captured offline (validated, signed, encrypted at rest)");
    let today = time::OffsetDateTime::now_utc().date();
    // Олена, born a month ago: a timely registration, registered at once.
    let mut inputs = vec![reference_input_born(30, today)];
    inputs.extend(sample_inputs(5, 2026, today));
    for input in &inputs {
        let summary = device.capture(input)?.summary;
        println!(
            "   {}  {:<28} born {}  {}",
            summary.id, summary.child_name, summary.date_of_birth, input.place_of_birth.locality
        );
    }
    let counts = device.counts()?;
    println!(
        "   {} pending on the device, nothing sent yet",
        counts.pending
    );

    println!(
        "\n4. Signal returns: sync (HPKE-sealed batches, receipts verified before acknowledging)"
    );
    let config = SyncConfig {
        max_batch_records: 4,
        ..SyncConfig::default()
    };
    let report = device.sync(&transport, &Printer, config)?;
    println!(
        "   {} accepted in {} batch(es), {} rejected",
        report.accepted,
        report.batches,
        report.rejected.len()
    );

    println!(
        "\n5. Verified receipts (leaf index on the ledger, inclusion proof checked on the device)"
    );
    let kid = identity.key_id;
    for summary in device.list(&ListFilter::default())? {
        let stored = device.get(&summary.id)?;
        let receipt = device
            .receipt(&summary.id)?
            .ok_or_else(|| anyhow!("record {} has no receipt", summary.id))?;
        receipt.verify(&stored.signed.bytes, kid, &trust)?;
        println!(
            "   {}  {:<28} {}  leaf {:>2}  proof of {} hashes ✓",
            summary.id,
            summary.child_name,
            summary.status,
            receipt.leaf_index,
            receipt.inclusion_proof.len()
        );
    }

    println!("\n6. The ledger's signed checkpoint (C2SP tlog-checkpoint, no personal data)");
    let note = report.checkpoint.ok_or_else(|| anyhow!("no checkpoint"))?;
    let verifier = NoteVerifier::from_vkey(&trust.checkpoint_vkey)?;
    let checkpoint = verify_checkpoint(&verifier, &note, &trust.origin)?;
    for line in note.lines() {
        println!("   {line}");
    }
    println!(
        "   signature verified with {}; tree size {}",
        verifier.name(),
        checkpoint.size
    );

    println!("\n7. Олена's caregiver leaves with a QR credential signed by the registry");
    let first = device
        .list(&ListFilter::default())?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no records"))?;
    let credential = device.credential(&first.id)?;
    print!(
        "{}",
        qr::to_terminal(&credential, crate::credential_cmd::terminal_style())?
    );
    println!(
        "   {} credential: {} bytes, {} characters, QR version {} at ECC M",
        match credential.kind {
            credential::CredentialKind::Provisional => "provisional",
            credential::CredentialKind::Registered => "registered",
        },
        credential.bytes.len(),
        credential.text.len(),
        qr::qr_version(&credential)?
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verification = credential::verify_text(&credential.text, &trust, None, now);
    println!(
        "   a border officer verifies it offline with the trust bundle: {}",
        match &verification.verdict {
            credential::Verdict::Valid => "valid".to_string(),
            credential::Verdict::ValidProvisional => "valid (provisional)".to_string(),
            credential::Verdict::Revoked(why) => format!("revoked: {why}"),
            credential::Verdict::Expired(why) => format!("expired: {why}"),
            credential::Verdict::Superseded(why) => format!("superseded: {why}"),
            credential::Verdict::Invalid(why) => format!("invalid: {why}"),
            credential::Verdict::Unreadable(why) => format!("unreadable: {why}"),
        }
    );

    if keep {
        let kept = dir.keep();
        println!("\nkept the demo's data in {}", kept.display());
        println!(
            "(the registry is stopped; inspect the device with: birthright list --data {})",
            kept.join("device").display()
        );
    } else {
        println!("\nall good; demo data removed (run with --keep to inspect it)");
    }
    Ok(())
}
