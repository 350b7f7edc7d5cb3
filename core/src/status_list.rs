//! The registry's signed status list of registered credentials, indexed by ledger leaf index:
//! IETF Token Status List (draft-ietf-oauth-status-list) in its CWT form.
//!
//! A Status List Token is a COSE_Sign1 (EdDSA, the registry key) with the protected header
//! `{1: -8, 4: kid, 16: "application/statuslist+cwt"}`, an empty unprotected header, and a
//! CWT claims map `{2 (sub): origin, 4 (exp), 6 (iat), 65533 (status_list): {"bits": 2,
//! "lst": zlib(statuses)}, 65534 (ttl)}`. Statuses take 2 bits each, packed least significant
//! bits first: leaf `i` is bits `2*(i%4) .. 2*(i%4)+1` of byte `i/4`. Values (draft §7):
//! `0x00` VALID, `0x01` INVALID (the registry revoked that credential), `0x03`
//! (application-specific) SUPERSEDED: a correction of that record is on the ledger. `0x02`
//! (SUSPENDED) is not used by this registry. Byte-exact description and a known-answer vector:
//! `docs/PROTOCOL.md` §15.
//!
//! Decoding is bounded: the token at most [`MAX_TOKEN_BYTES`], the decompressed list at most
//! [`MAX_LIST_BYTES`], `bits` must be 2, and a leaf beyond the list has no status here (the
//! list is older than the credential).

use std::{collections::BTreeMap, io::Read};

use crate::{
    codec::{self, Value},
    cose::{self, CoseError, CoseSign1, HEADER_ALG, HEADER_KID},
    keys::{Ed25519Key, KeyId},
    trust::TrustBundle,
};

/// COSE header label `typ` (RFC 9596).
pub const HEADER_TYP: i64 = 16;
/// The `typ` of a Status List Token in CWT form.
pub const TYP_STATUS_LIST_CWT: &str = "application/statuslist+cwt";
/// CWT `sub`: the registry's origin.
pub const CLAIM_SUB: i64 = 2;
/// CWT `exp`.
pub const CLAIM_EXP: i64 = 4;
/// CWT `iat`.
pub const CLAIM_IAT: i64 = 6;
/// CWT `status_list` (draft-ietf-oauth-status-list).
pub const CLAIM_STATUS_LIST: i64 = 65533;
/// CWT `ttl` (draft-ietf-oauth-status-list): how long a verifier may cache the token, seconds.
pub const CLAIM_TTL: i64 = 65534;
/// Bits per leaf in this registry's lists.
pub const BITS: u8 = 2;
/// Largest Status List Token accepted (compressed list and envelope).
pub const MAX_TOKEN_BYTES: usize = 4 * 1024 * 1024;
/// Largest decompressed list accepted: 64 Mi leaves at 2 bits.
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;
/// How long a token is valid after it is signed (`exp - iat`), seconds: 31 days.
pub const VALIDITY_SECS: i64 = 31 * 24 * 3600;
/// The `ttl` the registry sets: one hour.
pub const TTL_SECS: i64 = 3600;

/// The status of one registered credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafStatus {
    /// `0x00`: valid.
    Valid,
    /// `0x01`: the registry revoked this credential.
    Revoked,
    /// `0x03`: a correction of the record is on the ledger; this credential is out of date.
    Superseded,
    /// Any other value (`0x02`, unused here).
    Other(u8),
}

impl LeafStatus {
    /// The 2-bit value.
    pub fn value(self) -> u8 {
        match self {
            LeafStatus::Valid => 0,
            LeafStatus::Revoked => 1,
            LeafStatus::Superseded => 3,
            LeafStatus::Other(v) => v & 3,
        }
    }

    fn from_value(v: u8) -> LeafStatus {
        match v {
            0 => LeafStatus::Valid,
            1 => LeafStatus::Revoked,
            3 => LeafStatus::Superseded,
            v => LeafStatus::Other(v),
        }
    }
}

/// A status list that is malformed, too large, or not the pinned registry's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusListError {
    /// The COSE envelope is malformed, or its headers are not exactly the documented ones.
    #[error("status list: {0}")]
    Cose(CoseError),
    /// Signed by another key than the pinned registry's.
    #[error("status list was not signed by this registry")]
    WrongIssuer,
    /// `sub` is not the pinned registry's origin.
    #[error("status list is for another registry")]
    WrongOrigin,
    /// The claims are malformed.
    #[error("status list: {0}")]
    Malformed(String),
    /// `bits` is not 2.
    #[error("status list uses {0} bits per entry; this registry's lists use 2")]
    UnsupportedBits(i128),
    /// The list decompresses beyond [`MAX_LIST_BYTES`].
    #[error("status list decompresses beyond {MAX_LIST_BYTES} bytes")]
    TooLarge,
    /// The list could not be built.
    #[error("cannot build the status list: {0}")]
    Encode(String),
}

/// The decompressed list: 2 bits per leaf, least significant first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl StatusList {
    /// A list of `leaves` VALID entries.
    pub fn new(leaves: u64) -> StatusList {
        StatusList {
            bytes: vec![0; leaves.div_ceil(4) as usize],
        }
    }

    /// How many leaves the list covers (a multiple of 4: the last byte's spare entries are
    /// VALID).
    pub fn capacity(&self) -> u64 {
        self.bytes.len() as u64 * 4
    }

    /// Sets leaf `index` (growing the list if needed).
    pub fn set(&mut self, index: u64, status: LeafStatus) {
        let byte = (index / 4) as usize;
        if byte >= self.bytes.len() {
            self.bytes.resize(byte + 1, 0);
        }
        let shift = (index % 4) * 2;
        self.bytes[byte] = (self.bytes[byte] & !(3 << shift)) | (status.value() << shift);
    }

    /// The status of leaf `index`, or None beyond the list.
    pub fn get(&self, index: u64) -> Option<LeafStatus> {
        let byte = usize::try_from(index / 4).ok()?;
        let b = *self.bytes.get(byte)?;
        Some(LeafStatus::from_value((b >> ((index % 4) * 2)) & 3))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `lst`: the bytes zlib-compressed (DEFLATE, best compression).
    pub fn compress(&self) -> Result<Vec<u8>, StatusListError> {
        use flate2::{Compression, write::ZlibEncoder};
        use std::io::Write;
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder
            .write_all(&self.bytes)
            .and_then(|_| encoder.finish())
            .map_err(|e| StatusListError::Encode(e.to_string()))
    }

    /// Decompresses `lst`, at most [`MAX_LIST_BYTES`].
    pub fn decompress(lst: &[u8]) -> Result<StatusList, StatusListError> {
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(lst)
            .take(MAX_LIST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| StatusListError::Malformed("damaged compressed list".into()))?;
        if bytes.len() > MAX_LIST_BYTES {
            return Err(StatusListError::TooLarge);
        }
        Ok(StatusList { bytes })
    }
}

/// A verified (or to-be-signed) Status List Token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListToken {
    /// `sub`: the registry's origin.
    pub origin: String,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `ttl`, seconds.
    pub ttl: i64,
    /// The statuses.
    pub list: StatusList,
}

fn int_key(k: i64) -> Value {
    Value::Integer(k.into())
}

impl StatusListToken {
    /// Signs the token with the registry key: the COSE_Sign1 bytes.
    pub fn sign(&self, registry: &Ed25519Key) -> Result<Vec<u8>, StatusListError> {
        let mut inner = BTreeMap::new();
        inner.insert(Value::Text("bits".into()), Value::Integer(BITS.into()));
        inner.insert(
            Value::Text("lst".into()),
            Value::Bytes(self.list.compress()?),
        );
        let claims = Value::Map(
            [
                (int_key(CLAIM_SUB), Value::Text(self.origin.clone())),
                (int_key(CLAIM_EXP), Value::Integer(self.expires_at.into())),
                (int_key(CLAIM_IAT), Value::Integer(self.issued_at.into())),
                (int_key(CLAIM_STATUS_LIST), Value::Map(inner)),
                (int_key(CLAIM_TTL), Value::Integer(self.ttl.into())),
            ]
            .into_iter()
            .collect(),
        );
        let payload =
            codec::value_to_vec(&claims).map_err(|e| StatusListError::Encode(e.to_string()))?;
        let mut protected = BTreeMap::new();
        protected.insert(HEADER_TYP, Value::Text(TYP_STATUS_LIST_CWT.into()));
        Ok(cose::sign1(
            &registry.key_id().0,
            protected,
            BTreeMap::new(),
            &payload,
            |m| registry.sign(m),
        ))
    }

    /// The key id a token says it is signed by (to pick the registry among several), without
    /// verifying anything.
    pub fn signer(bytes: &[u8]) -> Option<KeyId> {
        CoseSign1::parse(bytes, MAX_TOKEN_BYTES)
            .ok()?
            .kid()
            .and_then(KeyId::from_slice)
    }

    /// Verifies a token against the pinned `trust` bundle and decodes it: headers exactly
    /// `{1: -8, 4: kid, 16: typ}` and none unprotected, the registry's kid and signature,
    /// `sub` the bundle's origin, `bits` 2, every size bounded. Times are not judged here: the
    /// caller keeps the list with the latest `iat` and shows its age against its own clock.
    pub fn verify(bytes: &[u8], trust: &TrustBundle) -> Result<StatusListToken, StatusListError> {
        let cose = CoseSign1::parse(bytes, MAX_TOKEN_BYTES).map_err(StatusListError::Cose)?;
        for (&label, value) in &cose.protected {
            let ok = match label {
                HEADER_ALG => true,
                HEADER_KID => matches!(value, Value::Bytes(k) if k.len() == 8),
                HEADER_TYP => *value == Value::Text(TYP_STATUS_LIST_CWT.into()),
                _ => {
                    return Err(StatusListError::Cose(CoseError::UnexpectedHeader {
                        header: "protected",
                        label,
                    }));
                }
            };
            if !ok {
                return Err(StatusListError::Cose(CoseError::BadHeaderValue {
                    header: "protected",
                    label,
                }));
            }
        }
        for label in [HEADER_KID, HEADER_TYP] {
            if !cose.protected.contains_key(&label) {
                return Err(StatusListError::Cose(CoseError::MissingHeader {
                    header: "protected",
                    label,
                }));
            }
        }
        if let Some(&label) = cose.unprotected.keys().next() {
            return Err(StatusListError::Cose(CoseError::UnexpectedHeader {
                header: "unprotected",
                label,
            }));
        }
        let key = trust
            .registry_verifying_key()
            .map_err(|e| StatusListError::Malformed(e.to_string()))?;
        if cose.kid() != Some(&KeyId::of(&key.to_bytes()).0[..]) {
            return Err(StatusListError::WrongIssuer);
        }
        cose.verify(&key)
            .map_err(|_| StatusListError::WrongIssuer)?;
        let malformed = |what: &str| StatusListError::Malformed(format!("{what} missing or wrong"));
        let Value::Map(claims) = codec::value_from_slice(&cose.payload, MAX_TOKEN_BYTES)
            .map_err(|e| StatusListError::Malformed(e.to_string()))?
        else {
            return Err(malformed("claims map"));
        };
        let int = |k: i64, what: &str| match claims.get(&int_key(k)) {
            Some(Value::Integer(i)) => i64::try_from(*i).map_err(|_| malformed(what)),
            _ => Err(malformed(what)),
        };
        let origin = match claims.get(&int_key(CLAIM_SUB)) {
            Some(Value::Text(t)) => t.clone(),
            _ => return Err(malformed("sub")),
        };
        if origin != trust.origin {
            return Err(StatusListError::WrongOrigin);
        }
        let issued_at = int(CLAIM_IAT, "iat")?;
        let expires_at = int(CLAIM_EXP, "exp")?;
        let ttl = int(CLAIM_TTL, "ttl")?;
        let Some(Value::Map(inner)) = claims.get(&int_key(CLAIM_STATUS_LIST)) else {
            return Err(malformed("status_list"));
        };
        match inner.get(&Value::Text("bits".into())) {
            Some(Value::Integer(2)) => {}
            Some(Value::Integer(b)) => return Err(StatusListError::UnsupportedBits(*b)),
            _ => return Err(malformed("bits")),
        }
        let Some(Value::Bytes(lst)) = inner.get(&Value::Text("lst".into())) else {
            return Err(malformed("lst"));
        };
        Ok(StatusListToken {
            origin,
            issued_at,
            expires_at,
            ttl,
            list: StatusList::decompress(lst)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::tests::registry;

    /// The draft's 1-bit example, re-read as 2 bits: bytes are LSB-first.
    #[test]
    fn entries_are_packed_least_significant_bits_first() {
        let mut list = StatusList::new(8);
        list.set(0, LeafStatus::Revoked);
        list.set(1, LeafStatus::Superseded);
        list.set(3, LeafStatus::Valid);
        list.set(5, LeafStatus::Superseded);
        // leaf 0 = 01, leaf 1 = 11, leaf 2 = 00, leaf 3 = 00 → 0b00_00_11_01.
        assert_eq!(list.as_bytes(), &[0x0D, 0x0C]);
        assert_eq!(list.get(0), Some(LeafStatus::Revoked));
        assert_eq!(list.get(1), Some(LeafStatus::Superseded));
        assert_eq!(list.get(2), Some(LeafStatus::Valid));
        assert_eq!(list.get(5), Some(LeafStatus::Superseded));
        assert_eq!(list.get(7), Some(LeafStatus::Valid));
        assert_eq!(list.get(8), None);
        assert_eq!(list.get(u64::MAX), None);
        list.set(1, LeafStatus::Revoked);
        assert_eq!(list.get(1), Some(LeafStatus::Revoked));
        list.set(9, LeafStatus::Revoked);
        assert_eq!(list.capacity(), 12);
    }

    fn token() -> StatusListToken {
        let mut list = StatusList::new(10);
        list.set(1, LeafStatus::Superseded);
        list.set(4, LeafStatus::Revoked);
        StatusListToken {
            origin: "registry.test/births".into(),
            issued_at: 1_767_225_600,
            expires_at: 1_767_225_600 + VALIDITY_SECS,
            ttl: TTL_SECS,
            list,
        }
    }

    /// Known answer (docs/PROTOCOL.md §15): key `[42; 32]`, iat 2026-01-01T00:00:00Z, 10
    /// leaves, leaf 1 superseded, leaf 4 revoked.
    #[test]
    fn known_answer() {
        let (key, bundle) = registry();
        let bytes = token().sign(&key).unwrap();
        assert_eq!(token().list.as_bytes(), &[0x0C, 0x01, 0x00]);
        assert_eq!(hex::encode(token().list.compress().unwrap()), KAT_LST);
        assert_eq!(hex::encode(&bytes), KAT_TOKEN);
        let back = StatusListToken::verify(&bytes, &bundle).unwrap();
        assert_eq!(back, token());
    }

    const KAT_LST: &str = "78dae3616400000029000e";
    const KAT_TOKEN: &str = "d284582aa301270448b600306cfa76723f10781a6170706c69636174696f6e2f7374617475736c6973742b637774a05843a5027472656769737472792e746573742f626972746873041a697e9780061a6955b90019fffda2636c73744b78dae3616400000029000e64626974730219fffe190e10584066097779582e9166e350a0824a1475c261e474030c714b106a2d1480cb63b16f18cc052be87d796ed1d3ba0cd4312f2cf85b8ab541bc8a53f89aa866a996e604";

    #[test]
    fn refuses_what_is_not_the_registry_s_list() {
        let (key, bundle) = registry();
        let bytes = token().sign(&key).unwrap();
        // Another key.
        let other = Ed25519Key::from_secret(&[9; 32]);
        assert_eq!(
            StatusListToken::verify(&token().sign(&other).unwrap(), &bundle),
            Err(StatusListError::WrongIssuer)
        );
        // Another origin.
        let mut t = token();
        t.origin = "elsewhere/births".into();
        assert_eq!(
            StatusListToken::verify(&t.sign(&key).unwrap(), &bundle),
            Err(StatusListError::WrongOrigin)
        );
        // Every altered byte is refused.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(StatusListToken::verify(&b, &bundle).is_err(), "byte {i}");
        }
        // A revocation list is not a status list, though signed by the same key.
        let list = crate::trust::RevocationList {
            version: 1,
            origin: bundle.origin.clone(),
            issued_at: 1,
            entries: vec![],
        }
        .sign(&key)
        .unwrap();
        assert!(StatusListToken::verify(&list, &bundle).is_err());
        assert_eq!(StatusListToken::signer(&bytes), Some(key.key_id()));
    }

    fn signed_claims(key: &Ed25519Key, bits: i128, lst: Vec<u8>) -> Vec<u8> {
        let mut inner = BTreeMap::new();
        inner.insert(Value::Text("bits".into()), Value::Integer(bits));
        inner.insert(Value::Text("lst".into()), Value::Bytes(lst));
        let claims = Value::Map(
            [
                (
                    int_key(CLAIM_SUB),
                    Value::Text("registry.test/births".into()),
                ),
                (int_key(CLAIM_EXP), Value::Integer(2)),
                (int_key(CLAIM_IAT), Value::Integer(1)),
                (int_key(CLAIM_STATUS_LIST), Value::Map(inner)),
                (int_key(CLAIM_TTL), Value::Integer(1)),
            ]
            .into_iter()
            .collect(),
        );
        let mut protected = BTreeMap::new();
        protected.insert(HEADER_TYP, Value::Text(TYP_STATUS_LIST_CWT.into()));
        cose::sign1(
            &key.key_id().0,
            protected,
            BTreeMap::new(),
            &codec::value_to_vec(&claims).unwrap(),
            |m| key.sign(m),
        )
    }

    #[test]
    fn decoding_is_bounded() {
        let (key, bundle) = registry();
        let lst = StatusList::new(8).compress().unwrap();
        assert_eq!(
            StatusListToken::verify(&signed_claims(&key, 1, lst.clone()), &bundle),
            Err(StatusListError::UnsupportedBits(1))
        );
        assert_eq!(
            StatusListToken::verify(&signed_claims(&key, 2, vec![1, 2, 3]), &bundle),
            Err(StatusListError::Malformed("damaged compressed list".into()))
        );
        // A zlib bomb: 16 MiB + 1 of zeros compresses to a few KiB, and is refused after
        // reading one byte past the limit.
        let bomb = StatusList {
            bytes: vec![0; MAX_LIST_BYTES + 1],
        }
        .compress()
        .unwrap();
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            StatusListToken::verify(&signed_claims(&key, 2, bomb), &bundle),
            Err(StatusListError::TooLarge)
        );
        // Larger than any token accepted.
        assert!(matches!(
            StatusListToken::verify(&vec![0xD2; MAX_TOKEN_BYTES + 1], &bundle),
            Err(StatusListError::Cose(CoseError::TooLarge { .. }))
        ));
        let ok = StatusListToken::verify(&signed_claims(&key, 2, lst), &bundle).unwrap();
        assert_eq!(ok.list.capacity(), 8);
    }
}
