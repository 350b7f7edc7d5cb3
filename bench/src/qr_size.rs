//! Figure 6: the QR credential's size against the EU Digital COVID Certificate.

use crate::report::{Report, now, section};
use anyhow::Result;
use birthright_core::{
    credential::{self, qr},
    fixtures::reference_input,
    keys::Ed25519Key,
    trust::DeviceCertificate,
};
use serde_bytes::ByteBuf;
use uuid::Uuid;

pub(crate) fn qr_sizes(report: &mut Report) -> Result<()> {
    section(
        "6. QR credential of the reference record (ECC M as rendered, and ECC Q) vs the EU Digital COVID Certificate median (550 characters, version 18 at ECC Q)",
    );
    let registry_key = Ed25519Key::generate()?;
    let device_key = Ed25519Key::generate()?;
    let record = birthright_core::record::Record {
        schema_version: birthright_core::record::SCHEMA_VERSION,
        id: Uuid::now_v7(),
        captured_at: now().unix_timestamp(),
        worker_id: "oksana.m".into(),
        device_kid: device_key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    let certificate = DeviceCertificate {
        version: 1,
        origin: "registry.example.gov.ua/births".into(),
        device_public_key: ByteBuf::from(device_key.public_bytes().to_vec()),
        worker_id: "oksana.m".into(),
        region: "UA-46".into(),
        not_before: record.captured_at - 10,
        not_after: record.captured_at + 365 * 86_400,
    }
    .sign(&registry_key)?;
    let registered =
        credential::issue_registered(&registry_key, &record, 1_234_567, record.captured_at)?;
    let provisional =
        credential::issue_provisional(&device_key, &certificate, &record, record.captured_at)?;
    for (name, c) in [("registered", registered), ("provisional", provisional)] {
        report.add(
            "qr",
            format!("{name} ({} B COSE): base45 characters", c.bytes.len()),
            c.text.len() as f64,
            "chars",
            "EU DCC median",
            Some(550.0),
        );
        report.add(
            "qr",
            format!("{name}: QR version at ECC M (as rendered)"),
            f64::from(qr::qr_version(&c)?),
            "version",
            "EU DCC median (v18 at ECC Q)",
            Some(18.0),
        );
        // Like with like: the DCC's version 18 is at ECC level Q.
        let at_q =
            qrcode::QrCode::with_error_correction_level(c.text.as_bytes(), qrcode::EcLevel::Q)
                .map_err(|e| anyhow::anyhow!("QR encoding at ECC Q: {e}"))?;
        let version_q = match at_q.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        };
        report.add(
            "qr",
            format!("{name}: QR version at ECC Q"),
            f64::from(version_q),
            "version",
            "EU DCC median at ECC Q",
            Some(18.0),
        );
    }
    Ok(())
}
