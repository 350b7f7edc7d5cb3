//! Writes the seed corpora: `seeds [DIR]` fills `DIR/<target>/` (default `corpus/`) with valid
//! inputs of every target, built from `birthright_core::fixtures` and the harness's fixed keys,
//! so each target starts from inputs that pass every check before the decoder it fuzzes.
//! Existing files are left alone; the seeds are named `seed-*` and rewritten on every run.

use std::{io::Write, path::Path};

use birthright_core::{
    codec,
    credential::{Verdict, issue_provisional, issue_registered},
    fixtures::{reference_input, sample_inputs},
    ledger::checkpoint::Checkpoint,
    record::Record,
    signed::SignedRecord,
    store::RecordStatus,
    trust::{Revocation, RevocationList},
    wire::{
        self, Batch, BatchResponse, DecidedBy, DecisionKind, EnrolResponse, LeafReceipt, Notice,
        NoticesResponse, Outcome, RecordResult, Rejection,
    },
};
use birthright_fuzz as h;
use serde_bytes::ByteBuf;
use uuid::Uuid;

fn records() -> Vec<Record> {
    let today = time::OffsetDateTime::from_unix_timestamp(h::CAPTURED_AT)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    let mut out = vec![h::sample_record()];
    for (i, input) in sample_inputs(5, 11, today).into_iter().enumerate() {
        out.push(Record {
            id: Uuid::from_bytes([0x20 + i as u8; 16]),
            enrolment: input,
            supersedes: (i == 2).then(|| Uuid::from_bytes([0x17; 16])),
            ..h::sample_record()
        });
    }
    out
}

/// Opens a batch seed the way the target does; it must give a batch.
fn check_batch(seed: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let (mode, rest) = (seed[0], &seed[1..]);
    let batch = match mode {
        0 => codec::from_slice::<Batch>(rest, wire::MAX_BATCH_PLAINTEXT_BYTES)?,
        _ => {
            let plain = if mode == 3 { zlib(rest) } else { rest.to_vec() };
            let (sealed, _) =
                wire::seal_batch_plaintext(&plain, &h::BATCH_ID, mode >= 2, &h::hpke_public())?;
            wire::open_batch(&sealed, &h::HPKE_SECRET)?.0
        }
    };
    for r in &batch.records {
        SignedRecord::decode(r)?.verify(&h::device_key().verifying_key())?;
    }
    Ok(())
}

/// Completes an enrolment with a certificate payload the way the target's mode 1 does.
fn check_enrolment(payload: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let device = birthright_core::device::Device::open_in_memory(
        birthright_core::store::StorageKey::from_bytes([4; 32]),
    )?;
    let identity = device.init("worker-7")?;
    let mut payload = payload.to_vec();
    h::substitute(
        &mut payload,
        &h::PLACEHOLDER_DEVICE_KEY,
        &identity.public_key,
    );
    let answer = EnrolResponse {
        certificate: ByteBuf::from(h::sign_certificate_payload(&payload)),
        trust_bundle: h::trust().to_json(),
    };
    device.complete_enrolment(&codec::to_vec(&answer)?, &h::trust())?;
    Ok(())
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    [&[mode][..], bytes].concat()
}

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    println!("{:>18}: {} seeds", target, seeds.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);
    let device = h::device_key();
    let trust = h::trust();
    let records = records();
    let signed: Vec<Vec<u8>> = records
        .iter()
        .map(|r| SignedRecord::sign(r, &device).map(|s| s.bytes))
        .collect::<Result<_, _>>()?;
    let certificate = h::device_certificate();

    // Batches: plaintext, in each of the four ways in.
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: h::BATCH_ID,
        device_kid: ByteBuf::from(device.key_id().0.to_vec()),
        certificate: Some(ByteBuf::from(certificate.clone())),
        known_tree_size: 0,
        records: signed.iter().cloned().map(ByteBuf::from).collect(),
    };
    let one = Batch {
        certificate: None,
        known_tree_size: 7,
        records: vec![ByteBuf::from(signed[0].clone())],
        ..batch.clone()
    };
    let mut batches = Vec::new();
    for b in [&batch, &one] {
        let plain = codec::to_vec(b)?;
        batches.push(with_mode(0, &plain));
        batches.push(with_mode(1, &plain));
        batches.push(with_mode(2, &zlib(&plain)));
        batches.push(with_mode(3, &plain));
    }
    for (i, seed) in batches.iter().enumerate() {
        check_batch(seed).map_err(|e| format!("batch_plaintext seed {i}: {e}"))?;
    }
    write(dir, "batch_plaintext", &batches)?;

    // Record payloads.
    let payloads: Vec<Vec<u8>> = records
        .iter()
        .map(codec::to_vec)
        .collect::<Result<_, _>>()?;
    write(dir, "record_payload", &payloads)?;

    // Credential claims: registered (mode 0, 2) and provisional (1, 3).
    let mut claims = Vec::new();
    for r in &records {
        let registered = h::credential_claims(r);
        let provisional = h::provisional_claims(r);
        claims.push(with_mode(0, &registered));
        claims.push(with_mode(1, &provisional));
        claims.push(with_mode(2, &registered));
        claims.push(with_mode(3, &provisional));
    }
    for (i, seed) in claims.iter().enumerate() {
        let certificate = (seed[0] & 1 == 1).then(h::device_certificate);
        let bytes = h::sign_credential_payload(&seed[1..], certificate.as_deref());
        let v = birthright_core::credential::verify_bytes(&bytes, &trust, None, h::NOW);
        let expected = if certificate.is_some() {
            Verdict::ValidProvisional
        } else {
            Verdict::Valid
        };
        if v.verdict != expected {
            return Err(format!("credential_claims seed {i}: {:?}", v.verdict).into());
        }
    }
    write(dir, "credential_claims", &claims)?;

    // Certificates and revocation lists.
    let revoking_device = RevocationList {
        entries: vec![Revocation {
            device_kid: ByteBuf::from(device.key_id().0.to_vec()),
            revoked_at: h::CAPTURED_AT,
            reason: "stolen".into(),
        }],
        ..h::revocation_claims()
    };
    let empty = RevocationList {
        entries: vec![],
        ..h::revocation_claims()
    };
    let objects = vec![
        with_mode(0, &h::certificate_payload(&device.public_bytes())),
        with_mode(1, &codec::to_vec(&h::revocation_claims())?),
        with_mode(1, &codec::to_vec(&revoking_device)?),
        with_mode(1, &codec::to_vec(&empty)?),
        with_mode(2, &certificate),
        with_mode(2, &h::revocation_list()),
    ];
    write(dir, "registry_objects", &objects)?;

    // Status lists: a claims payload, an `lst`, and a whole signed token.
    let mut statuses = birthright_core::status_list::StatusList::new(40);
    statuses.set(5, birthright_core::status_list::LeafStatus::Superseded);
    statuses.set(9, birthright_core::status_list::LeafStatus::Revoked);
    let token = birthright_core::status_list::StatusListToken {
        origin: trust.origin.clone(),
        issued_at: h::NOW,
        expires_at: h::NOW + 3600,
        ttl: 3600,
        list: statuses.clone(),
    }
    .sign(&h::registry_key())?;
    let cose = birthright_core::cose::CoseSign1::parse(&token, 1 << 20)?;
    let status_lists = vec![
        with_mode(0, &cose.payload),
        with_mode(1, &statuses.compress()?),
        with_mode(2, &token),
    ];
    write(dir, "status_list", &status_lists)?;

    // Trust bundles.
    let mut other = trust.clone();
    other.hpke_key_id = "0011223344556677".into();
    // And one whose origin takes it close to the 16 KiB limit, where the compact form fits and
    // the stored (pretty) one may not.
    let long_origin = "r".repeat(7900);
    let mut long = trust.clone();
    long.checkpoint_vkey = birthright_core::ledger::note::NoteSigner::new(
        &long_origin,
        h::registry_key().signing_key().clone(),
    )?
    .verifier_key();
    long.origin = long_origin;
    let long = long
        .to_json()
        .replace("\n  ", "")
        .replace(": ", ":")
        .replace(",\n", ",");
    write(
        dir,
        "trust_bundle",
        &[
            trust.to_json().into_bytes(),
            other.to_json().into_bytes(),
            long.into_bytes(),
        ],
    )?;

    // Enrolment answers.
    let answer = EnrolResponse {
        certificate: ByteBuf::from(certificate.clone()),
        trust_bundle: trust.to_json(),
    };
    check_enrolment(&h::certificate_payload(&h::PLACEHOLDER_DEVICE_KEY))?;
    write(
        dir,
        "enrol_answer",
        &[
            with_mode(0, &codec::to_vec(&answer)?),
            with_mode(1, &h::certificate_payload(&h::PLACEHOLDER_DEVICE_KEY)),
        ],
    )?;

    // Batch answers, with the placeholders the target fills in.
    let placeholder_credential =
        h::with_answer_context(|_, parts| parts.placeholder_credential.clone())
            .ok_or("the batch-answer set-up failed")?;
    let leaf = LeafReceipt {
        index: 0,
        salt: ByteBuf::from(h::LEAF_SALT.to_vec()),
        sequenced_at: h::SEQUENCED_AT,
        inclusion_proof: vec![],
    };
    let result = |outcome, credential: Option<&[u8]>| RecordResult {
        record_id: Uuid::from_bytes(h::PLACEHOLDER_RECORD_ID),
        outcome,
        leaf: (outcome != Outcome::Rejected).then(|| leaf.clone()),
        rejection: (outcome == Outcome::Rejected).then(|| Rejection {
            code: "invalid_record".into(),
            message: "child.date_of_birth: in the future".into(),
        }),
        credential: credential.map(|c| ByteBuf::from(c.to_vec())),
        held: None,
    };
    let response = |results| BatchResponse {
        version: wire::WIRE_VERSION,
        batch_id: Uuid::from_bytes(h::PLACEHOLDER_BATCH_ID),
        checkpoint: h::placeholder_checkpoint(),
        known_tree_size: 0,
        consistency_proof: vec![],
        results,
    };
    let answers = [
        response(vec![result(
            Outcome::Accepted,
            Some(&placeholder_credential),
        )]),
        response(vec![result(Outcome::Accepted, None)]),
        response(vec![result(
            Outcome::Duplicate,
            Some(&placeholder_credential),
        )]),
        response(vec![result(Outcome::Rejected, None)]),
        response(vec![]),
    ]
    .iter()
    .map(codec::to_vec)
    .collect::<Result<Vec<_>, _>>()?;
    // The seeds must get past every check, or the target fuzzes only the first refusals.
    for (i, answer) in answers.iter().enumerate() {
        let accepted = h::with_answer_context(|machine, parts| {
            h::drive_answer(machine, parts, &parts.fill_in(answer))
        });
        if accepted != Some(i < 4) {
            return Err(format!("batch_answer seed {i}: accepted {accepted:?}").into());
        }
    }
    write(dir, "batch_answer", &answers)?;

    // Notices answers, with the placeholders the target fills in: decision `i` of
    // `h::DECISIONS` on the record, at leaf 1 of that decision's two-leaf ledger.
    let notice = |i: usize, decision: DecisionKind, credential: bool| Notice {
        record_id: Uuid::from_bytes(h::PLACEHOLDER_RECORD_ID),
        decision,
        reason: h::DECISIONS[i].1,
        decided_by: DecidedBy::Registrar,
        decided_at: h::DECIDED_AT,
        leaf_index: 1,
        inclusion_proof: vec![ByteBuf::from(h::PLACEHOLDER_RECORD_LEAF_HASH.to_vec())],
        credential: credential.then(|| ByteBuf::from(placeholder_credential.clone())),
    };
    // Against the one-leaf ledger the device knows (`None`) or a decision's two-leaf ledger.
    let notices_answer = |ledger: Option<usize>, notices: Vec<Notice>| NoticesResponse {
        version: wire::WIRE_VERSION,
        request_id: Uuid::from_bytes(h::PLACEHOLDER_REQUEST_ID),
        checkpoint: ledger.map_or_else(
            h::placeholder_checkpoint,
            h::placeholder_decision_checkpoint,
        ),
        known_tree_size: 1,
        consistency_proof: ledger
            .map(|i| ByteBuf::from(h::placeholder_decision_leaf_hash(i).to_vec()))
            .into_iter()
            .collect(),
        notices,
    };
    let registered = || notice(0, DecisionKind::Registered, true);
    let acknowledged = RecordStatus::Acknowledged;
    // Each with whether the device accepts it and the record's status after it.
    let notices_seeds = [
        // No decision yet, with the known checkpoint and with a newer one.
        (notices_answer(None, vec![]), true, acknowledged),
        (notices_answer(Some(0), vec![]), true, acknowledged),
        // Each decision, applied.
        (
            notices_answer(Some(0), vec![registered()]),
            true,
            RecordStatus::Registered,
        ),
        (
            notices_answer(Some(1), vec![notice(1, DecisionKind::Rejected, false)]),
            true,
            RecordStatus::Rejected,
        ),
        (
            notices_answer(Some(2), vec![notice(2, DecisionKind::Duplicate, false)]),
            true,
            RecordStatus::Rejected,
        ),
        (
            notices_answer(
                Some(3),
                vec![notice(3, DecisionKind::CorrectionRequested, false)],
            ),
            true,
            RecordStatus::Rejected,
        ),
        // A notice about a record that is not this device's is skipped.
        (
            notices_answer(
                Some(0),
                vec![Notice {
                    record_id: Uuid::from_bytes([0x99; 16]),
                    ..registered()
                }],
            ),
            true,
            acknowledged,
        ),
        // Refused: another request's answer, a wrong echo of the tree size.
        (
            NoticesResponse {
                request_id: Uuid::from_bytes([0x42; 16]),
                ..notices_answer(Some(0), vec![registered()])
            },
            false,
            acknowledged,
        ),
        (
            NoticesResponse {
                known_tree_size: 0,
                ..notices_answer(Some(0), vec![registered()])
            },
            false,
            acknowledged,
        ),
        // Refused: a decision other than the ledger's, a credential with a rejection, a
        // registration without its credential, two decisions on the record, a decision leaf
        // that is not in the checkpoint's tree.
        (
            notices_answer(Some(0), vec![notice(0, DecisionKind::Rejected, false)]),
            false,
            acknowledged,
        ),
        (
            notices_answer(Some(1), vec![notice(1, DecisionKind::Rejected, true)]),
            false,
            acknowledged,
        ),
        (
            notices_answer(Some(0), vec![notice(0, DecisionKind::Registered, false)]),
            false,
            acknowledged,
        ),
        (
            notices_answer(Some(0), vec![registered(), registered()]),
            false,
            acknowledged,
        ),
        (
            notices_answer(None, vec![registered()]),
            false,
            acknowledged,
        ),
    ];
    let mut notices_answers = Vec::new();
    for (i, (answer, accepts, status)) in notices_seeds.iter().enumerate() {
        let answer = codec::to_vec(answer)?;
        let outcome = h::with_notices_context(|machine, parts| {
            let accepted = h::drive_notices(machine, parts, &parts.fill_in(&answer));
            let now = machine
                .store()
                .get(&parts.record_id)
                .map(|r| r.summary.status);
            (accepted, now.ok())
        });
        if outcome != Some((*accepts, Some(*status))) {
            return Err(format!(
                "notices_answer seed {i}: (accepted, status) {outcome:?}, expected {:?}",
                (accepts, status)
            )
            .into());
        }
        notices_answers.push(answer);
    }
    write(dir, "notices_answer", &notices_answers)?;

    // The older targets.
    write(
        dir,
        "signed_record",
        &[signed[0].clone(), certificate.clone(), h::revocation_list()],
    )?;
    let provisional = issue_provisional(&device, &certificate, &records[0], h::NOW)?;
    let registered = issue_registered(&h::registry_key(), &records[0], 5, h::NOW)?;
    write(
        dir,
        "credential_text",
        &[provisional.text.into_bytes(), registered.text.into_bytes()],
    )?;
    let (sealed, _) = batch.seal(&h::hpke_public())?;
    write(
        dir,
        "sealed_batch",
        &[
            sealed,
            wire::LedgerLeaf::parse(&[1; 49])
                .map(|l| l.to_bytes().to_vec())
                .unwrap_or_default(),
        ],
    )?;
    let checkpoint = h::one_leaf_checkpoint([7; 32]);
    let body = Checkpoint::parse(
        &checkpoint
            .split("\n\n")
            .next()
            .map(|b| format!("{b}\n"))
            .unwrap_or_default(),
    )
    .map(|c| c.to_text())
    .unwrap_or_default();
    write(
        dir,
        "ledger_text",
        &[
            checkpoint.into_bytes(),
            body.into_bytes(),
            trust.checkpoint_vkey.clone().into_bytes(),
        ],
    )?;
    // Tiles: a width byte, then a path, a bundle of two leaves, or a hash tile.
    let leaf = wire::LedgerLeaf::parse(&[1; 49])
        .map(|l| l.to_bytes().to_vec())
        .unwrap_or_default();
    let bundle =
        birthright_core::ledger::tiles::encode_bundle(&[leaf.clone(), leaf]).unwrap_or_default();
    let mut tiles = vec![
        [&[1u8][..], b"tile/0/x001/x234/067"].concat(),
        [&[5u8][..], b"tile/entries/000.p/5"].concat(),
        [&[2u8][..], &bundle[..]].concat(),
        [&[2u8][..], &[7u8; 64][..]].concat(),
    ];
    tiles.push([&[0u8][..], &[9u8; 32 * 256][..]].concat());
    write(dir, "tiles", &tiles)?;
    write(
        dir,
        "enrolment_json",
        &[reference_input().to_json_pretty().into_bytes()],
    )?;
    let mut facts: Vec<Vec<u8>> = records
        .iter()
        .map(|r| {
            let prepared = birthright_core::matching::Prepared::from_form(&r.enrolment);
            birthright_core::matching::BoundFacts::of(&prepared, &[7; 32]).to_bytes()
        })
        .collect();
    // Facts of version 1 (docs/MATCHING.md §6.4's known answer), still read.
    facts.push(vec![
        0x01, 0x03, 0x07, 0xea, 0x03, 0x0e, 0x07, 0xce, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    write(dir, "match_facts", &facts)?;
    let forms: Vec<Vec<u8>> = records
        .iter()
        .map(|r| {
            let prepared = birthright_core::matching::Prepared::from_form(&r.enrolment);
            codec::to_vec(&prepared.scoring_only()).unwrap_or_default()
        })
        .collect();
    write(dir, "prepared_form", &forms)?;
    Ok(())
}
