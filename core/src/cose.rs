//! COSE_Sign1 (RFC 9052 §4.2) with EdDSA (alg -8): the envelope of every signed record,
//! device certificate and credential.
//!
//! Only standard structures: `18([protected: bstr, unprotected: map, payload: bstr,
//! signature: bstr])`, the protected header a map with `1 (alg): -8` and `4 (kid): bstr`,
//! signed over `Sig_structure = ["Signature1", protected, external_aad, payload]`. Any COSE
//! library verifies what this module produces (a test checks it with `coset`).

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
}

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
            int_keyed(
                codec::value_from_slice(&protected_bytes, limit)
                    .map_err(|e| CoseError::Malformed(format!("protected header: {e}")))?,
                "protected",
            )?
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

    /// The key id from the protected header (or, failing that, the unprotected one).
    pub fn kid(&self) -> Option<&[u8]> {
        match self
            .protected
            .get(&HEADER_KID)
            .or_else(|| self.unprotected.get(&HEADER_KID))
        {
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
