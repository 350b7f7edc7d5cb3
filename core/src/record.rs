//! Enrolment record v1: the JSON interchange form a field worker's app fills in, and the
//! signed record the core builds from it.
//!
//! The same Rust types serve both forms. In JSON, field names are used and unknown fields are
//! an error. In CBOR (see [`crate::codec`]) struct fields are encoded as integer keys: the
//! field's position in its struct, counting from 0 (documented in `docs/PROTOCOL.md`), so never
//! reorder fields here without bumping [`SCHEMA_VERSION`]: `core/tests/wire_keys.rs` pins every
//! field's key by name and fails on a reorder, and the vectors of `docs/vectors/formats.json`
//! pin the bytes.
//!
//! Every text field defaults to empty and every enum to `None` when absent from the JSON, so
//! that validation ([`crate::validate`]) can report *all* missing fields at once, each with its
//! path, instead of stopping at the first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the record schema written into every record.
pub const SCHEMA_VERSION: u16 = 1;

/// Largest JSON form accepted (a complete, realistic one is under 2 KiB).
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// The JSON form could not be read: too large, not JSON, or a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The form is larger than [`MAX_JSON_BYTES`].
    #[error("the form is {len} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Size of the form.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A field the form does not have. The unknown name is not repeated (it may be a child's
    /// name typed into the wrong place): only where it is and what is expected there.
    #[error(
        "unknown field at {} (line {line}, column {column}); expected {expected}",
        place(path)
    )]
    UnknownField {
        /// Path of the object holding the unknown field (`child`), empty for the top level.
        path: String,
        /// The fields expected there, as serde lists them (`one of `given_names`, ...`).
        expected: String,
        /// Line of the problem in the JSON text (from 1).
        line: usize,
        /// Column of the problem (from 1).
        column: usize,
    },
    /// The form is not JSON, or a field has the wrong type.
    #[error("{}{message} (line {line}, column {column})", field_prefix(path))]
    Shape {
        /// Path of the offending field (`child.plurality`), empty for the whole form.
        path: String,
        /// What is wrong, with any value from the form left out.
        message: String,
        /// Line of the problem in the JSON text (from 1).
        line: usize,
        /// Column of the problem (from 1).
        column: usize,
    },
}

fn field_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn place(path: &str) -> &str {
    if path.is_empty() {
        "the top level of the form"
    } else {
        path
    }
}

/// Whether a `custom` key is well-formed enough to be shown in a path (as `validate` does).
fn shown_custom_key(key: &str) -> bool {
    (1..=crate::validate::MAX_CUSTOM_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// The path of a decoding error with nothing from the input in it: struct field names (the
/// schema) and indices are kept; the last segment is left out when it is the unknown field
/// itself; a `custom` key is kept only when well-formed.
fn safe_path(path: &serde_path_to_error::Path, drop_last: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let keep = segments.len().saturating_sub(usize::from(drop_last));
    let mut out = String::new();
    for (i, segment) in segments.iter().take(keep).enumerate() {
        let name = match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } if i == 1 && out == "custom" && !shown_custom_key(key) => break,
            Segment::Map { key } => key.as_str(),
            Segment::Enum { variant } => variant.as_str(),
            Segment::Unknown => "?",
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(name);
    }
    out
}

impl FormError {
    fn from_json_error(
        path: Option<&serde_path_to_error::Path>,
        e: &serde_json::Error,
    ) -> FormError {
        // serde_json appends " at line L column C"; the line and column are kept as fields.
        let text = e.to_string();
        let message = match text.rfind(" at line ") {
            Some(cut) if e.line() > 0 => &text[..cut],
            _ => text.as_str(),
        };
        if message.starts_with("unknown field `") {
            // "unknown field `<input>`, expected one of `a`, `b`": the list comes last.
            // The list is serde's, from the schema; should the input have mimicked one (a key
            // holding ", expected ..."), only a list of plain field names is shown.
            let expected = message
                .rfind(", expected ")
                .map(|at| &message[at + ", expected ".len()..])
                .filter(|list| {
                    list.strip_prefix("one of ")
                        .unwrap_or(list)
                        .split(", ")
                        .all(|name| {
                            name.len() > 2
                                && name.starts_with('`')
                                && name.ends_with('`')
                                && name[1..name.len() - 1]
                                    .bytes()
                                    .all(|b| b.is_ascii_lowercase() || b == b'_')
                        })
                })
                .unwrap_or("one of the fields documented for it")
                .to_string();
            return FormError::UnknownField {
                path: path.map(|p| safe_path(p, true)).unwrap_or_default(),
                expected,
                line: e.line(),
                column: e.column(),
            };
        }
        FormError::Shape {
            path: path.map(|p| safe_path(p, false)).unwrap_or_default(),
            message: crate::redact::values(message),
            line: e.line(),
            column: e.column(),
        }
    }
}

/// What a field worker enters for one birth (biometric-free: no photo, fingerprint, iris or
/// voice, ever).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolmentInput {
    /// The child being registered.
    pub child: Child,
    /// Where the birth took place.
    pub place_of_birth: PlaceOfBirth,
    /// The child's mother.
    pub mother: Parent,
    /// The child's father, when known and declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub father: Option<Parent>,
    /// The person declaring the birth.
    pub informant: Informant,
    /// The people caring for the child (at least one).
    pub caregivers: Vec<Caregiver>,
    /// The informed consent of the declarant.
    pub consent: Consent,
    /// Free-text remarks from the field worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Country-specific form fields (bounded in count and size).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
}

/// The child being registered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Child {
    /// Given name(s), as the family writes them (NFC-normalised, trimmed).
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Sex recorded at birth.
    pub sex: Option<Sex>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, matching [`Child::date_of_birth_precision`].
    pub date_of_birth: String,
    /// How precisely the date of birth is known.
    pub date_of_birth_precision: Option<DatePrecision>,
    /// Local time of birth, `HH:MM` (24 h), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_of_birth: Option<String>,
    /// Number of children born in this delivery (1 = single birth, 2 = twins, ...).
    pub plurality: u8,
    /// Position of this child within a multiple birth (1-based).
    pub birth_order: u8,
}

/// Sex recorded at birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Not determined or not declared.
    Unknown,
}

/// How precisely a date is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatePrecision {
    /// Full date known: `YYYY-MM-DD`.
    Day,
    /// Only month known: `YYYY-MM`.
    Month,
    /// Only year known: `YYYY`.
    Year,
}

/// Where the birth took place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaceOfBirth {
    /// Kind of place.
    pub kind: Option<PlaceKind>,
    /// ISO 3166-2 subdivision code, e.g. `UA-46`.
    pub admin_area: String,
    /// Village, town or city.
    pub locality: String,
    /// Name of the health facility, when born in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    /// WGS 84 latitude in degrees, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// WGS 84 longitude in degrees, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// Kind of place of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    /// Hospital, clinic or maternity unit.
    HealthFacility,
    /// At home.
    Home,
    /// Anywhere else (in transit, in a camp, ...).
    Other,
}

/// A parent of the child.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Parent {
    /// Given name(s).
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// `YYYY-MM-DD`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// National identity document number, when the parent has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub national_id: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `UA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
}

/// The person declaring the birth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Informant {
    /// Given name(s).
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Relationship to the child, e.g. `mother`, `grandmother`, `midwife`.
    pub relationship: String,
    /// Phone number in E.164 form, e.g. `+380501234567`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A person caring for the child; the credential names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Caregiver {
    /// Given name(s).
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Relationship to the child, e.g. `mother`, `father`, `aunt`.
    pub relationship: String,
    /// Phone number in E.164 form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Informed consent to registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consent {
    /// Whether consent was given; registration requires `true`.
    pub given: bool,
    /// Who gave it, by relationship to the child, e.g. `mother`.
    pub by_relationship: String,
}

/// A validated, normalised record as signed by the device: the [`EnrolmentInput`] plus what the
/// core adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Schema version, [`SCHEMA_VERSION`].
    pub schema_version: u16,
    /// Record id: a UUIDv7 chosen by the capturing device.
    pub id: Uuid,
    /// Capture time, seconds since the Unix epoch (UTC).
    pub captured_at: i64,
    /// The field worker's id, as enrolled.
    pub worker_id: String,
    /// Key id of the signing device ([`crate::keys::KeyId`]).
    #[serde(with = "serde_bytes")]
    pub device_kid: Vec<u8>,
    /// Id of the earlier record this one corrects and supersedes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Uuid>,
    /// The enrolment data, validated and normalised.
    pub enrolment: EnrolmentInput,
}

impl EnrolmentInput {
    /// Parses the JSON interchange form. Unknown fields are an error; missing fields are left
    /// empty for [`crate::validate`] to report, all at once.
    /// Parses the JSON form (at most [`MAX_JSON_BYTES`]). A value of the wrong type or an
    /// unknown field fails with the field's path; the message never repeats the value (it may
    /// be a child's name).
    pub fn from_json(json: &str) -> Result<Self, FormError> {
        if json.len() > MAX_JSON_BYTES {
            return Err(FormError::TooLarge {
                len: json.len(),
                limit: MAX_JSON_BYTES,
            });
        }
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let input: Self = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| FormError::from_json_error(Some(e.path()), e.inner()))?;
        deserializer
            .end()
            .map_err(|e| FormError::from_json_error(None, &e))?;
        Ok(input)
    }

    /// The JSON interchange form.
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl Child {
    /// The child's full name for display: given names then family name.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_names, self.family_name)
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_field_is_located_without_repeating_it() {
        for (json, path, expected_start) in [
            (
                r#"{"child": {"Олена": 1}}"#,
                "child",
                "one of `given_names`, `family_name`",
            ),
            (r#"{"Олена": 1}"#, "", "one of `child`, `place_of_birth`"),
            (
                r#"{"caregivers": [{}, {"Олена Коваленко": "x"}]}"#,
                "caregivers[1]",
                "one of `given_names`",
            ),
            (
                r#"{"father": {"given_names": "x", "Олена, expected `x`": 2}}"#,
                "father",
                "one of `given_names`",
            ),
        ] {
            let err = EnrolmentInput::from_json(json).unwrap_err();
            let FormError::UnknownField {
                path: got,
                expected,
                line,
                ..
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!(got, path);
            assert!(expected.starts_with(expected_start), "{expected}");
            assert_eq!(*line, 1);
            let shown = err.to_string();
            assert!(!shown.contains("Олена"), "{shown}");
            assert!(shown.starts_with("unknown field at "), "{shown}");
        }
        assert_eq!(
            EnrolmentInput::from_json(r#"{"child": {"Олена": 1}}"#)
                .unwrap_err()
                .to_string(),
            "unknown field at child (line 1, column 23); expected one of `given_names`, \
             `family_name`, `sex`, `date_of_birth`, `date_of_birth_precision`, `time_of_birth`, \
             `plurality`, `birth_order`"
        );
    }

    #[test]
    fn paths_keep_the_schema_and_drop_input() {
        // A wrong value under a custom key typed with a name: the key is not shown.
        let err = EnrolmentInput::from_json(r#"{"custom": {"Олена": 5}}"#).unwrap_err();
        assert!(
            matches!(&err, FormError::Shape { path, .. } if path == "custom"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("Олена"));
        // A well-formed key is.
        let err = EnrolmentInput::from_json(r#"{"custom": {"village_code": 5}}"#).unwrap_err();
        assert!(
            matches!(&err, FormError::Shape { path, .. } if path == "custom.village_code"),
            "{err:?}"
        );
        // Values are never repeated.
        let err = EnrolmentInput::from_json(r#"{"child": {"sex": "Олена"}}"#).unwrap_err();
        assert!(matches!(&err, FormError::Shape { path, .. } if path == "child.sex"));
        assert!(!err.to_string().contains("Олена"), "{err}");
    }
}
