//! Base45 (RFC 9285): bytes as characters of the QR alphanumeric set.

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Encodes `bytes` as base45.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(2) * 3);
    for chunk in bytes.chunks(2) {
        let (n, digits) = match chunk {
            [a, b] => (u32::from(*a) * 256 + u32::from(*b), 3),
            [a] => (u32::from(*a), 2),
            _ => continue,
        };
        let mut n = n;
        for _ in 0..digits {
            out.push(ALPHABET[(n % 45) as usize] as char);
            n /= 45;
        }
    }
    out
}

/// A string that is not valid base45.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base45Error {
    /// A character outside the base45 alphabet.
    #[error("invalid base45 character at position {0}")]
    BadCharacter(usize),
    /// A length that is 1 more than a multiple of 3.
    #[error("invalid base45 length")]
    BadLength,
    /// A triple or pair whose value does not fit its bytes.
    #[error("base45 value out of range at position {0}")]
    OutOfRange(usize),
}

fn value(c: u8, at: usize) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|a| *a == c)
        .map(|v| v as u32)
        .ok_or(Base45Error::BadCharacter(at))
}

/// Decodes base45 text.
pub fn decode(text: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = text.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(Base45Error::BadLength);
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        let at = i * 3;
        let digits = chunk
            .iter()
            .enumerate()
            .map(|(k, c)| value(*c, at + k))
            .collect::<Result<Vec<_>, _>>()?;
        let n = digits.iter().rev().fold(0u32, |n, d| n * 45 + d);
        if chunk.len() == 3 {
            if n > 0xFFFF {
                return Err(Base45Error::OutOfRange(at));
            }
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            if n > 0xFF {
                return Err(Base45Error::OutOfRange(at));
            }
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9285_examples() {
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(decode("GGW").unwrap_err(), Base45Error::OutOfRange(0));
        assert_eq!(decode("ab").unwrap_err(), Base45Error::BadCharacter(0));
        assert_eq!(decode("AAAA").unwrap_err(), Base45Error::BadLength);
    }

    proptest::proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            proptest::prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,200}") {
            let _ = decode(&text);
        }
    }
}
