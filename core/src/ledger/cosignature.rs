//! C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>), the Ed25519 `cosignature/v1`
//! type (signed-note signature type 0x04): witness keys and their verifier keys, cosignature
//! lines (a timestamped Ed25519 signature over the checkpoint body), and the witness policy a
//! device applies to a checkpoint note (K valid cosignatures out of N trusted witnesses).
//!
//! A cosignature line is an ordinary signed-note signature line,
//! `— <name> base64(key id || u64 timestamp || Ed25519 signature)`, whose signed message is
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's note text.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{
    LedgerError,
    note::{MAX_NOTE_BYTES, MAX_SIGNATURES, NoteVerifier, valid_key_name},
};

/// Signature type byte of timestamped Ed25519 checkpoint cosignatures (signed-note registry).
pub const SIGNATURE_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// The header line of the signed message (without its newline).
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";
/// Most witnesses one policy may name.
pub const MAX_WITNESSES: usize = 32;
/// Longest key name accepted.
pub const MAX_KEY_NAME_BYTES: usize = 256;
/// Length of the decoded signature blob: key id, timestamp, Ed25519 signature.
const COSIGNATURE_BLOB_LEN: usize = 4 + 8 + 64;
/// Largest timestamp the spec allows (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// A witness key, line, note or policy that is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A witness verifier key that is malformed.
    #[error("malformed witness key: {0}")]
    BadKey(String),
    /// A witness key name that is not a valid note key name.
    #[error("a witness name must be 1 to {MAX_KEY_NAME_BYTES} bytes, without spaces or '+'")]
    BadName,
    /// A signature line that is malformed.
    #[error("malformed signature line: {0}")]
    BadLine(String),
    /// A signed note that is malformed.
    #[error("malformed signed note: {0}")]
    BadNote(String),
    /// A cosignature by a trusted witness that does not verify.
    #[error("the cosignature by witness {0} does not verify")]
    SignatureInvalid(String),
    /// A timestamp beyond 2^63 - 1.
    #[error("the cosignature timestamp {0} is out of range")]
    TimestampOutOfRange(u64),
    /// A policy that cannot be met or names a witness twice.
    #[error("invalid witness policy: {0}")]
    BadPolicy(String),
    /// The checkpoint itself (log signature, body) does not verify.
    #[error(transparent)]
    Checkpoint(#[from] LedgerError),
}

/// `SHA-256(name || "\n" || 0x04 || public key)[:4]`, the cosignature/v1 key id.
pub fn cosignature_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, SIGNATURE_TYPE_COSIGNATURE_V1]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The message a cosignature/v1 signs: the header line, the time line, the checkpoint text.
pub fn signed_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(checkpoint_text.len() + 40);
    message.extend_from_slice(COSIGNATURE_V1_HEADER.as_bytes());
    message.extend_from_slice(format!("\ntime {timestamp}\n").as_bytes());
    message.extend_from_slice(checkpoint_text.as_bytes());
    message
}

fn check_name(name: &str) -> Result<(), CosignatureError> {
    if name.len() > MAX_KEY_NAME_BYTES || !valid_key_name(name) {
        return Err(CosignatureError::BadName);
    }
    Ok(())
}

fn check_checkpoint_text(text: &str) -> Result<(), CosignatureError> {
    if text.is_empty() || !text.ends_with('\n') || text.len() > MAX_NOTE_BYTES {
        return Err(CosignatureError::BadNote(
            "the checkpoint text must be non-empty, end with a newline and fit the size limit"
                .into(),
        ));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(CosignatureError::BadNote(
            "control characters other than newline are not allowed".into(),
        ));
    }
    Ok(())
}

/// One cosignature line, decoded (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's key name.
    pub name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// When the witness signed, POSIX seconds.
    pub timestamp: u64,
    /// The Ed25519 signature over [`signed_message`].
    pub signature: [u8; 64],
}

impl Cosignature {
    /// Decodes a signature line `— name base64(...)` (with or without its final newline) as a
    /// cosignature/v1. Any other signature type (wrong length) is an error.
    pub fn parse_line(line: &str) -> Result<Cosignature, CosignatureError> {
        let (name, blob) = split_signature_line(line)?;
        let blob: [u8; COSIGNATURE_BLOB_LEN] = blob.try_into().map_err(|_| {
            CosignatureError::BadLine(format!(
                "a cosignature is {COSIGNATURE_BLOB_LEN} bytes of key id, timestamp and signature"
            ))
        })?;
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&blob[..4]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&blob[4..12]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&blob[12..]);
        Ok(Cosignature {
            name: name.to_string(),
            key_id,
            timestamp,
            signature,
        })
    }

    /// The signature line, ending in a newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(COSIGNATURE_BLOB_LEN);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.timestamp.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// Splits a signature line into its key name and decoded blob (at least 5 bytes).
fn split_signature_line(line: &str) -> Result<(&str, Vec<u8>), CosignatureError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
        CosignatureError::BadLine("must start with an em dash and a space".into())
    })?;
    let (name, blob) = rest
        .split_once(' ')
        .ok_or_else(|| CosignatureError::BadLine("expected a key name and a signature".into()))?;
    if !valid_key_name(name) || name.len() > MAX_KEY_NAME_BYTES {
        return Err(CosignatureError::BadLine("invalid key name".into()));
    }
    if blob.len() > 4 * MAX_NOTE_BYTES / 3 {
        return Err(CosignatureError::BadLine("signature too long".into()));
    }
    let blob = B64
        .decode(blob)
        .map_err(|_| CosignatureError::BadLine("the signature is not standard base64".into()))?;
    if blob.len() < 5 {
        return Err(CosignatureError::BadLine("signature too short".into()));
    }
    Ok((name, blob))
}

/// A witness's signing key under its name. The secret is zeroized when this is dropped.
pub struct CosignatureSigner {
    name: String,
    key: SigningKey,
}

impl CosignatureSigner {
    /// A signer for `name` (a note key name, e.g. `witness.example.org/unicef`) with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        check_name(name)?;
        Ok(CosignatureSigner {
            name: name.to_string(),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this signer's key.
    pub fn verifier(&self) -> CosignatureVerifier {
        let public = self.key.verifying_key();
        CosignatureVerifier {
            key_id: cosignature_key_id(&self.name, &public.to_bytes()),
            name: self.name.clone(),
            key: public,
        }
    }

    /// The verifier key text, `name+hex(key id)+base64(0x04 || public key)`.
    pub fn verifier_key(&self) -> String {
        self.verifier().to_vkey()
    }

    /// Cosigns a checkpoint's note text (body only, ending in a newline) at `timestamp`
    /// (POSIX seconds, at most 2^63 - 1). Returns the cosignature.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<Cosignature, CosignatureError> {
        check_checkpoint_text(checkpoint_text)?;
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        let signature = self
            .key
            .sign(&signed_message(timestamp, checkpoint_text))
            .to_bytes();
        Ok(Cosignature {
            name: self.name.clone(),
            key_id: cosignature_key_id(&self.name, &self.key.verifying_key().to_bytes()),
            timestamp,
            signature,
        })
    }
}

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignatureSigner({})", self.name)
    }
}

/// A trusted witness: its name, key id and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a cosignature/v1 verifier key `name+hex8+base64(0x04 || key)`.
    pub fn from_vkey(vkey: &str) -> Result<Self, CosignatureError> {
        let vkey = vkey.trim();
        if vkey.len() > MAX_KEY_NAME_BYTES + 64 {
            return Err(CosignatureError::BadKey("too long".into()));
        }
        let (name, id, key) = super::note::parse_ed25519_vkey(
            vkey,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            "a witness cosignature key",
            cosignature_key_id,
        )
        .map_err(CosignatureError::BadKey)?;
        check_name(name)?;
        Ok(CosignatureVerifier {
            name: name.to_string(),
            key_id: id,
            key,
        })
    }

    /// The verifier key text.
    pub fn to_vkey(&self) -> String {
        let mut material = vec![SIGNATURE_TYPE_COSIGNATURE_V1];
        material.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            B64.encode(material)
        )
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

    /// Whether a signature line's name and key id name this witness.
    pub fn matches(&self, name: &str, key_id: &[u8]) -> bool {
        self.name == name && key_id == self.key_id
    }

    /// Verifies `cosignature` over `checkpoint_text`. It must name this witness.
    pub fn verify(
        &self,
        checkpoint_text: &str,
        cosignature: &Cosignature,
    ) -> Result<(), CosignatureError> {
        if !self.matches(&cosignature.name, &cosignature.key_id) {
            return Err(CosignatureError::BadLine(
                "the cosignature is by another key".into(),
            ));
        }
        let signature = Signature::from_bytes(&cosignature.signature);
        self.key
            .verify_strict(
                &signed_message(cosignature.timestamp, checkpoint_text),
                &signature,
            )
            .map_err(|_| CosignatureError::SignatureInvalid(self.name.clone()))
    }
}

/// A signed note split into its text and raw signature lines (each without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitNote<'n> {
    /// The note text, ending in a newline.
    pub text: &'n str,
    /// The signature lines, in order.
    pub signatures: Vec<&'n str>,
}

/// Splits a signed note (size- and count-limited) into text and signature lines.
pub fn split_note(note: &str) -> Result<SplitNote<'_>, CosignatureError> {
    let (text, block) =
        super::note::split_text_and_signatures(note).map_err(CosignatureError::BadNote)?;
    check_checkpoint_text(text)?;
    let signatures: Vec<&str> = block.lines().collect();
    if signatures.is_empty() {
        return Err(CosignatureError::BadNote("no signature lines".into()));
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(CosignatureError::BadNote("too many signatures".into()));
    }
    for line in &signatures {
        split_signature_line(line)?;
    }
    Ok(SplitNote { text, signatures })
}

/// Appends signature lines (each `— name sig\n`) to a signed note, skipping lines it already
/// carries. The lines are checked to be well formed; the result stays within the note limits.
pub fn add_signature_lines(note: &str, lines: &str) -> Result<String, CosignatureError> {
    let split = split_note(note)?;
    let mut out = note.to_string();
    let mut count = split.signatures.len();
    for line in lines.lines() {
        split_signature_line(line)?;
        if split.signatures.contains(&line) || out.contains(&format!("\n{line}\n")) {
            continue;
        }
        count += 1;
        if count > MAX_SIGNATURES {
            return Err(CosignatureError::BadNote("too many signatures".into()));
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.len() > MAX_NOTE_BYTES {
        return Err(CosignatureError::BadNote(format!(
            "larger than {MAX_NOTE_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// The outcome of a witness policy over one note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Names of the trusted witnesses whose cosignature verified, in policy order.
    pub cosigned_by: Vec<String>,
    /// The quorum the policy asks for.
    pub quorum: usize,
    /// The latest valid cosignature timestamp, if any.
    pub latest_timestamp: Option<u64>,
}

impl PolicyOutcome {
    /// How many trusted witnesses cosigned.
    pub fn count(&self) -> usize {
        self.cosigned_by.len()
    }

    /// Whether at least the quorum of witnesses cosigned.
    pub fn satisfied(&self) -> bool {
        self.cosigned_by.len() >= self.quorum
    }
}

/// K of N trusted witnesses must cosign a checkpoint. A quorum of 0 (no witnesses, or an
/// old trust bundle) is always satisfied: the registry's signature alone then decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WitnessPolicy {
    witnesses: Vec<CosignatureVerifier>,
    quorum: usize,
}

impl WitnessPolicy {
    /// A policy over `witnesses` asking for `quorum` of them. Refuses a quorum larger than the
    /// number of witnesses, two witnesses with the same name and key id, or too many witnesses.
    pub fn new(
        witnesses: Vec<CosignatureVerifier>,
        quorum: usize,
    ) -> Result<WitnessPolicy, CosignatureError> {
        if witnesses.len() > MAX_WITNESSES {
            return Err(CosignatureError::BadPolicy(format!(
                "at most {MAX_WITNESSES} witnesses"
            )));
        }
        if quorum > witnesses.len() {
            return Err(CosignatureError::BadPolicy(format!(
                "a quorum of {quorum} needs at least {quorum} witnesses, there are {}",
                witnesses.len()
            )));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i]
                .iter()
                .any(|o| o.name == w.name || o.key == w.key)
            {
                return Err(CosignatureError::BadPolicy(format!(
                    "witness {} is listed twice (same name or same key)",
                    w.name
                )));
            }
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    /// The policy with no witnesses (quorum 0).
    pub fn none() -> WitnessPolicy {
        WitnessPolicy::default()
    }

    /// Parses verifier keys and builds the policy.
    pub fn from_vkeys<S: AsRef<str>>(
        vkeys: &[S],
        quorum: usize,
    ) -> Result<WitnessPolicy, CosignatureError> {
        let witnesses = vkeys
            .iter()
            .map(|v| CosignatureVerifier::from_vkey(v.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        WitnessPolicy::new(witnesses, quorum)
    }

    /// The trusted witnesses.
    pub fn witnesses(&self) -> &[CosignatureVerifier] {
        &self.witnesses
    }

    /// The quorum K.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Counts the trusted witnesses that validly cosigned `note` (a signed note whose text is
    /// the checkpoint). Lines by unknown keys are ignored; a line that names a trusted witness
    /// but does not verify rejects the whole note (signed-note), as does a malformed note.
    /// Several lines by one witness count once.
    pub fn evaluate(&self, note: &str) -> Result<PolicyOutcome, CosignatureError> {
        let split = split_note(note)?;
        let mut cosigned = vec![false; self.witnesses.len()];
        let mut latest: Option<u64> = None;
        for line in &split.signatures {
            let (name, blob) = split_signature_line(line)?;
            let Some(index) = self
                .witnesses
                .iter()
                .position(|w| w.matches(name, &blob[..4]))
            else {
                continue;
            };
            let cosignature = Cosignature::parse_line(line)
                .map_err(|_| CosignatureError::SignatureInvalid(name.to_string()))?;
            self.witnesses[index].verify(split.text, &cosignature)?;
            cosigned[index] = true;
            latest = Some(latest.map_or(cosignature.timestamp, |t| t.max(cosignature.timestamp)));
        }
        Ok(PolicyOutcome {
            cosigned_by: self
                .witnesses
                .iter()
                .zip(&cosigned)
                .filter(|(_, c)| **c)
                .map(|(w, _)| w.name.clone())
                .collect(),
            quorum: self.quorum,
            latest_timestamp: latest,
        })
    }

    /// Verifies the log's signature and origin (as [`super::checkpoint::verify_checkpoint`])
    /// and evaluates the policy over the same note.
    pub fn verify_checkpoint(
        &self,
        log: &NoteVerifier,
        note: &str,
        expected_origin: &str,
    ) -> Result<(super::checkpoint::Checkpoint, PolicyOutcome), CosignatureError> {
        let checkpoint = super::checkpoint::verify_checkpoint(log, note, expected_origin)?;
        let outcome = self.evaluate(note)?;
        Ok((checkpoint, outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{
        checkpoint::{Checkpoint, sign_checkpoint},
        note::NoteSigner,
    };

    /// The checkpoint and the cosignature line of the C2SP tlog-cosignature example.
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    const SPEC_LINE: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";

    fn signer(seed: u8, name: &str) -> CosignatureSigner {
        CosignatureSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn spec_example_line_decodes_and_reencodes() {
        let c = Cosignature::parse_line(SPEC_LINE).unwrap();
        assert_eq!(c.name, "witness.example.com/w1");
        assert_eq!(hex::encode(c.key_id), "8d66cf3f");
        // The spec's signed message example carries "time 1679315147".
        assert_eq!(c.timestamp, 1_679_315_147);
        assert_eq!(c.to_line(), format!("{SPEC_LINE}\n"));
    }

    #[test]
    fn spec_signed_message() {
        assert_eq!(
            signed_message(1_679_315_147, SPEC_TEXT),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        assert_eq!(signed_message(0, "o\n")[..21], *b"cosignature/v1\ntime 0");
    }

    /// Known answers frozen from this implementation (Ed25519 is deterministic), with the key id
    /// recomputed by hand from the spec's formula.
    #[test]
    fn known_answer_key_id_vkey_and_line() {
        let s = signer(7, "witness.test/w1");
        let public = s.verifier().public_key();
        let mut h = Sha256::new();
        h.update(b"witness.test/w1\n\x04");
        h.update(public);
        assert_eq!(s.verifier().key_id(), h.finalize()[..4]);
        // Not the plain Ed25519 (0x01) key id.
        assert_ne!(
            s.verifier().key_id(),
            super::super::note::key_id("witness.test/w1", &public)
        );
        assert_eq!(s.verifier_key(), KAT_VKEY);
        let line = s.cosign(SPEC_TEXT, 1_679_315_147).unwrap().to_line();
        assert_eq!(line, KAT_LINE);
        let v = CosignatureVerifier::from_vkey(KAT_VKEY).unwrap();
        v.verify(SPEC_TEXT, &Cosignature::parse_line(&line).unwrap())
            .unwrap();
    }

    const KAT_VKEY: &str = "witness.test/w1+63686739+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    const KAT_LINE: &str = "\u{2014} witness.test/w1 Y2hnOQAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n";

    #[test]
    fn vkey_round_trip_and_refusals() {
        let s = signer(3, "w.test/a");
        let v = CosignatureVerifier::from_vkey(&s.verifier_key()).unwrap();
        assert_eq!(v.to_vkey(), s.verifier_key());
        assert_eq!(v.name(), "w.test/a");
        // A plain Ed25519 note key (type 0x01) is not a witness key.
        let note = NoteSigner::new("w.test/a", SigningKey::from_bytes(&[3; 32])).unwrap();
        assert!(matches!(
            CosignatureVerifier::from_vkey(&note.verifier_key()),
            Err(CosignatureError::BadKey(m)) if m.contains("0x01")
        ));
        assert!(CosignatureVerifier::from_vkey("a+b").is_err());
        assert!(
            CosignatureVerifier::from_vkey(&s.verifier_key().replacen("w.test/a", "w.test/b", 1))
                .is_err()
        );
        assert_eq!(
            CosignatureSigner::new("has space", SigningKey::from_bytes(&[1; 32])).unwrap_err(),
            CosignatureError::BadName
        );
    }

    #[test]
    fn cosign_verify_and_tamper() {
        let s = signer(4, "w.test/b");
        let v = s.verifier();
        let c = s.cosign("o\n1\nAAAA\n", 42).unwrap();
        v.verify("o\n1\nAAAA\n", &c).unwrap();
        assert_eq!(
            v.verify("o\n2\nAAAA\n", &c),
            Err(CosignatureError::SignatureInvalid("w.test/b".into()))
        );
        let mut later = c.clone();
        later.timestamp = 43;
        assert!(v.verify("o\n1\nAAAA\n", &later).is_err());
        assert!(s.cosign("o\n1\nAAAA\n", MAX_TIMESTAMP + 1).is_err());
        assert!(s.cosign("no newline", 1).is_err());
        let mut blob = B64
            .decode(c.to_line().trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        blob[4] = 0x80;
        assert_eq!(
            Cosignature::parse_line(&format!("\u{2014} w.test/b {}", B64.encode(blob))),
            Err(CosignatureError::TimestampOutOfRange(0x8000_0000_0000_002a))
        );
    }

    fn registry() -> NoteSigner {
        NoteSigner::new("registry.test/births", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn checkpoint_note() -> (String, String) {
        let cp = Checkpoint {
            origin: "registry.test/births".into(),
            size: 5,
            root_hash: [9; 32],
            extensions: vec![],
        };
        (cp.to_text(), sign_checkpoint(&registry(), &cp).unwrap())
    }

    #[test]
    fn policy_counts_distinct_valid_witnesses() {
        let (text, note) = checkpoint_note();
        let w: Vec<_> = (0..3)
            .map(|i| signer(10 + i, &format!("w.test/{i}")))
            .collect();
        let policy = WitnessPolicy::new(w.iter().map(|s| s.verifier()).collect(), 2).unwrap();
        let none = policy.evaluate(&note).unwrap();
        assert_eq!((none.count(), none.satisfied()), (0, false));
        let one = add_signature_lines(&note, &w[1].cosign(&text, 100).unwrap().to_line()).unwrap();
        let outcome = policy.evaluate(&one).unwrap();
        assert_eq!(outcome.cosigned_by, vec!["w.test/1".to_string()]);
        assert!(!outcome.satisfied());
        // The same witness twice still counts once.
        let twice = add_signature_lines(&one, &w[1].cosign(&text, 101).unwrap().to_line()).unwrap();
        assert_eq!(policy.evaluate(&twice).unwrap().count(), 1);
        // An unknown witness is ignored.
        let stranger = signer(99, "w.test/x");
        let with_stranger =
            add_signature_lines(&one, &stranger.cosign(&text, 5).unwrap().to_line()).unwrap();
        assert_eq!(policy.evaluate(&with_stranger).unwrap().count(), 1);
        let two = add_signature_lines(&one, &w[2].cosign(&text, 102).unwrap().to_line()).unwrap();
        let outcome = policy.evaluate(&two).unwrap();
        assert!(outcome.satisfied());
        assert_eq!(outcome.latest_timestamp, Some(102));
        let log = NoteVerifier::from_vkey(&registry().verifier_key()).unwrap();
        let (cp, o) = policy
            .verify_checkpoint(&log, &two, "registry.test/births")
            .unwrap();
        assert_eq!((cp.size, o.count()), (5, 2));
        // A cosignature over another checkpoint, pasted in, rejects the note.
        let forged = w[0].cosign("registry.test/births\n5\nAAAA\n", 1).unwrap();
        assert_eq!(
            policy.evaluate(&add_signature_lines(&two, &forged.to_line()).unwrap()),
            Err(CosignatureError::SignatureInvalid("w.test/0".into()))
        );
        // Quorum 0 is satisfied by the registry's signature alone.
        assert!(WitnessPolicy::none().evaluate(&note).unwrap().satisfied());
    }

    #[test]
    fn policy_refuses_impossible_or_duplicate() {
        let a = signer(1, "w.test/a").verifier();
        assert!(WitnessPolicy::new(vec![a.clone()], 2).is_err());
        assert!(WitnessPolicy::new(vec![a.clone(), a.clone()], 1).is_err());
        let same_key = signer(1, "w.test/other").verifier();
        assert!(WitnessPolicy::new(vec![a.clone(), same_key], 1).is_err());
        assert!(WitnessPolicy::from_vkeys(&["nonsense"], 0).is_err());
        assert!(WitnessPolicy::from_vkeys(&[a.to_vkey()], 1).is_ok());
    }

    #[test]
    fn add_lines_refuses_garbage_and_limits() {
        let (_, note) = checkpoint_note();
        assert!(add_signature_lines(&note, "not a line\n").is_err());
        assert!(add_signature_lines("no blank line\n", "").is_err());
        let mut n = note.clone();
        let s = signer(5, "w.test/many");
        for t in 0..(MAX_SIGNATURES as u64) {
            match add_signature_lines(&n, &s.cosign("x\n", t).unwrap().to_line()) {
                Ok(next) => n = next,
                Err(e) => {
                    assert_eq!(e, CosignatureError::BadNote("too many signatures".into()));
                    return;
                }
            }
        }
        panic!("the signature count limit was not enforced");
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(text in "\\PC{0,300}") {
            let _ = Cosignature::parse_line(&text);
            let _ = CosignatureVerifier::from_vkey(&text);
            let _ = split_note(&text);
            let policy = WitnessPolicy::new(vec![signer(2, "w.test/p").verifier()], 1).unwrap();
            let _ = policy.evaluate(&text);
        }
    }
}
