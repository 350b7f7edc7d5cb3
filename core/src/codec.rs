//! The one place that knows which CBOR library encodes records (`serde_cbor` today).
//!
//! Records use CBOR maps keyed by small unsigned integers, the field's position in its Rust
//! struct (the "packed" form), so a record costs a third of the bytes of a JSON form: on 2G,
//! bytes are money. Every decoder takes a size limit and accepts only the one valid encoding of
//! what it decodes ([`from_slice`], docs/PROTOCOL.md §1). Every format's exact bytes are pinned
//! by the known-answer vectors of `docs/vectors/formats.json` (`core/tests/golden.rs`), so a
//! reordered field or a changed library shows up there. Swapping in `ciborium` means touching
//! only this module.

use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};

/// Largest signed record accepted anywhere (a record is about 0.5 KiB; the custom fields
/// bound keeps a valid one far below this).
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// A CBOR encoding or decoding failure.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The input is larger than the decoder accepts.
    #[error("CBOR input too large: {len} bytes, limit {limit}")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The bytes are not the expected CBOR structure.
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// A value could not be encoded.
    #[error("CBOR encoding failed: {0}")]
    Encode(String),
}

/// Encodes `value` as compact CBOR (integer keys for struct fields).
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    serde_cbor::ser::to_vec_packed(value).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes `bytes` (at most `limit` long) as a `T`, accepting only its one valid encoding:
/// the bytes [`to_vec`] writes for the decoded value (docs/PROTOCOL.md §1). Trailing bytes are
/// an error.
///
/// The rule is checked by encoding the decoded value again and requiring identical bytes. That
/// one comparison refuses everything the packed form does not write: text keys (serde's field
/// names), a struct sent as an array, unknown keys (serde skips them, the encoder does not write
/// them), repeated keys, keys out of ascending order, integers, lengths and floats in a longer
/// form than they need, indefinite lengths, `null` for a field the encoder leaves out, an empty
/// custom map, and custom keys out of order or repeated (a map would silently keep one). It
/// costs one encoding of the value, far below the signature checks that follow every decode.
pub fn from_slice<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    let value: T = decode(bytes, limit)?;
    let canonical = to_vec(&value)?;
    if canonical != bytes {
        let at = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(CodecError::Malformed(format!(
            "not in its one valid encoding (from byte {at}): map keys must be the integers of \
             the format, each once and in ascending order, with the shortest forms of integers, \
             lengths and floats, definite lengths, and absent fields left out"
        )));
    }
    Ok(value)
}

/// Decodes `bytes` (at most `limit` long) that this program encoded with [`to_vec`] and sealed
/// with its own key, just opened: the seal authenticates them, so no other encoding of the
/// value can be there and the one-valid-encoding check of [`from_slice`] (an encoding more)
/// is left out. Never for bytes from the wire or from anyone else.
pub fn from_own_sealed_slice<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    decode(bytes, limit)
}

/// Decodes without the one-valid-encoding check (size limit and trailing bytes only).
fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    // serde's messages quote the offending value, which may be personal data: left out.
    serde_cbor::from_slice(bytes)
        .map_err(|e| CodecError::Malformed(crate::redact::values(&e.to_string())))
}

/// Decodes a sequence of at most `limit` items, refusing as soon as the input announces or
/// holds more (never after decoding them all): for `#[serde(deserialize_with)]` on a `Vec`
/// field of untrusted input, where millions of one-byte items would otherwise each become an
/// allocation. `what` names the items in the error ("records").
pub fn deserialize_bounded_vec<'de, D, T>(
    deserializer: D,
    limit: usize,
    what: &'static str,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T> {
        limit: usize,
        what: &'static str,
        item: std::marker::PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array of at most {} {}", self.limit, self.what)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let too_many = || {
                <A::Error as serde::de::Error>::custom(format!(
                    "too many {}: at most {} are accepted",
                    self.what, self.limit
                ))
            };
            if seq.size_hint().is_some_and(|n| n > self.limit) {
                return Err(too_many());
            }
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.limit));
            while let Some(item) = seq.next_element()? {
                if out.len() == self.limit {
                    return Err(too_many());
                }
                out.push(item);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(Bounded {
        limit,
        what,
        item: std::marker::PhantomData,
    })
}

/// A generic CBOR data item, for the structures (COSE, CWT) that are not Rust structs.
pub type Value = serde_cbor::Value;

/// Encodes a generic CBOR item.
pub fn value_to_vec(value: &Value) -> Result<Vec<u8>, CodecError> {
    serde_cbor::to_vec(value).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a generic CBOR item of at most `limit` bytes. Not checked against one valid
/// encoding here: the COSE parser (`cose`) re-encodes and compares the structure and headers
/// itself, with errors that name the header.
pub fn value_from_slice(bytes: &[u8], limit: usize) -> Result<Value, CodecError> {
    decode(bytes, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    #[test]
    fn own_sealed_bytes_decode_within_their_limit() {
        let value = (7u32, "Олена".to_string(), vec![1u8, 2, 3]);
        let bytes = to_vec(&value).unwrap();
        let back: (u32, String, Vec<u8>) = from_own_sealed_slice(&bytes, bytes.len()).unwrap();
        assert_eq!(back, value);
        assert!(matches!(
            from_own_sealed_slice::<(u32, String, Vec<u8>)>(&bytes, bytes.len() - 1),
            Err(CodecError::TooLarge { .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(from_own_sealed_slice::<(u32, String, Vec<u8>)>(&trailing, 1024).is_err());
        assert!(from_own_sealed_slice::<(u32, String, Vec<u8>)>(&bytes[..3], 1024).is_err());
    }

    #[test]
    fn floats_take_the_shortest_exact_width() {
        // Documented in docs/PROTOCOL.md §1: a second implementation must match these bytes.
        assert_eq!(to_vec(&49.5f64).unwrap(), [0xf9, 0x52, 0x30]);
        assert_eq!(to_vec(&0.5f64).unwrap(), [0xf9, 0x38, 0x00]);
        assert_eq!(to_vec(&0.1f32).unwrap(), [0xfa, 0x3d, 0xcc, 0xcc, 0xcd]);
        assert_eq!(
            to_vec(&49.8f64).unwrap(),
            [0xfb, 0x40, 0x48, 0xe6, 0x66, 0x66, 0x66, 0x66, 0x66]
        );
        // Decoders take every width a value needs, and only the shortest exact one.
        assert_eq!(from_slice::<f64>(&[0xf9, 0x52, 0x30], 16).unwrap(), 49.5);
        let double = [0xfb, 0x40, 0x48, 0xe6, 0x66, 0x66, 0x66, 0x66, 0x66];
        assert_eq!(from_slice::<f64>(&double, 16).unwrap(), 49.8);
        assert_eq!(
            from_slice::<f32>(&[0xfa, 0x3d, 0xcc, 0xcc, 0xcd], 16).unwrap(),
            0.1
        );
        for long in [
            &[0xfa, 0x42, 0x46, 0, 0][..],
            &[0xfb, 0x40, 0x48, 0xc0, 0, 0, 0, 0, 0],
        ] {
            let err = from_slice::<f64>(long, 16).unwrap_err();
            assert!(err.to_string().contains("one valid encoding"), "{err}");
        }
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Items {
        #[serde(deserialize_with = "three")]
        items: Vec<serde_bytes::ByteBuf>,
    }

    fn three<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<serde_bytes::ByteBuf>, D::Error> {
        deserialize_bounded_vec(d, 3, "items")
    }

    /// `{0: [h'', ...]}` with `n` empty byte strings, definite or indefinite length.
    fn items(n: usize, definite: bool) -> Vec<u8> {
        let mut bytes = vec![0xa1, 0x00];
        bytes.push(if definite { 0x80 | n as u8 } else { 0x9f });
        bytes.extend(std::iter::repeat_n(0x40, n));
        if !definite {
            bytes.push(0xff);
        }
        bytes
    }

    #[test]
    fn bounded_vectors_refuse_past_the_limit_while_decoding() {
        let ok: Items = from_slice(&items(3, true), 64).unwrap();
        assert_eq!(ok.items.len(), 3);
        for definite in [true, false] {
            let err = from_slice::<Items>(&items(4, definite), 64).unwrap_err();
            assert!(
                matches!(&err, CodecError::Malformed(m) if m.contains("too many items: at most 3")),
                "{err}"
            );
        }
        // A definite length announcing millions is refused before a single item is read.
        let mut huge = vec![0xa1, 0x00];
        huge.extend_from_slice(&[0x9a, 0x01, 0x00, 0x00, 0x00]);
        let err = from_slice::<Items>(&huge, 64).unwrap_err();
        assert!(err.to_string().contains("too many items"), "{err}");
    }

    #[test]
    fn packed_round_trip_with_skipped_fields_and_enums() {
        let mut input = RegistrationForm::default();
        input.child.given_names = "Олена".into();
        input.child.sex = Some(Sex::Female);
        input.child.date_of_birth_precision = Some(DatePrecision::Month);
        input.place_of_birth.latitude = Some(49.8);
        input.notes = Some("n".into());
        let bytes = to_vec(&input).unwrap();
        let back: RegistrationForm = from_slice(&bytes, MAX_RECORD_BYTES).unwrap();
        assert_eq!(back, input);
        let record = Record {
            schema_version: 1,
            id: uuid::Uuid::now_v7(),
            captured_at: 1_700_000_000,
            worker_id: "w-1".into(),
            device_kid: vec![1, 2, 3, 4, 5, 6, 7, 8],
            supersedes: None,
            enrolment: input,
        };
        let bytes = to_vec(&record).unwrap();
        eprintln!("{}", hex::encode(&bytes));
        let back: Record = from_slice(&bytes, MAX_RECORD_BYTES).unwrap();
        assert_eq!(back, record);
    }
}
