//! COSE_Sign1 (RFC 9052 §4.2) with EdDSA (alg -8): the envelope of every signed record,
//! device certificate and credential.
//!
//! Only standard structures: `18([protected: bstr, unprotected: map, payload: bstr,
//! signature: bstr])`, the protected header a map with `1 (alg): -8` and `4 (kid): bstr`,
//! signed over `Sig_structure = ["Signature1", protected, external_aad, payload]`. Any COSE
//! library verifies what this module produces (a test checks it with `coset`).
//!
//! Parsing is strict: a message must be in its one valid encoding (what [`sign1`] writes for
//! it), and each kind of message is checked against its exact header layout, a
//! [`HeaderProfile`], so that no one can make a second byte form of a signed message.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::codec::{self, Value};

/// CBOR tag of a COSE_Sign1 message.
pub const TAG_COSE_SIGN1: u64 = 18;
/// COSE algorithm id of EdDSA.
pub const ALG_EDDSA: i64 = -8;
/// COSE header label `alg`.
pub const HEADER_ALG: i64 = 1;
/// COSE header label `content type`.
pub const HEADER_CONTENT_TYPE: i64 = 3;
/// COSE header label `kid`.
pub const HEADER_KID: i64 = 4;

/// A COSE_Sign1 structure that could not be parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoseError {
    /// The message is larger than allowed.
    #[error("COSE message too large: {len} bytes, limit {limit}")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// Not a tagged COSE_Sign1 of the expected shape.
    #[error("not a COSE_Sign1 message: {0}")]
    Malformed(String),
    /// The algorithm is not EdDSA.
    #[error("unsupported COSE algorithm (only EdDSA, -8, is accepted)")]
    UnsupportedAlgorithm,
    /// The signature does not verify under the given key.
    #[error("signature does not verify")]
    BadSignature,
    /// The message is not in its one valid encoding (shortest lengths, definite lengths,
    /// sorted header keys): a re-encoded copy of a message, refused so that every message has
    /// exactly one byte form.
    #[error("the {0} is not in its one valid encoding (shortest lengths, sorted keys)")]
    NotCanonical(&'static str),
    /// A header holds a parameter this kind of message must not have.
    #[error("unexpected parameter {label} in the {header} header")]
    UnexpectedHeader {
        /// `protected` or `unprotected`.
        header: &'static str,
        /// The COSE header label.
        label: i64,
    },
    /// A header lacks a parameter this kind of message must have.
    #[error("parameter {label} missing from the {header} header")]
    MissingHeader {
        /// `protected` or `unprotected`.
        header: &'static str,
        /// The COSE header label.
        label: i64,
    },
    /// A header parameter has the wrong type or value.
    #[error("parameter {label} of the {header} header has the wrong type or value")]
    BadHeaderValue {
        /// `protected` or `unprotected`.
        header: &'static str,
        /// The COSE header label.
        label: i64,
    },
}

/// The exact header layout of one kind of message (`docs/PROTOCOL.md` §2, §6, §14). A message
/// is accepted only with exactly these parameters: protected `{1: -8, 4: kid}` plus content
/// type `3` when the profile has one, and an unprotected header holding exactly the listed
/// labels (each a byte string), nothing else. A kid only in the unprotected header, extra
/// parameters in either header, a missing content type: all refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderProfile {
    /// The content type (label 3) the protected header must carry, if any.
    pub content_type: Option<u16>,
    /// The labels the unprotected header must hold, exactly (each a byte string).
    pub unprotected: &'static [i64],
}

/// Key ids are 8 bytes (`docs/PROTOCOL.md` §3).
const KID_LEN: usize = 8;

/// A parsed COSE_Sign1 message.
#[derive(Debug, Clone, PartialEq)]
pub struct CoseSign1 {
    /// The serialized protected header, exactly as signed.
    pub protected_bytes: Vec<u8>,
    /// The decoded protected header.
    pub protected: BTreeMap<i64, Value>,
    /// The unprotected header.
    pub unprotected: BTreeMap<i64, Value>,
    /// The payload.
    pub payload: Vec<u8>,
    /// The 64-byte Ed25519 signature.
    pub signature: [u8; 64],
}

fn header_map(entries: &BTreeMap<i64, Value>) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::Integer(i128::from(*k)), v.clone()))
            .collect(),
    )
}

fn sig_structure(protected: &[u8], external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let structure = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(external_aad.to_vec()),
        Value::Bytes(payload.to_vec()),
    ]);
    // Encoding a Value built only from text and byte strings cannot fail.
    codec::value_to_vec(&structure).unwrap_or_default()
}

/// Signs `payload` as a tagged COSE_Sign1 with EdDSA. `protected` holds header parameters
/// besides `alg` and `kid` (which are always set); `sign` is the Ed25519 signing function.
pub fn sign1(
    kid: &[u8],
    extra_protected: BTreeMap<i64, Value>,
    unprotected: BTreeMap<i64, Value>,
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let mut protected = extra_protected;
    protected.insert(HEADER_ALG, Value::Integer(i128::from(ALG_EDDSA)));
    protected.insert(HEADER_KID, Value::Bytes(kid.to_vec()));
    let protected_bytes = codec::value_to_vec(&header_map(&protected)).unwrap_or_default();
    let signature = sign(&sig_structure(&protected_bytes, &[], payload));
    let message = Value::Array(vec![
        Value::Bytes(protected_bytes),
        header_map(&unprotected),
        Value::Bytes(payload.to_vec()),
        Value::Bytes(signature.to_vec()),
    ]);
    let body = codec::value_to_vec(&message).unwrap_or_default();
    // Tag 18 is a single initial byte: major type 6, value 18.
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(0xC0 | TAG_COSE_SIGN1 as u8);
    out.extend_from_slice(&body);
    out
}

fn int_keyed(map: Value, what: &str) -> Result<BTreeMap<i64, Value>, CoseError> {
    let Value::Map(entries) = map else {
        return Err(CoseError::Malformed(format!("{what} header is not a map")));
    };
    entries
        .into_iter()
        .map(|(k, v)| match k {
            Value::Integer(i) => i64::try_from(i)
                .map(|i| (i, v))
                .map_err(|_| CoseError::Malformed(format!("{what} header label out of range"))),
            _ => Err(CoseError::Malformed(format!(
                "{what} header label is not an integer"
            ))),
        })
        .collect()
}

impl CoseSign1 {
    /// Parses a tagged COSE_Sign1 of at most `limit` bytes. Does not verify the signature.
    pub fn parse(bytes: &[u8], limit: usize) -> Result<Self, CoseError> {
        if bytes.len() > limit {
            return Err(CoseError::TooLarge {
                len: bytes.len(),
                limit,
            });
        }
        let Some((&0xD2, body)) = bytes.split_first() else {
            return Err(CoseError::Malformed("missing COSE_Sign1 tag (18)".into()));
        };
        let value = codec::value_from_slice(body, limit)
            .map_err(|e| CoseError::Malformed(e.to_string()))?;
        // One valid encoding only: the bytes must be exactly what this module writes for the
        // decoded structure (shortest integer and length forms, definite lengths, sorted map
        // keys, no duplicate keys). Without this, anyone could re-encode a message (the
        // unprotected parts are not signed) into new bytes that still verify.
        if codec::value_to_vec(&value).ok().as_deref() != Some(body) {
            return Err(CoseError::NotCanonical("COSE message"));
        }
        let Value::Array(items) = value else {
            return Err(CoseError::Malformed("not an array".into()));
        };
        let [protected, unprotected, payload, signature]: [Value; 4] = items
            .try_into()
            .map_err(|_| CoseError::Malformed("array must have 4 elements".into()))?;
        let Value::Bytes(protected_bytes) = protected else {
            return Err(CoseError::Malformed(
                "protected header is not a byte string".into(),
            ));
        };
        let protected = if protected_bytes.is_empty() {
            BTreeMap::new()
        } else {
            let value = codec::value_from_slice(&protected_bytes, limit)
                .map_err(|e| CoseError::Malformed(format!("protected header: {e}")))?;
            if codec::value_to_vec(&value).ok().as_deref() != Some(&protected_bytes[..]) {
                return Err(CoseError::NotCanonical("protected header"));
            }
            int_keyed(value, "protected")?
        };
        let unprotected = int_keyed(unprotected, "unprotected")?;
        let Value::Bytes(payload) = payload else {
            return Err(CoseError::Malformed(
                "payload is not an attached byte string".into(),
            ));
        };
        let Value::Bytes(signature) = signature else {
            return Err(CoseError::Malformed(
                "signature is not a byte string".into(),
            ));
        };
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| CoseError::Malformed("EdDSA signature must be 64 bytes".into()))?;
        if protected.get(&HEADER_ALG) != Some(&Value::Integer(i128::from(ALG_EDDSA))) {
            return Err(CoseError::UnsupportedAlgorithm);
        }
        if unprotected.contains_key(&HEADER_ALG) {
            return Err(CoseError::Malformed(
                "alg must be in the protected header".into(),
            ));
        }
        Ok(CoseSign1 {
            protected_bytes,
            protected,
            unprotected,
            payload,
            signature,
        })
    }

    /// Parses like [`Self::parse`], then requires exactly the headers of `profile`
    /// ([`Self::check_profile`]).
    pub fn parse_strict(
        bytes: &[u8],
        limit: usize,
        profile: &HeaderProfile,
    ) -> Result<Self, CoseError> {
        let message = Self::parse(bytes, limit)?;
        message.check_profile(profile)?;
        Ok(message)
    }

    /// Fails unless the headers are exactly those of `profile`: protected `{1: -8, 4: kid
    /// (8 bytes)}` plus `3: content type` if the profile has one, and an unprotected header
    /// with exactly the profile's labels, each a byte string.
    pub fn check_profile(&self, profile: &HeaderProfile) -> Result<(), CoseError> {
        const P: &str = "protected";
        const U: &str = "unprotected";
        for (&label, value) in &self.protected {
            match label {
                HEADER_ALG => {} // checked by `parse`: EdDSA
                HEADER_KID => match value {
                    Value::Bytes(kid) if kid.len() == KID_LEN => {}
                    _ => return Err(CoseError::BadHeaderValue { header: P, label }),
                },
                HEADER_CONTENT_TYPE if profile.content_type.is_some() => {
                    let expected = profile.content_type.map(|c| Value::Integer(c.into()));
                    if Some(value) != expected.as_ref() {
                        return Err(CoseError::BadHeaderValue { header: P, label });
                    }
                }
                label => return Err(CoseError::UnexpectedHeader { header: P, label }),
            }
        }
        if !self.protected.contains_key(&HEADER_KID) {
            return Err(CoseError::MissingHeader {
                header: P,
                label: HEADER_KID,
            });
        }
        if profile.content_type.is_some() && !self.protected.contains_key(&HEADER_CONTENT_TYPE) {
            return Err(CoseError::MissingHeader {
                header: P,
                label: HEADER_CONTENT_TYPE,
            });
        }
        for (&label, value) in &self.unprotected {
            if !profile.unprotected.contains(&label) {
                return Err(CoseError::UnexpectedHeader { header: U, label });
            }
            if !matches!(value, Value::Bytes(_)) {
                return Err(CoseError::BadHeaderValue { header: U, label });
            }
        }
        if let Some(&label) = profile
            .unprotected
            .iter()
            .find(|l| !self.unprotected.contains_key(l))
        {
            return Err(CoseError::MissingHeader { header: U, label });
        }
        Ok(())
    }

    /// The key id from the protected header (a kid in the unprotected header is never used:
    /// it is not signed).
    pub fn kid(&self) -> Option<&[u8]> {
        match self.protected.get(&HEADER_KID) {
            Some(Value::Bytes(kid)) => Some(kid),
            _ => None,
        }
    }

    /// Verifies the signature under `key` (strict Ed25519 verification).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CoseError> {
        let message = sig_structure(&self.protected_bytes, &[], &self.payload);
        key.verify_strict(&message, &Signature::from_bytes(&self.signature))
            .map_err(|_| CoseError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Ed25519Key;

    fn signed(payload: &[u8]) -> (Ed25519Key, Vec<u8>) {
        let key = Ed25519Key::from_secret(&[3u8; 32]);
        let kid = key.key_id();
        let bytes = sign1(&kid.0, BTreeMap::new(), BTreeMap::new(), payload, |m| {
            key.sign(m)
        });
        (key, bytes)
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let (key, bytes) = signed(b"hello");
        assert_eq!(bytes[0], 0xD2);
        let msg = CoseSign1::parse(&bytes, 4096).unwrap();
        assert_eq!(msg.payload, b"hello");
        assert_eq!(msg.kid(), Some(&key.key_id().0[..]));
        msg.verify(&key.verifying_key()).unwrap();
        let other = Ed25519Key::from_secret(&[4u8; 32]);
        assert_eq!(
            msg.verify(&other.verifying_key()),
            Err(CoseError::BadSignature)
        );
    }

    #[test]
    fn protected_header_is_canonical() {
        let (key, bytes) = signed(b"x");
        let msg = CoseSign1::parse(&bytes, 4096).unwrap();
        let mut expected = vec![0xA2, 0x01, 0x27, 0x04, 0x48];
        expected.extend_from_slice(&key.key_id().0);
        assert_eq!(msg.protected_bytes, expected);
    }

    #[test]
    fn verifies_with_an_independent_cose_library() {
        use coset::{CborSerializable, TaggedCborSerializable};
        let (key, bytes) = signed(b"interop");
        let msg = coset::CoseSign1::from_tagged_slice(&bytes).unwrap();
        assert_eq!(msg.protected.header.key_id, key.key_id().0.to_vec());
        assert_eq!(
            msg.protected.header.alg,
            Some(coset::RegisteredLabelWithPrivate::Assigned(
                coset::iana::Algorithm::EdDSA
            ))
        );
        msg.verify_signature(b"", |sig, data| {
            let sig = Signature::from_slice(sig).map_err(|_| ())?;
            key.verifying_key()
                .verify_strict(data, &sig)
                .map_err(|_| ())
        })
        .unwrap();
        // And the other way round: coset builds, we parse and verify.
        let protected = coset::HeaderBuilder::new()
            .algorithm(coset::iana::Algorithm::EdDSA)
            .key_id(key.key_id().0.to_vec())
            .build();
        let theirs = coset::CoseSign1Builder::new()
            .protected(protected)
            .payload(b"from coset".to_vec())
            .create_signature(b"", |data| key.sign(data).to_vec())
            .build();
        let bytes = theirs.to_tagged_vec().unwrap();
        let ours = CoseSign1::parse(&bytes, 4096).unwrap();
        ours.verify(&key.verifying_key()).unwrap();
        let _ = msg.to_vec();
    }

    /// A message signed by `key` with exactly these headers (no `alg`/`kid` added).
    fn with_headers(
        key: &Ed25519Key,
        protected: BTreeMap<i64, Value>,
        unprotected: BTreeMap<i64, Value>,
        payload: &[u8],
    ) -> Vec<u8> {
        let protected_bytes = codec::value_to_vec(&header_map(&protected)).unwrap();
        let signature = key.sign(&sig_structure(&protected_bytes, &[], payload));
        let body = codec::value_to_vec(&Value::Array(vec![
            Value::Bytes(protected_bytes),
            header_map(&unprotected),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(signature.to_vec()),
        ]))
        .unwrap();
        [&[0xD2][..], &body].concat()
    }

    const PLAIN: HeaderProfile = HeaderProfile {
        content_type: None,
        unprotected: &[],
    };
    const TYPED: HeaderProfile = HeaderProfile {
        content_type: Some(61),
        unprotected: &[-65537],
    };

    #[test]
    fn the_documented_headers_pass_their_profile() {
        let (key, bytes) = signed(b"x");
        let msg = CoseSign1::parse_strict(&bytes, 4096, &PLAIN).unwrap();
        msg.verify(&key.verifying_key()).unwrap();
        let mut protected = BTreeMap::new();
        protected.insert(HEADER_CONTENT_TYPE, Value::Integer(61));
        let mut unprotected = BTreeMap::new();
        unprotected.insert(-65537, Value::Bytes(vec![1, 2, 3]));
        let bytes = sign1(&key.key_id().0, protected, unprotected, b"x", |m| {
            key.sign(m)
        });
        CoseSign1::parse_strict(&bytes, 4096, &TYPED).unwrap();
        // But not each other's.
        assert_eq!(
            CoseSign1::parse_strict(&bytes, 4096, &PLAIN),
            Err(CoseError::UnexpectedHeader {
                header: "protected",
                label: HEADER_CONTENT_TYPE
            })
        );
    }

    #[test]
    fn a_kid_only_in_the_unprotected_header_is_refused() {
        let key = Ed25519Key::from_secret(&[3u8; 32]);
        let mut protected = BTreeMap::new();
        protected.insert(HEADER_ALG, Value::Integer(ALG_EDDSA.into()));
        let mut unprotected = BTreeMap::new();
        unprotected.insert(HEADER_KID, Value::Bytes(key.key_id().0.to_vec()));
        let bytes = with_headers(&key, protected, unprotected, b"x");
        // The signature is genuine: only the header layout is wrong.
        let msg = CoseSign1::parse(&bytes, 4096).unwrap();
        msg.verify(&key.verifying_key()).unwrap();
        assert_eq!(msg.kid(), None, "an unsigned kid is never used");
        assert_eq!(
            msg.check_profile(&PLAIN),
            Err(CoseError::MissingHeader {
                header: "protected",
                label: HEADER_KID
            })
        );
    }

    #[test]
    fn extra_or_missing_header_parameters_are_refused() {
        let key = Ed25519Key::from_secret(&[3u8; 32]);
        let kid = key.key_id().0;
        let extra = |label: i64, value: Value| {
            let mut map = BTreeMap::new();
            map.insert(label, value);
            map
        };
        // An extra unprotected entry on a genuine message (the unprotected header is not
        // signed: anyone can add one).
        let bytes = sign1(
            &kid,
            BTreeMap::new(),
            extra(33, Value::Text("x".into())),
            b"x",
            |m| key.sign(m),
        );
        assert_eq!(
            CoseSign1::parse_strict(&bytes, 4096, &PLAIN),
            Err(CoseError::UnexpectedHeader {
                header: "unprotected",
                label: 33
            })
        );
        // An extra protected parameter, signed by the key's holder.
        let bytes = sign1(
            &kid,
            extra(-70000, Value::Integer(1)),
            BTreeMap::new(),
            b"x",
            |m| key.sign(m),
        );
        assert_eq!(
            CoseSign1::parse_strict(&bytes, 4096, &PLAIN),
            Err(CoseError::UnexpectedHeader {
                header: "protected",
                label: -70000
            })
        );
        // The content type missing, wrong, or the certificate entry missing or not bytes.
        let typed = |ct: Value, unprotected| {
            sign1(
                &kid,
                extra(HEADER_CONTENT_TYPE, ct),
                unprotected,
                b"x",
                |m| key.sign(m),
            )
        };
        let cert = || extra(-65537, Value::Bytes(vec![1]));
        let no_ct = sign1(&kid, BTreeMap::new(), cert(), b"x", |m| key.sign(m));
        for (bytes, expected) in [
            (
                no_ct,
                CoseError::MissingHeader {
                    header: "protected",
                    label: HEADER_CONTENT_TYPE,
                },
            ),
            (
                typed(Value::Integer(62), cert()),
                CoseError::BadHeaderValue {
                    header: "protected",
                    label: HEADER_CONTENT_TYPE,
                },
            ),
            (
                typed(Value::Integer(61), BTreeMap::new()),
                CoseError::MissingHeader {
                    header: "unprotected",
                    label: -65537,
                },
            ),
            (
                typed(Value::Integer(61), extra(-65537, Value::Text("c".into()))),
                CoseError::BadHeaderValue {
                    header: "unprotected",
                    label: -65537,
                },
            ),
        ] {
            assert_eq!(CoseSign1::parse_strict(&bytes, 4096, &TYPED), Err(expected));
        }
        // A kid of the wrong length.
        let bytes = sign1(&[1, 2, 3], BTreeMap::new(), BTreeMap::new(), b"x", |m| {
            key.sign(m)
        });
        assert_eq!(
            CoseSign1::parse_strict(&bytes, 4096, &PLAIN),
            Err(CoseError::BadHeaderValue {
                header: "protected",
                label: HEADER_KID
            })
        );
    }

    /// Re-encodings of a genuine message that keep its signature valid: each must be refused,
    /// so that a message has exactly one byte form.
    #[test]
    fn re_encoded_copies_of_a_genuine_message_are_refused() {
        let (key, bytes) = signed(b"payload");
        // 0xD2 0x84 0x4D <13 bytes protected> 0xA0 0x47 "payload" 0x58 0x40 <sig>
        assert_eq!(&bytes[1..3], &[0x84, 0x4D]);
        let unprotected_at = 3 + 13;
        assert_eq!(bytes[unprotected_at], 0xA0);
        assert_eq!(bytes[unprotected_at + 1], 0x47);
        let splice = |at: usize, remove: usize, insert: &[u8]| {
            let mut out = bytes[..at].to_vec();
            out.extend_from_slice(insert);
            out.extend_from_slice(&bytes[at + remove..]);
            out
        };
        let copies = [
            // Payload length in a longer form than needed (0x58 0x07 for 0x47).
            splice(unprotected_at + 1, 1, &[0x58, 0x07]),
            // Protected header length as two bytes.
            splice(2, 1, &[0x58, 0x0D]),
            // Signature length as three bytes.
            splice(bytes.len() - 66, 2, &[0x59, 0x00, 0x40]),
            // Array header in a longer form.
            splice(1, 1, &[0x98, 0x04]),
            // An indefinite-length unprotected map.
            splice(unprotected_at, 1, &[0xBF, 0xFF]),
            // The map length in a longer form.
            splice(unprotected_at, 1, &[0xB8, 0x00]),
            // The payload as an indefinite-length byte string of one chunk.
            [
                &bytes[..unprotected_at + 1],
                &[0x5F],
                &bytes[unprotected_at + 1..unprotected_at + 9],
                &[0xFF],
                &bytes[unprotected_at + 9..],
            ]
            .concat(),
        ];
        for (n, copy) in copies.iter().enumerate() {
            assert_ne!(copy, &bytes);
            match CoseSign1::parse(copy, 4096) {
                Err(CoseError::NotCanonical(_) | CoseError::Malformed(_)) => {}
                other => panic!("copy {n} was not refused: {other:?}"),
            }
        }
        // The first one decodes with the generic decoder, so it is the strictness that refuses
        // it, not an accident of the decoder.
        assert_eq!(
            CoseSign1::parse(&copies[0], 4096),
            Err(CoseError::NotCanonical("COSE message"))
        );
        CoseSign1::parse(&bytes, 4096)
            .unwrap()
            .verify(&key.verifying_key())
            .unwrap();
    }

    #[test]
    fn a_non_canonical_protected_header_is_refused() {
        let key = Ed25519Key::from_secret(&[3u8; 32]);
        // {1: -8, 4: kid} with the map length as two bytes, signed as such.
        let mut protected = vec![0xB8, 0x02, 0x01, 0x27, 0x04, 0x48];
        protected.extend_from_slice(&key.key_id().0);
        let signature = key.sign(&sig_structure(&protected, &[], b"x"));
        let body = codec::value_to_vec(&Value::Array(vec![
            Value::Bytes(protected),
            Value::Map(Default::default()),
            Value::Bytes(b"x".to_vec()),
            Value::Bytes(signature.to_vec()),
        ]))
        .unwrap();
        let bytes = [&[0xD2][..], &body].concat();
        assert_eq!(
            CoseSign1::parse(&bytes, 4096),
            Err(CoseError::NotCanonical("protected header"))
        );
    }

    #[test]
    fn every_flipped_byte_fails() {
        let (key, bytes) = signed(b"payload bytes");
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[i] ^= bit;
                let ok = CoseSign1::parse(&tampered, 4096)
                    .and_then(|m| m.verify(&key.verifying_key()).map(|_| m));
                assert!(ok.is_err(), "flip at byte {i} bit {bit:#x} still verified");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = CoseSign1::parse(&bytes, 4096);
            let mut tagged = vec![0xD2];
            tagged.extend_from_slice(&bytes);
            let _ = CoseSign1::parse(&tagged, 4096);
        }
    }
}
