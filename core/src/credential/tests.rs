use serde_bytes::ByteBuf;

use super::{qr::qr_version, *};
use crate::status_list::{LeafStatus, StatusListToken};
use crate::{
    fixtures::reference_input,
    record::SCHEMA_VERSION,
    trust::{DeviceCertificate, Revocation, tests::registry},
};

const NOW: i64 = 1_774_000_000;

struct Setup {
    registry_key: Ed25519Key,
    trust: TrustBundle,
    device_key: Ed25519Key,
    certificate: Vec<u8>,
    record: Record,
}

fn setup() -> Setup {
    let (registry_key, trust) = registry();
    let device_key = Ed25519Key::from_secret(&[77; 32]);
    let certificate = DeviceCertificate {
        version: 1,
        origin: trust.origin.clone(),
        device_public_key: ByteBuf::from(device_key.public_bytes().to_vec()),
        worker_id: "oksana.m".into(),
        region: "UA-46".into(),
        not_before: NOW - 86_400,
        not_after: NOW + 365 * 86_400,
    }
    .sign(&registry_key)
    .unwrap();
    let record = Record {
        schema_version: SCHEMA_VERSION,
        id: Uuid::from_u128(0x01a2_0bdf_bee1_72c5_a976_614a_60a4_9bec),
        captured_at: NOW - 3600,
        worker_id: "oksana.m".into(),
        device_kid: device_key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    };
    Setup {
        registry_key,
        trust,
        device_key,
        certificate,
        record,
    }
}

fn provisional(s: &Setup) -> Credential {
    issue_provisional(
        &s.device_key,
        &s.certificate,
        &s.record,
        s.record.captured_at,
    )
    .unwrap()
}

fn registered(s: &Setup) -> Credential {
    issue_registered(&s.registry_key, &s.record, 1234, NOW).unwrap()
}

/// A registered credential on a ledger of ten million records (a 4-byte leaf index).
fn registered_at_scale(s: &Setup) -> Credential {
    issue_registered(&s.registry_key, &s.record, 9_876_543, NOW).unwrap()
}

#[test]
fn reference_credential_sizes_meet_the_targets() {
    let s = setup();
    for (credential, limit) in [
        (registered(&s), 11),
        (registered_at_scale(&s), 11),
        (provisional(&s), 16),
    ] {
        let version = qr_version(&credential).unwrap();
        println!(
            "reference credential, {:?}: {} bytes COSE, {} characters ({}), QR version {} at ECC M (target <= {limit})",
            credential.kind,
            credential.bytes.len(),
            credential.text.len(),
            if credential.text.as_bytes()[4] == b'Z' {
                "zlib"
            } else {
                "uncompressed"
            },
            version
        );
        assert!(
            version <= limit,
            "{:?} needs version {version}",
            credential.kind
        );
    }
}

#[test]
fn both_kinds_verify_with_their_claims() {
    let s = setup();
    let r = verify_text(&registered(&s).text, &s.trust, None, NOW);
    assert_eq!(r.verdict, Verdict::Valid);
    let claims = r.registration.unwrap();
    assert_eq!(claims.given_names, "Олена");
    assert_eq!(claims.family_name, "Коваленко");
    assert_eq!(claims.date_of_birth, "2026-03-14");
    assert_eq!(claims.sex, "female");
    assert_eq!(
        (claims.admin_area.as_str(), claims.locality.as_str()),
        ("UA-46", "Зимна Вода")
    );
    assert_eq!(
        claims.caregivers,
        vec![
            CaregiverClaim {
                name: "Ірина Коваленко".into(),
                relationship: "mother".into()
            },
            CaregiverClaim {
                name: "Андрій Коваленко".into(),
                relationship: "father".into()
            },
        ]
    );
    assert_eq!(claims.leaf_index, Some(1234));
    assert_eq!(claims.record_id, s.record.id);
    let p = verify_text(&provisional(&s).text, &s.trust, None, NOW);
    assert_eq!(p.verdict, Verdict::ValidProvisional);
    assert_eq!(p.registration.unwrap().leaf_index, None);
    assert_eq!(p.signer, Some(s.device_key.key_id().to_hex()));
}

#[test]
fn every_single_byte_tamper_fails() {
    let s = setup();
    for credential in [registered(&s), provisional(&s)] {
        for i in 0..credential.bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bytes = credential.bytes.clone();
                bytes[i] ^= flip;
                let v = verify_bytes(&bytes, &s.trust, None, NOW);
                assert!(
                    matches!(v.verdict, Verdict::Invalid(_)),
                    "{:?} byte {i} ^ {flip:#x} still verified",
                    credential.kind
                );
            }
        }
        // And every character of the QR text, replaced by another base45 character.
        let text = credential.text.as_bytes();
        for i in 0..text.len() {
            let mut tampered = text.to_vec();
            tampered[i] = if text[i] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(tampered).unwrap();
            let v = verify_text(&tampered, &s.trust, None, NOW);
            assert!(
                matches!(v.verdict, Verdict::Invalid(_)),
                "{:?} character {i} changed still verified",
                credential.kind
            );
        }
    }
}

#[test]
fn a_wrong_trust_bundle_fails() {
    let s = setup();
    let mut other = s.trust.clone();
    let other_key = Ed25519Key::from_secret(&[1; 32]);
    other.registry_public_key =
        base64::engine::general_purpose::STANDARD.encode(other_key.public_bytes());
    other.registry_key_id = other_key.key_id().to_hex();
    for credential in [registered(&s), provisional(&s)] {
        let v = verify_text(&credential.text, &other, None, NOW);
        assert!(matches!(v.verdict, Verdict::Invalid(_)), "{:?}", v.verdict);
    }
    // A provisional credential whose certificate names another registry's origin.
    let mut foreign_origin = s.trust.clone();
    foreign_origin.origin = "elsewhere.test/births".into();
    let v = verify_text(&provisional(&s).text, &foreign_origin, None, NOW);
    assert!(matches!(v.verdict, Verdict::Invalid(_)));
}

#[test]
fn a_revoked_device_gives_revoked_with_the_list_age() {
    let s = setup();
    let list = RevocationList {
        version: 1,
        origin: s.trust.origin.clone(),
        issued_at: NOW - 7200,
        entries: vec![Revocation {
            device_kid: ByteBuf::from(s.device_key.key_id().0.to_vec()),
            revoked_at: s.record.captured_at - 1,
            reason: "phone stolen".into(),
        }],
    };
    let v = verify_text(&provisional(&s).text, &s.trust, Some(&list), NOW);
    assert!(
        matches!(&v.verdict, Verdict::Revoked(m) if m.contains("phone stolen")),
        "{:?}",
        v.verdict
    );
    assert_eq!(v.revocation_list_age_secs, Some(7200));
    // Revoked after the (claimed) issue time: a thief holding the key could backdate it, so
    // the credential is refused all the same once the revocation is in force.
    let mut later = list.clone();
    later.entries[0].revoked_at = s.record.captured_at + 10;
    let v = verify_text(&provisional(&s).text, &s.trust, Some(&later), NOW);
    assert!(matches!(v.verdict, Verdict::Revoked(_)), "{:?}", v.verdict);
    // A revocation scheduled for later is not in force yet.
    let mut scheduled = list.clone();
    scheduled.entries[0].revoked_at = NOW + 3600;
    let v = verify_text(&provisional(&s).text, &s.trust, Some(&scheduled), NOW);
    assert_eq!(v.verdict, Verdict::ValidProvisional);
    // Registered credentials are the registry's word, whatever became of the device.
    assert_eq!(
        verify_text(&registered(&s).text, &s.trust, Some(&list), NOW).verdict,
        Verdict::Valid
    );
}

#[test]
fn issued_outside_the_certificate_is_invalid() {
    let s = setup();
    let late =
        issue_provisional(&s.device_key, &s.certificate, &s.record, NOW + 400 * 86_400).unwrap();
    let v = verify_text(&late.text, &s.trust, None, NOW);
    assert_eq!(
        v.verdict,
        Verdict::Invalid(CredentialError::CertificateNotValidAtIssue.to_string())
    );
}

/// The claims of `s.record` as signed in a credential.
fn claims_of(s: &Setup, leaf_index: Option<u64>) -> Value {
    claims(&s.record, s.record.captured_at, leaf_index).unwrap()
}

fn cert_header(s: &Setup) -> BTreeMap<i64, Value> {
    [(
        HEADER_DEVICE_CERTIFICATE,
        Value::Bytes(s.certificate.clone()),
    )]
    .into()
}

#[test]
fn credentials_with_other_headers_are_refused() {
    let s = setup();
    let mut with_extra = cert_header(&s);
    with_extra.insert(33, Value::Text("note".into()));
    let only_extra: BTreeMap<i64, Value> = [(33, Value::Bytes(vec![1]))].into();
    let kid_unprotected: BTreeMap<i64, Value> = [(
        cose::HEADER_KID,
        Value::Bytes(s.registry_key.key_id().0.to_vec()),
    )]
    .into();
    let cases = [
        // A provisional credential with one more unprotected entry than the certificate.
        sign_credential(&s.device_key, with_extra, &claims_of(&s, None)).unwrap(),
        // A registered credential with an unprotected entry.
        sign_credential(&s.registry_key, only_extra, &claims_of(&s, Some(1234))).unwrap(),
        // A registered credential repeating the kid unprotected.
        sign_credential(&s.registry_key, kid_unprotected, &claims_of(&s, Some(1234))).unwrap(),
        // A registered credential re-encoded with a longer payload length (0x59 + 2 bytes for
        // a payload under 256 bytes): the signature still covers the same payload.
        {
            let genuine = registered(&s).bytes;
            let cose = CoseSign1::parse(&genuine, MAX_DECOMPRESSED_BYTES).unwrap();
            let at = genuine.len() - 66 - cose.payload.len() - 2;
            assert_eq!(genuine[at], 0x58);
            [&genuine[..at], &[0x59, 0], &genuine[at + 1..]].concat()
        },
    ];
    for (n, bytes) in cases.iter().enumerate() {
        let v = verify_bytes(bytes, &s.trust, None, NOW);
        assert!(
            matches!(&v.verdict, Verdict::Invalid(m) if m.contains("header") || m.contains("encoding")),
            "case {n}: {:?}",
            v.verdict
        );
        assert_eq!(v.registration, None, "case {n}: nothing displayed");
        assert!(
            matches!(
                Credential::from_bytes(bytes.clone()),
                Err(CredentialError::BadHeaders(_) | CredentialError::Malformed(_))
            ),
            "case {n}"
        );
    }
    // The genuine ones still verify and rebuild.
    for (credential, kind) in [
        (registered(&s), CredentialKind::Registered),
        (provisional(&s), CredentialKind::Provisional),
    ] {
        assert_eq!(Credential::from_bytes(credential.bytes).unwrap().kind, kind);
    }
}

#[test]
fn a_provisional_credential_claiming_a_ledger_index_is_refused() {
    let s = setup();
    // Signed by the certified device, with claim 7 as only the registry may write it.
    let bytes = sign_credential(&s.device_key, cert_header(&s), &claims_of(&s, Some(42))).unwrap();
    let v = verify_bytes(&bytes, &s.trust, None, NOW);
    assert_eq!(
        v.verdict,
        Verdict::Invalid(CredentialError::ProvisionalWithLedgerIndex.to_string())
    );
    assert_eq!(v.registration, None, "no ledger index is displayed");
    // Without it, the same device's credential is fine.
    let bytes = sign_credential(&s.device_key, cert_header(&s), &claims_of(&s, None)).unwrap();
    assert_eq!(
        verify_bytes(&bytes, &s.trust, None, NOW).verdict,
        Verdict::ValidProvisional
    );
}

/// A device certificate of `s.device_key` valid from `not_before` to `not_after`.
fn certificate_valid(s: &Setup, not_before: i64, not_after: i64) -> Vec<u8> {
    DeviceCertificate {
        version: 1,
        origin: s.trust.origin.clone(),
        device_public_key: ByteBuf::from(s.device_key.public_bytes().to_vec()),
        worker_id: "oksana.m".into(),
        region: "UA-46".into(),
        not_before,
        not_after,
    }
    .sign(&s.registry_key)
    .unwrap()
}

#[test]
fn a_provisional_credential_of_an_expired_certificate_is_expired() {
    let s = setup();
    let credential = provisional(&s);
    let after_expiry = NOW + 366 * 86_400;
    let v = verify_text(&credential.text, &s.trust, None, after_expiry);
    assert!(
        matches!(&v.verdict, Verdict::Expired(m) if m.contains("expired on")),
        "{:?}",
        v.verdict
    );
    // A retired phone backdating `iat` into the certificate's validity gains nothing.
    let backdated =
        issue_provisional(&s.device_key, &s.certificate, &s.record, NOW - 3600).unwrap();
    assert!(matches!(
        verify_text(&backdated.text, &s.trust, None, after_expiry).verdict,
        Verdict::Expired(_)
    ));
    // The last second of validity is still valid.
    let last = NOW + 365 * 86_400;
    assert_eq!(
        verify_text(&credential.text, &s.trust, None, last).verdict,
        Verdict::ValidProvisional
    );
    // A registered credential does not depend on any device certificate.
    assert_eq!(
        verify_text(&registered(&s).text, &s.trust, None, after_expiry).verdict,
        Verdict::Valid
    );
    // The verdict is its own status in JSON.
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"]["status"], "expired");
}

/// Times from the input at the ends of `i64`: no overflow, a verdict every time.
#[test]
fn extreme_times_never_overflow() {
    let s = setup();
    for issued_at in [i64::MIN, i64::MAX] {
        let list = RevocationList {
            version: 1,
            origin: s.trust.origin.clone(),
            issued_at,
            entries: vec![],
        };
        for now in [i64::MIN, 0, NOW, i64::MAX] {
            let v = verify_text(&registered(&s).text, &s.trust, Some(&list), now);
            assert_eq!(v.verdict, Verdict::Valid);
            let expected = now.saturating_sub(issued_at);
            assert_eq!(v.revocation_list_age_secs, Some(expected));
            let v = verify_text("not a credential", &s.trust, Some(&list), now);
            assert_eq!(v.revocation_list_age_secs, Some(expected));
        }
    }
    // `iat` at the extremes: outside any certificate, so invalid; a registered one is the
    // registry's word.
    for iat in [i64::MIN, i64::MAX] {
        let p = issue_provisional(&s.device_key, &s.certificate, &s.record, iat).unwrap();
        assert_eq!(
            verify_text(&p.text, &s.trust, None, NOW).verdict,
            Verdict::Invalid(CredentialError::CertificateNotValidAtIssue.to_string())
        );
        let r = issue_registered(&s.registry_key, &s.record, 1, iat).unwrap();
        let v = verify_text(&r.text, &s.trust, None, NOW);
        assert_eq!(v.verdict, Verdict::Valid);
        assert_eq!(v.registration.unwrap().issued_at, iat);
    }
    // Certificates bounded by the extremes.
    let cases = [
        (
            (i64::MIN, i64::MAX),
            i64::MIN,
            i64::MAX,
            Verdict::ValidProvisional,
        ),
        (
            (i64::MIN, i64::MIN),
            i64::MIN,
            NOW,
            Verdict::Expired(String::new()),
        ),
        (
            (i64::MIN, i64::MAX),
            i64::MIN,
            NOW,
            Verdict::ValidProvisional,
        ),
        (
            (i64::MIN, i64::MAX),
            NOW,
            i64::MAX,
            Verdict::ValidProvisional,
        ),
        (
            (NOW - 10, NOW),
            NOW,
            i64::MAX,
            Verdict::Expired(String::new()),
        ),
    ];
    for ((not_before, not_after), iat, now, expected) in cases {
        let certificate = certificate_valid(&s, not_before, not_after);
        let p = issue_provisional(&s.device_key, &certificate, &s.record, iat).unwrap();
        let got = verify_text(&p.text, &s.trust, None, now).verdict;
        match expected {
            Verdict::Expired(_) => assert!(matches!(got, Verdict::Expired(_)), "{got:?}"),
            expected => assert_eq!(got, expected, "{not_before} {not_after} {iat} {now}"),
        }
    }
}

/// A credential signed by the genuine registry (a signed record must pass validation, so
/// this is what an insider or a lenient older registry could issue) whose names hold
/// characters that reorder or hide text: refused, nothing displayed.
#[test]
fn names_that_would_display_reordered_are_refused() {
    let s = setup();
    type Edit = (&'static str, fn(&mut Record));
    let edits: [Edit; 6] = [
        ("child's given names", |r| {
            r.enrolment.child.given_names = "Олена\u{202E}ок".into()
        }),
        ("child's family name", |r| {
            r.enrolment.child.family_name = "Ко\u{200B}валенко".into()
        }),
        ("caregiver's name", |r| {
            r.enrolment.caregivers[0].given_names = "\u{2067}Ірина".into()
        }),
        ("caregiver's name", |r| {
            r.enrolment.caregivers[0].family_name = "Інша\u{FEFF}".into()
        }),
        ("caregiver's relationship", |r| {
            r.enrolment.caregivers[0].relationship = "aunt\u{E0041}".into()
        }),
        ("place of birth", |r| {
            r.enrolment.place_of_birth.locality = "Зимна\u{061C} Вода".into()
        }),
    ];
    for (field, edit) in edits {
        let mut record = s.record.clone();
        edit(&mut record);
        for credential in [
            issue_registered(&s.registry_key, &record, 1, NOW).unwrap(),
            issue_provisional(&s.device_key, &s.certificate, &record, record.captured_at).unwrap(),
        ] {
            let v = verify_text(&credential.text, &s.trust, None, NOW);
            assert!(
                matches!(&v.verdict, Verdict::Invalid(m)
                    if m.contains(field) && m.contains("U+") && !m.contains("Олена")),
                "{field}: {:?}",
                v.verdict
            );
            assert_eq!(v.registration, None, "{field}: nothing is displayed");
        }
    }
}

#[test]
fn a_zlib_bomb_is_refused_cheaply() {
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    for _ in 0..100 {
        encoder.write_all(&[0u8; 1024 * 1024]).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(
        bomb.len() < 200 * 1024,
        "100 MiB compresses to {} bytes",
        bomb.len()
    );
    // Small enough to fit the text limit only if truncated; the decoder stops at the cap anyway.
    let small_bomb = &bomb[..bomb.len().min(2800)];
    let text = format!("{PREFIX}{FLAG_ZLIB}{}", base45::encode(small_bomb));
    // Cheap because inflation stops at the cap (no timing assertion: a benchmark's job).
    let err = decode_text(&text).unwrap_err();
    assert!(
        matches!(
            err,
            CredentialError::TooLargeDecompressed | CredentialError::BadCompression
        ),
        "{err}"
    );
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&[0u8; 64 * 1024]).unwrap();
    let whole = encoder.finish().unwrap();
    let text = format!("{PREFIX}{FLAG_ZLIB}{}", base45::encode(&whole));
    assert_eq!(
        decode_text(&text).unwrap_err(),
        CredentialError::TooLargeDecompressed
    );
}

#[test]
fn clear_reasons_for_wrong_text() {
    let s = setup();
    assert_eq!(
        decode_text("HC1:ABC").unwrap_err(),
        CredentialError::NotACredential
    );
    assert_eq!(
        decode_text("BR2:ZABC").unwrap_err(),
        CredentialError::UnsupportedVersion("2".into())
    );
    assert_eq!(
        decode_text("BR1:QABC").unwrap_err(),
        CredentialError::BadFlag
    );
    assert!(matches!(
        decode_text("BR1:Zab"),
        Err(CredentialError::Base45(_))
    ));
    assert_eq!(
        decode_text(&"A".repeat(5000)).unwrap_err(),
        CredentialError::TooLong(5000)
    );
    // Whitespace around scanned text is tolerated.
    let text = format!("  {}\n", registered(&s).text);
    assert_eq!(
        verify_text(&text, &s.trust, None, NOW).verdict,
        Verdict::Valid
    );
}

#[test]
fn terminal_and_svg_renderings() {
    let s = setup();
    let credential = registered(&s);
    let svg = qr::to_svg(&credential).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<path"));
    let terminal = qr::to_terminal(&credential, qr::TerminalStyle::Colour).unwrap();
    let rows = terminal.lines().count();
    let modules = 17 + 4 * qr_version(&credential).unwrap() as usize + 2 * qr::QUIET_ZONE;
    assert_eq!(rows, modules.div_ceil(2));
}

proptest::proptest! {
    #[test]
    fn decoding_arbitrary_text_never_panics(body in "[0-9A-Z $%*+./:-]{0,300}", flag in "[CZX]") {
        let s = setup();
        let _ = verify_text(&format!("{PREFIX}{flag}{body}"), &s.trust, None, NOW);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let s = setup();
        let _ = verify_bytes(&bytes, &s.trust, None, NOW);
        let _ = verify_text(&format!("{PREFIX}{FLAG_RAW}{}", base45::encode(&bytes)), &s.trust, None, NOW);
        let _ = verify_text(&format!("{PREFIX}{FLAG_ZLIB}{}", base45::encode(&bytes)), &s.trust, None, NOW);
    }
}

#[cfg(feature = "qr-image")]
mod images {
    use image::{GrayImage, Luma};

    use super::*;

    #[test]
    fn png_round_trip_for_both_kinds() {
        let s = setup();
        for (credential, expected) in [
            (registered(&s), Verdict::Valid),
            (provisional(&s), Verdict::ValidProvisional),
        ] {
            let png = qr::to_png(&credential, 4).unwrap();
            let text = qr::read_image(&png).unwrap();
            assert_eq!(text, credential.text);
            assert_eq!(verify_text(&text, &s.trust, None, NOW).verdict, expected);
        }
    }

    /// Scaled, rotated a few degrees, slightly blurred, with noise: like a phone photo of paper.
    fn photograph(clean: &GrayImage, degrees: f64, seed: u64) -> GrayImage {
        let (w, h) = clean.dimensions();
        let scale = 1.7;
        // A canvas large enough for the rotated code and its quiet zone, as a photo has.
        let (ow, oh) = (
            (w as f64 * scale * 1.2) as u32 + 80,
            (h as f64 * scale * 1.2) as u32 + 80,
        );
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (cx, cy) = (ow as f64 / 2.0, oh as f64 / 2.0);
        let mut rotated = GrayImage::from_pixel(ow, oh, Luma([235]));
        for y in 0..oh {
            for x in 0..ow {
                // Inverse-map each output pixel into the clean image, bilinear sampling.
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                let sx = (cos * dx + sin * dy) / scale + w as f64 / 2.0;
                let sy = (-sin * dx + cos * dy) / scale + h as f64 / 2.0;
                if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f64 || sy >= (h - 1) as f64 {
                    continue;
                }
                let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
                let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
                let p = |x, y| clean.get_pixel(x, y)[0] as f64;
                let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + p(x0 + 1, y0) * fx * (1.0 - fy)
                    + p(x0, y0 + 1) * (1.0 - fx) * fy
                    + p(x0 + 1, y0 + 1) * fx * fy;
                rotated.put_pixel(x, y, Luma([v as u8]));
            }
        }
        let mut state = seed;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 41) as i32 - 20
        };
        let mut out = rotated.clone();
        for y in 1..oh - 1 {
            for x in 1..ow - 1 {
                let mut sum = 0i32;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)] {
                    sum +=
                        rotated.get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32)[0] as i32;
                }
                let v = (sum / 5 + noise()).clamp(0, 255);
                out.put_pixel(x, y, Luma([v as u8]));
            }
        }
        out
    }

    #[test]
    fn a_photo_like_image_still_decodes() {
        let s = setup();
        for credential in [registered(&s), provisional(&s)] {
            let png = qr::to_png(&credential, 4).unwrap();
            let clean = image::load_from_memory(&png).unwrap().to_luma8();
            for (n, degrees) in [-4.0, -2.0, 3.0, 5.0].into_iter().enumerate() {
                let photo = photograph(&clean, degrees, 42 + n as u64);
                if let Ok(dir) = std::env::var("BIRTHRIGHT_SAVE_PHOTO") {
                    photo
                        .save(format!("{dir}/photo-{:?}-{n}.png", credential.kind))
                        .unwrap();
                }
                // Saved as a JPEG at the quality a phone camera uses.
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                    .encode_image(&photo)
                    .unwrap();
                let text = qr::read_image(&jpeg)
                    .unwrap_or_else(|e| panic!("{:?} at {degrees} degrees: {e}", credential.kind));
                assert_eq!(text, credential.text);
            }
        }
    }

    #[test]
    fn images_without_a_code_say_so() {
        assert!(matches!(
            qr::read_image(b"not an image"),
            Err(qr::QrImageError::Unreadable(_))
        ));
        let blank = GrayImage::from_pixel(200, 200, Luma([255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(blank)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(
            qr::read_image(&png),
            Err(qr::QrImageError::NoCode)
        ));
    }
}

fn status_token(s: &Setup, iat: i64, set: &[(u64, LeafStatus)]) -> Vec<u8> {
    let mut list = crate::status_list::StatusList::new(2000);
    for &(i, st) in set {
        list.set(i, st);
    }
    StatusListToken {
        origin: s.trust.origin.clone(),
        issued_at: iat,
        expires_at: iat + crate::status_list::VALIDITY_SECS,
        ttl: crate::status_list::TTL_SECS,
        list,
    }
    .sign(&s.registry_key)
    .unwrap()
}

#[test]
fn the_status_list_makes_a_registered_credential_superseded_or_revoked() {
    let s = setup();
    let credential = registered(&s); // leaf 1234
    let mut verifier = Verifier::from_bytes(s.trust.to_json().as_bytes(), None).unwrap();
    assert_eq!(
        verifier.verify_text(&credential.text, NOW).verdict,
        Verdict::Valid
    );
    // Another leaf superseded: this one stays valid, and the list's age is reported.
    let other = status_token(&s, NOW - 60, &[(1233, LeafStatus::Superseded)]);
    assert!(verifier.add_status_list(&other).unwrap().1);
    let v = verifier.verify_text(&credential.text, NOW);
    assert_eq!(v.verdict, Verdict::Valid);
    assert_eq!(v.status_list_age_secs, Some(60));
    let superseded = status_token(&s, NOW - 30, &[(1234, LeafStatus::Superseded)]);
    verifier.add_status_list(&superseded).unwrap();
    let v = verifier.verify_text(&credential.text, NOW);
    assert!(
        matches!(&v.verdict, Verdict::Superseded(m) if m.contains("correction")),
        "{:?}",
        v.verdict
    );
    assert!(v.registration.is_some());
    // An older list (a replay) does not replace the newer one.
    assert!(!verifier.add_status_list(&other).unwrap().1);
    assert!(matches!(
        verifier.verify_text(&credential.text, NOW).verdict,
        Verdict::Superseded(_)
    ));
    let revoked = status_token(&s, NOW - 10, &[(1234, LeafStatus::Revoked)]);
    verifier.add_status_list(&revoked).unwrap();
    assert!(matches!(
        verifier.verify_text(&credential.text, NOW).verdict,
        Verdict::Revoked(_)
    ));
    // A value this registry never writes is not taken for valid.
    let odd = status_token(&s, NOW - 5, &[(1234, LeafStatus::Other(2))]);
    verifier.add_status_list(&odd).unwrap();
    assert!(matches!(
        verifier.verify_text(&credential.text, NOW).verdict,
        Verdict::Invalid(_)
    ));
    // A leaf beyond the list (a credential newer than the list) is valid.
    let beyond = registered_at_scale(&s);
    assert_eq!(
        verifier.verify_text(&beyond.text, NOW).verdict,
        Verdict::Valid
    );
    // The status list says nothing about provisional credentials.
    assert_eq!(
        verifier.verify_text(&provisional(&s).text, NOW).verdict,
        Verdict::ValidProvisional
    );
    // JSON form of the new verdicts.
    let json = serde_json::to_value(Verdict::Superseded("x".into())).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"status": "superseded", "reason": "x"})
    );
    let json = serde_json::to_value(Verdict::Unreadable("x".into())).unwrap();
    assert_eq!(json["status"], "unreadable");
}

/// A second registry (another country at the same border), with its own device.
fn second_registry() -> (Ed25519Key, TrustBundle, Ed25519Key, Vec<u8>) {
    let key = Ed25519Key::from_secret(&[55; 32]);
    let mut trust = registry().1;
    trust.origin = "registru.test/nasteri".into();
    trust.registry_public_key =
        base64::engine::general_purpose::STANDARD.encode(key.public_bytes());
    trust.registry_key_id = key.key_id().to_hex();
    trust.checkpoint_vkey =
        crate::ledger::note::NoteSigner::new(&trust.origin, key.signing_key().clone())
            .unwrap()
            .verifier_key();
    let device = Ed25519Key::from_secret(&[56; 32]);
    let cert = DeviceCertificate {
        version: 1,
        origin: trust.origin.clone(),
        device_public_key: ByteBuf::from(device.public_bytes().to_vec()),
        worker_id: "ion".into(),
        region: "MD-CU".into(),
        not_before: NOW - 86_400,
        not_after: NOW + 86_400,
    }
    .sign(&key)
    .unwrap();
    (key, trust, device, cert)
}

#[test]
fn a_verifier_with_several_registries_picks_the_signer_s() {
    let s = setup();
    let (md_key, md_trust, md_device, md_cert) = second_registry();
    let mut verifier = Verifier::new();
    assert_eq!(
        verifier
            .add_trust_bundle(s.trust.to_json().as_bytes())
            .unwrap(),
        s.trust.origin
    );
    verifier
        .add_trust_bundle(md_trust.to_json().as_bytes())
        .unwrap();
    assert!(matches!(
        verifier.add_trust_bundle(md_trust.to_json().as_bytes()),
        Err(VerifierError::DuplicateRegistry(_))
    ));
    let ua = registered(&s);
    let md = issue_registered(&md_key, &s.record, 7, NOW).unwrap();
    let md_provisional = issue_provisional(&md_device, &md_cert, &s.record, NOW - 60).unwrap();
    for (credential, issuer, verdict) in [
        (&ua, &s.trust.origin, Verdict::Valid),
        (&md, &md_trust.origin, Verdict::Valid),
        (&md_provisional, &md_trust.origin, Verdict::ValidProvisional),
        (&provisional(&s), &s.trust.origin, Verdict::ValidProvisional),
    ] {
        let v = verifier.verify_text(&credential.text, NOW);
        assert_eq!(v.verdict, verdict);
        assert_eq!(&v.registration.unwrap().issuer, issuer);
    }
    // Each registry's lists go to that registry only, and apply to its credentials only.
    let md_list = StatusListToken {
        origin: md_trust.origin.clone(),
        issued_at: NOW,
        expires_at: NOW + 1,
        ttl: 1,
        list: {
            let mut l = crate::status_list::StatusList::new(8);
            l.set(7, LeafStatus::Superseded);
            l
        },
    }
    .sign(&md_key)
    .unwrap();
    assert_eq!(
        verifier.add_status_list(&md_list).unwrap(),
        (md_trust.origin.clone(), true)
    );
    assert!(matches!(
        verifier.verify_text(&md.text, NOW).verdict,
        Verdict::Superseded(_)
    ));
    assert_eq!(verifier.verify_text(&ua.text, NOW).verdict, Verdict::Valid);
    // A list of a registry not trusted is refused.
    let stranger = Ed25519Key::from_secret(&[99; 32]);
    let mut alone = Verifier::new();
    alone
        .add_trust_bundle(s.trust.to_json().as_bytes())
        .unwrap();
    assert_eq!(
        alone.add_status_list(&md_list),
        Err(VerifierError::UnknownRegistry("status list"))
    );
    // A credential of neither registry.
    let forged = issue_registered(&stranger, &s.record, 1, NOW).unwrap();
    assert!(matches!(
        verifier.verify_text(&forged.text, NOW).verdict,
        Verdict::Invalid(_)
    ));
}
