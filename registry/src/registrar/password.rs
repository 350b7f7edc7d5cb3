//! Passwords: Argon2id (RFC 9106; the `argon2` crate's defaults, m = 19 MiB, t = 2, p = 1) in
//! PHC strings, a dummy hash verified when the user does not exist (so a login takes as long
//! either way), and one-time passwords from the OS RNG.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use zeroize::Zeroizing;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 takes any length; this bounds the work per attempt).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Too long.
    #[error("a password may have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// Hashing failed.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    /// No randomness.
    #[error("random number generator failed: {0}")]
    Rng(String),
}

/// Checks a new password's length.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else {
        Ok(())
    }
}

/// The Argon2id PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    birthright_core::keys::os_random(&mut salt).map_err(|e| PasswordError::Rng(e.0))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (the crate compares in constant time).
/// A password over [`MAX_PASSWORD_BYTES`] never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && Argon2::default()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
}

/// Verifies `password` against a fixed hash and returns false: the same work as a real
/// verification, for a user who does not exist or is disabled.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not the password of any user").unwrap_or_default());
    let _ = verify(password, stored);
}

/// A one-time password: 20 characters from an alphabet without look-alikes (about 100 bits).
pub fn one_time() -> Result<Zeroizing<String>, PasswordError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY346789";
    let mut out = Zeroizing::new(String::with_capacity(20));
    while out.len() < 20 {
        let mut byte = [0u8; 1];
        birthright_core::keys::os_random(&mut byte).map_err(|e| PasswordError::Rng(e.0))?;
        // Rejection sampling: no bias towards the alphabet's first letters.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_only_their_password() {
        let stored = hash("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("correct horse battery", "not a phc string"));
        assert_ne!(stored, hash("correct horse battery").unwrap(), "salted");
        assert!(!verify(&"x".repeat(MAX_PASSWORD_BYTES + 1), &stored));
    }

    #[test]
    fn new_passwords_are_bounded_and_one_time_ones_random() {
        assert_eq!(check_new("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new("ёёёёёёёёёёёё"), Ok(()));
        assert_eq!(check_new(&"a".repeat(2000)), Err(PasswordError::TooLong));
        let (a, b) = (one_time().unwrap(), one_time().unwrap());
        assert_eq!(a.len(), 20);
        assert_ne!(*a, *b);
        assert_eq!(check_new(&a), Ok(()));
    }
}
