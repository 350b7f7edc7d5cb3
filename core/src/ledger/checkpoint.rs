//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): the note text that commits to a
//! tree size and root, signed as a signed note.

use base64::{Engine, engine::general_purpose::STANDARD as B64};

use super::{
    Hash, LedgerError,
    note::{NoteSigner, NoteVerifier},
};

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash at that size.
    pub root_hash: Hash,
    /// Extension lines (opaque; Birthright writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, extension lines, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root_hash)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint body strictly.
    pub fn parse(text: &str) -> Result<Checkpoint, LedgerError> {
        let bad = |m: &str| LedgerError::BadCheckpoint(m.to_string());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("empty origin"))?;
        let size_line = lines.next().ok_or_else(|| bad("missing tree size"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(bad(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| bad("tree size out of range"))?;
        let root_line = lines.next().ok_or_else(|| bad("missing root hash"))?;
        let root = B64
            .decode(root_line)
            .ok()
            .filter(|r| B64.encode(r) == root_line)
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or_else(|| bad("root hash must be 32 bytes in standard base64"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("extension lines must be non-empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root_hash: root,
            extensions,
        })
    }
}

/// Signs a checkpoint: returns the signed note.
pub fn sign_checkpoint(
    signer: &NoteSigner,
    checkpoint: &Checkpoint,
) -> Result<String, LedgerError> {
    signer.sign(&checkpoint.to_text())
}

/// Verifies a signed checkpoint note with `verifier` and checks its origin.
pub fn verify_checkpoint(
    verifier: &NoteVerifier,
    note: &str,
    expected_origin: &str,
) -> Result<Checkpoint, LedgerError> {
    let text = verifier.verify(note)?;
    let checkpoint = Checkpoint::parse(text)?;
    if checkpoint.origin != expected_origin {
        return Err(LedgerError::BadCheckpoint(format!(
            "origin is '{}', expected '{expected_origin}'",
            checkpoint.origin
        )));
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "registry.test/births".into(),
            size: 8,
            root_hash: [0x5d; 32],
            extensions: vec![],
        }
    }

    #[test]
    fn text_round_trip_and_strictness() {
        let c = cp();
        assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
        let root = B64.encode([0x5d; 32]);
        assert!(Checkpoint::parse(&format!("o\n08\n{root}\n")).is_err());
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("\n1\n{root}\n")).is_err());
        assert!(Checkpoint::parse(&format!("o\n1\n{root}")).is_err());
        assert!(Checkpoint::parse("o\n1\nAAAA\n").is_err());
        assert!(Checkpoint::parse(&format!("o\n1\n{root}\n\n")).is_err());
        assert!(Checkpoint::parse(&format!("o\n-1\n{root}\n")).is_err());
        let with_ext = Checkpoint::parse(&format!("o\n1\n{root}\next\n")).unwrap();
        assert_eq!(with_ext.extensions, vec!["ext".to_string()]);
    }

    #[test]
    fn signed_checkpoint_verifies_with_origin() {
        let signer =
            NoteSigner::new("registry.test/births", SigningKey::from_bytes(&[3; 32])).unwrap();
        let note = sign_checkpoint(&signer, &cp()).unwrap();
        let verifier = NoteVerifier::from_vkey(&signer.verifier_key()).unwrap();
        assert_eq!(
            verify_checkpoint(&verifier, &note, "registry.test/births").unwrap(),
            cp()
        );
        assert!(verify_checkpoint(&verifier, &note, "other/origin").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = Checkpoint::parse(&text);
        }
    }
}
