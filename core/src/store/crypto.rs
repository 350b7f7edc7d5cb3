//! Encryption of values at rest: XChaCha20-Poly1305 with a random 24-byte nonce per value and
//! associated data that binds each ciphertext to its table, column and row, so a ciphertext
//! copied to another row does not decrypt. Row state that must stay queryable in plaintext
//! (statuses, sequence numbers, proofs) is authenticated instead: HMAC-SHA256 over every column
//! of the row, under a key derived from the storage key ([`RowMac`]).

use std::fmt;

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::os_random;

/// Length of the nonce prefixed to every sealed value.
pub const NONCE_LEN: usize = 24;
/// Bytes a sealed value adds to its plaintext (nonce + Poly1305 tag).
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

/// The 32-byte key that protects a device store, supplied by the host app (Android Keystore,
/// iOS Keychain, or a key file for the CLI). Zeroized on drop; never printed.
#[derive(Clone)]
pub struct StorageKey(Zeroizing<[u8; 32]>);

/// A storage key given in the wrong form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage key must be 32 bytes (64 hex characters)")]
pub struct BadStorageKey;

impl StorageKey {
    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StorageKey(Zeroizing::new(bytes))
    }

    /// A key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, BadStorageKey> {
        let array = <[u8; 32]>::try_from(bytes).map_err(|_| BadStorageKey)?;
        Ok(Self::from_bytes(array))
    }

    /// A key from 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, BadStorageKey> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| BadStorageKey)?);
        Self::from_slice(&bytes)
    }

    /// A fresh random key from the OS RNG.
    pub fn generate() -> Result<Self, crate::keys::RngError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        os_random(bytes.as_mut())?;
        Ok(StorageKey(bytes))
    }

    /// The key as 64 hex characters (for writing a key file).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.0))
    }

    /// Encrypts `plaintext` bound to `context` (table, column and row); returns nonce || ciphertext.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, crate::keys::RngError> {
        let mut nonce = [0u8; NONCE_LEN];
        os_random(&mut nonce)?;
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // Encryption only fails for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts a value sealed under `context`; `None` if the key, context or bytes are wrong.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < SEAL_OVERHEAD {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

impl StorageKey {
    /// The key that authenticates row state: HKDF-SHA256 of the storage key with the info
    /// string `birthright/store/v1/row-mac` (no salt).
    pub fn mac_key(&self) -> MacKey {
        let mut okm = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, self.0.as_ref())
            .expand(b"birthright/store/v1/row-mac", okm.as_mut())
            // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
            .unwrap_or_default();
        MacKey(okm)
    }

    /// The secret of the registry's keyed blocking hashes (docs/MATCHING.md §5.2):
    /// HKDF-SHA256 of the storage key with the info string `birthright/registry/v1/match-keys`
    /// (no salt).
    pub fn match_secret(&self) -> Zeroizing<[u8; 32]> {
        let mut okm = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, self.0.as_ref())
            .expand(b"birthright/registry/v1/match-keys", okm.as_mut())
            // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
            .unwrap_or_default();
        okm
    }
}

/// The row-authentication key derived from a [`StorageKey`]. Zeroized on drop.
#[derive(Clone)]
pub struct MacKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)")
    }
}

/// Length of a row tag.
pub const ROW_MAC_LEN: usize = 32;

/// The tag of one row: HMAC-SHA256 over `birthright/store/v1/row|`, the table name, `|`, then
/// every column in schema order, each encoded unambiguously: `0x00` for NULL, `0x01` and 8 bytes
/// big-endian for an integer, `0x02`, a 4-byte big-endian length and the bytes for a blob or
/// text. A tag binds the row's whole state, so a changed, swapped or forged column fails.
pub struct RowMac(Hmac<Sha256>);

impl RowMac {
    /// Starts the tag of a row of `table`.
    pub fn new(key: &MacKey, table: &str) -> RowMac {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key.0.as_ref())
            // HMAC takes keys of any length.
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(b"birthright/store/v1/row|");
        mac.update(table.as_bytes());
        mac.update(b"|");
        RowMac(mac)
    }

    /// Adds an integer column (or NULL).
    pub fn int(mut self, value: Option<i64>) -> RowMac {
        match value {
            None => self.0.update(&[0]),
            Some(v) => {
                self.0.update(&[1]);
                self.0.update(&v.to_be_bytes());
            }
        }
        self
    }

    /// Adds a blob or text column (or NULL).
    pub fn bytes(mut self, value: Option<&[u8]>) -> RowMac {
        match value {
            None => self.0.update(&[0]),
            Some(v) => {
                self.0.update(&[2]);
                self.0.update(&(v.len() as u32).to_be_bytes());
                self.0.update(v);
            }
        }
        self
    }

    /// The tag.
    pub fn finish(self) -> [u8; ROW_MAC_LEN] {
        self.0.finalize().into_bytes().into()
    }

    /// Whether `tag` is this row's tag (constant-time comparison).
    pub fn verify(self, tag: &[u8]) -> bool {
        self.0.verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

/// The associated data for a value in `table.column` of the row named `row`.
pub fn context(table: &str, column: &str, row: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + row.len());
    aad.extend_from_slice(b"birthright/store/v1|");
    aad.extend_from_slice(table.as_bytes());
    aad.push(b'.');
    aad.extend_from_slice(column.as_bytes());
    aad.push(b'|');
    aad.extend_from_slice(row);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_binding() {
        let key = StorageKey::generate().unwrap();
        let ctx = context("records", "sealed_record", b"row-1");
        let sealed = key.seal(&ctx, b"secret").unwrap();
        assert_eq!(sealed.len(), 6 + SEAL_OVERHEAD);
        assert_eq!(key.open(&ctx, &sealed).unwrap().as_slice(), b"secret");
        let other_row = context("records", "sealed_record", b"row-2");
        assert!(key.open(&other_row, &sealed).is_none());
        let other_key = StorageKey::generate().unwrap();
        assert!(other_key.open(&ctx, &sealed).is_none());
        assert!(key.open(&ctx, &sealed[..10]).is_none());
    }

    #[test]
    fn row_tags_bind_every_column_and_the_key() {
        let key = StorageKey::from_bytes([7; 32]);
        let tag = |k: &StorageKey, a: Option<i64>, b: Option<&[u8]>| {
            RowMac::new(&k.mac_key(), "records")
                .int(a)
                .bytes(b)
                .finish()
        };
        let base = tag(&key, Some(1), Some(b"x"));
        assert!(
            RowMac::new(&key.mac_key(), "records")
                .int(Some(1))
                .bytes(Some(b"x"))
                .verify(&base)
        );
        assert_ne!(base, tag(&key, Some(2), Some(b"x")));
        assert_ne!(base, tag(&key, Some(1), Some(b"y")));
        assert_ne!(base, tag(&key, Some(1), None));
        assert_ne!(base, tag(&key, None, Some(b"x")));
        assert_ne!(
            base,
            tag(&StorageKey::from_bytes([8; 32]), Some(1), Some(b"x"))
        );
        let other_table = RowMac::new(&key.mac_key(), "batches")
            .int(Some(1))
            .bytes(Some(b"x"))
            .finish();
        assert_ne!(base, other_table);
        // Known answer, computed independently (Python hmac/hashlib: HKDF-SHA256 then
        // HMAC-SHA256 over the documented encoding): pins the format in PROTOCOL.md.
        assert_eq!(
            hex::encode(base),
            "36abc76b7416e4a16b2f450d880666fe73f60246ef40dbaadf3c124966463523"
        );
        assert!(!RowMac::new(&key.mac_key(), "records").verify(&base[..31]));
    }

    #[test]
    fn hex_forms() {
        assert!(StorageKey::from_hex(&"ab".repeat(32)).is_ok());
        assert_eq!(
            StorageKey::from_hex("abcd").unwrap_err().to_string(),
            "storage key must be 32 bytes (64 hex characters)"
        );
        assert!(StorageKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(
            format!("{:?}", StorageKey::from_bytes([1; 32])),
            "StorageKey(..)"
        );
    }
}
