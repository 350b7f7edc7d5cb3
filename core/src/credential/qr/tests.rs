//! The drawings: every one is read back module by module and compared with the matrix, quiet
//! zone included.

use uuid::Uuid;

use super::*;
use crate::{
    credential::{issue_provisional, issue_registered},
    fixtures::reference_input,
    keys::Ed25519Key,
    record::{Record, SCHEMA_VERSION},
};

fn record(key: &Ed25519Key) -> Record {
    Record {
        schema_version: SCHEMA_VERSION,
        id: Uuid::from_u128(0x01a2_0bdf_bee1_72c5_a976_614a_60a4_9bec),
        captured_at: 1_774_000_000 - 3600,
        worker_id: "oksana.m".into(),
        device_kid: key.key_id().0.to_vec(),
        supersedes: None,
        enrolment: reference_input(),
    }
}

fn registered() -> Credential {
    let key = Ed25519Key::from_secret(&[7; 32]);
    issue_registered(&key, &record(&key), 1234, 1_774_000_000).unwrap()
}

/// A provisional credential (a larger code); the certificate bytes are not checked here.
fn provisional() -> Credential {
    let key = Ed25519Key::from_secret(&[8; 32]);
    issue_provisional(&key, &[0x5a; 180], &record(&key), 1_774_000_000).unwrap()
}

/// The drawing's modules with the quiet zone, row by row, as the matrix says they must be.
fn expected(m: &QrMatrix) -> Vec<Vec<bool>> {
    let side = m.size + 2 * QUIET_ZONE;
    (0..side)
        .map(|y| {
            (0..side)
                .map(|x| {
                    x >= QUIET_ZONE
                        && y >= QUIET_ZONE
                        && x < m.size + QUIET_ZONE
                        && y < m.size + QUIET_ZONE
                        && m.modules[(y - QUIET_ZONE) * m.size + x - QUIET_ZONE]
                })
                .collect()
        })
        .collect()
}

/// Reads a terminal drawing back into modules (two rows of modules per line).
fn read_terminal(drawing: &str, style: TerminalStyle) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in drawing.lines() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        match style {
            TerminalStyle::Colour => {
                let mut colours = (false, false);
                let mut rest = line;
                while let Some(c) = rest.chars().next() {
                    if let Some(seq) = rest.strip_prefix("\x1b[") {
                        let end = seq.find('m').expect("an SGR sequence ends with m");
                        let codes: Vec<&str> = seq[..end].split(';').collect();
                        if codes != ["0"] {
                            assert_eq!(codes.len(), 2, "{line:?}");
                            colours = (codes[0] == "30", codes[1] == "40");
                        }
                        rest = &seq[end + 1..];
                        continue;
                    }
                    assert_eq!(c, '\u{2580}', "{line:?}");
                    top.push(colours.0);
                    bottom.push(colours.1);
                    rest = &rest[c.len_utf8()..];
                }
            }
            TerminalStyle::Plain => {
                for c in line.chars() {
                    // The blocks are the light modules.
                    let (t, b) = match c {
                        '\u{2588}' => (false, false),
                        '\u{2580}' => (false, true),
                        '\u{2584}' => (true, false),
                        ' ' => (true, true),
                        other => panic!("unexpected {other:?} in {line:?}"),
                    };
                    top.push(t);
                    bottom.push(b);
                }
            }
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

#[test]
fn terminal_drawings_are_the_matrix_with_a_four_module_quiet_zone() {
    for credential in [registered(), provisional()] {
        let m = matrix(&credential).unwrap();
        assert_eq!(m.size, 17 + 4 * qr_version(&credential).unwrap() as usize);
        let want = expected(&m);
        let side = m.size + 8;
        assert_eq!(terminal_columns(&credential).unwrap(), side);
        for style in [TerminalStyle::Colour, TerminalStyle::Plain] {
            let drawing = to_terminal(&credential, style).unwrap();
            let mut got = read_terminal(&drawing, style);
            // An odd number of rows: the last line's lower half is quiet zone too.
            assert_eq!(got.len(), side + 1, "{style:?}");
            assert!(got.pop().unwrap().iter().all(|d| !d), "{style:?}");
            assert_eq!(got, want, "{style:?}");
            // Four light modules on every side.
            for i in 0..QUIET_ZONE {
                for j in 0..side {
                    for (x, y) in [(i, j), (j, i), (side - 1 - i, j), (j, side - 1 - i)] {
                        assert!(!got[y][x], "{style:?}: dark module at ({x}, {y})");
                    }
                }
            }
            // The finder pattern's dark corner is right inside the quiet zone.
            assert!(got[QUIET_ZONE][QUIET_ZONE], "{style:?}");
            for line in drawing.lines() {
                let cells = line
                    .chars()
                    .filter(|c| "\u{2580}\u{2584}\u{2588} ".contains(*c));
                assert_eq!(cells.count(), side, "{style:?}");
            }
        }
    }
}

#[test]
fn the_plain_terminal_drawing_has_no_escape_codes() {
    let drawing = to_terminal(&registered(), TerminalStyle::Plain).unwrap();
    assert!(!drawing.contains('\x1b'), "{drawing:?}");
    assert!(!drawing.lines().any(|l| l.ends_with(' ')));
    assert!(
        to_terminal(&registered(), TerminalStyle::Colour)
            .unwrap()
            .contains('\x1b')
    );
}

#[test]
fn the_svg_has_the_quiet_zone() {
    let credential = registered();
    let m = matrix(&credential).unwrap();
    let svg = to_svg(&credential).unwrap();
    let side = m.size + 8;
    assert!(
        svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")),
        "{svg}"
    );
    // The top-left finder pattern's first module sits at (4, 4).
    assert!(svg.contains("d=\"M4,4h1v1h-1z"), "{svg}");
    let squares = svg.matches("h1v1h-1z").count();
    assert_eq!(squares, m.modules.iter().filter(|d| **d).count());
}

#[test]
fn a_credential_is_drawn_again_from_its_text() {
    for credential in [registered(), provisional()] {
        let again = Credential::from_text(&format!(" {}\n", credential.text)).unwrap();
        assert_eq!(again, credential);
        assert_eq!(matrix(&again).unwrap(), matrix(&credential).unwrap());
    }
    assert_eq!(
        Credential::from_text("hello").unwrap_err().to_string(),
        "not a Birthright credential (it must start with BR1:)"
    );
    assert!(matches!(
        Credential::from_text("BR1:C%%%%"),
        Err(CredentialError::Base45(_))
    ));
    // Base45 of bytes that are no COSE message.
    let text = format!(
        "BR1:C{}",
        crate::credential::base45::encode(b"not cbor at all")
    );
    assert!(matches!(
        Credential::from_text(&text),
        Err(CredentialError::Malformed(_))
    ));
}

#[test]
fn png_scales_out_of_range_are_refused() {
    let credential = registered();
    for scale in [0, MAX_PNG_SCALE + 1, u32::MAX] {
        assert_eq!(
            to_png(&credential, scale).unwrap_err().to_string(),
            format!(
                "cannot draw the QR code: the PNG scale must be 1 to 32 pixels a module, not {scale}"
            )
        );
    }
    assert!(to_png(&credential, MAX_PNG_SCALE).is_ok());
}

#[cfg(feature = "qr-image")]
#[test]
fn the_png_is_the_matrix_with_a_four_module_quiet_zone() {
    for credential in [registered(), provisional()] {
        let m = matrix(&credential).unwrap();
        let want = expected(&m);
        for scale in [1, 3, 6] {
            let png = to_png(&credential, scale).unwrap();
            let image = image::load_from_memory(&png).unwrap().to_luma8();
            let side = (m.size + 8) as u32 * scale;
            assert_eq!(image.dimensions(), (side, side));
            for (x, y, p) in image.enumerate_pixels() {
                let dark = want[(y / scale) as usize][(x / scale) as usize];
                assert_eq!(
                    p[0],
                    if dark { 0 } else { 255 },
                    "({x}, {y}) at scale {scale}"
                );
            }
            if scale > 1 {
                assert_eq!(super::read_image(&png).unwrap(), credential.text);
            }
        }
    }
}
