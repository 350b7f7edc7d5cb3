//! The registry's secrets and its public trust bundle, kept in the data directory.
//!
//! `registry.keys` (mode 0600) holds, as JSON with hex values: the Ed25519 signing key
//! (checkpoints, certificates, revocation lists, credentials), the X25519 HPKE key (batches are
//! sealed to it) and the data key that encrypts records at rest. `trust.json` is the public
//! trust bundle devices and verifiers pin. The directory is made mode 0700 when the registry
//! is created.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use birthright_core::{
    keys::{Ed25519Key, KeyId},
    ledger::note::NoteSigner,
    store::StorageKey,
    trust::{HPKE_SUITE, TRUST_BUNDLE_FORMAT, TrustBundle},
    wire,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// File name of the secret keys.
pub const KEYS_FILE: &str = "registry.keys";
/// File name of the trust bundle.
pub const TRUST_FILE: &str = "trust.json";
/// File name of the database.
pub const DB_FILE: &str = "registry.db";

/// A problem with the registry's key material.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The data directory already holds a registry.
    #[error("{0} already holds a registry: refusing to overwrite its keys")]
    AlreadyExists(PathBuf),
    /// No registry in the directory.
    #[error("no registry in {0}: run `birthright registry init` first")]
    Missing(PathBuf),
    /// The origin is not usable as a checkpoint origin and note key name.
    #[error("origin must be non-empty, without spaces or '+', e.g. registry.example.org/births")]
    BadOrigin,
    /// The key file is malformed.
    #[error("key file {0} is malformed")]
    Malformed(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No randomness.
    #[error("random number generator failed: {0}")]
    Rng(String),
}

#[derive(Serialize, Deserialize, Zeroize)]
#[zeroize(drop)]
struct KeyFile {
    origin: String,
    signing_key: String,
    hpke_secret_key: String,
    data_key: String,
}

/// The registry's keys, loaded.
pub struct RegistryKeys {
    /// Origin of the log (checkpoint origin line and note key name).
    pub origin: String,
    /// The Ed25519 signing key.
    pub signing: Ed25519Key,
    /// The X25519 HPKE secret key.
    pub hpke_secret: Zeroizing<[u8; 32]>,
    /// The X25519 HPKE public key.
    pub hpke_public: [u8; 32],
    /// The key that encrypts records and salts at rest.
    pub data_key: StorageKey,
    note_signer: NoteSigner,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex32(text: &str, path: &Path) -> Result<Zeroizing<[u8; 32]>, KeysError> {
    let bytes = Zeroizing::new(hex::decode(text).map_err(|_| KeysError::Malformed(path.into()))?);
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(KeysError::Malformed(path.into()));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

impl RegistryKeys {
    /// Creates fresh keys for `origin` in `dir` and writes the key file (0600) and trust bundle.
    pub fn create(dir: &Path, origin: &str) -> Result<RegistryKeys, KeysError> {
        if !birthright_core::ledger::note::valid_key_name(origin) {
            return Err(KeysError::BadOrigin);
        }
        fs::create_dir_all(dir).map_err(io(dir))?;
        // The directory holds the keys and the database: the registry's user only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        let key_path = dir.join(KEYS_FILE);
        if key_path.exists()
            || dir.join(DB_FILE).exists()
            || dir.join(crate::head::HEAD_FILE).exists()
        {
            return Err(KeysError::AlreadyExists(dir.into()));
        }
        let signing = Ed25519Key::generate().map_err(|e| KeysError::Rng(e.to_string()))?;
        let (hpke_secret, hpke_public) =
            wire::generate_hpke_keypair().map_err(|e| KeysError::Rng(e.to_string()))?;
        let data_key = StorageKey::generate().map_err(|e| KeysError::Rng(e.to_string()))?;
        let note_signer = NoteSigner::new(origin, signing.signing_key().clone())
            .map_err(|_| KeysError::BadOrigin)?;
        let file = KeyFile {
            origin: origin.into(),
            signing_key: hex::encode(signing.secret_bytes().as_ref()),
            hpke_secret_key: hex::encode(hpke_secret.as_ref()),
            data_key: data_key.to_hex().to_string(),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&file).unwrap_or_default());
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&key_path).map_err(io(&key_path))?;
        f.write_all(&json).map_err(io(&key_path))?;
        f.sync_all().map_err(io(&key_path))?;
        let keys = RegistryKeys {
            origin: origin.into(),
            signing,
            hpke_secret,
            hpke_public,
            data_key,
            note_signer,
        };
        let trust_path = dir.join(TRUST_FILE);
        fs::write(&trust_path, keys.trust_bundle().to_json()).map_err(io(&trust_path))?;
        Ok(keys)
    }

    /// Loads the keys of the registry in `dir`.
    pub fn load(dir: &Path) -> Result<RegistryKeys, KeysError> {
        let key_path = dir.join(KEYS_FILE);
        if !key_path.exists() {
            return Err(KeysError::Missing(dir.into()));
        }
        let json = Zeroizing::new(fs::read(&key_path).map_err(io(&key_path))?);
        let file: KeyFile =
            serde_json::from_slice(&json).map_err(|_| KeysError::Malformed(key_path.clone()))?;
        let signing = Ed25519Key::from_secret(&*hex32(&file.signing_key, &key_path)?);
        let hpke_secret = hex32(&file.hpke_secret_key, &key_path)?;
        let hpke_public = wire::hpke_public_key(&hpke_secret)
            .map_err(|_| KeysError::Malformed(key_path.clone()))?;
        let data_key = StorageKey::from_hex(&file.data_key)
            .map_err(|_| KeysError::Malformed(key_path.clone()))?;
        let note_signer = NoteSigner::new(&file.origin, signing.signing_key().clone())
            .map_err(|_| KeysError::Malformed(key_path.clone()))?;
        Ok(RegistryKeys {
            origin: file.origin.clone(),
            signing,
            hpke_secret,
            hpke_public,
            data_key,
            note_signer,
        })
    }

    /// The checkpoint signer (note key name = origin).
    pub fn note_signer(&self) -> &NoteSigner {
        &self.note_signer
    }

    /// The public trust bundle.
    pub fn trust_bundle(&self) -> TrustBundle {
        TrustBundle {
            format: TRUST_BUNDLE_FORMAT.into(),
            origin: self.origin.clone(),
            checkpoint_vkey: self.note_signer().verifier_key(),
            registry_public_key: B64.encode(self.signing.public_bytes()),
            registry_key_id: self.signing.key_id().to_hex(),
            hpke_public_key: B64.encode(self.hpke_public),
            hpke_key_id: KeyId::of(&self.hpke_public).to_hex(),
            hpke_suite: HPKE_SUITE.into(),
            witnesses: Vec::new(),
            witness_quorum: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RegistryKeys::create(dir.path(), "registry.test/births").unwrap();
        let loaded = RegistryKeys::load(dir.path()).unwrap();
        assert_eq!(loaded.trust_bundle(), keys.trust_bundle());
        let trust =
            TrustBundle::from_json(&fs::read(dir.path().join(TRUST_FILE)).unwrap()).unwrap();
        assert_eq!(trust, keys.trust_bundle());
        assert!(matches!(
            RegistryKeys::create(dir.path(), "registry.test/births"),
            Err(KeysError::AlreadyExists(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEYS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            RegistryKeys::create(&dir.path().join("x"), "has space"),
            Err(KeysError::BadOrigin)
        ));
    }
}
