//! TOTP second factor (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of clock drift either way, and no code accepted twice (the caller keeps the last
//! step used). Secrets are 20 random bytes, shown to the user once as RFC 4648 base32.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Steps of drift accepted either side of the current one.
pub const DRIFT_STEPS: i64 = 1;

/// The HOTP value of `secret` at `counter` with `digits` digits (RFC 4226 §5.3).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = Zeroizing::new(mac.finalize().into_bytes().to_vec());
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The step of Unix time `now`.
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// The 6-digit code of `secret` at Unix time `now`, zero-padded.
pub fn code_at(secret: &[u8], now: i64) -> String {
    format!(
        "{:06}",
        hotp(secret, u64::try_from(step_of(now)).unwrap_or(0), DIGITS)
    )
}

/// The step `code` matches for `secret` at `now` (±[`DRIFT_STEPS`]), if any later than
/// `last_used` (a code, once used, is never accepted again). Constant-time per comparison.
pub fn verify(secret: &[u8], code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut matched = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = format!("{:06}", hotp(secret, counter, DIGITS));
        let equal: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if equal && last_used.is_none_or(|last| step > last) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32, upper case, without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans (Key Uri Format).
pub fn otpauth_uri(issuer: &str, username: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(username),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (8 digits), and the same codes cut to 6 digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let counter = u64::try_from(step_of(time)).unwrap();
            assert_eq!(hotp(secret, counter, 8), eight, "T = {time}");
            assert_eq!(code_at(secret, time), format!("{:06}", eight % 1_000_000));
        }
    }

    /// RFC 4226 Appendix D.
    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn one_step_of_drift_and_no_reuse() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_at(secret, now);
        assert_eq!(verify(secret, &code, now, None), Some(step_of(now)));
        assert_eq!(verify(secret, &code, now + 30, None), Some(step_of(now)));
        assert_eq!(verify(secret, &code, now - 30, None), Some(step_of(now)));
        assert_eq!(verify(secret, &code, now + 60, None), None);
        assert_eq!(verify(secret, &code, now, Some(step_of(now))), None);
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, "abcdef", now, None), None);
        assert_eq!(verify(b"another secret", &code, now, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
        assert_eq!(
            otpauth_uri("Birthright registry", "anna.k", b"12345678901234567890"),
            "otpauth://totp/Birthright%20registry:anna.k?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Birthright%20registry&algorithm=SHA1&digits=6&period=30"
        );
    }
}
