//! The sync wire format between a device and the registry (`POST /v1/batches`), and the ledger
//! leaf that commits to each accepted record. Byte-exact description: `docs/PROTOCOL.md`.
//!
//! A batch is CBOR, sealed with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305) to the registry's X25519 key. The answer is sealed back the
//! way Oblivious HTTP (RFC 9458 §4.4) seals responses: with a key exported from the same HPKE
//! context, so only the device that sent the batch can read it.

use hkdf::Hkdf;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

pub use crate::ledger::leaf::{
    COMMITMENT_TAG, DECISION_LEAF_LEN, DecidedBy, DecisionKind, DecisionLeaf, DecisionReason,
    LEAF_LEN, LEAF_VERSION, LedgerEntry, LedgerLeaf, record_commitment,
};

use crate::{
    codec::{self, CodecError},
    keys::{KeyId, os_random},
    ledger::Hash,
};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// HPKE `info` for sealing batches.
pub const HPKE_INFO: &[u8] = b"birthright/batch/v1";
/// HPKE exporter context for the response key.
pub const RESPONSE_EXPORT_CONTEXT: &[u8] = b"birthright/batch-response/v1";
/// Wire format version of batches and responses.
pub const WIRE_VERSION: u8 = 1;
/// Largest sealed batch the registry accepts (also its HTTP body limit).
pub const MAX_SEALED_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Most records in one batch.
pub const MAX_RECORDS_PER_BATCH: usize = 1000;
/// Largest batch plaintext once inflated: what [`MAX_RECORDS_PER_BATCH`] records of the
/// largest size need (each with its byte-string header), plus 64 KiB for the rest of the batch
/// (ids, certificate). Inflating stops here, so a compression bomb costs the registry nothing.
pub const MAX_BATCH_PLAINTEXT_BYTES: usize =
    MAX_RECORDS_PER_BATCH * (crate::signed::MAX_SIGNED_RECORD_BYTES + 5) + 64 * 1024;
/// Largest sealed response a device accepts.
pub const MAX_SEALED_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Most hashes in one inclusion or consistency proof of a response: twice the depth of the
/// deepest possible tree (2^64 leaves), more than any proof needs. Decoding refuses more as it
/// goes, so a response cannot turn a few bytes per empty hash into tens of bytes of memory each.
pub const MAX_PROOF_HASHES: usize = 128;
/// Length of the response nonce (max(Nn, Nk) of ChaCha20-Poly1305).
pub const RESPONSE_NONCE_LEN: usize = 32;
/// A batch or response that cannot be sealed, opened or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// HPKE failed: wrong key, or the ciphertext was altered.
    #[error("could not open the sealed message (wrong key or altered bytes)")]
    Open,
    /// HPKE failed to seal.
    #[error("could not seal the message: {0}")]
    Seal(String),
    /// Bad CBOR or a wrong structure.
    #[error("malformed message: {0}")]
    Codec(#[from] CodecError),
    /// A well-formed message that breaks a rule of the protocol.
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// What a device sends: its records, signed, in one batch (sealed inside a [`SealedBatch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// Random id chosen by the device; a retry resends the same batch with the same id.
    pub batch_id: Uuid,
    /// Key id of the sending device.
    pub device_kid: ByteBuf,
    /// The device certificate (COSE_Sign1 bytes), so the registry can check it directly.
    pub certificate: Option<ByteBuf>,
    /// Tree size of the last checkpoint the device verified (0 if none): the registry answers
    /// with a consistency proof from it.
    pub known_tree_size: u64,
    /// The signed records (COSE_Sign1 bytes each), in capture order. Decoding refuses more
    /// than [`MAX_RECORDS_PER_BATCH`] as it goes.
    #[serde(deserialize_with = "bounded_records")]
    pub records: Vec<ByteBuf>,
}

fn bounded_records<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ByteBuf>, D::Error> {
    codec::deserialize_bounded_vec(d, MAX_RECORDS_PER_BATCH, "records")
}

/// The envelope actually posted: the [`Batch`] sealed with HPKE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBatch {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// Equal to the sealed batch's id (authenticated as AAD).
    pub batch_id: Uuid,
    /// Key id of the registry HPKE key it is sealed to.
    pub recipient_kid: ByteBuf,
    /// HPKE encapsulated key (32 bytes).
    pub enc: ByteBuf,
    /// HPKE ciphertext of the CBOR [`Batch`], zlib-compressed first when `compressed`.
    pub ciphertext: ByteBuf,
    /// Whether the plaintext was zlib-compressed before sealing (done only when it shrinks:
    /// records of one village repeat names and places). Authenticated as part of the AAD.
    pub compressed: bool,
}

/// How the registry classified one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// New: stored and appended to the ledger.
    Accepted,
    /// Already on the ledger with identical bytes; the existing leaf is reported.
    Duplicate,
    /// Refused; see the rejection.
    Rejected,
}

/// Why a record was refused. The `code` is a [`RejectCode`] as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Machine-readable reason.
    pub code: String,
    /// Message a field worker's app can show.
    pub message: String,
}

/// Why the registry refused a record: the machine-readable code of a [`Rejection`] (PROTOCOL
/// §9). On the wire the code is text, so a device keeps working when a newer registry sends a
/// code it does not know ([`Rejection::known_code`] is then `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// The record could not be decoded.
    Malformed,
    /// The record's signature does not verify with the enrolled key.
    BadSignature,
    /// The device is not enrolled with this registry.
    UnknownDevice,
    /// The device was revoked before the record reached the registry.
    RevokedDevice,
    /// The capture time is ahead of the registry's clock.
    CapturedInFuture,
    /// The device's certificate did not cover the capture (or expired long ago).
    DeviceExpired,
    /// The record was signed by another device than the batch's.
    DeviceMismatch,
    /// The record names another field worker than the device's.
    WorkerMismatch,
    /// The form is invalid or not in normalised form.
    InvalidRecord,
    /// Another record with this id but different content is registered.
    ConflictingRecord,
    /// A record with this id was removed from the registry.
    RecordRemoved,
    /// The record it corrects is not registered from this device.
    UnknownOriginal,
    /// Only the capturing device may correct a record.
    NotRecordOwner,
    /// This version was corrected already.
    AlreadyCorrected,
}

impl RejectCode {
    /// Every code, in documentation order.
    pub const ALL: [RejectCode; 14] = [
        RejectCode::Malformed,
        RejectCode::BadSignature,
        RejectCode::UnknownDevice,
        RejectCode::RevokedDevice,
        RejectCode::CapturedInFuture,
        RejectCode::DeviceExpired,
        RejectCode::DeviceMismatch,
        RejectCode::WorkerMismatch,
        RejectCode::InvalidRecord,
        RejectCode::ConflictingRecord,
        RejectCode::RecordRemoved,
        RejectCode::UnknownOriginal,
        RejectCode::NotRecordOwner,
        RejectCode::AlreadyCorrected,
    ];

    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Malformed => "malformed",
            RejectCode::BadSignature => "bad_signature",
            RejectCode::UnknownDevice => "unknown_device",
            RejectCode::RevokedDevice => "revoked_device",
            RejectCode::CapturedInFuture => "captured_in_future",
            RejectCode::DeviceExpired => "device_expired",
            RejectCode::DeviceMismatch => "device_mismatch",
            RejectCode::WorkerMismatch => "worker_mismatch",
            RejectCode::InvalidRecord => "invalid_record",
            RejectCode::ConflictingRecord => "conflicting_record",
            RejectCode::RecordRemoved => "record_removed",
            RejectCode::UnknownOriginal => "unknown_original",
            RejectCode::NotRecordOwner => "not_record_owner",
            RejectCode::AlreadyCorrected => "already_corrected",
        }
    }

    /// The code named by `text`, if it is one of these.
    pub fn parse(text: &str) -> Option<RejectCode> {
        RejectCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Rejection {
    /// A rejection with `code` and a message for the field worker.
    pub fn new(code: RejectCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code: code.as_str().to_string(),
            message: message.into(),
        }
    }

    /// The code, if this build knows it.
    pub fn known_code(&self) -> Option<RejectCode> {
        RejectCode::parse(&self.code)
    }
}

/// Where an accepted or duplicate record sits on the ledger, with what the device needs to
/// check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafReceipt {
    /// Leaf index.
    pub index: u64,
    /// The per-record salt of the commitment (kept off the ledger).
    pub salt: ByteBuf,
    /// When the registry sequenced the record, Unix seconds.
    pub sequenced_at: i64,
    /// Inclusion proof of the leaf in the response's checkpoint (at most
    /// [`MAX_PROOF_HASHES`]).
    #[serde(deserialize_with = "bounded_proof")]
    pub inclusion_proof: Vec<ByteBuf>,
}

fn bounded_proof<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ByteBuf>, D::Error> {
    codec::deserialize_bounded_vec(d, MAX_PROOF_HASHES, "proof hashes")
}

fn bounded_results<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RecordResult>, D::Error> {
    codec::deserialize_bounded_vec(d, MAX_RECORDS_PER_BATCH, "results")
}

/// The registry's answer for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    /// The record's id.
    pub record_id: Uuid,
    /// Accepted, duplicate or rejected.
    pub outcome: Outcome,
    /// Ledger position and proof (accepted and duplicate).
    pub leaf: Option<LeafReceipt>,
    /// Why it was refused (rejected).
    pub rejection: Option<Rejection>,
    /// A registry-signed credential for the record (accepted and duplicate), if issued.
    pub credential: Option<ByteBuf>,
    /// The record is on the ledger but held for a registrar's review: it may be a child the
    /// registry already has (docs/MATCHING.md). No credential is issued while it is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// Most candidates a held record's answer names.
pub const MAX_HELD_CANDIDATES: usize = 5;

/// Why a record is held for review: the registry's records it may duplicate, best first (at
/// most [`MAX_HELD_CANDIDATES`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The candidates.
    pub candidates: Vec<HeldCandidate>,
}

/// One record a held record may duplicate, as much as the worker needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCandidate {
    /// `likely` or `possible`.
    pub level: String,
    /// The matching score (points).
    pub score: i32,
    /// The candidate's child's name.
    pub child_name: String,
    /// The candidate's child's date of birth, as entered.
    pub date_of_birth: String,
    /// When the candidate was captured (Unix seconds).
    pub captured_at: i64,
    /// Why, in plain language.
    pub reasons: Vec<String>,
}

/// The registry's answer to a batch (sealed back to the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// The batch answered.
    pub batch_id: Uuid,
    /// The signed checkpoint (C2SP signed note) that every inclusion proof is against.
    pub checkpoint: String,
    /// Echo of the batch's `known_tree_size`.
    pub known_tree_size: u64,
    /// Consistency proof from `known_tree_size` to the checkpoint's size (at most
    /// [`MAX_PROOF_HASHES`]).
    #[serde(deserialize_with = "bounded_proof")]
    pub consistency_proof: Vec<ByteBuf>,
    /// One result per record, in the batch's order (at most [`MAX_RECORDS_PER_BATCH`]).
    #[serde(deserialize_with = "bounded_results")]
    pub results: Vec<RecordResult>,
}

/// The key material needed to open the response to one sealed batch; kept (encrypted) with the
/// batch so the answer to a retry after a restart can still be read.
#[derive(Clone)]
pub struct ResponseKey {
    /// The HPKE-exported secret.
    pub secret: Zeroizing<[u8; 32]>,
    /// The HPKE encapsulated key of the batch.
    pub enc: [u8; 32],
}

impl std::fmt::Debug for ResponseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseKey(..)")
    }
}

fn batch_aad(batch_id: &Uuid, recipient_kid: &[u8], compressed: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HPKE_INFO.len() + 25);
    aad.extend_from_slice(HPKE_INFO);
    aad.extend_from_slice(batch_id.as_bytes());
    aad.extend_from_slice(recipient_kid);
    aad.push(u8::from(compressed));
    aad
}

/// zlib of `bytes`, if that is shorter.
fn compress_if_smaller(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|_| encoder.finish())
        .ok()
        .filter(|c| c.len() < bytes.len())
}

/// Inflates at most `limit` bytes.
fn inflate(bytes: &[u8], limit: usize) -> Result<Vec<u8>, WireError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| WireError::Invalid("corrupt compressed batch".into()))?;
    if out.len() > limit {
        return Err(WireError::Invalid(format!(
            "batch inflates beyond {limit} bytes"
        )));
    }
    Ok(out)
}

/// Converts proof hashes from the wire.
pub fn hashes(list: &[ByteBuf]) -> Result<Vec<Hash>, WireError> {
    list.iter()
        .map(|h| {
            <[u8; 32]>::try_from(h.as_slice())
                .map_err(|_| WireError::Invalid("a proof hash is not 32 bytes".into()))
        })
        .collect()
}

/// Converts proof hashes to the wire.
pub fn hash_bufs(list: &[Hash]) -> Vec<ByteBuf> {
    list.iter().map(|h| ByteBuf::from(h.to_vec())).collect()
}

impl Batch {
    /// Seals this batch to the registry's X25519 public key; returns the CBOR
    /// [`SealedBatch`] bytes and the key that opens the response.
    pub fn seal(
        &self,
        registry_hpke_public: &[u8; 32],
    ) -> Result<(Vec<u8>, ResponseKey), WireError> {
        seal_encoded_batch(&codec::to_vec(self)?, &self.batch_id, registry_hpke_public)
    }

    /// [`Self::seal`] with the HPKE key encapsulation drawn from `rng` (a CSPRNG: the sync's
    /// generator, seeded from the OS unless a test seeds it) instead of the OS directly.
    pub fn seal_with_rng(
        &self,
        registry_hpke_public: &[u8; 32],
        rng: &mut impl hpke::rand_core::CryptoRng,
    ) -> Result<(Vec<u8>, ResponseKey), WireError> {
        let encoded = codec::to_vec(self)?;
        let compressed = compress_if_smaller(&encoded);
        let is_compressed = compressed.is_some();
        let plaintext = compressed.unwrap_or(encoded);
        seal_with(
            &plaintext,
            &self.batch_id,
            is_compressed,
            registry_hpke_public,
            |recipient| {
                hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
                    &OpModeS::Base,
                    recipient,
                    HPKE_INFO,
                    rng,
                )
            },
        )
    }
}

/// Seals an already encoded batch (CBOR of a [`Batch`] whose id is `batch_id`), compressing it
/// when that is shorter, exactly as [`Batch::seal`] does: for tools and tests that build a
/// batch's bytes by hand.
pub fn seal_encoded_batch(
    encoded: &[u8],
    batch_id: &Uuid,
    registry_hpke_public: &[u8; 32],
) -> Result<(Vec<u8>, ResponseKey), WireError> {
    let compressed = compress_if_smaller(encoded);
    let is_compressed = compressed.is_some();
    let plaintext = compressed.unwrap_or_else(|| encoded.to_vec());
    seal_batch_plaintext(&plaintext, batch_id, is_compressed, registry_hpke_public)
}

/// Seals `plaintext` exactly as given, with the `compressed` flag as given (nothing is
/// compressed here): when the flag is set, `plaintext` must already be a zlib stream. Not for
/// production code, which uses [`Batch::seal`] or [`seal_encoded_batch`]: it exists so that the
/// fuzz targets and tests can reach the inflate step and the batch decoder behind the seal.
#[doc(hidden)]
pub fn seal_batch_plaintext(
    plaintext: &[u8],
    batch_id: &Uuid,
    compressed: bool,
    registry_hpke_public: &[u8; 32],
) -> Result<(Vec<u8>, ResponseKey), WireError> {
    seal_with(
        plaintext,
        batch_id,
        compressed,
        registry_hpke_public,
        |recipient| hpke::setup_sender::<Aead, Kdf, Kem>(&OpModeS::Base, recipient, HPKE_INFO),
    )
}

/// The HPKE context a batch is sealed with.
type SenderContext = hpke::aead::AeadCtxS<Aead, Kdf, Kem>;

/// Seals `plaintext` with the sender context `setup` makes for the registry's key.
fn seal_with(
    plaintext: &[u8],
    batch_id: &Uuid,
    compressed: bool,
    registry_hpke_public: &[u8; 32],
    setup: impl FnOnce(
        &<Kem as hpke::Kem>::PublicKey,
    ) -> Result<(<Kem as hpke::Kem>::EncappedKey, SenderContext), hpke::HpkeError>,
) -> Result<(Vec<u8>, ResponseKey), WireError> {
    let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(registry_hpke_public)
        .map_err(|e| WireError::Seal(format!("registry key: {e}")))?;
    let recipient_kid = KeyId::of(registry_hpke_public).0.to_vec();
    let (enc, mut ctx) = setup(&recipient).map_err(|e| WireError::Seal(e.to_string()))?;
    let ciphertext = ctx
        .seal(plaintext, &batch_aad(batch_id, &recipient_kid, compressed))
        .map_err(|e| WireError::Seal(e.to_string()))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    ctx.export(RESPONSE_EXPORT_CONTEXT, secret.as_mut())
        .map_err(|e| WireError::Seal(e.to_string()))?;
    let enc_bytes: [u8; 32] = enc
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| WireError::Seal("unexpected encapsulated key length".into()))?;
    let sealed = SealedBatch {
        version: WIRE_VERSION,
        batch_id: *batch_id,
        recipient_kid: ByteBuf::from(recipient_kid),
        enc: ByteBuf::from(enc_bytes.to_vec()),
        ciphertext: ByteBuf::from(ciphertext),
        compressed,
    };
    Ok((
        codec::to_vec(&sealed)?,
        ResponseKey {
            secret,
            enc: enc_bytes,
        },
    ))
}

/// The registry side: opens a sealed batch with the X25519 secret key. Checks sizes, the
/// recipient key id, and that the inner batch id matches the envelope.
pub fn open_batch(
    sealed_bytes: &[u8],
    hpke_secret: &[u8; 32],
) -> Result<(Batch, ResponseKey), WireError> {
    let (sealed, plaintext, key) = open_envelope(sealed_bytes, hpke_secret, HPKE_INFO)?;
    let plaintext = if sealed.compressed {
        Zeroizing::new(inflate(&plaintext, MAX_BATCH_PLAINTEXT_BYTES)?)
    } else {
        plaintext
    };
    let batch: Batch = codec::from_slice(&plaintext, MAX_BATCH_PLAINTEXT_BYTES)?;
    if batch.batch_id != sealed.batch_id {
        return Err(WireError::Invalid(
            "batch id differs from its envelope".into(),
        ));
    }
    if batch.version != WIRE_VERSION {
        return Err(WireError::Invalid(format!(
            "unsupported batch version {}",
            batch.version
        )));
    }
    if batch.records.len() > MAX_RECORDS_PER_BATCH {
        return Err(WireError::Invalid(format!(
            "a batch holds at most {MAX_RECORDS_PER_BATCH} records"
        )));
    }
    Ok((batch, key))
}

/// Opens a [`SealedBatch`] envelope sealed with HPKE `info`: the envelope, its (still
/// compressed, if so flagged) plaintext and the key of the answer.
fn open_envelope(
    sealed_bytes: &[u8],
    hpke_secret: &[u8; 32],
    info: &[u8],
) -> Result<(SealedBatch, Zeroizing<Vec<u8>>, ResponseKey), WireError> {
    let sealed: SealedBatch = codec::from_slice(sealed_bytes, MAX_SEALED_BATCH_BYTES)?;
    if sealed.version != WIRE_VERSION {
        return Err(WireError::Invalid(format!(
            "unsupported wire version {}",
            sealed.version
        )));
    }
    let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(hpke_secret)
        .map_err(|_| WireError::Invalid("registry HPKE key is malformed".into()))?;
    let public = <Kem as hpke::Kem>::sk_to_pk(&secret);
    let public_bytes: [u8; 32] = public
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| WireError::Open)?;
    if sealed.recipient_kid.as_slice() != KeyId::of(&public_bytes).0 {
        return Err(WireError::Invalid(
            "batch is sealed to another registry key".into(),
        ));
    }
    let enc_bytes: [u8; 32] = sealed
        .enc
        .as_slice()
        .try_into()
        .map_err(|_| WireError::Invalid("encapsulated key must be 32 bytes".into()))?;
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc_bytes).map_err(|_| WireError::Open)?;
    let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &secret, &enc, info)
        .map_err(|_| WireError::Open)?;
    let plaintext = Zeroizing::new(
        ctx.open(
            &sealed.ciphertext,
            &batch_aad(&sealed.batch_id, &sealed.recipient_kid, sealed.compressed),
        )
        .map_err(|_| WireError::Open)?,
    );
    let mut response_secret = Zeroizing::new([0u8; 32]);
    ctx.export(RESPONSE_EXPORT_CONTEXT, response_secret.as_mut())
        .map_err(|_| WireError::Open)?;
    Ok((
        sealed,
        plaintext,
        ResponseKey {
            secret: response_secret,
            enc: enc_bytes,
        },
    ))
}

/// Derives the response AEAD key and nonce (RFC 9458 §4.4 with our exporter context).
fn response_aead(key: &ResponseKey, response_nonce: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let mut salt = Vec::with_capacity(64);
    salt.extend_from_slice(&key.enc);
    salt.extend_from_slice(response_nonce);
    let hk = Hkdf::<Sha256>::new(Some(&salt), key.secret.as_ref());
    let mut aead_key = Zeroizing::new([0u8; 32]);
    let mut aead_nonce = [0u8; 12];
    // Lengths of 32 and 12 bytes are far below HKDF-SHA256's limit: expansion cannot fail.
    let _ = hk.expand(b"key", aead_key.as_mut());
    let _ = hk.expand(b"nonce", &mut aead_nonce);
    (aead_key, aead_nonce)
}

impl BatchResponse {
    /// The registry side: seals this response for the device that sent the batch.
    pub fn seal(&self, key: &ResponseKey) -> Result<Vec<u8>, WireError> {
        seal_response_plaintext(&Zeroizing::new(codec::to_vec(self)?), key)
    }

    /// The device side: opens and decodes a sealed response.
    pub fn open(sealed: &[u8], key: &ResponseKey) -> Result<BatchResponse, WireError> {
        open_response(sealed, key)
    }
}

/// Opens and decodes a sealed answer (§9's response seal) of any type.
fn open_response<T: serde::de::DeserializeOwned + Serialize>(
    sealed: &[u8],
    key: &ResponseKey,
) -> Result<T, WireError> {
    {
        use chacha20poly1305::{ChaCha20Poly1305, KeyInit, aead::Aead as _};
        if sealed.len() > MAX_SEALED_RESPONSE_BYTES {
            return Err(WireError::Invalid("response too large".into()));
        }
        if sealed.len() < RESPONSE_NONCE_LEN + 16 {
            return Err(WireError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(RESPONSE_NONCE_LEN);
        let (aead_key, aead_nonce) = response_aead(key, nonce);
        let cipher = ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*aead_key));
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(&chacha20poly1305::Nonce::from(aead_nonce), ciphertext)
                .map_err(|_| WireError::Open)?,
        );
        Ok(codec::from_slice(&plaintext, MAX_SEALED_RESPONSE_BYTES)?)
    }
}

/// HPKE `info` of a sealed notices request (§9.1): not a batch's.
pub const NOTICES_HPKE_INFO: &[u8] = b"birthright/notices/v1";
/// Domain tag of the device's signature of a notices request.
pub const NOTICES_REQUEST_TAG: &[u8] = b"birthright/notices-request/v1\0";
/// Most notices one answer carries (the device asks again from the last one).
pub const MAX_NOTICES: usize = 1000;
/// Most records one notices request names (so a request stays within its 16 KiB body).
pub const MAX_NOTICE_RECORDS: usize = 500;

fn bounded_notice_records<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Uuid>, D::Error> {
    codec::deserialize_bounded_vec(d, MAX_NOTICE_RECORDS, "records")
}

/// A device asking for the decisions on its records (§9.1), sealed like a batch (with
/// [`NOTICES_HPKE_INFO`]) and signed with the device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticesRequest {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// Random id (the envelope's id).
    pub request_id: Uuid,
    /// The asking device.
    pub device_kid: ByteBuf,
    /// Tree size of the last checkpoint the device verified.
    pub known_tree_size: u64,
    /// Only decisions at ledger indices from this one on.
    pub from_index: u64,
    /// Ed25519 signature by the device key of [`NoticesRequest::signed_message`].
    pub signature: ByteBuf,
    /// Only decisions on these records (those awaiting one on the device, at most
    /// [`MAX_NOTICE_RECORDS`]), so an answer never repeats what the device already holds.
    #[serde(deserialize_with = "bounded_notice_records")]
    pub records: Vec<Uuid>,
}

impl NoticesRequest {
    /// What the device signs: [`NOTICES_REQUEST_TAG`] || request_id (16) || device_kid (8) ||
    /// u64be(known_tree_size) || u64be(from_index) || u32be(number of records) || each
    /// record id (16).
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(NOTICES_REQUEST_TAG.len() + 44 + 16 * self.records.len());
        m.extend_from_slice(NOTICES_REQUEST_TAG);
        m.extend_from_slice(self.request_id.as_bytes());
        m.extend_from_slice(&self.device_kid);
        m.extend_from_slice(&self.known_tree_size.to_be_bytes());
        m.extend_from_slice(&self.from_index.to_be_bytes());
        m.extend_from_slice(&(self.records.len() as u32).to_be_bytes());
        for id in &self.records {
            m.extend_from_slice(id.as_bytes());
        }
        m
    }

    /// Seals the request to the registry's X25519 key (the encapsulation from the OS
    /// randomness): the envelope's bytes and the key of the answer.
    pub fn seal(
        &self,
        registry_hpke_public: &[u8; 32],
    ) -> Result<(Vec<u8>, ResponseKey), WireError> {
        seal_with(
            &codec::to_vec(self)?,
            &self.request_id,
            false,
            registry_hpke_public,
            |recipient| {
                hpke::setup_sender::<Aead, Kdf, Kem>(&OpModeS::Base, recipient, NOTICES_HPKE_INFO)
            },
        )
    }

    /// [`Self::seal`] with the encapsulation drawn from `rng`.
    pub fn seal_with_rng(
        &self,
        registry_hpke_public: &[u8; 32],
        rng: &mut impl hpke::rand_core::CryptoRng,
    ) -> Result<(Vec<u8>, ResponseKey), WireError> {
        seal_with(
            &codec::to_vec(self)?,
            &self.request_id,
            false,
            registry_hpke_public,
            |recipient| {
                hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
                    &OpModeS::Base,
                    recipient,
                    NOTICES_HPKE_INFO,
                    rng,
                )
            },
        )
    }

    /// The registry side: opens a sealed request (its signature is the registry's to check).
    pub fn open(
        sealed_bytes: &[u8],
        hpke_secret: &[u8; 32],
    ) -> Result<(NoticesRequest, ResponseKey), WireError> {
        let (sealed, plaintext, key) = open_envelope(sealed_bytes, hpke_secret, NOTICES_HPKE_INFO)?;
        if sealed.compressed {
            return Err(WireError::Invalid(
                "a notices request is not compressed".into(),
            ));
        }
        let request: NoticesRequest = codec::from_slice(&plaintext, 12 * 1024)?;
        if request.request_id != sealed.batch_id || request.version != WIRE_VERSION {
            return Err(WireError::Invalid(
                "the request differs from its envelope".into(),
            ));
        }
        Ok((request, key))
    }
}

/// One decision on one of the device's records (§9.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The record.
    pub record_id: Uuid,
    /// The decision leaf's fields (its `record_index` and `commitment` the device knows).
    pub decision: DecisionKind,
    /// Why.
    pub reason: DecisionReason,
    /// Policy or registrar.
    pub decided_by: DecidedBy,
    /// When (the registry's clock).
    pub decided_at: i64,
    /// The decision leaf's index.
    pub leaf_index: u64,
    /// Its inclusion proof in the answer's checkpoint.
    #[serde(deserialize_with = "bounded_proof")]
    pub inclusion_proof: Vec<ByteBuf>,
    /// The registered credential (with `registered`).
    pub credential: Option<ByteBuf>,
}

fn bounded_notices<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Notice>, D::Error> {
    codec::deserialize_bounded_vec(d, MAX_NOTICES, "notices")
}

/// The registry's answer to a notices request, sealed back like a batch answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticesResponse {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// The request answered.
    pub request_id: Uuid,
    /// The signed checkpoint every proof is against.
    pub checkpoint: String,
    /// Echo of the request's `known_tree_size`.
    pub known_tree_size: u64,
    /// Consistency proof from `known_tree_size` to the checkpoint's size.
    #[serde(deserialize_with = "bounded_proof")]
    pub consistency_proof: Vec<ByteBuf>,
    /// The decisions, in ledger order (at most [`MAX_NOTICES`]).
    #[serde(deserialize_with = "bounded_notices")]
    pub notices: Vec<Notice>,
}

impl NoticesResponse {
    /// The registry side: seals the answer for the requesting device.
    pub fn seal(&self, key: &ResponseKey) -> Result<Vec<u8>, WireError> {
        seal_response_plaintext(&Zeroizing::new(codec::to_vec(self)?), key)
    }

    /// The device side: opens and decodes it.
    pub fn open(sealed: &[u8], key: &ResponseKey) -> Result<NoticesResponse, WireError> {
        open_response(sealed, key)
    }
}

/// Seals response `plaintext` (the CBOR of a [`BatchResponse`], or any bytes) for the device
/// holding `key`, as [`BatchResponse::seal`] does. Not for production code: it exists so that
/// the fuzz targets can put arbitrary plaintext behind the seal of the device's batch answer.
#[doc(hidden)]
pub fn seal_response_plaintext(plaintext: &[u8], key: &ResponseKey) -> Result<Vec<u8>, WireError> {
    let mut nonce = [0u8; RESPONSE_NONCE_LEN];
    os_random(&mut nonce).map_err(|e| WireError::Seal(e.to_string()))?;
    seal_response_with_nonce(plaintext, key, &nonce)
}

/// Seals response `plaintext` with the given response nonce instead of a random one. Not for
/// production code (a nonce must never repeat under one key): it exists for the known-answer
/// vector of the response seal (docs/vectors/formats.json).
#[doc(hidden)]
pub fn seal_response_with_nonce(
    plaintext: &[u8],
    key: &ResponseKey,
    nonce: &[u8; RESPONSE_NONCE_LEN],
) -> Result<Vec<u8>, WireError> {
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit, aead::Aead as _};
    let (aead_key, aead_nonce) = response_aead(key, nonce);
    let cipher = ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*aead_key));
    let ciphertext = cipher
        .encrypt(&chacha20poly1305::Nonce::from(aead_nonce), plaintext)
        .map_err(|e| WireError::Seal(e.to_string()))?;
    let mut out = Vec::with_capacity(RESPONSE_NONCE_LEN + ciphertext.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Generates an HPKE X25519 key pair from the OS RNG: (secret, public).
pub fn generate_hpke_keypair() -> Result<(Zeroizing<[u8; 32]>, [u8; 32]), WireError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    os_random(seed.as_mut()).map_err(|e| WireError::Seal(e.to_string()))?;
    let (secret, public) = <Kem as hpke::Kem>::derive_keypair(seed.as_ref());
    let mut secret_bytes = Zeroizing::new([0u8; 32]);
    secret_bytes.copy_from_slice(secret.to_bytes().as_slice());
    let mut public_bytes = [0u8; 32];
    public_bytes.copy_from_slice(public.to_bytes().as_slice());
    Ok((secret_bytes, public_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reject_code_round_trips_and_is_documented() {
        let protocol = include_str!("../../docs/PROTOCOL.md");
        for code in RejectCode::ALL {
            assert_eq!(RejectCode::parse(code.as_str()), Some(code));
            let rejection = Rejection::new(code, "message");
            assert_eq!(rejection.known_code(), Some(code));
            assert!(
                protocol.contains(&format!("`{code}`")),
                "PROTOCOL.md §9 does not list the reason code {code}"
            );
        }
        // A code from a newer registry still decodes; the device just does not know it.
        let newer = Rejection {
            code: "some_new_reason".into(),
            message: "m".into(),
        };
        assert_eq!(newer.known_code(), None);
    }

    fn batch() -> Batch {
        Batch {
            version: WIRE_VERSION,
            batch_id: Uuid::now_v7(),
            device_kid: ByteBuf::from(vec![1; 8]),
            certificate: None,
            known_tree_size: 3,
            records: vec![ByteBuf::from(b"record one".to_vec())],
        }
    }

    #[test]
    fn batch_and_response_round_trip() {
        let (secret, public) = generate_hpke_keypair().unwrap();
        let b = batch();
        let (sealed, device_key) = b.seal(&public).unwrap();
        let (opened, registry_key) = open_batch(&sealed, &secret).unwrap();
        assert_eq!(opened, b);
        assert_eq!(*device_key.secret, *registry_key.secret);
        let response = BatchResponse {
            version: WIRE_VERSION,
            batch_id: b.batch_id,
            checkpoint: "cp".into(),
            known_tree_size: 3,
            consistency_proof: vec![],
            results: vec![],
        };
        let sealed_response = response.seal(&registry_key).unwrap();
        assert_eq!(
            BatchResponse::open(&sealed_response, &device_key).unwrap(),
            response
        );
        // Another batch's key cannot read it.
        let (_, other) = b.seal(&public).unwrap();
        assert!(BatchResponse::open(&sealed_response, &other).is_err());
    }

    #[test]
    fn sealed_batch_hides_content_and_resists_tampering() {
        let (secret, public) = generate_hpke_keypair().unwrap();
        let (sealed, _) = batch().seal(&public).unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"record one"));
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(open_batch(&t, &secret).is_err(), "byte {i}");
        }
        let (other_secret, _) = generate_hpke_keypair().unwrap();
        assert!(open_batch(&sealed, &other_secret).is_err());
    }

    #[test]
    fn a_seeded_seal_is_reproducible_and_opens_like_any_other() {
        use chacha20::ChaCha20Rng;
        use hpke::rand_core::SeedableRng;
        let (secret, public) = generate_hpke_keypair().unwrap();
        let batch = batch();
        let seal = |seed: u8| {
            batch
                .seal_with_rng(&public, &mut ChaCha20Rng::from_seed([seed; 32]))
                .unwrap()
        };
        let (a, key_a) = seal(1);
        let (b, _) = seal(1);
        let (c, _) = seal(2);
        assert_eq!(a, b, "the same seed, the same bytes");
        assert_ne!(a, c, "another seed, another encapsulation");
        let (opened, key) = open_batch(&a, &secret).unwrap();
        assert_eq!(opened, batch);
        assert_eq!((key.secret, key.enc), (key_a.secret, key_a.enc));
        // An all-zero key is not a usable X25519 key: sealing fails (a local error), no panic.
        assert!(matches!(
            batch.seal_with_rng(&[0; 32], &mut ChaCha20Rng::from_seed([1; 32])),
            Err(WireError::Seal(_))
        ));
    }

    #[test]
    fn repetitive_batches_are_compressed_and_bombs_refused() {
        let (secret, public) = generate_hpke_keypair().unwrap();
        let mut b = batch();
        b.records = vec![
            ByteBuf::from("Коваленко, Зимна Вода, UA-46 ".repeat(20).into_bytes());
            10
        ];
        let (sealed, _) = b.seal(&public).unwrap();
        let envelope: SealedBatch = codec::from_slice(&sealed, MAX_SEALED_BATCH_BYTES).unwrap();
        assert!(envelope.compressed);
        assert!(
            sealed.len() < 2000,
            "{} bytes for ~6 KB of records",
            sealed.len()
        );
        assert_eq!(open_batch(&sealed, &secret).unwrap().0, b);
        // The flag is authenticated: flipping it breaks the seal.
        let mut flipped = envelope.clone();
        flipped.compressed = false;
        assert!(open_batch(&codec::to_vec(&flipped).unwrap(), &secret).is_err());
        // A bomb: a tiny ciphertext inflating to 40 MB is refused.
        let bomb = {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&vec![0u8; 40 * 1024 * 1024]).unwrap();
            e.finish().unwrap()
        };
        assert!(matches!(
            inflate(&bomb, MAX_BATCH_PLAINTEXT_BYTES),
            Err(WireError::Invalid(_))
        ));
    }

    /// A batch whose records array holds `n` empty byte strings, encoded by hand.
    fn many_empty_records(n: u32) -> (Uuid, Vec<u8>) {
        let mut b = batch();
        b.records = vec![];
        let mut bytes = codec::to_vec(&b).unwrap();
        assert_eq!(
            bytes.pop(),
            Some(0x80),
            "the empty records array comes last"
        );
        bytes.extend_from_slice(&array_head(n));
        bytes.resize(bytes.len() + n as usize, 0x40);
        (b.batch_id, bytes)
    }

    /// The shortest CBOR head of an array of `n` items (the only form decoders accept).
    fn array_head(n: u32) -> Vec<u8> {
        match n {
            0..=23 => vec![0x80 | n as u8],
            24..=0xff => vec![0x98, n as u8],
            0x100..=0xffff => [&[0x99][..], &(n as u16).to_be_bytes()].concat(),
            _ => [&[0x9a][..], &n.to_be_bytes()].concat(),
        }
    }

    #[test]
    fn millions_of_empty_records_are_refused_while_decoding() {
        let (secret, public) = generate_hpke_keypair().unwrap();
        // The reported request: 19 million empty records in a body of a few KB.
        let (id, plain) = many_empty_records(19_000_000);
        let (sealed, _) = seal_encoded_batch(&plain, &id, &public).unwrap();
        assert!(sealed.len() < 64 * 1024, "{} bytes", sealed.len());
        let err = open_batch(&sealed, &secret).unwrap_err();
        assert!(
            matches!(&err, WireError::Invalid(m) if m.contains("inflates beyond")),
            "{err}"
        );
        // Within the inflated-size cap, decoding stops at the count limit.
        let (id, plain) = many_empty_records(15_000_000);
        assert!(plain.len() < MAX_BATCH_PLAINTEXT_BYTES);
        let (sealed, _) = seal_encoded_batch(&plain, &id, &public).unwrap();
        let err = open_batch(&sealed, &secret).unwrap_err();
        assert!(
            matches!(&err, WireError::Codec(CodecError::Malformed(m))
                if m.contains("too many records: at most 1000")),
            "{err}"
        );
        // Exactly the limit is a batch; one more is not.
        let (id, plain) = many_empty_records(1000);
        let (sealed, _) = seal_encoded_batch(&plain, &id, &public).unwrap();
        assert_eq!(open_batch(&sealed, &secret).unwrap().0.records.len(), 1000);
        let (id, plain) = many_empty_records(1001);
        let (sealed, _) = seal_encoded_batch(&plain, &id, &public).unwrap();
        assert!(open_batch(&sealed, &secret).is_err());
    }

    /// A response (the plaintext of a sealed answer) whose consistency proof holds `n` empty
    /// hashes, encoded by hand: a few bytes each on the wire, 24 bytes and an allocation each
    /// once decoded. Found while writing the `batch_answer` fuzz target: the proof lists and
    /// the results were the response's unbounded vectors.
    fn response_with_empty_proof_hashes(n: u32) -> Vec<u8> {
        let response = BatchResponse {
            version: WIRE_VERSION,
            batch_id: Uuid::now_v7(),
            checkpoint: "cp".into(),
            known_tree_size: 3,
            consistency_proof: vec![],
            results: vec![],
        };
        let mut bytes = codec::to_vec(&response).unwrap();
        assert_eq!(bytes.split_off(bytes.len() - 4), [0x04, 0x80, 0x05, 0x80]);
        bytes.push(0x04);
        bytes.extend_from_slice(&array_head(n));
        bytes.resize(bytes.len() + n as usize, 0x40);
        bytes.extend_from_slice(&[0x05, 0x80]);
        bytes
    }

    #[test]
    fn responses_with_oversized_lists_are_refused_while_decoding() {
        let (_, public) = generate_hpke_keypair().unwrap();
        let (_, key) = batch().seal(&public).unwrap();
        let open = |plain: &[u8]| {
            BatchResponse::open(&seal_response_plaintext(plain, &key).unwrap(), &key)
        };
        assert_eq!(
            open(&response_with_empty_proof_hashes(MAX_PROOF_HASHES as u32))
                .unwrap()
                .consistency_proof
                .len(),
            MAX_PROOF_HASHES
        );
        for n in [MAX_PROOF_HASHES as u32 + 1, 4_000_000] {
            let err = open(&response_with_empty_proof_hashes(n)).unwrap_err();
            assert!(
                matches!(&err, WireError::Codec(CodecError::Malformed(m)) if m.contains("too many proof hashes")),
                "{n}: {err}"
            );
        }
        let result = RecordResult {
            record_id: Uuid::nil(),
            outcome: Outcome::Rejected,
            leaf: None,
            rejection: None,
            credential: None,
            held: None,
        };
        let many = BatchResponse {
            version: WIRE_VERSION,
            batch_id: Uuid::nil(),
            checkpoint: String::new(),
            known_tree_size: 0,
            consistency_proof: vec![],
            results: vec![result; MAX_RECORDS_PER_BATCH + 1],
        };
        let err = open(&codec::to_vec(&many).unwrap()).unwrap_err();
        assert!(err.to_string().contains("too many results"), "{err}");
        let leaf = LeafReceipt {
            index: 0,
            salt: ByteBuf::new(),
            sequenced_at: 0,
            inclusion_proof: vec![ByteBuf::new(); MAX_PROOF_HASHES + 1],
        };
        let err =
            codec::from_slice::<LeafReceipt>(&codec::to_vec(&leaf).unwrap(), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("too many proof hashes"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = open_batch(&bytes, &[5; 32]);
            let key = ResponseKey { secret: Zeroizing::new([1; 32]), enc: [2; 32] };
            let _ = BatchResponse::open(&bytes, &key);
            let _ = LedgerLeaf::parse(&bytes);
        }
    }
}

/// Domain tag of the enrolment proof of possession.
pub const ENROL_PROOF_TAG: &[u8] = b"birthright/enrol/v2\0";
/// Domain tag of an enrolment token's id.
pub const ENROL_TOKEN_ID_TAG: &[u8] = b"birthright/enrol-token-id/v1\0";
/// Domain tag of an enrolment token's binding key.
pub const ENROL_TOKEN_KEY_TAG: &[u8] = b"birthright/enrol-token-key/v1\0";
/// Domain tag of the binding of a device key to an enrolment token.
pub const ENROL_BINDING_TAG: &[u8] = b"birthright/enrol-binding/v1\0";

/// A device asking to be enrolled (`POST /v1/enrol`, CBOR). The token itself never crosses the
/// wire: the request names it by [`enrol_token_id`] and proves knowledge of it with
/// [`enrol_binding`], an HMAC keyed by the token over the registry's origin and this device's
/// key, so a captured request cannot enrol any other key or be replayed at another registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// [`WIRE_VERSION`].
    pub version: u8,
    /// [`enrol_token_id`] of the one-time token a supervisor gave the worker (32 bytes).
    pub token_id: ByteBuf,
    /// The device's Ed25519 public key.
    pub device_public_key: ByteBuf,
    /// [`enrol_binding`] of the token, the registry's origin and the device key (32 bytes).
    pub binding: ByteBuf,
    /// Ed25519 signature by the device key over [`enrol_proof_message`]: proves the device
    /// holds the key it asks to have certified.
    pub proof: ByteBuf,
}

/// The registry's answer to an enrolment (CBOR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The device certificate (COSE_Sign1 bytes).
    pub certificate: ByteBuf,
    /// The registry's trust bundle (JSON text), to be pinned by the device.
    pub trust_bundle: String,
}

fn tagged_sha256(tag: &[u8], token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(token.trim().as_bytes());
    h.finalize().into()
}

/// The public name of an enrolment token, by which the registry finds it:
/// `SHA-256(ENROL_TOKEN_ID_TAG || token)` (the token trimmed of surrounding white space).
pub fn enrol_token_id(token: &str) -> [u8; 32] {
    tagged_sha256(ENROL_TOKEN_ID_TAG, token)
}

/// The secret key of an enrolment token, which the registry stores and the device derives:
/// `SHA-256(ENROL_TOKEN_KEY_TAG || token)`. Never sent.
pub fn enrol_token_key(token: &str) -> zeroize::Zeroizing<[u8; 32]> {
    zeroize::Zeroizing::new(tagged_sha256(ENROL_TOKEN_KEY_TAG, token))
}

fn binding_mac(token_key: &[u8; 32], origin: &str, device_public_key: &[u8]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<Sha256> as hmac::KeyInit>::new_from_slice(token_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(ENROL_BINDING_TAG);
    mac.update(&(origin.len().min(u16::MAX as usize) as u16).to_be_bytes());
    mac.update(origin.as_bytes());
    mac.update(device_public_key);
    mac
}

/// `HMAC-SHA256(token_key, ENROL_BINDING_TAG || u16be(len(origin)) || origin || public_key)`.
pub fn enrol_binding(token_key: &[u8; 32], origin: &str, device_public_key: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    binding_mac(token_key, origin, device_public_key)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `binding` is [`enrol_binding`] of these inputs (constant-time comparison).
pub fn verify_enrol_binding(
    token_key: &[u8; 32],
    origin: &str,
    device_public_key: &[u8],
    binding: &[u8],
) -> bool {
    use hmac::Mac;
    binding_mac(token_key, origin, device_public_key)
        .verify_slice(binding)
        .is_ok()
}

/// The message a device signs to prove possession of its key at enrolment:
/// `ENROL_PROOF_TAG || token_id || public_key`.
pub fn enrol_proof_message(token_id: &[u8], device_public_key: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENROL_PROOF_TAG.len() + token_id.len() + 32);
    m.extend_from_slice(ENROL_PROOF_TAG);
    m.extend_from_slice(token_id);
    m.extend_from_slice(device_public_key);
    m
}

/// The body of every error answer from the registry (JSON, or CBOR when the request was CBOR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `token_used`, `body_too_large`, `rate_limited`.
    pub code: String,
    /// What was wrong, for people.
    pub message: String,
}

/// `GET /v1/proof/inclusion` answer (JSON, PROTOCOL §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionJson {
    /// Leaf index.
    pub index: u64,
    /// Tree size.
    pub size: u64,
    /// Proof hashes, standard base64.
    pub proof: Vec<String>,
}

/// `GET /v1/proof/consistency` answer (JSON, PROTOCOL §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyJson {
    /// Old size.
    pub from: u64,
    /// New size.
    pub to: u64,
    /// Proof hashes, standard base64.
    pub proof: Vec<String>,
}

/// `GET /v1/leaves` answer (JSON, PROTOCOL §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeavesJson {
    /// First index.
    pub start: u64,
    /// Leaf data, standard base64, in order.
    pub leaves: Vec<String>,
}

/// Hashes as the JSON answers carry them (standard base64).
pub fn hashes_to_base64(hashes: &[Hash]) -> Vec<String> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// Decodes the base64 proof hashes of a JSON answer: at most [`MAX_PROOF_HASHES`], each 32
/// bytes.
pub fn hashes_from_base64(proof: &[String]) -> Result<Vec<Hash>, WireError> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    if proof.len() > MAX_PROOF_HASHES {
        return Err(WireError::Invalid(format!(
            "a proof of {} hashes is longer than the {MAX_PROOF_HASHES} any tree needs",
            proof.len()
        )));
    }
    proof
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <Hash>::try_from(b).ok())
                .ok_or_else(|| WireError::Invalid("a proof hash is not 32 bytes of base64".into()))
        })
        .collect()
}

/// The X25519 public key of an HPKE secret key.
pub fn hpke_public_key(secret: &[u8; 32]) -> Result<[u8; 32], WireError> {
    let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
        .map_err(|_| WireError::Invalid("HPKE secret key is malformed".into()))?;
    let mut public = [0u8; 32];
    public.copy_from_slice(<Kem as hpke::Kem>::sk_to_pk(&secret).to_bytes().as_slice());
    Ok(public)
}
