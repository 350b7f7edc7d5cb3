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

/// The country-specific fields of a form, key to value, in key order (the CBOR form sorts
/// them the same way on every device).
pub type CustomFields = BTreeMap<String, String>;

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
    /// The form is empty (or only white space).
    #[error("the form is empty: expected a JSON object ({{ ... }}) with the registration's fields")]
    Empty,
    /// A list where the form has an object (serde would otherwise read a list's items as the
    /// object's fields in order).
    #[error("{}", not_an_object(path))]
    NotAnObject {
        /// Path of the list (`child`, `caregivers[0]`), empty for the whole form.
        path: String,
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

fn not_an_object(path: &str) -> String {
    if path.is_empty() {
        "the form must be a JSON object ({ ... }), not a list ([ ... ])".into()
    } else {
        format!("{path}: must be an object ({{ ... }}), not a list ([ ... ])")
    }
}

/// Fields of the form whose value is an object.
const OBJECT_FIELDS: [&str; 6] = [
    "child",
    "place_of_birth",
    "mother",
    "father",
    "informant",
    "consent",
];

/// Refuses a list where the form has an object: the whole form, one of [`OBJECT_FIELDS`], or
/// a caregiver. Everything else is left to the typed decoding, which locates it by line.
fn lists_where_objects_belong(value: &serde_json::Value) -> Result<(), FormError> {
    use serde_json::Value;
    let not_an_object = |path: String| Err(FormError::NotAnObject { path });
    let fields = match value {
        Value::Object(fields) => fields,
        Value::Array(_) => return not_an_object(String::new()),
        _ => return Ok(()),
    };
    for name in OBJECT_FIELDS {
        if fields.get(name).is_some_and(Value::is_array) {
            return not_an_object(name.to_string());
        }
    }
    if let Some(Value::Array(caregivers)) = fields.get("caregivers")
        && let Some(i) = caregivers.iter().position(Value::is_array)
    {
        return not_an_object(format!("caregivers[{i}]"));
    }
    Ok(())
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
        let path = path.map(|p| safe_path(p, false)).unwrap_or_default();
        FormError::Shape {
            message: plain_message(message, &path),
            path,
            line: e.line(),
            column: e.column(),
        }
    }
}

/// What serde calls a kind of JSON value (`string "…"`, ``integer `5` ``, `map`), in words.
fn kind_in_words(unexpected: &str) -> &'static str {
    let kind = unexpected.split([' ', '`', '"']).next().unwrap_or_default();
    match kind {
        "string" | "char" => "text",
        "integer" => "a whole number",
        "floating" => "a number with a fraction",
        "boolean" => "true or false",
        "null" | "unit" => "null",
        "sequence" => "a list ([ ... ])",
        "map" => "an object ({ ... })",
        _ => "another kind of value",
    }
}

/// What serde says a field expects (`u8`, `a string`, `struct Child`, `enum Sex`), in words.
fn expected_in_words(expected: &str) -> String {
    let enum_values = |name: &str| match name {
        "Sex" => Some("female, male or unknown"),
        "DatePrecision" => Some("day, month or year"),
        "PlaceKind" => Some("health_facility, home or other"),
        _ => None,
    };
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "f64" | "f32" => "a number".into(),
        "a string" | "a borrowed string" | "a char" => "text (in double quotes)".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list ([ ... ])".into(),
        "a map" => "an object ({ ... })".into(),
        other if other.starts_with("struct ") => "an object ({ ... })".into(),
        other => match other.strip_prefix("enum ").and_then(enum_values) {
            Some(values) => format!("one of {values} (in double quotes)"),
            None => "a value of the kind documented for it".into(),
        },
    }
}

/// serde_json's message (already without its position) in plain language, with no value from
/// the form and no name from the code: "must be a whole number from 0 to 255, not text".
/// `path`: where (empty for the form as a whole).
fn plain_message(message: &str, path: &str) -> String {
    let top_level = path.is_empty();
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let invalid_type = message.starts_with("invalid type: ");
        let (unexpected, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
        let got = kind_in_words(unexpected);
        if top_level && expected.starts_with("struct ") {
            return format!("the form must be a JSON object ({{ ... }}), not {got}");
        }
        let want = expected_in_words(expected);
        return if invalid_type {
            format!("must be {want}, not {got}")
        } else {
            format!("must be {want}")
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // "unknown variant `x`, expected one of `a`, `b`": the list is the schema's.
        let values: Vec<&str> = rest
            .rsplit_once(", expected ")
            .map(|(_, list)| list.strip_prefix("one of ").unwrap_or(list))
            .unwrap_or_default()
            .split(", ")
            .map(|v| v.trim_matches('`'))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .collect();
        return match values.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("must be one of {} or {last}", rest.join(", "))
            }
            Some((only, _)) => format!("must be {only}"),
            None => "is not one of the values documented for it".into(),
        };
    }
    if let Some(field) = message.strip_prefix("duplicate field ") {
        // serde names only the schema's fields here (an unknown one is refused before).
        let name = field.trim_matches('`');
        return if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            format!("the field `{name}` is given twice")
        } else {
            "a field is given twice".into()
        };
    }
    if message.starts_with("EOF while parsing") {
        return "the form ends too early: the JSON is cut off (a missing } or ] or quote)".into();
    }
    if message == "trailing characters" {
        return "there is more after the end of the form's JSON object".into();
    }
    // serde_json reads an enum from text or an object only; anything else is "expected value".
    let enum_field = match path.rsplit('.').next() {
        Some("sex") => Some("Sex"),
        Some("date_of_birth_precision") => Some("DatePrecision"),
        Some("kind") => Some("PlaceKind"),
        _ => None,
    };
    if let (Some(name), "expected value") = (enum_field, message) {
        return format!("must be {}", expected_in_words(&format!("enum {name}")));
    }
    if message == "expected value" {
        return "is not JSON here: expected a value (text in double quotes, a number, true, \
                false, null, a list or an object)"
            .into();
    }
    // The JSON syntax itself ("expected `,` or `}`", "invalid escape", "key must be a string"):
    // serde_json's words are plain; the quoted parts are JSON punctuation, not values.
    format!("is not valid JSON: {}", crate::redact::values(message))
}

/// What a field worker enters for one birth (biometric-free: no photo, fingerprint, iris or
/// voice, ever).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationForm {
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
    pub custom: CustomFields,
}

/// The child being registered.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consent {
    /// Whether consent was given; registration requires `true`.
    pub given: bool,
    /// Who gave it, by relationship to the child, e.g. `mother`.
    pub by_relationship: String,
}

/// A validated, normalised record as signed by the device: the [`RegistrationForm`] plus what the
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
    /// The registration form, validated and normalised (the field keeps its historical name on the
    /// wire and in JSON output).
    pub enrolment: RegistrationForm,
}

impl RegistrationForm {
    /// Parses the JSON interchange form. Unknown fields are an error; missing fields are left
    /// empty for [`crate::validate`] to report, all at once. A leading UTF-8 byte order mark
    /// is skipped.
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
        // A byte order mark, as some editors write at the start of a UTF-8 file: not JSON,
        // but harmless.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        if json.trim().is_empty() {
            return Err(FormError::Empty);
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
            lists_where_objects_belong(&value)?;
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
            let err = RegistrationForm::from_json(json).unwrap_err();
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
            RegistrationForm::from_json(r#"{"child": {"Олена": 1}}"#)
                .unwrap_err()
                .to_string(),
            "unknown field at child (line 1, column 23); expected one of `given_names`, \
             `family_name`, `sex`, `date_of_birth`, `date_of_birth_precision`, `time_of_birth`, \
             `plurality`, `birth_order`"
        );
    }

    /// Words from the code, not the form: none may reach a person.
    const RUST_WORDS: [&str; 9] = [
        "u8",
        "f64",
        "struct",
        "RegistrationForm",
        "enum ",
        "variant",
        "invalid type",
        "sequence",
        "a map",
    ];

    fn shown(json: &str) -> String {
        let shown = RegistrationForm::from_json(json).unwrap_err().to_string();
        for word in RUST_WORDS {
            assert!(!shown.contains(word), "{word:?} in {shown:?}");
        }
        assert!(!shown.contains("Олена"), "a value repeated: {shown}");
        shown
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let with_bom = format!("\u{feff}{}", r#"{"notes": "x"}"#);
        assert_eq!(
            RegistrationForm::from_json(&with_bom)
                .unwrap()
                .notes
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn an_empty_form_or_a_list_is_told_plainly() {
        assert_eq!(RegistrationForm::from_json(""), Err(FormError::Empty));
        assert_eq!(RegistrationForm::from_json(" \n\t"), Err(FormError::Empty));
        assert_eq!(
            RegistrationForm::from_json("\u{feff}"),
            Err(FormError::Empty)
        );
        assert!(shown("").starts_with("the form is empty"));
        // serde would read a list's items as the fields in order: refused, wherever an object
        // belongs.
        assert_eq!(
            shown("[{\"child\": {}}]"),
            "the form must be a JSON object ({ ... }), not a list ([ ... ])"
        );
        assert_eq!(
            shown(r#"{"child": ["Олена", "Коваленко"]}"#),
            "child: must be an object ({ ... }), not a list ([ ... ])"
        );
        assert_eq!(
            shown(r#"{"caregivers": [{}, ["Олена"]]}"#),
            "caregivers[1]: must be an object ({ ... }), not a list ([ ... ])"
        );
        assert_eq!(
            shown("\"Олена\""),
            "the form must be a JSON object ({ ... }), not text (line 1, column 12)"
        );
        assert!(shown("{\"notes\": \"x\"").contains("ends too early"));
        assert!(shown("{} {}").contains("more after the end"));
        assert!(shown("Олена").starts_with("is not JSON here"));
    }

    #[test]
    fn wrong_values_are_told_in_plain_words_with_their_field() {
        assert_eq!(
            shown(r#"{"child": {"plurality": "Олена"}}"#),
            "child.plurality: must be a whole number from 0 to 255, not text (line 1, column 36)"
        );
        assert!(
            shown(r#"{"child": {"plurality": 300}}"#)
                .starts_with("child.plurality: must be a whole number from 0 to 255 (")
        );
        assert!(
            shown(r#"{"child": {"plurality": -1}}"#)
                .starts_with("child.plurality: must be a whole number from 0 to 255 (")
        );
        assert!(shown(r#"{"child": {"plurality": 1.5}}"#).starts_with(
            "child.plurality: must be a whole number from 0 to 255, not a number with a fraction"
        ));
        assert!(
            shown(r#"{"child": {"sex": "Олена"}}"#)
                .starts_with("child.sex: must be one of female, male or unknown (")
        );
        let sex = shown(r#"{"child": {"sex": 1}}"#);
        assert!(
            sex.starts_with(
                "child.sex: must be one of female, male or unknown (in double quotes) ("
            ),
            "{sex}"
        );
        assert!(
            shown(r#"{"child": {"date_of_birth_precision": "days"}}"#)
                .starts_with("child.date_of_birth_precision: must be one of day, month or year (")
        );
        assert!(
            shown(r#"{"child": {"given_names": 5}}"#).starts_with(
                "child.given_names: must be text (in double quotes), not a whole number"
            )
        );
        assert!(
            shown(r#"{"child": "Олена"}"#)
                .starts_with("child: must be an object ({ ... }), not text")
        );
        assert!(
            shown(r#"{"caregivers": {}}"#)
                .starts_with("caregivers: must be a list ([ ... ]), not an object ({ ... })")
        );
        assert!(
            shown(r#"{"consent": {"given": "yes"}}"#)
                .starts_with("consent.given: must be true or false, not text")
        );
        assert!(
            shown(r#"{"custom": []}"#)
                .starts_with("custom: must be an object ({ ... }), not a list")
        );
        assert!(
            shown(r#"{"place_of_birth": {"latitude": "x"}}"#)
                .starts_with("place_of_birth.latitude: must be a number, not text")
        );
        assert!(
            shown(r#"{"notes": null, "notes": "x"}"#).contains("the field `notes` is given twice"),
        );
    }

    #[test]
    fn paths_keep_the_schema_and_drop_input() {
        // A wrong value under a custom key typed with a name: the key is not shown.
        let err = RegistrationForm::from_json(r#"{"custom": {"Олена": 5}}"#).unwrap_err();
        assert!(
            matches!(&err, FormError::Shape { path, .. } if path == "custom"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("Олена"));
        // A well-formed key is.
        let err = RegistrationForm::from_json(r#"{"custom": {"village_code": 5}}"#).unwrap_err();
        assert!(
            matches!(&err, FormError::Shape { path, .. } if path == "custom.village_code"),
            "{err:?}"
        );
        // Values are never repeated.
        let err = RegistrationForm::from_json(r#"{"child": {"sex": "Олена"}}"#).unwrap_err();
        assert!(matches!(&err, FormError::Shape { path, .. } if path == "child.sex"));
        assert!(!err.to_string().contains("Олена"), "{err}");
    }
}
