//! Ed25519 identities: the device's record-signing key and the key ids that name keys in COSE
//! headers and certificates.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a [`KeyId`] in bytes.
pub const KEY_ID_LEN: usize = 8;

/// A short public name for an Ed25519 key: the first 8 bytes of SHA-256 over the 32-byte
/// public key. Used as the COSE `kid` and shown to administrators in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    /// The key id of an Ed25519 public key.
    pub fn of(public_key: &[u8; 32]) -> Self {
        let digest = Sha256::digest(public_key);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// Parses a key id from bytes (exactly 8).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_ID_LEN]>::try_from(bytes).ok().map(KeyId)
    }

    /// Parses the 16-hex-digit form.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Self::from_slice(&bytes)
    }

    /// The 16-hex-digit form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// Failure to get randomness from the operating system.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RngError(pub String);

/// Fills `buf` from the OS random number generator.
pub fn os_random(buf: &mut [u8]) -> Result<(), RngError> {
    getrandom::fill(buf).map_err(|e| RngError(e.to_string()))
}

/// An Ed25519 signing key. The secret is zeroized when this value is dropped.
pub struct Ed25519Key {
    signing: SigningKey,
}

impl Ed25519Key {
    /// A new key from the OS random number generator.
    pub fn generate() -> Result<Self, RngError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        os_random(seed.as_mut())?;
        Ok(Self::from_secret(&seed))
    }

    /// The key with this 32-byte secret seed.
    pub fn from_secret(seed: &[u8; 32]) -> Self {
        Ed25519Key {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte secret seed, in a buffer zeroized on drop.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The key id of the public key.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_bytes())
    }

    /// Signs `message` (Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The underlying dalek signing key (for the signed-note signer).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Key({})", self.key_id())
    }
}

/// Parses a 32-byte Ed25519 public key, refusing weak or malformed points.
pub fn verifying_key(bytes: &[u8]) -> Option<VerifyingKey> {
    let array = <[u8; 32]>::try_from(bytes).ok()?;
    let key = VerifyingKey::from_bytes(&array).ok()?;
    (!key.is_weak()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_sha256_prefix_and_round_trips_hex() {
        let key = Ed25519Key::from_secret(&[7u8; 32]);
        let id = key.key_id();
        assert_eq!(&id.0[..], &Sha256::digest(key.public_bytes())[..8]);
        assert_eq!(KeyId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(KeyId::from_hex("abc"), None);
    }

    #[test]
    fn generated_keys_differ_and_sign_verifiably() {
        let a = Ed25519Key::generate().unwrap();
        let b = Ed25519Key::generate().unwrap();
        assert_ne!(a.public_bytes(), b.public_bytes());
        let sig = ed25519_dalek::Signature::from_bytes(&a.sign(b"msg"));
        assert!(a.verifying_key().verify_strict(b"msg", &sig).is_ok());
        assert!(b.verifying_key().verify_strict(b"msg", &sig).is_err());
    }
}
