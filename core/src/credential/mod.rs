//! Caregiver QR credentials: issued at capture (provisional, device-signed) or after the record
//! is on the ledger (registered, registry-signed), verified offline with the trust bundle alone.
//!
//! Format (byte-exact in `docs/PROTOCOL.md`): a CWT (RFC 8392) in a COSE_Sign1 (EdDSA) →
//! zlib only when it shrinks the bytes → base45 (RFC 9285) → `BR1:` + a flag character (`Z`
//! compressed, `C` not) → a QR code in alphanumeric mode at ECC level M.

pub mod base45;
mod headline;
mod verify;
pub use headline::age_text;
mod device;
pub mod qr;

pub use verify::{verify_bytes, verify_with};

use std::{collections::BTreeMap, io::Read};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    codec::{self, Value},
    cose::{self, CoseError, CoseSign1, HEADER_CONTENT_TYPE, HeaderProfile},
    keys::{Ed25519Key, KeyId},
    record::{DatePrecision, Record, Sex},
    status_list::{StatusListError, StatusListToken},
    trust::{RevocationList, TrustBundle, TrustError},
};

/// Text prefix: scheme and format version.
pub const PREFIX: &str = "BR1:";
/// Flag after the prefix: the bytes are zlib-compressed.
pub const FLAG_ZLIB: char = 'Z';
/// Flag after the prefix: the bytes are not compressed.
pub const FLAG_RAW: char = 'C';
/// CoAP Content-Format of a CWT (RFC 8392 §10.3), the COSE content type of credentials.
pub const CONTENT_TYPE_CWT: u16 = 61;
/// Unprotected COSE header (private use) carrying the device certificate of a provisional
/// credential.
pub const HEADER_DEVICE_CERTIFICATE: i64 = -65537;
/// Headers of a registered credential (`docs/PROTOCOL.md` §14): protected `{1: -8, 3: 61,
/// 4: kid}`, an empty unprotected header.
pub const REGISTERED_HEADERS: HeaderProfile = HeaderProfile {
    content_type: Some(CONTENT_TYPE_CWT),
    unprotected: &[],
};
/// Headers of a provisional credential: the same protected header, and exactly the device
/// certificate in the unprotected one.
pub const PROVISIONAL_HEADERS: HeaderProfile = HeaderProfile {
    content_type: Some(CONTENT_TYPE_CWT),
    unprotected: &[HEADER_DEVICE_CERTIFICATE],
};
/// CWT `sub` (RFC 8392). (`iss` is not sent: the signer identifies the issuer, see
/// [`verify_bytes`].)
pub const CLAIM_SUB: i64 = 2;
/// CWT `iat`.
pub const CLAIM_IAT: i64 = 6;
/// Private-use CWT claim holding the registration (a map, see [`Registration`]).
pub const CLAIM_REGISTRATION: i64 = -65537;
/// Largest credential text accepted (the QR alphanumeric maximum).
pub const MAX_TEXT_CHARS: usize = 4296;
/// Largest credential once decompressed; zlib output beyond this is refused.
pub const MAX_DECOMPRESSED_BYTES: usize = 8 * 1024;

/// A credential that cannot be issued, decoded or verified: each variant is a specific reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The text does not start with `BR1:`.
    #[error("not a Birthright credential (it must start with BR1:)")]
    NotACredential,
    /// A Birthright credential of another format version.
    #[error("credential format version {0} is not supported by this app: update it")]
    UnsupportedVersion(String),
    /// The text is larger than any QR code holds.
    #[error("credential text too long ({0} characters)")]
    TooLong(usize),
    /// The flag after the prefix is neither `Z` nor `C`.
    #[error("unknown compression flag")]
    BadFlag,
    /// Base45 decoding failed.
    #[error("damaged credential text: {0}")]
    Base45(#[from] base45::Base45Error),
    /// The compressed data is corrupt.
    #[error("damaged compressed data")]
    BadCompression,
    /// Decompression would exceed the limit (a zlib bomb, or not ours).
    #[error("decompressed credential exceeds {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLargeDecompressed,
    /// Not a COSE_Sign1 CWT as expected.
    #[error("malformed credential: {0}")]
    Malformed(String),
    /// The COSE headers are not exactly the documented ones (a re-encoded or altered copy).
    #[error("malformed credential: {0}")]
    BadHeaders(CoseError),
    /// The signature does not verify.
    #[error("the signature does not verify: the credential is forged or altered")]
    BadSignature,
    /// Signed by a key this verifier does not trust.
    #[error("signed by an unknown key (not this registry, no device certificate)")]
    UnknownSigner,
    /// The device certificate does not chain to the pinned registry.
    #[error("the device certificate is not valid for this registry: {0}")]
    BadCertificate(String),
    /// The device was not certified when the credential was issued.
    #[error("the device was not certified when the credential was issued")]
    CertificateNotValidAtIssue,
    /// A device-signed credential claims a ledger index: only the registry can say a record is
    /// on the ledger.
    #[error(
        "a provisional credential cannot carry a ledger index: only the registry's credential can"
    )]
    ProvisionalWithLedgerIndex,
    /// Text the verifier would display holds a control, invisible or direction-changing
    /// character: shown, it could read as something else than what was signed.
    #[error("the credential's {field} {message}: it is refused rather than shown")]
    HiddenCharacters {
        /// Which claim (`child's given names`, `caregiver's name`).
        field: &'static str,
        /// What was found, e.g. `contains an invisible or direction-changing character (U+202E)`.
        message: String,
    },
    /// The record cannot be put in a credential.
    #[error("cannot issue a credential: {0}")]
    Issue(String),
    /// The QR code cannot be drawn as asked (e.g. a PNG scale out of range).
    #[error("cannot draw the QR code: {0}")]
    Render(String),
}

/// Which kind of credential.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Device-signed at capture, carrying the device certificate.
    Provisional,
    /// Registry-signed after the record is on the ledger.
    Registered,
}

/// A caregiver as shown on a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaregiverClaim {
    /// Full name.
    pub name: String,
    /// Relationship to the child.
    pub relationship: String,
}

/// What a credential says about the child (for display by the verifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// Record id.
    pub record_id: Uuid,
    /// Issuer: the origin of the registry the credential chains to (from the pinned trust
    /// bundle: the signer is that registry, or a device it certified).
    pub issuer: String,
    /// When the credential was issued, Unix seconds.
    pub issued_at: i64,
    /// Child's given names.
    pub given_names: String,
    /// Child's family name.
    pub family_name: String,
    /// Date of birth as `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date_of_birth: String,
    /// Sex.
    pub sex: String,
    /// ISO 3166-2 area of birth.
    pub admin_area: String,
    /// Locality of birth.
    pub locality: String,
    /// Caregivers.
    pub caregivers: Vec<CaregiverClaim>,
    /// Ledger leaf index (registered credentials).
    pub leaf_index: Option<u64>,
}

/// An issued credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Provisional or registered.
    pub kind: CredentialKind,
    /// The COSE_Sign1 bytes.
    pub bytes: Vec<u8>,
    /// The QR text, `BR1:` + flag + base45.
    pub text: String,
}

/// The result of verifying a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Verdict {
    /// A registered credential signed by the pinned registry.
    Valid,
    /// A provisional credential from a device certified by the pinned registry.
    ValidProvisional,
    /// A provisional credential of a device whose revocation is in force, or a registered
    /// credential the registry revoked (its status list says INVALID).
    Revoked(String),
    /// A registered credential whose record was corrected: the registry's status list marks
    /// its ledger entry superseded. Genuine, but out of date.
    Superseded(String),
    /// A provisional credential whose device certificate has expired at the time of
    /// verification (whatever issue time the device wrote): not valid.
    Expired(String),
    /// Not acceptable (forged, altered, unknown signer, malformed), with the reason.
    Invalid(String),
    /// No credential could be read (an image without a readable QR code): scan again. Says
    /// nothing about the credential.
    Unreadable(String),
}

/// A verification outcome with what to display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The verdict.
    pub verdict: Verdict,
    /// The claims, when the credential could be decoded and its signature checked.
    pub registration: Option<Registration>,
    /// Key id of the signer (device or registry), hex.
    pub signer: Option<String>,
    /// Age of the revocation list used, seconds (None: no list was available).
    pub revocation_list_age_secs: Option<i64>,
    /// Age of the status list used, seconds (None: no list was available).
    pub status_list_age_secs: Option<i64>,
}

fn sex_code(sex: Option<Sex>) -> i128 {
    match sex {
        Some(Sex::Female) => 0,
        Some(Sex::Male) => 1,
        _ => 2,
    }
}

/// `YYYYMMDD`, with `00` for the parts a coarser precision leaves out.
fn date_code(date: &str, precision: Option<DatePrecision>) -> Result<i128, CredentialError> {
    let digits: String = date.chars().filter(char::is_ascii_digit).collect();
    let padded = match (precision, digits.len()) {
        (Some(DatePrecision::Day) | None, 8) => digits,
        (Some(DatePrecision::Month), 6) => format!("{digits}00"),
        (Some(DatePrecision::Year), 4) => format!("{digits}0000"),
        _ => {
            return Err(CredentialError::Issue(
                "date of birth is not in its precision's form".into(),
            ));
        }
    };
    padded
        .parse()
        .map_err(|_| CredentialError::Issue("date of birth is not numeric".into()))
}

fn date_text(code: i128) -> Result<String, CredentialError> {
    let bad = || CredentialError::Malformed("date of birth".into());
    if !(10_000_000..=99_999_999).contains(&code) {
        return Err(bad());
    }
    let (y, m, d) = (code / 10_000, code / 100 % 100, code % 100);
    Ok(match (m, d) {
        (0, 0) => format!("{y:04}"),
        (1..=12, 0) => format!("{y:04}-{m:02}"),
        (1..=12, 1..=31) => format!("{y:04}-{m:02}-{d:02}"),
        _ => return Err(bad()),
    })
}

fn relationship_value(rel: &str) -> Value {
    match rel {
        "mother" => Value::Integer(0),
        "father" => Value::Integer(1),
        other => Value::Text(other.into()),
    }
}

fn int_map(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Integer(k.into()), v))
            .collect(),
    )
}

/// The CWT claims of `record`. `iss` is left out (RFC 8392 makes every claim optional): the
/// COSE signer already names the issuer, the registry itself or a device whose certificate
/// chains to it, and the 20 to 40 bytes of an origin are what keeps a registered credential
/// within QR version 11.
fn claims(
    record: &Record,
    issued_at: i64,
    leaf_index: Option<u64>,
) -> Result<Value, CredentialError> {
    let e = &record.enrolment;
    let family = &e.child.family_name;
    let caregivers = e
        .caregivers
        .iter()
        .map(|c| {
            let mut item = vec![
                Value::Text(c.given_names.clone()),
                relationship_value(&c.relationship),
            ];
            // A caregiver's family name is left out when it is the child's (the usual case).
            if &c.family_name != family {
                item.push(Value::Text(c.family_name.clone()));
            }
            Value::Array(item)
        })
        .collect();
    let mut registration = vec![
        (0, Value::Text(e.child.given_names.clone())),
        (1, Value::Text(family.clone())),
        (
            2,
            Value::Integer(date_code(
                &e.child.date_of_birth,
                e.child.date_of_birth_precision,
            )?),
        ),
        (3, Value::Integer(sex_code(e.child.sex))),
        (4, Value::Text(e.place_of_birth.admin_area.clone())),
        (5, Value::Text(e.place_of_birth.locality.clone())),
        (6, Value::Array(caregivers)),
    ];
    if let Some(index) = leaf_index {
        registration.push((7, Value::Integer(index.into())));
    }
    Ok(int_map(vec![
        (
            CLAIM_SUB,
            Value::Text(URL_SAFE_NO_PAD.encode(record.id.as_bytes())),
        ),
        (CLAIM_IAT, Value::Integer(issued_at.into())),
        (CLAIM_REGISTRATION, int_map(registration)),
    ]))
}

fn encode_text(bytes: &[u8]) -> String {
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    let compressed = encoder
        .write_all(bytes)
        .and_then(|_| encoder.finish())
        .ok()
        .filter(|c| c.len() < bytes.len());
    match compressed {
        Some(c) => format!("{PREFIX}{FLAG_ZLIB}{}", base45::encode(&c)),
        None => format!("{PREFIX}{FLAG_RAW}{}", base45::encode(bytes)),
    }
}

fn sign_credential(
    key: &Ed25519Key,
    unprotected: BTreeMap<i64, Value>,
    claims: &Value,
) -> Result<Vec<u8>, CredentialError> {
    let payload = codec::value_to_vec(claims).map_err(|e| CredentialError::Issue(e.to_string()))?;
    let mut protected = BTreeMap::new();
    protected.insert(HEADER_CONTENT_TYPE, Value::Integer(CONTENT_TYPE_CWT.into()));
    Ok(cose::sign1(
        &key.key_id().0,
        protected,
        unprotected,
        &payload,
        |m| key.sign(m),
    ))
}

/// Issues a provisional credential, signed by the capturing device with its certificate attached.
pub fn issue_provisional(
    device_key: &Ed25519Key,
    device_certificate: &[u8],
    record: &Record,
    issued_at: i64,
) -> Result<Credential, CredentialError> {
    let mut unprotected = BTreeMap::new();
    unprotected.insert(
        HEADER_DEVICE_CERTIFICATE,
        Value::Bytes(device_certificate.to_vec()),
    );
    let bytes = sign_credential(device_key, unprotected, &claims(record, issued_at, None)?)?;
    Ok(Credential {
        kind: CredentialKind::Provisional,
        text: encode_text(&bytes),
        bytes,
    })
}

/// Issues a registered credential, signed by the registry, for a record at `leaf_index`.
pub fn issue_registered(
    registry_key: &Ed25519Key,
    record: &Record,
    leaf_index: u64,
    issued_at: i64,
) -> Result<Credential, CredentialError> {
    let bytes = sign_credential(
        registry_key,
        BTreeMap::new(),
        &claims(record, issued_at, Some(leaf_index))?,
    )?;
    Ok(Credential {
        kind: CredentialKind::Registered,
        text: encode_text(&bytes),
        bytes,
    })
}

impl Credential {
    /// Rebuilds a credential from its COSE bytes (e.g. as stored on the device).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Credential, CredentialError> {
        let cose = CoseSign1::parse(&bytes, MAX_DECOMPRESSED_BYTES)
            .map_err(|e| CredentialError::Malformed(e.to_string()))?;
        let kind = kind_of(&cose)?;
        Ok(Credential {
            kind,
            text: encode_text(&bytes),
            bytes,
        })
    }
}

impl Credential {
    /// A credential from its text (`BR1:…`, as scanned or stored), to draw it again: the text
    /// must decode to a credential of one of the two documented forms. Nothing is verified
    /// here (see [`Verifier`]); the text is kept as given, less surrounding whitespace.
    pub fn from_text(text: &str) -> Result<Credential, CredentialError> {
        let bytes = decode_text(text)?;
        let cose = CoseSign1::parse(&bytes, MAX_DECOMPRESSED_BYTES)
            .map_err(|e| CredentialError::Malformed(e.to_string()))?;
        Ok(Credential {
            kind: kind_of(&cose)?,
            bytes,
            text: text.trim().to_string(),
        })
    }
}

/// Turns credential text back into COSE bytes: prefix, version, flag, size limits before and
/// after decompression.
pub fn decode_text(text: &str) -> Result<Vec<u8>, CredentialError> {
    let text = text.trim();
    if text.len() > MAX_TEXT_CHARS {
        return Err(CredentialError::TooLong(text.len()));
    }
    let Some(rest) = text.strip_prefix(PREFIX) else {
        if let Some(version) = text.strip_prefix("BR").and_then(|r| r.split_once(':')) {
            return Err(CredentialError::UnsupportedVersion(
                version.0.chars().take(8).collect(),
            ));
        }
        return Err(CredentialError::NotACredential);
    };
    let mut chars = rest.chars();
    let flag = chars.next().ok_or(CredentialError::BadFlag)?;
    let data = base45::decode(chars.as_str())?;
    match flag {
        FLAG_RAW => Ok(data),
        FLAG_ZLIB => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data.as_slice())
                .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| CredentialError::BadCompression)?;
            if out.len() > MAX_DECOMPRESSED_BYTES {
                return Err(CredentialError::TooLargeDecompressed);
            }
            Ok(out)
        }
        _ => Err(CredentialError::BadFlag),
    }
}

/// The kind of credential a COSE message is, once its headers are exactly that kind's: a
/// device certificate in the unprotected header makes it provisional.
fn kind_of(cose: &CoseSign1) -> Result<CredentialKind, CredentialError> {
    let (kind, profile) = if cose.unprotected.contains_key(&HEADER_DEVICE_CERTIFICATE) {
        (CredentialKind::Provisional, &PROVISIONAL_HEADERS)
    } else {
        (CredentialKind::Registered, &REGISTERED_HEADERS)
    };
    cose.check_profile(profile)
        .map_err(CredentialError::BadHeaders)?;
    Ok(kind)
}

fn claim(map: &BTreeMap<Value, Value>, key: i64) -> Option<&Value> {
    map.get(&Value::Integer(key.into()))
}

fn text(v: Option<&Value>, what: &str) -> Result<String, CredentialError> {
    match v {
        Some(Value::Text(t)) => Ok(t.clone()),
        _ => Err(CredentialError::Malformed(format!("{what} missing"))),
    }
}

/// A claim's text that is safe to display, else [`CredentialError::HiddenCharacters`].
fn shown(text: String, field: &'static str) -> Result<String, CredentialError> {
    crate::validate::check_visible(&text, false)
        .map_err(|message| CredentialError::HiddenCharacters { field, message })?;
    Ok(text)
}

fn int(v: Option<&Value>, what: &str) -> Result<i128, CredentialError> {
    match v {
        Some(Value::Integer(i)) => Ok(*i),
        _ => Err(CredentialError::Malformed(format!("{what} missing"))),
    }
}

fn parse_registration(payload: &[u8], issuer: &str) -> Result<Registration, CredentialError> {
    let Value::Map(claims) = codec::value_from_slice(payload, MAX_DECOMPRESSED_BYTES)
        .map_err(|e| CredentialError::Malformed(e.to_string()))?
    else {
        return Err(CredentialError::Malformed("claims are not a map".into()));
    };
    let sub = text(claim(&claims, CLAIM_SUB), "sub")?;
    let record_id = URL_SAFE_NO_PAD
        .decode(&sub)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| CredentialError::Malformed("sub is not a record id".into()))?;
    let Some(Value::Map(r)) = claim(&claims, CLAIM_REGISTRATION) else {
        return Err(CredentialError::Malformed(
            "registration claim missing".into(),
        ));
    };
    let family_name = shown(text(claim(r, 1), "family name")?, "child's family name")?;
    let Some(Value::Array(caregivers)) = claim(r, 6) else {
        return Err(CredentialError::Malformed("caregivers missing".into()));
    };
    let caregivers = caregivers
        .iter()
        .map(|c| {
            let Value::Array(parts) = c else {
                return Err(CredentialError::Malformed("caregiver".into()));
            };
            let given = shown(text(parts.first(), "caregiver name")?, "caregiver's name")?;
            let relationship = match parts.get(1) {
                Some(Value::Integer(0)) => "mother".to_string(),
                Some(Value::Integer(1)) => "father".to_string(),
                other => shown(
                    text(other, "caregiver relationship")?,
                    "caregiver's relationship",
                )?,
            };
            let family = match parts.get(2) {
                None => family_name.clone(),
                other => shown(text(other, "caregiver family name")?, "caregiver's name")?,
            };
            Ok(CaregiverClaim {
                name: format!("{given} {family}"),
                relationship,
            })
        })
        .collect::<Result<_, _>>()?;
    let leaf_index = match claim(r, 7) {
        None => None,
        v => Some(
            u64::try_from(int(v, "leaf index")?)
                .map_err(|_| CredentialError::Malformed("leaf index".into()))?,
        ),
    };
    Ok(Registration {
        record_id,
        issuer: issuer.to_string(),
        issued_at: i64::try_from(int(claim(&claims, CLAIM_IAT), "iat")?)
            .map_err(|_| CredentialError::Malformed("iat".into()))?,
        given_names: shown(text(claim(r, 0), "given names")?, "child's given names")?,
        family_name,
        date_of_birth: date_text(int(claim(r, 2), "date of birth")?)?,
        sex: match int(claim(r, 3), "sex")? {
            0 => "female",
            1 => "male",
            _ => "unknown",
        }
        .into(),
        admin_area: shown(text(claim(r, 4), "admin area")?, "area of birth")?,
        locality: shown(text(claim(r, 5), "locality")?, "place of birth")?,
        caregivers,
        leaf_index,
    })
}

/// Age of the revocation list at `now`, saturating: `issued_at` comes from the list, and
/// `now - issued_at` must not overflow whatever it says.
fn list_age(revocations: Option<&RevocationList>, now: i64) -> Option<i64> {
    revocations.map(|list| now.saturating_sub(list.issued_at))
}

/// Why a verifier refused a trust bundle or a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// The trust bundle or revocation list is malformed or not the registry's.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The status list is malformed or not the registry's.
    #[error(transparent)]
    Status(#[from] StatusListError),
    /// The list is signed by no registry this verifier trusts.
    #[error("the {0} is signed by no registry this verifier trusts")]
    UnknownRegistry(&'static str),
    /// A second bundle for a registry already held.
    #[error("a trust bundle for registry {0} is already loaded")]
    DuplicateRegistry(String),
    /// The registry could not be reached, or refused.
    #[error("fetching {path}: {message}")]
    Fetch {
        /// The path asked for.
        path: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// The lists as fetched from one registry: signed bytes, verified before they are returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedLists {
    /// Origin of the registry that signed them.
    pub origin: String,
    /// Key id (hex) of that registry.
    pub registry_key_id: String,
    /// The signed revocation list (`GET /v1/revocations`).
    pub revocations: Vec<u8>,
    /// The Status List Token (`GET /v1/status-list`), None from a registry without one (404).
    pub status_list: Option<Vec<u8>>,
    /// Whether each was newer than (or as new as) the one held, and so kept.
    pub revocations_kept: bool,
    /// Likewise for the status list.
    pub status_list_kept: bool,
}

fn fetch(
    transport: &dyn crate::sync::Transport,
    path: &'static str,
    limit: usize,
) -> Result<Option<Vec<u8>>, VerifierError> {
    let request = crate::sync::HttpRequest {
        method: crate::sync::Method::Get,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
    };
    let fail = |message: String| VerifierError::Fetch { path, message };
    let response = transport.send(&request).map_err(|e| fail(e.message))?;
    match response.status {
        200..=299 if response.body.len() > limit => {
            Err(fail(format!("the answer is larger than {limit} bytes")))
        }
        200..=299 => Ok(Some(response.body)),
        404 => Ok(None),
        status => Err(fail(format!("the registry answered HTTP {status}"))),
    }
}

/// One registry a verifier trusts: its pinned bundle and the newest verified lists it has.
#[derive(Debug, Clone)]
pub struct TrustedRegistry {
    /// The pinned bundle.
    pub trust: TrustBundle,
    key_id: KeyId,
    /// The newest verified revocation list.
    pub revocations: Option<RevocationList>,
    /// The newest verified status list.
    pub status: Option<StatusListToken>,
}

/// What an offline verifier holds: one or more pinned trust bundles (several registries at one
/// border) and, for each, the newest registry-signed revocation and status lists it has
/// verified. A credential is checked under the registry whose key signed it (or certified the
/// device that did).
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    registries: Vec<TrustedRegistry>,
}

impl Verifier {
    /// A verifier that trusts no registry yet.
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// A verifier from the trust bundle's JSON and, if any, the signed revocation list, which
    /// must verify under that bundle.
    pub fn from_bytes(
        trust_bundle_json: &[u8],
        revocation_list: Option<&[u8]>,
    ) -> Result<Verifier, TrustError> {
        let trust = TrustBundle::from_json(trust_bundle_json)?;
        let revocations = revocation_list
            .map(|bytes| RevocationList::verify(bytes, &trust))
            .transpose()?;
        Ok(Verifier {
            registries: vec![TrustedRegistry {
                key_id: trust.registry_key_id()?,
                trust,
                revocations,
                status: None,
            }],
        })
    }

    /// Adds a registry's trust bundle (JSON); returns its origin.
    pub fn add_trust_bundle(&mut self, json: &[u8]) -> Result<String, VerifierError> {
        let trust = TrustBundle::from_json(json)?;
        let key_id = trust.registry_key_id()?;
        if self
            .registries
            .iter()
            .any(|r| r.key_id == key_id || r.trust.origin == trust.origin)
        {
            return Err(VerifierError::DuplicateRegistry(trust.origin));
        }
        let origin = trust.origin.clone();
        self.registries.push(TrustedRegistry {
            trust,
            key_id,
            revocations: None,
            status: None,
        });
        Ok(origin)
    }

    /// The registries trusted, in the order added.
    pub fn registries(&self) -> &[TrustedRegistry] {
        &self.registries
    }

    fn registry_of(
        &mut self,
        kid: Option<KeyId>,
        what: &'static str,
    ) -> Result<&mut TrustedRegistry, VerifierError> {
        self.registries
            .iter_mut()
            .find(|r| Some(r.key_id) == kid)
            .ok_or(VerifierError::UnknownRegistry(what))
    }

    /// Verifies a signed revocation list under the registry that signed it and keeps it unless
    /// the one held is newer (a replayed older list could un-revoke a device). Returns the
    /// registry's origin and whether the list was kept.
    pub fn add_revocation_list(&mut self, bytes: &[u8]) -> Result<(String, bool), VerifierError> {
        let kid = CoseSign1::parse(bytes, crate::trust::MAX_SIGNED_OBJECT_BYTES)
            .ok()
            .and_then(|c| c.kid().and_then(KeyId::from_slice));
        let registry = self.registry_of(kid, "revocation list")?;
        let list = RevocationList::verify(bytes, &registry.trust)?;
        let keep = registry
            .revocations
            .as_ref()
            .is_none_or(|held| held.issued_at <= list.issued_at);
        if keep {
            registry.revocations = Some(list);
        }
        Ok((registry.trust.origin.clone(), keep))
    }

    /// Verifies a Status List Token under the registry that signed it and keeps it unless the
    /// one held was signed later (`iat`). Returns the registry's origin and whether it was kept.
    pub fn add_status_list(&mut self, bytes: &[u8]) -> Result<(String, bool), VerifierError> {
        let registry = self.registry_of(StatusListToken::signer(bytes), "status list")?;
        let token = StatusListToken::verify(bytes, &registry.trust)?;
        let keep = registry
            .status
            .as_ref()
            .is_none_or(|held| held.issued_at <= token.issued_at);
        if keep {
            registry.status = Some(token);
        }
        Ok((registry.trust.origin.clone(), keep))
    }

    /// Fetches one registry's revocation list and status list through `transport` (the host's
    /// HTTP client, pointed at that registry), verifies each under the trusted registry that
    /// signed it, and keeps each unless the one held is newer. Blocking.
    pub fn refresh(
        &mut self,
        transport: &dyn crate::sync::Transport,
    ) -> Result<FetchedLists, VerifierError> {
        let revocations = fetch(
            transport,
            "/v1/revocations",
            crate::trust::MAX_SIGNED_OBJECT_BYTES,
        )?
        .ok_or(VerifierError::Fetch {
            path: "/v1/revocations",
            message: "the registry answered HTTP 404".into(),
        })?;
        let status_list = fetch(
            transport,
            "/v1/status-list",
            crate::status_list::MAX_TOKEN_BYTES,
        )?;
        let (origin, revocations_kept) = self.add_revocation_list(&revocations)?;
        let status_list_kept = match &status_list {
            Some(bytes) => {
                let (status_origin, kept) = self.add_status_list(bytes)?;
                if status_origin != origin {
                    return Err(VerifierError::Fetch {
                        path: "/v1/status-list",
                        message: "the status list is another registry's than the revocation list"
                            .into(),
                    });
                }
                kept
            }
            None => false,
        };
        let registry_key_id = self
            .registries
            .iter()
            .find(|r| r.trust.origin == origin)
            .map(|r| r.key_id.to_hex())
            .unwrap_or_default();
        Ok(FetchedLists {
            origin,
            registry_key_id,
            revocations,
            status_list,
            revocations_kept,
            status_list_kept,
        })
    }

    /// The registry a credential's COSE bytes chain to: the one whose key signed it, or whose
    /// key signed the device certificate it carries.
    fn pick(&self, bytes: &[u8]) -> Option<&TrustedRegistry> {
        if let [only] = self.registries.as_slice() {
            return Some(only);
        }
        let cose = CoseSign1::parse(bytes, MAX_DECOMPRESSED_BYTES).ok()?;
        let kid = match cose.unprotected.get(&HEADER_DEVICE_CERTIFICATE) {
            Some(Value::Bytes(cert)) => CoseSign1::parse(cert, MAX_DECOMPRESSED_BYTES)
                .ok()?
                .kid()?
                .to_vec(),
            _ => cose.kid()?.to_vec(),
        };
        let kid = KeyId::from_slice(&kid)?;
        self.registries.iter().find(|r| r.key_id == kid)
    }

    /// Verifies credential COSE bytes at Unix time `now`.
    pub fn verify_bytes(&self, bytes: &[u8], now: i64) -> Verification {
        match self.pick(bytes) {
            Some(r) => verify_with(
                bytes,
                &r.trust,
                r.revocations.as_ref(),
                r.status.as_ref(),
                now,
            ),
            None => Verification {
                verdict: Verdict::Invalid(
                    "signed by a key of no registry this verifier trusts (or a device it did \
                     not certify)"
                        .into(),
                ),
                registration: None,
                signer: None,
                revocation_list_age_secs: None,
                status_list_age_secs: None,
            },
        }
    }

    /// Verifies credential text (`BR1:…`) at Unix time `now`.
    pub fn verify_text(&self, text: &str, now: i64) -> Verification {
        match decode_text(text) {
            Ok(bytes) => self.verify_bytes(&bytes, now),
            Err(e) => Verification {
                verdict: Verdict::Invalid(e.to_string()),
                registration: None,
                signer: None,
                revocation_list_age_secs: None,
                status_list_age_secs: None,
            },
        }
    }

    /// Verifies the credential in the first QR code of a PNG or JPEG photo (or a camera
    /// frame's encoded image) at Unix time `now`; an image without a readable code is
    /// `unreadable` (scan again), never `invalid`.
    #[cfg(feature = "qr-image")]
    pub fn verify_image(&self, image: &[u8], now: i64) -> Verification {
        match qr::read_image(image) {
            Ok(text) => self.verify_text(&text, now),
            Err(e) => unreadable(e.to_string()),
        }
    }

    /// Verifies the credential in a camera frame given as its greyscale (luma, Y plane)
    /// pixels, `width` × `height`, one byte each, row after row. No readable QR code (or a
    /// frame of the wrong size) is `unreadable`.
    #[cfg(feature = "qr-image")]
    pub fn verify_frame(&self, width: u32, height: u32, luma: Vec<u8>, now: i64) -> Verification {
        let pixels = u64::from(width) * u64::from(height);
        if width > qr::MAX_IMAGE_SIDE
            || height > qr::MAX_IMAGE_SIDE
            || pixels > qr::MAX_IMAGE_PIXELS
        {
            return unreadable(format!(
                "the frame is larger than {} pixels",
                qr::MAX_IMAGE_PIXELS
            ));
        }
        let Some(image) = image::GrayImage::from_raw(width, height, luma) else {
            return unreadable(format!("the frame does not hold {width} × {height} pixels"));
        };
        match qr::read_luma(image) {
            Ok(text) => self.verify_text(&text, now),
            Err(e) => unreadable(e.to_string()),
        }
    }
}

#[cfg(feature = "qr-image")]
fn unreadable(reason: String) -> Verification {
    Verification {
        verdict: Verdict::Unreadable(reason),
        registration: None,
        signer: None,
        revocation_list_age_secs: None,
        status_list_age_secs: None,
    }
}

/// Verifies credential text (`BR1:…`).
pub fn verify_text(
    text: &str,
    trust: &TrustBundle,
    revocations: Option<&RevocationList>,
    now: i64,
) -> Verification {
    match decode_text(text) {
        Ok(bytes) => verify_bytes(&bytes, trust, revocations, now),
        Err(e) => Verification {
            verdict: Verdict::Invalid(e.to_string()),
            registration: None,
            signer: None,
            revocation_list_age_secs: list_age(revocations, now),
            status_list_age_secs: None,
        },
    }
}

#[cfg(test)]
mod tests;
