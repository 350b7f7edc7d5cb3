//! C2SP tlog-witness (<https://c2sp.org/tlog-witness>) `add-checkpoint`, sans-IO: the request
//! body a log sends, the checks a witness makes before it cosigns (with the HTTP status each
//! refusal maps to), and the parsing of the two answers a log gets back (the cosignature
//! lines, or the witness's latest size on a 409). The witness server and the registry's
//! submitter both use this module; neither re-implements the format.

use base64::{Engine, engine::general_purpose::STANDARD as B64};

use super::{
    Hash,
    checkpoint::Checkpoint,
    cosignature::{Cosignature, CosignatureError, CosignatureVerifier, split_note},
    merkle::{empty_root, verify_consistency},
    note::{MAX_NOTE_BYTES, NoteVerifier},
};

/// Most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body: the old size line, 63 proof lines and a checkpoint note.
pub const MAX_ADD_CHECKPOINT_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + MAX_NOTE_BYTES;
/// Largest answer a log accepts from a witness.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// Content type of a 409 answer's body.
pub const CONTENT_TYPE_SIZE: &str = "text/x.tlog.size";

/// Why a witness does not cosign; each maps to the HTTP status the spec prescribes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A malformed body, or an old size larger than the checkpoint's (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log origin")]
    UnknownOrigin,
    /// No valid signature by a trusted log key (403).
    #[error("the checkpoint is not validly signed by the log: {0}")]
    Forbidden(String),
    /// The old size is not the size this witness last cosigned (409).
    #[error("the witness last cosigned size {latest}")]
    Conflict {
        /// The size of the latest checkpoint this witness cosigned for the log.
        latest: u64,
    },
    /// The checkpoint is not consistent with what the witness cosigned (422).
    #[error("not consistent with the witness's view: {0}")]
    Inconsistent(String),
}

impl Refusal {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::UnknownOrigin => 404,
            Refusal::Forbidden(_) => 403,
            Refusal::Conflict { .. } => 409,
            Refusal::Inconsistent(_) => 422,
        }
    }
}

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the log believes the witness last cosigned.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || text.len() > 20
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

impl AddCheckpoint {
    /// The request body: `old N\n`, one base64 hash per line, a blank line, the checkpoint.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&B64.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Parses a request body strictly (size-limited, at most 63 proof lines).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        let bad = |m: &str| Refusal::BadRequest(m.to_string());
        if body.len() > MAX_ADD_CHECKPOINT_BYTES {
            return Err(bad("the request body is too large"));
        }
        let body = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let (old_line, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| bad("missing the old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line must be 'old' and a decimal size"))?;
        let mut proof = Vec::new();
        loop {
            let (line, next) = rest
                .split_once('\n')
                .ok_or_else(|| bad("missing the blank line before the checkpoint"))?;
            rest = next;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = B64
                .decode(line)
                .ok()
                .filter(|h| B64.encode(h) == line)
                .and_then(|h| <Hash>::try_from(h).ok())
                .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))?;
            proof.push(hash);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_string(),
        })
    }
}

/// A log a witness follows: its origin and the keys that may sign its checkpoints.
#[derive(Debug, Clone)]
pub struct TrustedLog {
    /// The checkpoint origin line.
    pub origin: String,
    /// The log's signed-note verifiers (Ed25519).
    pub keys: Vec<NoteVerifier>,
}

/// The origin of a checkpoint note, without verifying anything (to find the log it names).
pub fn checkpoint_origin(note: &str) -> Result<String, Refusal> {
    let split = split_note(note).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse(split.text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    Ok(checkpoint.origin)
}

/// The witness's decision on `request` for `log`, given the `(size, root)` it last cosigned
/// (`None` when it never cosigned this log). On `Ok` the witness must durably record the
/// returned checkpoint's size and root (atomically with reading `latest`) before it answers
/// with a cosignature over `checkpoint.to_text()`.
pub fn check_add_checkpoint(
    log: &TrustedLog,
    latest: Option<(u64, Hash)>,
    request: &AddCheckpoint,
) -> Result<Checkpoint, Refusal> {
    let split = split_note(&request.checkpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse(split.text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    if checkpoint.origin != log.origin {
        return Err(Refusal::UnknownOrigin);
    }
    let mut signed = false;
    for key in &log.keys {
        match key.verify(&request.checkpoint) {
            Ok(_) => signed = true,
            Err(super::LedgerError::UnknownKey(_)) => {}
            Err(e) => return Err(Refusal::Forbidden(e.to_string())),
        }
    }
    if !signed {
        return Err(Refusal::Forbidden(
            "no signature by a trusted log key".into(),
        ));
    }
    if request.old_size > checkpoint.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is larger than the checkpoint size {}",
            request.old_size, checkpoint.size
        )));
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, empty_root()));
    if request.old_size != latest_size {
        return Err(Refusal::Conflict {
            latest: latest_size,
        });
    }
    if checkpoint.size == 0 && checkpoint.root_hash != empty_root() {
        return Err(Refusal::Inconsistent(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    if request.old_size == 0 {
        if !request.proof.is_empty() {
            return Err(Refusal::Inconsistent(
                "a proof from size 0 must be empty".into(),
            ));
        }
        return Ok(checkpoint);
    }
    if request.old_size == checkpoint.size && latest_root != checkpoint.root_hash {
        return Err(Refusal::Inconsistent(
            "same size as the cosigned checkpoint but a different root".into(),
        ));
    }
    verify_consistency(
        request.old_size,
        checkpoint.size,
        &request.proof,
        &latest_root,
        &checkpoint.root_hash,
    )
    .map_err(|e| Refusal::Inconsistent(e.to_string()))?;
    Ok(checkpoint)
}

/// Parses a 409 answer's body (`<size>\n`).
pub fn parse_conflict_body(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    parse_decimal(text.strip_suffix('\n')?)
}

/// Parses a 200 answer's body and returns the cosignature by `witness` over `checkpoint_text`,
/// verified. Lines by other keys are ignored; the answer must carry one that verifies.
pub fn verify_response(
    witness: &CosignatureVerifier,
    checkpoint_text: &str,
    body: &[u8],
) -> Result<Cosignature, CosignatureError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(CosignatureError::BadLine("the answer is too large".into()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| CosignatureError::BadLine("the answer is not UTF-8".into()))?;
    if !text.ends_with('\n') {
        return Err(CosignatureError::BadLine(
            "the answer must end with a newline".into(),
        ));
    }
    let mut found = None;
    for line in text.lines() {
        let Ok(cosignature) = Cosignature::parse_line(line) else {
            if line.starts_with('\u{2014}') {
                continue; // another signature type (say ML-DSA): not ours to check
            }
            return Err(CosignatureError::BadLine(
                "every line must be a signature line".into(),
            ));
        };
        if witness.matches(&cosignature.name, &cosignature.key_id) {
            witness.verify(checkpoint_text, &cosignature)?;
            if cosignature.timestamp == 0 {
                return Err(CosignatureError::BadLine(
                    "a witness's cosignature must carry a timestamp".into(),
                ));
            }
            found = Some(cosignature);
        }
    }
    found.ok_or_else(|| {
        CosignatureError::BadLine(format!("no cosignature by witness {}", witness.name()))
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::ledger::{
        checkpoint::sign_checkpoint, cosignature::CosignatureSigner, note::NoteSigner,
        tree::MemoryTree,
    };

    const ORIGIN: &str = "registry.test/births";

    fn log_signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn log() -> TrustedLog {
        TrustedLog {
            origin: ORIGIN.into(),
            keys: vec![NoteVerifier::from_vkey(&log_signer().verifier_key()).unwrap()],
        }
    }

    fn tree(n: u8) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(crate::ledger::merkle::leaf_hash(&[i]));
        }
        t
    }

    fn note(size: u64, root: Hash) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root_hash: root,
            extensions: vec![],
        };
        sign_checkpoint(&log_signer(), &cp).unwrap()
    }

    /// The example body of the spec parses and re-encodes byte for byte.
    #[test]
    fn spec_example_body() {
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20_852_014);
        assert_eq!(req.proof.len(), 4);
        assert_eq!(req.to_body(), body);
        assert_eq!(
            checkpoint_origin(&req.checkpoint).unwrap(),
            "example.com/behind-the-sofa"
        );
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in [
            "",
            "old 01\n\nx",
            "old -1\n\n",
            "new 1\n\n",
            "old 1\nnot base64\n\n",
            "old 1\nAAAA\n\n",
            "old 1\n",
        ] {
            assert_eq!(
                AddCheckpoint::parse(body.as_bytes()).unwrap_err().status(),
                400
            );
        }
        let many = format!(
            "old 1\n{}\n",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64)
        );
        assert!(
            matches!(AddCheckpoint::parse(many.as_bytes()), Err(Refusal::BadRequest(m)) if m.contains("63"))
        );
    }

    #[test]
    fn the_checks_in_the_spec_order() {
        let t3 = tree(3);
        let t7 = tree(7);
        let first = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(3, t3.root()),
        };
        let cp = check_add_checkpoint(&log(), None, &first).unwrap();
        assert_eq!(cp.size, 3);
        // Stale old size: 409 with the latest size.
        assert_eq!(
            check_add_checkpoint(&log(), Some((3, t3.root())), &first),
            Err(Refusal::Conflict { latest: 3 })
        );
        let proof = crate::ledger::tree::consistency_proof(&t7, 3, 7).unwrap();
        let next = AddCheckpoint {
            old_size: 3,
            proof: proof.clone(),
            checkpoint: note(7, t7.root()),
        };
        assert_eq!(
            check_add_checkpoint(&log(), Some((3, t3.root())), &next)
                .unwrap()
                .size,
            7
        );
        // A fork: the same proof shape over another tree.
        let fork = AddCheckpoint {
            checkpoint: note(7, [7; 32]),
            ..next.clone()
        };
        assert_eq!(
            check_add_checkpoint(&log(), Some((3, t3.root())), &fork)
                .unwrap_err()
                .status(),
            422
        );
        // Same size, other root: 422.
        let same = AddCheckpoint {
            old_size: 7,
            proof: vec![],
            checkpoint: note(7, [7; 32]),
        };
        assert_eq!(
            check_add_checkpoint(&log(), Some((7, t7.root())), &same)
                .unwrap_err()
                .status(),
            422
        );
        // Old size larger than the checkpoint: 400.
        let backwards = AddCheckpoint {
            old_size: 9,
            proof: vec![],
            checkpoint: note(7, t7.root()),
        };
        assert_eq!(
            check_add_checkpoint(&log(), Some((9, [0; 32])), &backwards)
                .unwrap_err()
                .status(),
            400
        );
        // Non-empty proof from 0: 422. Size 0 with a non-empty root: 422.
        let proof_from_zero = AddCheckpoint {
            old_size: 0,
            proof: proof.clone(),
            checkpoint: note(7, t7.root()),
        };
        assert_eq!(
            check_add_checkpoint(&log(), None, &proof_from_zero)
                .unwrap_err()
                .status(),
            422
        );
        let zero = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(0, [1; 32]),
        };
        assert_eq!(
            check_add_checkpoint(&log(), None, &zero)
                .unwrap_err()
                .status(),
            422
        );
        // Another origin: 404. Signed by another key: 403.
        let other = TrustedLog {
            origin: "other.test/log".into(),
            ..log()
        };
        assert_eq!(
            check_add_checkpoint(&other, None, &first),
            Err(Refusal::UnknownOrigin)
        );
        let stranger = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[2; 32])).unwrap();
        let cp3 = Checkpoint::parse(&format!("{ORIGIN}\n3\n{}\n", B64.encode(t3.root()))).unwrap();
        let foreign = AddCheckpoint {
            checkpoint: sign_checkpoint(&stranger, &cp3).unwrap(),
            ..first.clone()
        };
        assert_eq!(
            check_add_checkpoint(&log(), None, &foreign)
                .unwrap_err()
                .status(),
            403
        );
        // A corrupted log signature: 403.
        let mut bad = first.checkpoint.clone();
        bad.replace_range(bad.len() - 6..bad.len() - 2, "AAAA");
        let tampered = AddCheckpoint {
            checkpoint: bad,
            ..first
        };
        assert_eq!(
            check_add_checkpoint(&log(), None, &tampered)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn responses_and_conflicts() {
        assert_eq!(parse_conflict_body(b"42\n"), Some(42));
        assert_eq!(parse_conflict_body(b"042\n"), None);
        assert_eq!(parse_conflict_body(b"42"), None);
        let w = CosignatureSigner::new("w.test/1", SigningKey::from_bytes(&[3; 32])).unwrap();
        let other = CosignatureSigner::new("w.test/2", SigningKey::from_bytes(&[4; 32])).unwrap();
        let text = "o\n1\nAAAA\n";
        let body = format!(
            "{}{}",
            other.cosign(text, 5).unwrap().to_line(),
            w.cosign(text, 6).unwrap().to_line()
        );
        let c = verify_response(&w.verifier(), text, body.as_bytes()).unwrap();
        assert_eq!(c.timestamp, 6);
        assert!(verify_response(&w.verifier(), "o\n2\nAAAA\n", body.as_bytes()).is_err());
        assert!(
            verify_response(
                &w.verifier(),
                text,
                other.cosign(text, 5).unwrap().to_line().as_bytes()
            )
            .is_err()
        );
        assert!(verify_response(&w.verifier(), text, b"garbage\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Ok(req) = AddCheckpoint::parse(&body) {
                let _ = check_add_checkpoint(&log(), Some((1, [0; 32])), &req);
            }
        }
    }
}
