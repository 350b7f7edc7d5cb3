//! Encryption of values at rest: XChaCha20-Poly1305 with a random 24-byte nonce per value and
//! associated data that binds each ciphertext to its table, column and row, so a ciphertext
//! copied to another row does not decrypt.

use std::fmt;

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
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
