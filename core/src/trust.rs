//! What devices and verifiers pin about a registry (the trust bundle), and the registry-signed
//! objects they check against it: device certificates and the revocation list.
//!
//! All three kinds of signed object are COSE_Sign1 messages under the registry's Ed25519 key,
//! told apart by the protected `content type` header (label 3), so a signature on one kind can
//! never be passed off as another.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::{
    codec::{self, CodecError, Value},
    cose::{self, CoseError, CoseSign1, HEADER_CONTENT_TYPE, HeaderProfile},
    keys::{Ed25519Key, KeyId, verifying_key},
    ledger::cosignature::WitnessPolicy,
};

/// Format tag of a trust bundle without witnesses (quorum 0: the registry's signature alone).
pub const TRUST_BUNDLE_FORMAT: &str = "birthright-trust/v1";
/// Format tag of a trust bundle that lists witnesses and a quorum (`docs/PROTOCOL.md` §3).
pub const TRUST_BUNDLE_FORMAT_V2: &str = "birthright-trust/v2";
/// The HPKE suite batches are sealed with (RFC 9180 ids 0x0020, 0x0001, 0x0003).
pub const HPKE_SUITE: &str = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305";
/// COSE content type of a device certificate: a CoAP Content-Format number from the
/// experimental range (RFC 7252 §12.3), three bytes instead of a media-type string, because a
/// provisional credential carries the certificate inside a QR code.
pub const CONTENT_TYPE_DEVICE_CERTIFICATE: u16 = 65000;
/// COSE content type of a revocation list (experimental CoAP Content-Format).
pub const CONTENT_TYPE_REVOCATIONS: u16 = 65001;
/// Largest certificate or revocation list accepted.
pub const MAX_SIGNED_OBJECT_BYTES: usize = 1024 * 1024;

/// A registry object that is malformed, not signed by the pinned registry, or not valid now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The trust bundle is malformed.
    #[error("trust bundle: {0}")]
    BadBundle(String),
    /// The COSE envelope is malformed or its signature does not verify.
    #[error("{what}: {source}")]
    Cose {
        /// Which object.
        what: &'static str,
        /// What was wrong.
        source: CoseError,
    },
    /// The payload is malformed.
    #[error("{what}: {message}")]
    Malformed {
        /// Which object.
        what: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The object was signed by a key other than the pinned registry key.
    #[error("{0} was not signed by this registry")]
    WrongIssuer(&'static str),
    /// The object belongs to another registry origin.
    #[error("{0} is for another registry")]
    WrongOrigin(&'static str),
    /// The certificate is not valid at the time asked about.
    #[error("the device certificate is not valid at that time (valid {not_before} to {not_after})")]
    NotValidAt {
        /// Start of validity, Unix seconds.
        not_before: i64,
        /// End of validity, Unix seconds.
        not_after: i64,
    },
}

/// The public facts a device or verifier pins about a registry. Written by `registry init`,
/// served at `GET /v1/trust`, JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBundle {
    /// Always [`TRUST_BUNDLE_FORMAT`].
    pub format: String,
    /// The registry's origin: the checkpoint origin line and signed-note key name.
    pub origin: String,
    /// The checkpoint verifier key in C2SP signed-note `vkey` form.
    pub checkpoint_vkey: String,
    /// The registry's Ed25519 public key (standard base64), which signs checkpoints,
    /// certificates, revocation lists and credentials.
    pub registry_public_key: String,
    /// Key id (hex) of the registry's Ed25519 key.
    pub registry_key_id: String,
    /// The registry's X25519 public key for HPKE (standard base64).
    pub hpke_public_key: String,
    /// Key id (hex) of the HPKE key: first 8 bytes of SHA-256 of the public key.
    pub hpke_key_id: String,
    /// The HPKE suite, [`HPKE_SUITE`].
    pub hpke_suite: String,
    /// v2: the witnesses' verifier keys (C2SP cosignature/v1, type 0x04). Absent in v1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// v2: how many of [`Self::witnesses`] must cosign a checkpoint before a device
    /// acknowledges records under it. Absent (0) in v1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub witness_quorum: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn b64_32(what: &str, text: &str) -> Result<[u8; 32], TrustError> {
    B64.decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| TrustError::BadBundle(format!("{what} must be 32 bytes in base64")))
}

impl TrustBundle {
    /// Parses and checks a bundle from JSON (at most 16 KiB).
    pub fn from_json(json: &[u8]) -> Result<TrustBundle, TrustError> {
        if json.len() > 16 * 1024 {
            return Err(TrustError::BadBundle("larger than 16 KiB".into()));
        }
        let bundle: TrustBundle =
            serde_json::from_slice(json).map_err(|e| TrustError::BadBundle(e.to_string()))?;
        match bundle.format.as_str() {
            TRUST_BUNDLE_FORMAT if bundle.witnesses.is_empty() && bundle.witness_quorum == 0 => {}
            TRUST_BUNDLE_FORMAT => {
                return Err(TrustError::BadBundle(format!(
                    "a {TRUST_BUNDLE_FORMAT} bundle lists no witnesses: witnesses need \
                     {TRUST_BUNDLE_FORMAT_V2}"
                )));
            }
            TRUST_BUNDLE_FORMAT_V2 => {
                bundle.witness_policy()?;
            }
            other => {
                return Err(TrustError::BadBundle(format!(
                    "unknown format '{other}', expected {TRUST_BUNDLE_FORMAT} or \
                     {TRUST_BUNDLE_FORMAT_V2}"
                )));
            }
        }
        if bundle.hpke_suite != HPKE_SUITE {
            return Err(TrustError::BadBundle("unsupported HPKE suite".into()));
        }
        let key = bundle.registry_verifying_key()?;
        if KeyId::of(&key.to_bytes()).to_hex() != bundle.registry_key_id {
            return Err(TrustError::BadBundle(
                "registry_key_id does not match the key".into(),
            ));
        }
        let hpke = bundle.hpke_public_key()?;
        if KeyId::of(&hpke).to_hex() != bundle.hpke_key_id {
            return Err(TrustError::BadBundle(
                "hpke_key_id does not match the key".into(),
            ));
        }
        // The checkpoint key must name this origin and be the registry key itself: a bundle
        // that pairs one registry's name with another's checkpoint key is refused.
        let checkpoint_key = crate::ledger::note::NoteVerifier::from_vkey(&bundle.checkpoint_vkey)
            .map_err(|e| TrustError::BadBundle(format!("checkpoint_vkey: {e}")))?;
        if checkpoint_key.name() != bundle.origin {
            return Err(TrustError::BadBundle(
                "the checkpoint key does not name the registry's origin".into(),
            ));
        }
        if checkpoint_key.public_key() != key.to_bytes() {
            return Err(TrustError::BadBundle(
                "the checkpoint key is not the registry key".into(),
            ));
        }
        // A device stores the bundle as `to_json()` (pretty, longer than compact input) and
        // re-reads it with this function at every open: the limit holds for that form too, or
        // a bundle accepted once would make the device call its own store tampered ever after.
        if bundle.to_json().len() > 16 * 1024 {
            return Err(TrustError::BadBundle(
                "larger than 16 KiB once stored".into(),
            ));
        }
        Ok(bundle)
    }

    /// The witness policy: the bundle's witnesses and quorum (none and 0 for v1).
    pub fn witness_policy(&self) -> Result<WitnessPolicy, TrustError> {
        WitnessPolicy::from_vkeys(&self.witnesses, self.witness_quorum as usize)
            .map_err(|e| TrustError::BadBundle(format!("witnesses: {e}")))
    }

    /// This bundle with `witnesses` and `quorum`: v2 when there are any, else v1.
    pub fn with_witnesses(mut self, witnesses: Vec<String>, quorum: u32) -> TrustBundle {
        self.format = if witnesses.is_empty() && quorum == 0 {
            TRUST_BUNDLE_FORMAT
        } else {
            TRUST_BUNDLE_FORMAT_V2
        }
        .into();
        self.witnesses = witnesses;
        self.witness_quorum = quorum;
        self
    }

    /// The bundle as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The registry's Ed25519 public key.
    pub fn registry_verifying_key(&self) -> Result<VerifyingKey, TrustError> {
        let bytes = b64_32("registry_public_key", &self.registry_public_key)?;
        verifying_key(&bytes)
            .ok_or_else(|| TrustError::BadBundle("registry_public_key is not a valid key".into()))
    }

    /// The registry's Ed25519 key id.
    pub fn registry_key_id(&self) -> Result<KeyId, TrustError> {
        Ok(KeyId::of(&self.registry_verifying_key()?.to_bytes()))
    }

    /// The registry's X25519 public key.
    pub fn hpke_public_key(&self) -> Result<[u8; 32], TrustError> {
        b64_32("hpke_public_key", &self.hpke_public_key)
    }

    /// The bundle's fingerprint, short enough to type or print next to an enrolment token:
    /// the first 16 bytes of `SHA-256("birthright/trust-fingerprint/v1\0" ||
    /// u16be(len(origin)) || origin || registry_public_key || hpke_public_key)` (raw keys), as
    /// 32 lower-case hex digits in groups of four joined by `-`. Everything else in a valid
    /// bundle is derived from these three, so the fingerprint pins the whole bundle. A v2
    /// bundle appends `"\0witnesses/v2\0" || u32be(quorum) || u32be(n)` and each witness vkey
    /// as `u32be(len) || vkey`, so its witnesses and quorum are pinned as well.
    pub fn fingerprint(&self) -> Result<String, TrustError> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"birthright/trust-fingerprint/v1\0");
        h.update((self.origin.len().min(u16::MAX as usize) as u16).to_be_bytes());
        h.update(self.origin.as_bytes());
        h.update(self.registry_verifying_key()?.to_bytes());
        h.update(self.hpke_public_key()?);
        if self.format == TRUST_BUNDLE_FORMAT_V2 {
            // The witnesses and the quorum are pinned too: a bundle stripped of its witnesses
            // has another fingerprint.
            h.update(b"\0witnesses/v2\0");
            h.update(self.witness_quorum.to_be_bytes());
            h.update((self.witnesses.len() as u32).to_be_bytes());
            for vkey in &self.witnesses {
                h.update((vkey.len() as u32).to_be_bytes());
                h.update(vkey.as_bytes());
            }
        }
        let digest = h.finalize();
        let hex = hex::encode(&digest[..16]);
        Ok(hex
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-"))
    }
}

/// What a device checks a registry's trust bundle against before it uses an enrolment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustPin {
    /// Exactly this bundle (from `--trust FILE`, or shipped with the app).
    Bundle(TrustBundle),
    /// A bundle with this [`TrustBundle::fingerprint`] (printed by `registry enrol-token`).
    Fingerprint(String),
    /// Whatever the registry presents: only for a registry on this machine (loopback), where
    /// no network attacker can stand between the device and the registry.
    LoopbackFirstUse,
}

impl TrustPin {
    /// A fingerprint as typed: case, spaces, `-` and `:` are ignored; 32 hex digits remain.
    pub fn fingerprint(text: &str) -> Result<TrustPin, TrustError> {
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | ':'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if digits.len() != 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(TrustError::BadBundle(
                "a trust fingerprint is 32 hexadecimal digits (as printed by registry enrol-token)"
                    .into(),
            ));
        }
        Ok(TrustPin::Fingerprint(digits))
    }

    /// Fails unless `bundle` is the pinned one.
    pub fn check(&self, bundle: &TrustBundle) -> Result<(), TrustError> {
        let matches = match self {
            TrustPin::Bundle(pinned) => pinned == bundle,
            TrustPin::Fingerprint(digits) => bundle.fingerprint()?.replace('-', "") == *digits,
            TrustPin::LoopbackFirstUse => true,
        };
        if matches {
            Ok(())
        } else {
            Err(TrustError::BadBundle(
                "the registry's trust bundle is not the pinned one: this may not be your registry"
                    .into(),
            ))
        }
    }
}

/// Signs a registry object of `content_type` with the registry key.
fn sign_object<T: Serialize>(
    registry: &Ed25519Key,
    content_type: u16,
    claims: &T,
) -> Result<Vec<u8>, CodecError> {
    let payload = codec::to_vec(claims)?;
    let mut protected = BTreeMap::new();
    protected.insert(HEADER_CONTENT_TYPE, Value::Integer(content_type.into()));
    Ok(cose::sign1(
        &registry.key_id().0,
        protected,
        BTreeMap::new(),
        &payload,
        |m| registry.sign(m),
    ))
}

/// Checks a registry object's envelope and signature against `registry_key` and decodes it.
fn verify_object<T: serde::de::DeserializeOwned + Serialize>(
    bytes: &[u8],
    registry_key: &VerifyingKey,
    content_type: u16,
    what: &'static str,
) -> Result<T, TrustError> {
    let cose = CoseSign1::parse(bytes, MAX_SIGNED_OBJECT_BYTES)
        .map_err(|source| TrustError::Cose { what, source })?;
    if cose.protected.get(&HEADER_CONTENT_TYPE) != Some(&Value::Integer(content_type.into())) {
        return Err(TrustError::Malformed {
            what,
            message: format!("content type is not {content_type}"),
        });
    }
    // Exactly `{1: -8, 3: content type, 4: kid}` and an empty unprotected header (§6).
    let profile = HeaderProfile {
        content_type: Some(content_type),
        unprotected: &[],
    };
    cose.check_profile(&profile)
        .map_err(|source| TrustError::Cose { what, source })?;
    if cose.kid() != Some(&KeyId::of(&registry_key.to_bytes()).0[..]) {
        return Err(TrustError::WrongIssuer(what));
    }
    cose.verify(registry_key)
        .map_err(|_| TrustError::WrongIssuer(what))?;
    codec::from_slice(&cose.payload, MAX_SIGNED_OBJECT_BYTES).map_err(|e| TrustError::Malformed {
        what,
        message: e.to_string(),
    })
}

/// What a device certificate says: this key belongs to a device enrolled by this registry, for
/// this worker and region, in this time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// Certificate format version (1).
    pub version: u8,
    /// Origin of the issuing registry.
    pub origin: String,
    /// The device's Ed25519 public key.
    pub device_public_key: ByteBuf,
    /// The field worker the device was enrolled for.
    pub worker_id: String,
    /// The region (ISO 3166-2 or registry-defined code) the device works in.
    pub region: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

impl DeviceCertificate {
    /// The certified device's key id.
    pub fn device_kid(&self) -> KeyId {
        <[u8; 32]>::try_from(self.device_public_key.as_slice())
            .map(|k| KeyId::of(&k))
            .unwrap_or(KeyId([0; 8]))
    }

    /// The certified device's public key.
    pub fn device_key(&self) -> Result<VerifyingKey, TrustError> {
        verifying_key(&self.device_public_key).ok_or(TrustError::Malformed {
            what: "device certificate",
            message: "device public key is not a valid Ed25519 key".into(),
        })
    }

    /// Signs this certificate with the registry key.
    pub fn sign(&self, registry: &Ed25519Key) -> Result<Vec<u8>, CodecError> {
        sign_object(registry, CONTENT_TYPE_DEVICE_CERTIFICATE, self)
    }

    /// Verifies a certificate against the pinned `trust` bundle and decodes it. Validity in
    /// time is checked separately with [`Self::check_valid_at`].
    pub fn verify(bytes: &[u8], trust: &TrustBundle) -> Result<DeviceCertificate, TrustError> {
        let what = "device certificate";
        let cert: DeviceCertificate = verify_object(
            bytes,
            &trust.registry_verifying_key()?,
            CONTENT_TYPE_DEVICE_CERTIFICATE,
            what,
        )?;
        if cert.origin != trust.origin {
            return Err(TrustError::WrongOrigin(what));
        }
        cert.device_key()?;
        Ok(cert)
    }

    /// Fails unless `at` (Unix seconds) is within the validity window.
    pub fn check_valid_at(&self, at: i64) -> Result<(), TrustError> {
        if at < self.not_before || at > self.not_after {
            return Err(TrustError::NotValidAt {
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

/// The public reason codes of a revocation, as published in the signed revocation list:
/// `lost`, `stolen`, `compromised` (the key may be in other hands), `retired` (taken out of
/// service), `other`. Lists signed before these codes carry free text; verifiers show
/// whatever text a list holds.
pub const REVOCATION_REASONS: &[&str] = &["lost", "stolen", "compromised", "retired", "other"];

/// One revoked device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Key id of the revoked device.
    pub device_kid: ByteBuf,
    /// From when the revocation is in force, Unix seconds, judged by the registry's clock
    /// (never the device's): once it is, the registry accepts no new record from the device
    /// whatever its capture time (a byte-identical resend of a record already on the ledger
    /// is still answered `Duplicate`), and verifiers holding the list answer revoked for every
    /// provisional credential of the device (docs/adr/0002).
    pub revoked_at: i64,
    /// Why: one of [`REVOCATION_REASONS`] (public: it is in the signed list; lists signed
    /// before the codes may hold other text). Administrators' notes are never in it.
    pub reason: String,
}

/// The registry-signed list of revoked devices, served at `GET /v1/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    /// Format version (1).
    pub version: u8,
    /// Origin of the issuing registry.
    pub origin: String,
    /// When the list was signed, Unix seconds (verifiers show its age).
    pub issued_at: i64,
    /// The revoked devices.
    pub entries: Vec<Revocation>,
}

impl RevocationList {
    /// Signs this list with the registry key.
    pub fn sign(&self, registry: &Ed25519Key) -> Result<Vec<u8>, CodecError> {
        sign_object(registry, CONTENT_TYPE_REVOCATIONS, self)
    }

    /// Verifies a list against the pinned bundle and decodes it.
    pub fn verify(bytes: &[u8], trust: &TrustBundle) -> Result<RevocationList, TrustError> {
        let what = "revocation list";
        let list: RevocationList = verify_object(
            bytes,
            &trust.registry_verifying_key()?,
            CONTENT_TYPE_REVOCATIONS,
            what,
        )?;
        if list.origin != trust.origin {
            return Err(TrustError::WrongOrigin(what));
        }
        Ok(list)
    }

    /// The revocation of device `kid`, if it is revoked.
    pub fn find(&self, kid: &KeyId) -> Option<&Revocation> {
        self.entries
            .iter()
            .find(|r| r.device_kid.as_slice() == kid.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A registry key and its bundle (no checkpoint key form needed here).
    pub fn registry() -> (Ed25519Key, TrustBundle) {
        let key = Ed25519Key::from_secret(&[42; 32]);
        let hpke = [7u8; 32];
        let bundle = TrustBundle {
            format: TRUST_BUNDLE_FORMAT.into(),
            origin: "registry.test/births".into(),
            checkpoint_vkey: crate::ledger::note::NoteSigner::new(
                "registry.test/births",
                key.signing_key().clone(),
            )
            .map(|s| s.verifier_key())
            .unwrap_or_default(),
            registry_public_key: B64.encode(key.public_bytes()),
            registry_key_id: key.key_id().to_hex(),
            hpke_public_key: B64.encode(hpke),
            hpke_key_id: KeyId::of(&hpke).to_hex(),
            hpke_suite: HPKE_SUITE.into(),
            witnesses: Vec::new(),
            witness_quorum: 0,
        };
        (key, bundle)
    }

    fn certificate(device: &Ed25519Key) -> DeviceCertificate {
        DeviceCertificate {
            version: 1,
            origin: "registry.test/births".into(),
            device_public_key: ByteBuf::from(device.public_bytes().to_vec()),
            worker_id: "w-1".into(),
            region: "UA-46".into(),
            not_before: 100,
            not_after: 200,
        }
    }

    #[test]
    fn fingerprints_pin_the_bundle() {
        let (_, bundle) = registry();
        let fingerprint = bundle.fingerprint().unwrap();
        assert_eq!(fingerprint.len(), 39);
        // Known answer, computed independently (Python hashlib over the documented input).
        assert_eq!(fingerprint, "59a2-afd5-9644-b359-7431-1895-452f-9d8f");
        let typed = TrustPin::fingerprint(&fingerprint.to_uppercase().replace('-', " ")).unwrap();
        typed.check(&bundle).unwrap();
        let mut other = bundle.clone();
        other.hpke_public_key = B64.encode([8u8; 32]);
        other.hpke_key_id = KeyId::of(&[8u8; 32]).to_hex();
        assert!(typed.check(&other).is_err());
        assert!(TrustPin::Bundle(bundle.clone()).check(&other).is_err());
        assert!(TrustPin::fingerprint("abcd").is_err());
        assert!(TrustPin::fingerprint(&"zz".repeat(16)).is_err());
    }

    #[test]
    fn bundle_round_trips_and_checks_key_ids() {
        let (_, bundle) = registry();
        let parsed = TrustBundle::from_json(bundle.to_json().as_bytes()).unwrap();
        assert_eq!(parsed, bundle);
        let mut bad = bundle.clone();
        bad.registry_key_id = "0000000000000000".into();
        assert!(TrustBundle::from_json(bad.to_json().as_bytes()).is_err());
        // The checkpoint key must name the origin and be the registry's own key.
        let other = Ed25519Key::from_secret(&[43; 32]);
        let mut foreign_key = bundle.clone();
        foreign_key.checkpoint_vkey =
            crate::ledger::note::NoteSigner::new(&bundle.origin, other.signing_key().clone())
                .unwrap()
                .verifier_key();
        assert_eq!(
            TrustBundle::from_json(foreign_key.to_json().as_bytes())
                .unwrap_err()
                .to_string(),
            "trust bundle: the checkpoint key is not the registry key"
        );
        let (key, _) = registry();
        let mut foreign_name = bundle.clone();
        foreign_name.checkpoint_vkey = crate::ledger::note::NoteSigner::new(
            "elsewhere.example/births",
            key.signing_key().clone(),
        )
        .unwrap()
        .verifier_key();
        assert_eq!(
            TrustBundle::from_json(foreign_name.to_json().as_bytes())
                .unwrap_err()
                .to_string(),
            "trust bundle: the checkpoint key does not name the registry's origin"
        );
        assert!(TrustBundle::from_json(b"{\"format\":1}").is_err());
    }

    /// Found by the `trust_bundle` fuzz target's round-trip property: a device stores the
    /// bundle it accepted as `to_json()` (pretty) and re-reads it with `from_json` at every
    /// open, so a compact bundle just under the 16 KiB limit must not be accepted when its
    /// stored form is over it (the device would then call its own store tampered).
    #[test]
    fn an_accepted_bundle_is_accepted_again_in_its_stored_form() {
        let (key, bundle) = registry();
        let sized = |origin_len: usize| {
            let origin = "r".repeat(origin_len);
            let mut b = bundle.clone();
            b.checkpoint_vkey =
                crate::ledger::note::NoteSigner::new(&origin, key.signing_key().clone())
                    .unwrap()
                    .verifier_key();
            b.origin = origin;
            b
        };
        // The largest origin whose compact JSON fits the limit.
        let base = serde_json::to_string(&sized(1)).unwrap().len();
        let big = sized(1 + (16 * 1024 - base) / 2);
        let compact = serde_json::to_string(&big).unwrap();
        assert!(compact.len() <= 16 * 1024 && big.to_json().len() > 16 * 1024);
        match TrustBundle::from_json(compact.as_bytes()) {
            Ok(parsed) => assert!(
                TrustBundle::from_json(parsed.to_json().as_bytes()).as_ref() == Ok(&parsed),
                "accepted, but not in the form the device stores"
            ),
            Err(e) => assert!(matches!(e, TrustError::BadBundle(_)), "{e}"),
        }
    }

    #[test]
    fn certificate_verifies_only_under_the_pinned_registry() {
        let (registry_key, bundle) = registry();
        let device = Ed25519Key::generate().unwrap();
        let cert = certificate(&device);
        let bytes = cert.sign(&registry_key).unwrap();
        let back = DeviceCertificate::verify(&bytes, &bundle).unwrap();
        assert_eq!(back, cert);
        assert_eq!(back.device_kid(), device.key_id());
        back.check_valid_at(150).unwrap();
        assert!(back.check_valid_at(201).is_err());
        // Signed by someone else.
        let forged = cert.sign(&Ed25519Key::generate().unwrap()).unwrap();
        assert_eq!(
            DeviceCertificate::verify(&forged, &bundle),
            Err(TrustError::WrongIssuer("device certificate"))
        );
        // A revocation list is not a certificate, even from the same key.
        let list = RevocationList {
            version: 1,
            origin: bundle.origin.clone(),
            issued_at: 1,
            entries: vec![],
        };
        let list_bytes = list.sign(&registry_key).unwrap();
        assert!(DeviceCertificate::verify(&list_bytes, &bundle).is_err());
        assert_eq!(RevocationList::verify(&list_bytes, &bundle).unwrap(), list);
        // The documented headers only: an extra unprotected entry (anyone can add one) or an
        // extra protected one is refused.
        let payload = codec::to_vec(&cert).unwrap();
        let mut protected = BTreeMap::new();
        protected.insert(
            HEADER_CONTENT_TYPE,
            Value::Integer(CONTENT_TYPE_DEVICE_CERTIFICATE.into()),
        );
        let mut unprotected = BTreeMap::new();
        unprotected.insert(7, Value::Bytes(vec![1]));
        let padded = cose::sign1(
            &registry_key.key_id().0,
            protected.clone(),
            unprotected,
            &payload,
            |m| registry_key.sign(m),
        );
        assert_eq!(
            DeviceCertificate::verify(&padded, &bundle),
            Err(TrustError::Cose {
                what: "device certificate",
                source: CoseError::UnexpectedHeader {
                    header: "unprotected",
                    label: 7
                }
            })
        );
        protected.insert(5, Value::Bytes(vec![0; 12]));
        let extra = cose::sign1(
            &registry_key.key_id().0,
            protected,
            BTreeMap::new(),
            &payload,
            |m| registry_key.sign(m),
        );
        assert!(matches!(
            DeviceCertificate::verify(&extra, &bundle),
            Err(TrustError::Cose {
                source: CoseError::UnexpectedHeader {
                    header: "protected",
                    label: 5
                },
                ..
            })
        ));
        let mut unprotected = BTreeMap::new();
        unprotected.insert(-65537, Value::Bytes(vec![1]));
        let mut protected = BTreeMap::new();
        protected.insert(
            HEADER_CONTENT_TYPE,
            Value::Integer(CONTENT_TYPE_REVOCATIONS.into()),
        );
        let padded_list = cose::sign1(
            &registry_key.key_id().0,
            protected,
            unprotected,
            &codec::to_vec(&list).unwrap(),
            |m| registry_key.sign(m),
        );
        assert!(matches!(
            RevocationList::verify(&padded_list, &bundle),
            Err(TrustError::Cose {
                what: "revocation list",
                source: CoseError::UnexpectedHeader { .. }
            })
        ));
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x04;
            assert!(DeviceCertificate::verify(&t, &bundle).is_err(), "byte {i}");
        }
    }

    #[test]
    fn v2_bundles_list_witnesses_and_pin_them() {
        use crate::ledger::cosignature::CosignatureSigner;
        let (_, v1) = registry();
        let vkeys: Vec<String> = (0..3u8)
            .map(|i| {
                CosignatureSigner::new(
                    &format!("w{i}.test/w"),
                    Ed25519Key::from_secret(&[20 + i; 32]).signing_key().clone(),
                )
                .unwrap()
                .verifier_key()
            })
            .collect();
        let v2 = v1.clone().with_witnesses(vkeys.clone(), 2);
        assert_eq!(v2.format, TRUST_BUNDLE_FORMAT_V2);
        let parsed = TrustBundle::from_json(v2.to_json().as_bytes()).unwrap();
        assert_eq!(parsed, v2);
        assert_eq!(parsed.witness_policy().unwrap().quorum(), 2);
        // A v1 bundle serialises exactly as before (no witness fields) and keeps its
        // fingerprint; the witnesses and the quorum change a v2 bundle's.
        assert!(!v1.to_json().contains("witness"));
        assert_eq!(
            v1.clone().with_witnesses(vec![], 0).fingerprint().unwrap(),
            v1.fingerprint().unwrap()
        );
        let f = v2.fingerprint().unwrap();
        assert_ne!(f, v1.fingerprint().unwrap());
        assert_ne!(
            f,
            v1.clone()
                .with_witnesses(vkeys.clone(), 1)
                .fingerprint()
                .unwrap()
        );
        assert_ne!(
            f,
            v1.clone()
                .with_witnesses(vkeys[..2].to_vec(), 2)
                .fingerprint()
                .unwrap()
        );
        // Refused: witnesses in a v1 bundle, a quorum above the list, a duplicate, a bad key.
        let mut bad = v2.clone();
        bad.format = TRUST_BUNDLE_FORMAT.into();
        assert!(TrustBundle::from_json(bad.to_json().as_bytes()).is_err());
        for (witnesses, quorum) in [
            (vkeys.clone(), 4),
            (vec![vkeys[0].clone(), vkeys[0].clone()], 1),
            (vec!["not a key".to_string()], 1),
            (vec![v1.checkpoint_vkey.clone()], 1),
        ] {
            let bad = v1.clone().with_witnesses(witnesses, quorum);
            assert!(
                matches!(
                    TrustBundle::from_json(bad.to_json().as_bytes()),
                    Err(TrustError::BadBundle(m)) if m.starts_with("witnesses: ")
                ),
                "{quorum}"
            );
        }
    }
}
