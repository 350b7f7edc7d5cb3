//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 signatures (type 0x01).

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::LedgerError;

/// Signature type byte of Ed25519.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;
/// Largest note accepted (the spec asks to accept at least 16 signatures; this allows far more).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;

/// Whether `name` is a valid note key name: non-empty, without Unicode spaces or `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_key_name(name: &str) -> Result<(), LedgerError> {
    if !valid_key_name(name) {
        return Err(LedgerError::BadKey(
            "key names must be non-empty, without spaces or '+'".into(),
        ));
    }
    Ok(())
}

/// The note key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, SIGNATURE_TYPE_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Splits a signed note into its text (ending in a newline) and its block of signature lines,
/// after the size limit and the framing checks every signed-note reader makes. Errors are
/// plain messages.
pub(crate) fn split_text_and_signatures(note: &str) -> Result<(&str, &str), String> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(format!("larger than {MAX_NOTE_BYTES} bytes"));
    }
    if !note.ends_with('\n') {
        return Err("must end with a newline".into());
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| "no blank line before the signatures".to_string())?;
    Ok((&note[..split + 1], &note[split + 2..]))
}

/// The parts of a signed-note verifier key `name+hex8+base64(kind || Ed25519 key)` of
/// signature type `kind` (`what` names it in errors): the name (not yet checked), the key id
/// (checked against `key_id` of the name and key) and the key. Errors are plain messages.
pub(crate) fn parse_ed25519_vkey<'a>(
    vkey: &'a str,
    kind: u8,
    what: &str,
    key_id: fn(&str, &[u8; 32]) -> [u8; 4],
) -> Result<(&'a str, [u8; 4], VerifyingKey), String> {
    // The base64 key may itself contain '+': split off only the name and the key id.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected name+keyid+key".into());
    };
    let id: [u8; 4] = hex::decode(id_hex)
        .ok()
        .filter(|_| id_hex.len() == 8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the key id must be 8 hex digits".to_string())?;
    let material = B64
        .decode(material)
        .map_err(|_| "the key is not standard base64".to_string())?;
    let [found, rest @ ..] = material.as_slice() else {
        return Err("empty key".into());
    };
    if *found != kind {
        return Err(format!(
            "signature type {found:#04x} is not {what} ({kind:#04x})"
        ));
    }
    let public: [u8; 32] = rest
        .try_into()
        .map_err(|_| "an Ed25519 key is 32 bytes".to_string())?;
    let key =
        VerifyingKey::from_bytes(&public).map_err(|_| "not a valid Ed25519 key".to_string())?;
    if key_id(name, &public) != id {
        return Err("the key id does not match the key".into());
    }
    Ok((name, id, key))
}

/// Signs notes with an Ed25519 key under a key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `name` (no spaces or `+`) with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, LedgerError> {
        check_key_name(name)?;
        Ok(NoteSigner {
            name: name.to_string(),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key.verifying_key().to_bytes())
    }

    /// The verifier key: `name+hex(key id)+base64(0x01 || public key)`.
    pub fn verifier_key(&self) -> String {
        let mut material = vec![SIGNATURE_TYPE_ED25519];
        material.extend_from_slice(&self.key.verifying_key().to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(material)
        )
    }

    /// Signs `text` (non-empty, ending in a newline): returns the signed note.
    pub fn sign(&self, text: &str) -> Result<String, LedgerError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.key_id());
        blob.extend_from_slice(&signature);
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

fn check_text(text: &str) -> Result<(), LedgerError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(LedgerError::BadNote(
            "the text must be non-empty and end with a newline".into(),
        ));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(LedgerError::BadNote(
            "control characters other than newline are not allowed".into(),
        ));
    }
    Ok(())
}

/// Verifies notes signed by one known Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key `name+hex8+base64(0x01 || key)`.
    pub fn from_vkey(vkey: &str) -> Result<Self, LedgerError> {
        let (name, id, key) =
            parse_ed25519_vkey(vkey, SIGNATURE_TYPE_ED25519, "an Ed25519 note key", key_id)
                .map_err(LedgerError::BadKey)?;
        check_key_name(name)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key_id: id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies `note` and returns its text. Signatures by other keys are ignored; the note
    /// must carry a valid signature by this key, and a signature that names this key but does
    /// not verify rejects the whole note.
    pub fn verify<'n>(&self, note: &'n str) -> Result<&'n str, LedgerError> {
        let (text, signatures) = split_text_and_signatures(note).map_err(LedgerError::BadNote)?;
        check_text(text)?;
        let mut verified = false;
        for (count, line) in signatures.lines().enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(LedgerError::BadNote("too many signatures".into()));
            }
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(LedgerError::BadNote("malformed signature line".into()));
            };
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| LedgerError::BadNote("malformed signature line".into()))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| LedgerError::BadNote("signature is not base64".into()))?;
            if blob.len() < 5 {
                return Err(LedgerError::BadNote("signature too short".into()));
            }
            if name != self.name || blob[..4] != self.key_id {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| LedgerError::SignatureInvalid(self.name.clone()))?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| LedgerError::SignatureInvalid(self.name.clone()))?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(LedgerError::UnknownKey(self.name.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the C2SP signed-note specification.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn verifies_the_spec_example() {
        let verifier = NoteVerifier::from_vkey(SPEC_VKEY).unwrap();
        assert_eq!(verifier.name(), "example.com/foo");
        assert_eq!(
            verifier.verify(SPEC_NOTE).unwrap(),
            "This is an example message.\n"
        );
        let tampered = SPEC_NOTE.replace("example message", "exemple message");
        assert_eq!(
            verifier.verify(&tampered),
            Err(LedgerError::SignatureInvalid("example.com/foo".into()))
        );
    }

    #[test]
    fn sign_verify_and_foreign_signatures() {
        let signer =
            NoteSigner::new("registry.test/births", SigningKey::from_bytes(&[5; 32])).unwrap();
        let note = signer.sign("hello\nworld\n").unwrap();
        let verifier = NoteVerifier::from_vkey(&signer.verifier_key()).unwrap();
        assert_eq!(verifier.verify(&note).unwrap(), "hello\nworld\n");
        // A cosignature by another key is ignored.
        let other = NoteSigner::new("witness.test", SigningKey::from_bytes(&[6; 32])).unwrap();
        let other_line = other.sign("hello\nworld\n").unwrap();
        let sig_line = other_line.rsplit("\n\n").next().unwrap();
        let cosigned = format!("{note}{sig_line}");
        assert_eq!(verifier.verify(&cosigned).unwrap(), "hello\nworld\n");
        // Only the other key's signature: unknown key.
        assert_eq!(
            verifier.verify(&other_line),
            Err(LedgerError::UnknownKey("registry.test/births".into()))
        );
        assert!(signer.sign("no newline").is_err());
        assert!(signer.sign("bad\u{7}\n").is_err());
        assert!(NoteSigner::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
        assert!(NoteVerifier::from_vkey("a+b").is_err());
        assert!(NoteVerifier::from_vkey(&signer.verifier_key().replace("+", "+0")).is_err());
    }

    #[test]
    fn vkeys_whose_base64_contains_plus_parse() {
        let mut found = 0;
        for seed in 0u8..=255 {
            let signer = NoteSigner::new("o.test/x", SigningKey::from_bytes(&[seed; 32])).unwrap();
            let vkey = signer.verifier_key();
            if vkey.matches('+').count() > 2 {
                found += 1;
                let verifier = NoteVerifier::from_vkey(&vkey).unwrap();
                assert_eq!(
                    verifier.verify(&signer.sign("t\n").unwrap()).unwrap(),
                    "t\n"
                );
            }
        }
        assert!(found > 0, "some of 256 keys have a '+' in their base64");
    }

    #[test]
    fn every_flipped_byte_fails() {
        let signer = NoteSigner::new("o", SigningKey::from_bytes(&[9; 32])).unwrap();
        let note = signer.sign("o\n3\nAAAA\n").unwrap();
        let verifier = NoteVerifier::from_vkey(&signer.verifier_key()).unwrap();
        for i in 0..note.len() {
            let mut bytes = note.clone().into_bytes();
            bytes[i] ^= 0x01;
            if let Ok(text) = String::from_utf8(bytes) {
                assert!(verifier.verify(&text).is_err(), "flip at {i}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics(note in "\\PC{0,300}") {
            let verifier = NoteVerifier::from_vkey(SPEC_VKEY).unwrap();
            let _ = verifier.verify(&note);
            let _ = NoteVerifier::from_vkey(&note);
        }
    }
}
