//! A C2SP tlog-witness (`birthright witness …`): an independent party (a pilot agency, say)
//! that cosigns a log's checkpoints only when each is consistent with the last one it
//! cosigned, so that a registry insider cannot show devices a rewritten history without the
//! witnesses noticing.
//!
//! A witness's data directory holds its key (`witness.key`, mode 0600) and `witness.db`
//! (SQLite, `synchronous=FULL`): the logs it follows and, per log, the size and root it last
//! cosigned. An `add-checkpoint` runs its checks and records the new size and root in one
//! IMMEDIATE transaction, committed before the cosignature is returned: requests are serialised,
//! and a witness killed at any point never cosigns two roots for one size.
//!
//! The checks themselves are the core's sans-IO [`birthright_core::ledger::witness`]; this
//! module adds the key, the storage and the clock. [`http`] serves it.

pub mod http;
mod store;

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
};

use birthright_core::{
    keys::Ed25519Key,
    ledger::{
        cosignature::{CosignatureError, CosignatureSigner, add_signature_lines},
        note::NoteVerifier,
        witness::{AddCheckpoint, Refusal, TrustedLog, check_add_checkpoint, checkpoint_origin},
    },
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use store::WitnessStoreError;

/// The witness's key file in its data directory.
pub const KEY_FILE: &str = "witness.key";
/// The witness's database in its data directory.
pub const DB_FILE: &str = "witness.db";
/// First line of the key file.
const KEY_FILE_FORMAT: &str = "birthright-witness-key/v1";
/// Most logs one witness follows.
pub const MAX_LOGS: usize = 1000;

/// A witness operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The checkpoint is refused; the refusal carries its HTTP status.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The directory already holds a witness.
    #[error("{0} already holds a witness")]
    AlreadyExists(PathBuf),
    /// The directory holds no witness.
    #[error("{0} holds no witness (run 'birthright witness init' first)")]
    Missing(PathBuf),
    /// The key file is damaged.
    #[error("the witness key file is damaged: {0}")]
    BadKeyFile(String),
    /// A name, log key or origin that is not valid.
    #[error(transparent)]
    Key(#[from] CosignatureError),
    /// A log verifier key that is not valid.
    #[error("the log's verifier key is not valid: {0}")]
    BadLogKey(String),
    /// The log key's name is not the origin.
    #[error("the log key is named '{key}' but the origin is '{origin}'")]
    OriginMismatch {
        /// The key's name.
        key: String,
        /// The origin given.
        origin: String,
    },
    /// Too many logs.
    #[error("a witness follows at most {MAX_LOGS} logs")]
    TooManyLogs,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] WitnessStoreError),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> WitnessError + '_ {
    move |e| WitnessError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A log a witness follows, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedLog {
    /// The origin.
    pub origin: String,
    /// The log's verifier keys.
    pub vkeys: Vec<String>,
    /// The size last cosigned, if any.
    pub cosigned_size: Option<u64>,
}

/// A witness: its key and its state.
pub struct Witness {
    signer: CosignatureSigner,
    store: Mutex<store::WitnessStore>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Witness({})", self.signer.name())
    }
}

impl Witness {
    /// Creates a witness named `name` (a note key name, e.g. `witness.unicef.example/w1`) in
    /// `dir`: a fresh Ed25519 key (file mode 0600) and an empty database.
    pub fn init(dir: &Path, name: &str) -> Result<Witness, WitnessError> {
        let key = Ed25519Key::generate().map_err(|e| WitnessError::Rng(e.to_string()))?;
        let signer = CosignatureSigner::new(name, key.signing_key().clone())?;
        fs::create_dir_all(dir).map_err(io(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() || dir.join(DB_FILE).exists() {
            return Err(WitnessError::AlreadyExists(dir.into()));
        }
        let text = Zeroizing::new(format!(
            "{KEY_FILE_FORMAT}\n{name}\n{}\n",
            hex::encode(key.secret_bytes().as_ref())
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&key_path).map_err(io(&key_path))?;
        f.write_all(text.as_bytes()).map_err(io(&key_path))?;
        f.sync_all().map_err(io(&key_path))?;
        let store = store::WitnessStore::open(&dir.join(DB_FILE))?;
        Ok(Witness {
            signer,
            store: Mutex::new(store),
        })
    }

    /// Opens the witness in `dir`.
    pub fn open(dir: &Path) -> Result<Witness, WitnessError> {
        let key_path = dir.join(KEY_FILE);
        if !key_path.exists() {
            return Err(WitnessError::Missing(dir.into()));
        }
        let meta = fs::metadata(&key_path).map_err(io(&key_path))?;
        if meta.len() > 4096 {
            return Err(WitnessError::BadKeyFile("too large".into()));
        }
        let text = Zeroizing::new(fs::read_to_string(&key_path).map_err(io(&key_path))?);
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_FORMAT) {
            return Err(WitnessError::BadKeyFile(format!(
                "the first line must be {KEY_FILE_FORMAT}"
            )));
        }
        let name = lines
            .next()
            .ok_or_else(|| WitnessError::BadKeyFile("missing the name".into()))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(lines.next().unwrap_or_default(), seed.as_mut())
            .map_err(|_| WitnessError::BadKeyFile("the key must be 64 hex digits".into()))?;
        let key = Ed25519Key::from_secret(&seed);
        let signer = CosignatureSigner::new(name, key.signing_key().clone())?;
        let store = store::WitnessStore::open(&dir.join(DB_FILE))?;
        Ok(Witness {
            signer,
            store: Mutex::new(store),
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// The witness's verifier key (cosignature/v1, type 0x04), as logs and devices trust it.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, store::WitnessStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Trusts the log `origin`, whose checkpoints `vkey` (a signed-note Ed25519 verifier key
    /// named after the origin) signs. Adding a second key to an origin trusts both.
    pub fn add_log(&self, origin: &str, vkey: &str) -> Result<(), WitnessError> {
        let verifier = NoteVerifier::from_vkey(vkey.trim())
            .map_err(|e| WitnessError::BadLogKey(e.to_string()))?;
        if verifier.name() != origin {
            return Err(WitnessError::OriginMismatch {
                key: verifier.name().into(),
                origin: origin.into(),
            });
        }
        let mut store = self.lock();
        if store.log_count()? >= MAX_LOGS && store.log_keys(origin)?.is_empty() {
            return Err(WitnessError::TooManyLogs);
        }
        store.add_log(origin, vkey.trim())?;
        Ok(())
    }

    /// The logs this witness follows.
    pub fn logs(&self) -> Result<Vec<FollowedLog>, WitnessError> {
        Ok(self.lock().logs()?)
    }

    /// Handles an `add-checkpoint` body at `now` (POSIX seconds): the checks of the spec, then
    /// (atomically with them) the new size and root recorded durably, then the answer: this
    /// witness's cosignature line.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, WitnessError> {
        let request = AddCheckpoint::parse(body)?;
        let origin = checkpoint_origin(&request.checkpoint)?;
        let mut store = self.lock();
        let signer = &self.signer;
        store.update(&origin, |keys, latest| {
            if keys.is_empty() {
                return Err(WitnessError::Refused(Refusal::UnknownOrigin));
            }
            let log = TrustedLog {
                origin: origin.clone(),
                keys: keys
                    .iter()
                    .filter_map(|k| NoteVerifier::from_vkey(k).ok())
                    .collect(),
            };
            let checkpoint = check_add_checkpoint(&log, latest, &request)?;
            if i64::try_from(checkpoint.size).is_err() {
                return Err(WitnessError::Refused(Refusal::BadRequest(
                    "tree size out of range".into(),
                )));
            }
            let cosignature = signer.cosign(&checkpoint.to_text(), now.max(1))?;
            let line = cosignature.to_line();
            let note = add_signature_lines(&request.checkpoint, &line)?;
            Ok((checkpoint.size, checkpoint.root_hash, note, line))
        })
    }

    /// The latest checkpoint cosigned for the log whose origin hashes (SHA-256, lowercase
    /// hex) to `origin_hash`, with the log's and this witness's signatures.
    pub fn latest_checkpoint(&self, origin_hash: &str) -> Result<Option<String>, WitnessError> {
        let store = self.lock();
        for log in store.logs()? {
            if hex::encode(Sha256::digest(log.origin.as_bytes())) == origin_hash {
                return Ok(store.latest_note(&log.origin)?);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use birthright_core::ledger::{
        checkpoint::{Checkpoint, sign_checkpoint},
        cosignature::CosignatureVerifier,
        merkle::leaf_hash,
        note::NoteSigner,
        tree::{MemoryTree, consistency_proof},
        witness::verify_response,
    };
    use ed25519_dalek::SigningKey;

    use super::*;

    const ORIGIN: &str = "registry.test/births";

    fn log() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn request(t: &MemoryTree, old: u64) -> (String, String) {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: t.size(),
            root_hash: t.root(),
            extensions: vec![],
        };
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(t, old, t.size()).unwrap()
        };
        let req = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: sign_checkpoint(&log(), &cp).unwrap(),
        };
        (req.to_body(), cp.to_text())
    }

    #[test]
    fn cosigns_consistent_checkpoints_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::init(dir.path(), "witness.test/w1").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let vkey = w.verifier_key();
        let verifier = CosignatureVerifier::from_vkey(&vkey).unwrap();
        let mut t = MemoryTree::new();
        for i in 0..5u8 {
            t.push(leaf_hash(&[i]));
        }
        let (body, text) = request(&t, 0);
        assert!(matches!(
            w.add_checkpoint(body.as_bytes(), 10),
            Err(WitnessError::Refused(Refusal::UnknownOrigin))
        ));
        w.add_log(ORIGIN, &log().verifier_key()).unwrap();
        assert!(matches!(
            w.add_log("other.test/x", &log().verifier_key()),
            Err(WitnessError::OriginMismatch { .. })
        ));
        let line = w.add_checkpoint(body.as_bytes(), 10).unwrap();
        assert_eq!(
            verify_response(&verifier, &text, line.as_bytes())
                .unwrap()
                .timestamp,
            10
        );
        // Stale: 409 with size 5. Resubmitting the same checkpoint from 5 is fine.
        assert!(matches!(
            w.add_checkpoint(body.as_bytes(), 11),
            Err(WitnessError::Refused(Refusal::Conflict { latest: 5 }))
        ));
        let (same, _) = request(&t, 5);
        w.add_checkpoint(same.as_bytes(), 11).unwrap();
        drop(w);
        let w = Witness::open(dir.path()).unwrap();
        assert_eq!(w.verifier_key(), vkey);
        assert_eq!(w.logs().unwrap()[0].cosigned_size, Some(5));
        for i in 5..9u8 {
            t.push(leaf_hash(&[i]));
        }
        let (next, text9) = request(&t, 5);
        let line = w.add_checkpoint(next.as_bytes(), 12).unwrap();
        verify_response(&verifier, &text9, line.as_bytes()).unwrap();
        let hash = hex::encode(Sha256::digest(ORIGIN.as_bytes()));
        let note = w.latest_checkpoint(&hash).unwrap().unwrap();
        assert!(note.starts_with(&text9) && note.ends_with(&line));
        assert_eq!(w.latest_checkpoint("00").unwrap(), None);
        // A fork at size 9 is refused and changes nothing.
        let mut fork = MemoryTree::new();
        for i in 0..9u8 {
            fork.push(leaf_hash(&[i ^ 0x80]));
        }
        let (forked, _) = request(&fork, 9);
        assert_eq!(
            match w.add_checkpoint(forked.as_bytes(), 13) {
                Err(WitnessError::Refused(r)) => r.status(),
                other => panic!("{other:?}"),
            },
            422
        );
        assert_eq!(w.logs().unwrap()[0].cosigned_size, Some(9));
        assert!(matches!(
            Witness::init(dir.path(), "witness.test/w1"),
            Err(WitnessError::AlreadyExists(_))
        ));
    }
}
