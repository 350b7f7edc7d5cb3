//! Validation and normalisation of an enrolment.
//!
//! [`validate`] returns either the normalised input (Unicode NFC, trimmed, inner whitespace
//! collapsed, codes upper-cased, phones stripped of separators) or *every* problem found, each
//! with its field path (`child.date_of_birth`, `caregivers[1].phone`) and a short message an
//! app can show next to the field. Messages never repeat the value: it may be personal data.
//! Normalising is idempotent, so the registry can re-run this and require a signed record to be
//! already normal.

use std::fmt;

use time::{Date, Month, OffsetDateTime};
use unicode_normalization::UnicodeNormalization;

use crate::record::{
    Caregiver, Child, DatePrecision, Informant, Parent, PlaceKind, PlaceOfBirth, RegistrationForm,
};

/// Longest name (given or family), in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest locality, facility or relationship, in characters.
pub const MAX_TEXT_CHARS: usize = 100;
/// Longest national id, in characters.
pub const MAX_NATIONAL_ID_CHARS: usize = 32;
/// Longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 1000;
/// Most caregivers.
pub const MAX_CAREGIVERS: usize = 8;
/// Most custom fields.
pub const MAX_CUSTOM_FIELDS: usize = 32;
/// Longest custom field key, in characters.
pub const MAX_CUSTOM_KEY_CHARS: usize = 40;
/// Longest custom field value, in characters.
pub const MAX_CUSTOM_VALUE_CHARS: usize = 200;
/// Most bytes of all custom keys and values together.
pub const MAX_CUSTOM_TOTAL_BYTES: usize = 4096;
/// How far back a birth may be registered, in years.
pub const MAX_CHILD_AGE_YEARS: i32 = 18;

/// What kind of problem a field has: a stable code an app can translate (with the field path)
/// instead of showing the English [`FieldError::message`]. The string forms ([`Self::as_str`])
/// are part of the API (`docs/PROTOCOL.md` §1, validation problems) and never change meaning.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    /// A required field is empty or missing.
    Required,
    /// Longer than the field allows (the message gives the limit).
    TooLong,
    /// More entries than allowed (caregivers, custom fields).
    TooMany,
    /// Contains a control, invisible, direction-changing, private-use or noncharacter code
    /// point (the message names it by its U+ number).
    ForbiddenCharacter,
    /// A name without a single letter.
    NoLetter,
    /// Not a date (or month, or year) in the form the field or its precision asks.
    NotADate,
    /// A date of birth after the capture day.
    FutureDate,
    /// A child's date of birth too far back to register with this form.
    TooOld,
    /// Not a time in the form `HH:MM`.
    NotATime,
    /// A number outside its allowed range (plurality, latitude, longitude).
    OutOfRange,
    /// Not a phone number in international (E.164) form.
    InvalidPhone,
    /// Not an ISO 3166-1 alpha-2 country code.
    InvalidCountry,
    /// Not an ISO 3166-2 subdivision code.
    InvalidAdminArea,
    /// A custom field key that is not 1 to 40 of `a-z 0-9 _ . -`.
    InvalidKey,
    /// Given where it does not apply (a facility for a home birth, a time of birth without
    /// the exact day).
    NotApplicable,
    /// Inconsistent with another field (birth order above plurality, a parent born after the
    /// child, a latitude without a longitude).
    Inconsistent,
    /// A parent's date of birth that gives an implausible age at the birth.
    ImplausibleAge,
    /// Consent to registration was not given.
    ConsentNotGiven,
}

impl FieldCode {
    /// Every code, in declaration order.
    pub const ALL: [FieldCode; 18] = [
        FieldCode::Required,
        FieldCode::TooLong,
        FieldCode::TooMany,
        FieldCode::ForbiddenCharacter,
        FieldCode::NoLetter,
        FieldCode::NotADate,
        FieldCode::FutureDate,
        FieldCode::TooOld,
        FieldCode::NotATime,
        FieldCode::OutOfRange,
        FieldCode::InvalidPhone,
        FieldCode::InvalidCountry,
        FieldCode::InvalidAdminArea,
        FieldCode::InvalidKey,
        FieldCode::NotApplicable,
        FieldCode::Inconsistent,
        FieldCode::ImplausibleAge,
        FieldCode::ConsentNotGiven,
    ];

    /// The stable code: `required`, `too_long`, `future_date`, …
    pub fn as_str(self) -> &'static str {
        match self {
            FieldCode::Required => "required",
            FieldCode::TooLong => "too_long",
            FieldCode::TooMany => "too_many",
            FieldCode::ForbiddenCharacter => "forbidden_character",
            FieldCode::NoLetter => "no_letter",
            FieldCode::NotADate => "not_a_date",
            FieldCode::FutureDate => "future_date",
            FieldCode::TooOld => "too_old",
            FieldCode::NotATime => "not_a_time",
            FieldCode::OutOfRange => "out_of_range",
            FieldCode::InvalidPhone => "invalid_phone",
            FieldCode::InvalidCountry => "invalid_country",
            FieldCode::InvalidAdminArea => "invalid_admin_area",
            FieldCode::InvalidKey => "invalid_key",
            FieldCode::NotApplicable => "not_applicable",
            FieldCode::Inconsistent => "inconsistent",
            FieldCode::ImplausibleAge => "implausible_age",
            FieldCode::ConsentNotGiven => "consent_not_given",
        }
    }
}

impl fmt::Display for FieldCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Where: `child.given_names`, `caregivers[0].phone`, `custom.village_code`; in a batch
    /// capture prefixed with the form's position, `records[3].child.given_names`.
    pub path: String,
    /// What kind of problem, for apps that translate.
    pub code: FieldCode,
    /// What is wrong, in English, for the person filling in the form.
    pub message: String,
}

impl FieldError {
    /// For a problem reported by a batch capture: the position of the form in the batch (from
    /// 0) and the path inside that form.
    pub fn batch_item(&self) -> Option<(usize, &str)> {
        let rest = self.path.strip_prefix("records[")?;
        let (index, path) = rest.split_once("].")?;
        Some((index.parse().ok()?, path))
    }
}

/// All problems found in one enrolment (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// One line per problem, `path: message`, for showing as a list.
    pub fn lines(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s): ", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}

/// ISO 3166-1 alpha-2 codes assigned as of 2024 (249 codes).
const ISO_3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code.
pub fn is_country_code(code: &str) -> bool {
    ISO_3166_ALPHA2.binary_search(&code).is_ok()
}

/// Unicode format characters (general category Cf) and other default-ignorable code points:
/// invisible, and some (the bidirectional controls) reorder the text around them, so a name
/// could display as something else than what was signed. Inclusive ranges.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{115F}', '\u{1160}'),   // Hangul fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian variation selectors, vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, ZWNJ, ZWJ, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, bidi isolates
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FEFF}', '\u{FEFF}'),   // byte order mark, zero width no-break space
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFFB}'),   // interlinear annotation controls
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0000}', '\u{E0FFF}'), // tag characters, variation selectors supplement
];

/// What is wrong with `ch` in a name or text field, if anything: controls, invisible and
/// direction-changing characters (format characters and default-ignorable code points),
/// private-use characters and noncharacters. The same kinds of character UTS #39 (identifier
/// profile) and RFC 8264 (PRECIS) exclude; letters of any script, combining accents,
/// apostrophes (' and ʼ), hyphens and spaces are all fine.
fn forbidden(ch: char) -> Option<&'static str> {
    let c = ch as u32;
    if ch.is_control() {
        Some("a control character")
    } else if INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&ch)) {
        Some("an invisible or direction-changing character")
    } else if (0xE000..=0xF8FF).contains(&c) || c >= 0xF0000 {
        // Planes 15 and 16 are private use (their last two code points noncharacters).
        Some("a private-use character")
    } else if (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE {
        Some("a noncharacter")
    } else {
        None
    }
}

/// Checks that `text` holds no control (except a newline when `newlines` is set), invisible,
/// direction-changing, private-use or noncharacter code point. The message names the kind and
/// the code point (`contains an invisible or direction-changing character (U+202E)`), never
/// the text itself. Used on the form and by the credential verifier on what it displays.
pub fn check_visible(text: &str, newlines: bool) -> Result<(), String> {
    match text
        .chars()
        .filter(|&ch| !(newlines && ch == '\n'))
        .find_map(|ch| forbidden(ch).map(|why| (ch, why)))
    {
        None => Ok(()),
        Some((ch, why)) => Err(format!("contains {why} (U+{:04X})", ch as u32)),
    }
}

/// NFC, trimmed, inner whitespace runs collapsed to one space.
fn normalise_line(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// NFC and trimmed, keeping inner newlines (for notes); other whitespace runs on a line collapsed.
fn normalise_block(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, code: FieldCode, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            code,
            message: message.into(),
        });
    }

    /// A required or optional name.
    fn name(&mut self, path: &str, value: &str) -> String {
        let v = normalise_line(value);
        if v.is_empty() {
            self.err(path, FieldCode::Required, "is required");
        } else if v.chars().count() > MAX_NAME_CHARS {
            self.err(
                path,
                FieldCode::TooLong,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        } else if let Err(message) = check_visible(&v, false) {
            self.err(path, FieldCode::ForbiddenCharacter, message);
        } else if !v.chars().any(char::is_alphabetic) {
            self.err(
                path,
                FieldCode::NoLetter,
                "must contain at least one letter",
            );
        }
        v
    }

    /// A required or optional single-line text with a length limit.
    fn text(&mut self, path: &str, value: &str, required: bool, max: usize) -> String {
        let v = normalise_line(value);
        if v.is_empty() {
            if required {
                self.err(path, FieldCode::Required, "is required");
            }
        } else if v.chars().count() > max {
            self.err(
                path,
                FieldCode::TooLong,
                format!("must be at most {max} characters"),
            );
        } else if let Err(message) = check_visible(&v, false) {
            self.err(path, FieldCode::ForbiddenCharacter, message);
        }
        v
    }

    fn optional_text(&mut self, path: &str, value: &Option<String>, max: usize) -> Option<String> {
        value
            .as_deref()
            .map(|v| self.text(path, v, false, max))
            .filter(|v| !v.is_empty())
    }

    fn phone(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        let raw = value.as_deref()?;
        let v: String = raw
            .nfc()
            .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
            .collect();
        if v.is_empty() {
            return None;
        }
        let digits = v.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            self.err(
                path,
                FieldCode::InvalidPhone,
                "must be a phone number in international format, e.g. +380501234567",
            );
        }
        Some(v)
    }

    fn country(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        let v = normalise_line(value.as_deref()?).to_uppercase();
        if v.is_empty() {
            return None;
        }
        if !is_country_code(&v) {
            self.err(
                path,
                FieldCode::InvalidCountry,
                "must be a two-letter ISO 3166-1 country code, e.g. UA",
            );
        }
        Some(v)
    }

    fn parent(&mut self, prefix: &str, p: &Parent) -> Parent {
        Parent {
            given_names: self.name(&format!("{prefix}.given_names"), &p.given_names),
            family_name: self.name(&format!("{prefix}.family_name"), &p.family_name),
            date_of_birth: p.date_of_birth.as_deref().map(normalise_line).filter(|d| {
                if d.is_empty() {
                    return false;
                }
                if parse_day(d).is_none() {
                    self.err(
                        format!("{prefix}.date_of_birth"),
                        FieldCode::NotADate,
                        date_problem(d, DatePrecision::Day),
                    );
                }
                true
            }),
            national_id: self.optional_text(
                &format!("{prefix}.national_id"),
                &p.national_id,
                MAX_NATIONAL_ID_CHARS,
            ),
            nationality: self.country(&format!("{prefix}.nationality"), &p.nationality),
        }
    }
}

fn parse_number(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `YYYY-MM-DD` as a real calendar date.
fn parse_day(s: &str) -> Option<Date> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(parse_number(m, 2)? as u8).ok()?;
    Date::from_calendar_date(parse_number(y, 4)? as i32, month, parse_number(d, 2)? as u8).ok()
}

/// Whether `s` has the digits and dashes of a date of `precision` (`YYYY-MM-DD`, `YYYY-MM`,
/// `YYYY`), whatever the numbers.
fn date_shaped(s: &str, precision: DatePrecision) -> bool {
    let lengths: &[usize] = match precision {
        DatePrecision::Day => &[4, 2, 2],
        DatePrecision::Month => &[4, 2],
        DatePrecision::Year => &[4],
    };
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == lengths.len()
        && parts
            .iter()
            .zip(lengths)
            .all(|(part, &len)| part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Why `s` is not a date of `precision`: not written as one, or written as one that the
/// calendar does not have (2026-02-30, 2026-13). The value itself is not repeated (a date of
/// birth is personal data).
fn date_problem(s: &str, precision: DatePrecision) -> &'static str {
    match (precision, date_shaped(s, precision)) {
        (DatePrecision::Day, false) => "must be a date in the form YYYY-MM-DD",
        (DatePrecision::Month, false) => "must be a month in the form YYYY-MM",
        (DatePrecision::Year, false) => "must be a year in the form YYYY",
        (DatePrecision::Day, true) => {
            "is not a date in the calendar: that month has no such day, or there is no such month"
        }
        (DatePrecision::Month | DatePrecision::Year, true) => {
            "is not a month in the calendar: months are 01 to 12"
        }
    }
}

/// The first and last day of a date of birth of the given precision.
fn date_range(s: &str, precision: DatePrecision) -> Option<(Date, Date)> {
    match precision {
        DatePrecision::Day => parse_day(s).map(|d| (d, d)),
        DatePrecision::Month => {
            let (y, m) = s.split_once('-')?;
            let year = parse_number(y, 4)? as i32;
            let month = Month::try_from(parse_number(m, 2)? as u8).ok()?;
            let first = Date::from_calendar_date(year, month, 1).ok()?;
            let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
            Some((first, last))
        }
        DatePrecision::Year => {
            let year = parse_number(s, 4)? as i32;
            Some((
                Date::from_calendar_date(year, Month::January, 1).ok()?,
                Date::from_calendar_date(year, Month::December, 31).ok()?,
            ))
        }
    }
}

/// The same calendar day `years` earlier (29 February becomes 28 February).
fn years_before(date: Date, years: i32) -> Date {
    let year = date.year() - years;
    Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(year, date.month(), 28))
        .unwrap_or(date)
}

/// Whole years from `born` to `at`.
fn age_in_years(born: Date, at: Date) -> i32 {
    let mut age = at.year() - born.year();
    if (at.month() as u8, at.day()) < (born.month() as u8, born.day()) {
        age -= 1;
    }
    age
}

fn valid_time(s: &str) -> bool {
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    matches!((parse_number(h, 2), parse_number(m, 2)), (Some(h), Some(m)) if h < 24 && m < 60)
}

fn valid_admin_area(s: &str) -> bool {
    let Some((country, sub)) = s.split_once('-') else {
        return false;
    };
    is_country_code(country)
        && (1..=3).contains(&sub.len())
        && sub
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Checker {
    /// The child's section; also the range of days the birth may be on, when the date is
    /// valid (for the parents' ages).
    fn child(&mut self, ch: &Child, today: Date) -> (Child, Option<(Date, Date)>) {
        let child = Child {
            given_names: self.name("child.given_names", &ch.given_names),
            family_name: self.name("child.family_name", &ch.family_name),
            sex: ch.sex,
            date_of_birth: normalise_line(&ch.date_of_birth),
            date_of_birth_precision: ch.date_of_birth_precision,
            time_of_birth: ch
                .time_of_birth
                .as_deref()
                .map(normalise_line)
                .filter(|t| !t.is_empty()),
            plurality: ch.plurality,
            birth_order: ch.birth_order,
        };
        if child.sex.is_none() {
            self.err("child.sex", FieldCode::Required, "is required");
        }
        let mut birth_range = None;
        match (
            child.date_of_birth.is_empty(),
            child.date_of_birth_precision,
        ) {
            (true, _) => self.err("child.date_of_birth", FieldCode::Required, "is required"),
            (false, None) => {}
            (false, Some(precision)) => match date_range(&child.date_of_birth, precision) {
                None => self.err(
                    "child.date_of_birth",
                    FieldCode::NotADate,
                    date_problem(&child.date_of_birth, precision),
                ),
                Some((first, last)) => {
                    if first > today {
                        self.err(
                            "child.date_of_birth",
                            FieldCode::FutureDate,
                            "must not be in the future",
                        );
                    } else if last < years_before(today, MAX_CHILD_AGE_YEARS) {
                        self.err(
                            "child.date_of_birth", FieldCode::TooOld,
                            format!(
                                "must be within the last {MAX_CHILD_AGE_YEARS} years: older people are registered differently"
                            ),
                        );
                    } else {
                        birth_range = Some((first, last));
                    }
                }
            },
        }
        if child.date_of_birth_precision.is_none() {
            self.err(
                "child.date_of_birth_precision",
                FieldCode::Required,
                "is required",
            );
        }
        if let Some(t) = &child.time_of_birth {
            if child.date_of_birth_precision != Some(DatePrecision::Day) {
                self.err(
                    "child.time_of_birth",
                    FieldCode::NotApplicable,
                    "can only be given when the exact day of birth is known",
                );
            } else if !valid_time(t) {
                self.err(
                    "child.time_of_birth",
                    FieldCode::NotATime,
                    "must be a time in the form HH:MM (24-hour)",
                );
            }
        }
        if child.plurality == 0 {
            self.err("child.plurality", FieldCode::Required, "is required");
        } else if child.plurality > 8 {
            self.err(
                "child.plurality",
                FieldCode::OutOfRange,
                "must be between 1 and 8",
            );
        }
        if child.birth_order == 0 {
            self.err("child.birth_order", FieldCode::Required, "is required");
        } else if child.plurality > 0 && child.birth_order > child.plurality {
            self.err(
                "child.birth_order",
                FieldCode::Inconsistent,
                "must not be greater than the number of children born (plurality)",
            );
        }
        (child, birth_range)
    }

    /// The place of birth.
    fn place_of_birth(&mut self, pb: &PlaceOfBirth) -> PlaceOfBirth {
        let admin_area = normalise_line(&pb.admin_area).to_uppercase();
        let place = PlaceOfBirth {
            kind: pb.kind,
            admin_area,
            locality: self.text(
                "place_of_birth.locality",
                &pb.locality,
                true,
                MAX_TEXT_CHARS,
            ),
            facility: self.optional_text("place_of_birth.facility", &pb.facility, MAX_TEXT_CHARS),
            latitude: pb.latitude,
            longitude: pb.longitude,
        };
        if place.kind.is_none() {
            self.err("place_of_birth.kind", FieldCode::Required, "is required");
        }
        if place.admin_area.is_empty() {
            self.err(
                "place_of_birth.admin_area",
                FieldCode::Required,
                "is required",
            );
        } else if !valid_admin_area(&place.admin_area) {
            self.err(
                "place_of_birth.admin_area",
                FieldCode::InvalidAdminArea,
                "must be an ISO 3166-2 code such as UA-46",
            );
        }
        if place.facility.is_some() && place.kind == Some(PlaceKind::Home) {
            self.err(
                "place_of_birth.facility",
                FieldCode::NotApplicable,
                "only applies to births in a health facility",
            );
        }
        match (place.latitude, place.longitude) {
            (Some(lat), Some(lon)) => {
                if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
                    self.err(
                        "place_of_birth.latitude",
                        FieldCode::OutOfRange,
                        "must be between -90 and 90",
                    );
                }
                if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
                    self.err(
                        "place_of_birth.longitude",
                        FieldCode::OutOfRange,
                        "must be between -180 and 180",
                    );
                }
            }
            (Some(_), None) => self.err(
                "place_of_birth.longitude",
                FieldCode::Inconsistent,
                "is required when a latitude is given",
            ),
            (None, Some(_)) => self.err(
                "place_of_birth.latitude",
                FieldCode::Inconsistent,
                "is required when a longitude is given",
            ),
            (None, None) => {}
        }
        place
    }

    /// The parents' ages at a birth between `first` and `last`, when their dates of birth are
    /// known.
    fn parent_ages(
        &mut self,
        (first, last): (Date, Date),
        mother: &Parent,
        father: Option<&Parent>,
    ) {
        for (path, parent, min, max) in [
            ("mother.date_of_birth", Some(mother), 10, 60),
            ("father.date_of_birth", father, 12, 90),
        ] {
            let Some(born) = parent
                .and_then(|p| p.date_of_birth.as_deref())
                .and_then(parse_day)
            else {
                continue;
            };
            if born >= first {
                self.err(
                    path,
                    FieldCode::Inconsistent,
                    "must be before the child's date of birth",
                );
                continue;
            }
            // Plausible if some day in the child's birth range gives an age within bounds.
            let youngest = age_in_years(born, first);
            let oldest = age_in_years(born, last);
            if oldest < min || youngest > max {
                self.err(
                    path,
                    FieldCode::ImplausibleAge,
                    format!(
                        "gives an implausible age at the birth (expected {min} to {max} years)"
                    ),
                );
            }
        }
    }

    /// The informant.
    fn informant(&mut self, inf: &Informant) -> Informant {
        Informant {
            given_names: self.name("informant.given_names", &inf.given_names),
            family_name: self.name("informant.family_name", &inf.family_name),
            relationship: self.text(
                "informant.relationship",
                &inf.relationship,
                true,
                MAX_TEXT_CHARS,
            ),
            phone: self.phone("informant.phone", &inf.phone),
        }
    }

    /// The caregivers (at least one, at most [`MAX_CAREGIVERS`]).
    fn caregivers(&mut self, caregivers_in: &[Caregiver]) -> Vec<Caregiver> {
        if caregivers_in.is_empty() {
            self.err(
                "caregivers",
                FieldCode::Required,
                "at least one caregiver is required",
            );
        } else if caregivers_in.len() > MAX_CAREGIVERS {
            self.err(
                "caregivers",
                FieldCode::TooMany,
                format!("at most {MAX_CAREGIVERS} caregivers"),
            );
        }
        let caregivers: Vec<Caregiver> = caregivers_in
            .iter()
            .enumerate()
            .map(|(i, cg)| Caregiver {
                given_names: self.name(&format!("caregivers[{i}].given_names"), &cg.given_names),
                family_name: self.name(&format!("caregivers[{i}].family_name"), &cg.family_name),
                relationship: self.text(
                    &format!("caregivers[{i}].relationship"),
                    &cg.relationship,
                    true,
                    MAX_TEXT_CHARS,
                ),
                phone: self.phone(&format!("caregivers[{i}].phone"), &cg.phone),
            })
            .collect();
        caregivers
    }

    /// The consent, which must be given.
    fn consent(&mut self, consent_in: &crate::record::Consent) -> crate::record::Consent {
        let consent = crate::record::Consent {
            given: consent_in.given,
            by_relationship: self.text(
                "consent.by_relationship",
                &consent_in.by_relationship,
                true,
                MAX_TEXT_CHARS,
            ),
        };
        if !consent.given {
            self.err(
                "consent.given",
                FieldCode::ConsentNotGiven,
                "consent must be given before registering",
            );
        }
        consent
    }

    /// The free-text notes (several lines allowed).
    fn notes(&mut self, notes_in: Option<&str>) -> Option<String> {
        let notes = notes_in.map(normalise_block).filter(|n| !n.is_empty());
        if let Some(n) = &notes {
            if n.chars().count() > MAX_NOTES_CHARS {
                self.err(
                    "notes",
                    FieldCode::TooLong,
                    format!("must be at most {MAX_NOTES_CHARS} characters"),
                );
            } else if let Err(message) = check_visible(n, true) {
                self.err("notes", FieldCode::ForbiddenCharacter, message);
            }
        }
        notes
    }

    /// The country-specific fields: well-formed keys, bounded values and total.
    fn custom(&mut self, custom_in: &crate::record::CustomFields) -> crate::record::CustomFields {
        if custom_in.len() > MAX_CUSTOM_FIELDS {
            self.err(
                "custom",
                FieldCode::TooMany,
                format!("at most {MAX_CUSTOM_FIELDS} custom fields"),
            );
        }
        let mut total = 0;
        let mut custom = std::collections::BTreeMap::new();
        for (key, value) in custom_in {
            let value = normalise_line(value);
            total += key.len() + value.len();
            let key_ok = (1..=MAX_CUSTOM_KEY_CHARS).contains(&key.chars().count())
                && key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                });
            // Keys are shown in paths: only show well-formed ones.
            let path = if key_ok {
                format!("custom.{key}")
            } else {
                "custom".to_string()
            };
            if !key_ok {
                self.err(
                    &path,
                    FieldCode::InvalidKey,
                    format!(
                        "keys must be 1 to {MAX_CUSTOM_KEY_CHARS} characters of a-z, 0-9, '_', '.', '-'"
                    ),
                );
            } else if value.chars().count() > MAX_CUSTOM_VALUE_CHARS {
                self.err(
                    &path,
                    FieldCode::TooLong,
                    format!("must be at most {MAX_CUSTOM_VALUE_CHARS} characters"),
                );
            } else if let Err(message) = check_visible(&value, false) {
                self.err(&path, FieldCode::ForbiddenCharacter, message);
            }
            custom.insert(key.clone(), value);
        }
        if total > MAX_CUSTOM_TOTAL_BYTES {
            self.err(
                "custom",
                FieldCode::TooLong,
                format!("custom fields must total at most {MAX_CUSTOM_TOTAL_BYTES} bytes"),
            );
        }
        custom
    }
}

/// Validates and normalises an enrolment captured at `captured_at` (UTC). Returns the
/// normalised input, or every problem found, in the order of the form's fields. One check per
/// section of the form, in the form's order ([`Checker`]'s methods).
pub fn validate(
    input: &RegistrationForm,
    captured_at: OffsetDateTime,
) -> Result<RegistrationForm, ValidationErrors> {
    let mut c = Checker { errors: Vec::new() };
    let (child, birth_range) = c.child(&input.child, captured_at.date());
    let place_of_birth = c.place_of_birth(&input.place_of_birth);
    let mother = c.parent("mother", &input.mother);
    let father = input.father.as_ref().map(|f| c.parent("father", f));
    if let Some(range) = birth_range {
        c.parent_ages(range, &mother, father.as_ref());
    }
    let informant = c.informant(&input.informant);
    let caregivers = c.caregivers(&input.caregivers);
    let consent = c.consent(&input.consent);
    let notes = c.notes(input.notes.as_deref());
    let custom = c.custom(&input.custom);
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| field_order(&e.path));
        return Err(ValidationErrors(c.errors));
    }
    Ok(RegistrationForm {
        child,
        place_of_birth,
        mother,
        father,
        informant,
        caregivers,
        consent,
        notes,
        custom,
    })
}

/// Position of a path's top-level section in the form, for a stable, form-ordered report.
fn field_order(path: &str) -> usize {
    const SECTIONS: [&str; 9] = [
        "child",
        "place_of_birth",
        "mother",
        "father",
        "informant",
        "caregivers",
        "consent",
        "notes",
        "custom",
    ];
    let head = path.split(['.', '[']).next().unwrap_or(path);
    SECTIONS
        .iter()
        .position(|s| *s == head)
        .unwrap_or(SECTIONS.len())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::fixtures::reference_input;

    const AT: OffsetDateTime = datetime!(2026-03-20 10:00 UTC);

    fn paths(input: &RegistrationForm) -> Vec<String> {
        match validate(input, AT) {
            Ok(_) => vec![],
            Err(e) => e.0.into_iter().map(|f| f.path).collect(),
        }
    }

    #[test]
    fn reference_input_is_valid() {
        let normal = validate(&reference_input(), AT).unwrap();
        assert_eq!(normal, reference_input());
    }

    #[test]
    fn empty_input_reports_every_required_field_at_once() {
        let errors = validate(&RegistrationForm::default(), AT).unwrap_err();
        let got: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "child.given_names",
            "child.family_name",
            "child.sex",
            "child.date_of_birth",
            "child.date_of_birth_precision",
            "child.plurality",
            "child.birth_order",
            "place_of_birth.kind",
            "place_of_birth.admin_area",
            "place_of_birth.locality",
            "mother.given_names",
            "mother.family_name",
            "informant.given_names",
            "informant.family_name",
            "informant.relationship",
            "caregivers",
            "consent.given",
            "consent.by_relationship",
        ] {
            assert!(got.contains(&expected), "missing {expected} in {got:?}");
        }
        assert!(errors.0.iter().all(|e| e.message == "is required"
            || e.path == "caregivers"
            || e.path == "consent.given"));
        let text = errors.to_string();
        assert!(text.starts_with(&format!(
            "{} problem(s): child.given_names: is required",
            errors.0.len()
        )));
    }

    #[test]
    fn an_impossible_date_is_told_apart_from_a_badly_written_one() {
        let message = |change: fn(&mut RegistrationForm), path: &str| {
            let mut input = reference_input();
            change(&mut input);
            let errors = validate(&input, AT).unwrap_err();
            errors
                .0
                .iter()
                .find(|e| e.path == path)
                .map(|e| e.message.clone())
                .unwrap_or_else(|| panic!("no error at {path}: {errors}"))
        };
        let impossible = message(
            |i| i.child.date_of_birth = "2026-02-30".into(),
            "child.date_of_birth",
        );
        assert!(
            impossible.starts_with("is not a date in the calendar"),
            "{impossible}"
        );
        assert!(!impossible.contains("2026"), "the value is not repeated");
        let month = message(
            |i| i.child.date_of_birth = "2026-13-01".into(),
            "child.date_of_birth",
        );
        assert!(
            month.starts_with("is not a date in the calendar"),
            "{month}"
        );
        let written = message(
            |i| i.child.date_of_birth = "14.03.2026".into(),
            "child.date_of_birth",
        );
        assert_eq!(written, "must be a date in the form YYYY-MM-DD");
        let mother = message(
            |i| i.mother.date_of_birth = Some("1990-02-29".into()),
            "mother.date_of_birth",
        );
        assert!(
            mother.starts_with("is not a date in the calendar"),
            "{mother}"
        );
        let by_month = message(
            |i| {
                i.child.date_of_birth = "2026-13".into();
                i.child.date_of_birth_precision = Some(DatePrecision::Month);
                i.child.time_of_birth = None;
            },
            "child.date_of_birth",
        );
        assert!(
            by_month.starts_with("is not a month in the calendar"),
            "{by_month}"
        );
    }

    #[test]
    fn table_of_rules() {
        type Mutation = fn(&mut RegistrationForm);
        let cases: Vec<(&str, Mutation, &[&str])> = vec![
            (
                "future birth",
                |i| i.child.date_of_birth = "2026-03-21".into(),
                &["child.date_of_birth"],
            ),
            (
                "birth today is fine",
                |i| i.child.date_of_birth = "2026-03-20".into(),
                &[],
            ),
            (
                "not a date",
                |i| i.child.date_of_birth = "2026-02-30".into(),
                &["child.date_of_birth"],
            ),
            (
                "18 years ago exactly",
                |i| {
                    i.child.date_of_birth = "2008-03-20".into();
                    i.mother.date_of_birth = None;
                },
                &[],
            ),
            (
                "more than 18 years",
                |i| {
                    i.child.date_of_birth = "2008-03-19".into();
                    i.mother.date_of_birth = None;
                },
                &["child.date_of_birth"],
            ),
            (
                "month precision",
                |i| {
                    i.child.date_of_birth = "2026-03".into();
                    i.child.date_of_birth_precision = Some(DatePrecision::Month);
                    i.child.time_of_birth = None;
                },
                &[],
            ),
            (
                "month precision, day given",
                |i| {
                    i.child.date_of_birth_precision = Some(DatePrecision::Month);
                    i.child.time_of_birth = None;
                },
                &["child.date_of_birth"],
            ),
            (
                "year precision in future",
                |i| {
                    i.child.date_of_birth = "2027".into();
                    i.child.date_of_birth_precision = Some(DatePrecision::Year);
                    i.child.time_of_birth = None;
                },
                &["child.date_of_birth"],
            ),
            (
                "year precision, 18 years back",
                |i| {
                    i.child.date_of_birth = "2008".into();
                    i.child.date_of_birth_precision = Some(DatePrecision::Year);
                    i.child.time_of_birth = None;
                    i.mother.date_of_birth = None;
                },
                &[],
            ),
            (
                "time with year precision",
                |i| {
                    i.child.date_of_birth = "2026".into();
                    i.child.date_of_birth_precision = Some(DatePrecision::Year);
                },
                &["child.time_of_birth"],
            ),
            (
                "bad time",
                |i| i.child.time_of_birth = Some("24:00".into()),
                &["child.time_of_birth"],
            ),
            (
                "plurality zero",
                |i| i.child.plurality = 0,
                &["child.plurality"],
            ),
            (
                "plurality nine",
                |i| {
                    i.child.plurality = 9;
                },
                &["child.plurality"],
            ),
            (
                "twin two of two",
                |i| {
                    i.child.plurality = 2;
                    i.child.birth_order = 2;
                },
                &[],
            ),
            (
                "birth order beyond plurality",
                |i| i.child.birth_order = 2,
                &["child.birth_order"],
            ),
            (
                "name without letters",
                |i| i.child.given_names = "123".into(),
                &["child.given_names"],
            ),
            (
                "name too long",
                |i| i.child.family_name = "а".repeat(101),
                &["child.family_name"],
            ),
            (
                "name of 100 is fine",
                |i| i.child.family_name = "а".repeat(100),
                &[],
            ),
            (
                "admin area",
                |i| i.place_of_birth.admin_area = "XX-1".into(),
                &["place_of_birth.admin_area"],
            ),
            (
                "admin area lower case is normalised",
                |i| i.place_of_birth.admin_area = "ua-46".into(),
                &[],
            ),
            (
                "facility at home",
                |i| i.place_of_birth.facility = Some("Clinic".into()),
                &["place_of_birth.facility"],
            ),
            (
                "latitude range",
                |i| i.place_of_birth.latitude = Some(90.5),
                &["place_of_birth.latitude"],
            ),
            (
                "longitude without latitude",
                |i| i.place_of_birth.latitude = None,
                &["place_of_birth.latitude"],
            ),
            (
                "NaN longitude",
                |i| i.place_of_birth.longitude = Some(f64::NAN),
                &["place_of_birth.longitude"],
            ),
            (
                "mother too young",
                |i| i.mother.date_of_birth = Some("2018-01-01".into()),
                &["mother.date_of_birth"],
            ),
            (
                "mother 10 is plausible",
                |i| i.mother.date_of_birth = Some("2016-03-14".into()),
                &[],
            ),
            (
                "mother too old",
                |i| i.mother.date_of_birth = Some("1960-01-01".into()),
                &["mother.date_of_birth"],
            ),
            (
                "mother born after child",
                |i| i.mother.date_of_birth = Some("2026-03-15".into()),
                &["mother.date_of_birth"],
            ),
            (
                "mother dob format",
                |i| i.mother.date_of_birth = Some("02/07/1998".into()),
                &["mother.date_of_birth"],
            ),
            (
                "nationality unassigned",
                |i| i.mother.nationality = Some("XX".into()),
                &["mother.nationality"],
            ),
            (
                "nationality lower case",
                |i| i.mother.nationality = Some("ua".into()),
                &[],
            ),
            (
                "father too young",
                |i| {
                    i.father.as_mut().unwrap().date_of_birth = Some("2016-01-01".into());
                },
                &["father.date_of_birth"],
            ),
            (
                "phone with spaces",
                |i| i.informant.phone = Some("+380 50 123-45-67".into()),
                &[],
            ),
            (
                "phone without plus",
                |i| i.informant.phone = Some("0501234567".into()),
                &["informant.phone"],
            ),
            (
                "phone too short",
                |i| i.informant.phone = Some("+1234567".into()),
                &["informant.phone"],
            ),
            (
                "caregiver phone",
                |i| i.caregivers[1].phone = Some("+0123456789".into()),
                &["caregivers[1].phone"],
            ),
            ("no caregivers", |i| i.caregivers.clear(), &["caregivers"]),
            (
                "nine caregivers",
                |i| {
                    let c = i.caregivers[0].clone();
                    i.caregivers = vec![c; 9];
                },
                &["caregivers"],
            ),
            (
                "caregiver without relationship",
                |i| i.caregivers[0].relationship = " ".into(),
                &["caregivers[0].relationship"],
            ),
            (
                "no consent",
                |i| i.consent.given = false,
                &["consent.given"],
            ),
            (
                "notes too long",
                |i| i.notes = Some("x".repeat(1001)),
                &["notes"],
            ),
            (
                "custom key",
                |i| {
                    i.custom.insert("Bad Key".into(), "v".into());
                },
                &["custom"],
            ),
            (
                "custom value",
                |i| {
                    i.custom.insert("village".into(), "v".repeat(201));
                },
                &["custom.village"],
            ),
            (
                "custom count",
                |i| {
                    for n in 0..33 {
                        i.custom.insert(format!("k{n}"), "v".into());
                    }
                },
                &["custom"],
            ),
            (
                "custom total",
                |i| {
                    for n in 0..30 {
                        i.custom.insert(format!("k{n}"), "v".repeat(150));
                    }
                },
                &["custom"],
            ),
            (
                "two problems at once",
                |i| {
                    i.child.given_names.clear();
                    i.caregivers[0].phone = Some("1".into());
                },
                &["child.given_names", "caregivers[0].phone"],
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut input = reference_input();
            mutate(&mut input);
            assert_eq!(paths(&input), expected.to_vec(), "case: {name}");
        }
    }

    /// Every code is produced by some input, at the path expected, and its string form is the
    /// serde form (what the CLI's JSON and the FFI carry).
    #[test]
    fn every_field_code_is_reachable_with_a_stable_name() {
        type Mutation = fn(&mut RegistrationForm);
        let cases: Vec<(FieldCode, &str, Mutation)> = vec![
            (FieldCode::Required, "child.given_names", |i| {
                i.child.given_names = " ".into()
            }),
            (FieldCode::TooLong, "notes", |i| {
                i.notes = Some("x".repeat(1001))
            }),
            (FieldCode::TooMany, "caregivers", |i| {
                i.caregivers = vec![i.caregivers[0].clone(); 9]
            }),
            (FieldCode::ForbiddenCharacter, "mother.family_name", |i| {
                i.mother.family_name = "Ко\u{202E}ва".into()
            }),
            (FieldCode::NoLetter, "child.family_name", |i| {
                i.child.family_name = "123".into()
            }),
            (FieldCode::NotADate, "child.date_of_birth", |i| {
                i.child.date_of_birth = "2026-02-30".into()
            }),
            (FieldCode::FutureDate, "child.date_of_birth", |i| {
                i.child.date_of_birth = "2026-03-21".into()
            }),
            (FieldCode::TooOld, "child.date_of_birth", |i| {
                i.child.date_of_birth = "2001-01-01".into();
                i.mother.date_of_birth = None;
            }),
            (FieldCode::NotATime, "child.time_of_birth", |i| {
                i.child.time_of_birth = Some("25:00".into())
            }),
            (FieldCode::OutOfRange, "child.plurality", |i| {
                i.child.plurality = 9
            }),
            (FieldCode::InvalidPhone, "caregivers[0].phone", |i| {
                i.caregivers[0].phone = Some("12".into())
            }),
            (FieldCode::InvalidCountry, "mother.nationality", |i| {
                i.mother.nationality = Some("XX".into())
            }),
            (
                FieldCode::InvalidAdminArea,
                "place_of_birth.admin_area",
                |i| i.place_of_birth.admin_area = "Ukraine".into(),
            ),
            (FieldCode::InvalidKey, "custom", |i| {
                i.custom.insert("Bad Key".into(), "v".into());
            }),
            (FieldCode::NotApplicable, "place_of_birth.facility", |i| {
                i.place_of_birth.kind = Some(PlaceKind::Home);
                i.place_of_birth.facility = Some("Clinic".into());
            }),
            (FieldCode::Inconsistent, "child.birth_order", |i| {
                i.child.plurality = 1;
                i.child.birth_order = 2;
            }),
            (FieldCode::ImplausibleAge, "mother.date_of_birth", |i| {
                i.mother.date_of_birth = Some("1950-01-01".into())
            }),
            (FieldCode::ConsentNotGiven, "consent.given", |i| {
                i.consent.given = false
            }),
        ];
        let mut seen = std::collections::HashSet::new();
        for (code, path, mutate) in cases {
            let mut input = reference_input();
            mutate(&mut input);
            let errors = validate(&input, AT).unwrap_err();
            assert_eq!(
                errors
                    .0
                    .iter()
                    .map(|e| (e.path.as_str(), e.code))
                    .collect::<Vec<_>>(),
                vec![(path, code)],
                "{errors}"
            );
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into())
            );
            seen.insert(code);
        }
        assert_eq!(seen.len(), FieldCode::ALL.len(), "every code tested");
        let names: std::collections::HashSet<_> =
            FieldCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), FieldCode::ALL.len(), "names are distinct");
    }

    #[test]
    fn a_batch_path_gives_the_item_and_its_field() {
        let e = FieldError {
            path: "records[17].child.date_of_birth".into(),
            code: FieldCode::FutureDate,
            message: "must not be in the future".into(),
        };
        assert_eq!(e.batch_item(), Some((17, "child.date_of_birth")));
        let plain = FieldError {
            path: "child.date_of_birth".into(),
            ..e
        };
        assert_eq!(plain.batch_item(), None);
    }

    #[test]
    fn names_in_many_scripts_are_normalised() {
        let mut input = reference_input();
        input.child.given_names = "  Ștefan\t  Mihai ".into();
        input.child.family_name = "Țăran".into();
        input.mother.given_names = "فاطمة".into();
        input.mother.family_name = "الزهراء".into();
        // "e" followed by a combining acute accent (NFD) becomes the single "é" (NFC).
        input.caregivers[0].given_names = "Rene\u{301}e".into();
        input.place_of_birth.locality = "  Зимна   Вода ".into();
        let normal = validate(&input, AT).unwrap();
        assert_eq!(normal.child.given_names, "Ștefan Mihai");
        assert_eq!(normal.child.family_name, "Țăran");
        assert_eq!(normal.mother.given_names, "فاطمة");
        assert_eq!(normal.caregivers[0].given_names, "Ren\u{e9}e");
        assert_eq!(normal.place_of_birth.locality, "Зимна Вода");
    }

    /// Every name and text field of the form, with a setter.
    #[allow(clippy::type_complexity)]
    fn text_fields() -> Vec<(&'static str, Box<dyn Fn(&mut RegistrationForm, String)>)> {
        fn father(i: &mut RegistrationForm) -> &mut Parent {
            i.father.get_or_insert_with(Parent::default)
        }
        vec![
            (
                "child.given_names",
                Box::new(|i, v| i.child.given_names = v),
            ),
            (
                "child.family_name",
                Box::new(|i, v| i.child.family_name = v),
            ),
            (
                "place_of_birth.locality",
                Box::new(|i, v| i.place_of_birth.locality = v),
            ),
            (
                "place_of_birth.facility",
                Box::new(|i, v| {
                    i.place_of_birth.kind = Some(PlaceKind::HealthFacility);
                    i.place_of_birth.facility = Some(v);
                }),
            ),
            (
                "mother.given_names",
                Box::new(|i, v| i.mother.given_names = v),
            ),
            (
                "mother.family_name",
                Box::new(|i, v| i.mother.family_name = v),
            ),
            (
                "mother.national_id",
                Box::new(|i, v| i.mother.national_id = Some(v)),
            ),
            (
                "father.given_names",
                Box::new(|i, v| father(i).given_names = v),
            ),
            (
                "father.family_name",
                Box::new(|i, v| father(i).family_name = v),
            ),
            (
                "father.national_id",
                Box::new(|i, v| father(i).national_id = Some(v)),
            ),
            (
                "informant.given_names",
                Box::new(|i, v| i.informant.given_names = v),
            ),
            (
                "informant.family_name",
                Box::new(|i, v| i.informant.family_name = v),
            ),
            (
                "informant.relationship",
                Box::new(|i, v| i.informant.relationship = v),
            ),
            (
                "caregivers[1].given_names",
                Box::new(|i, v| i.caregivers[1].given_names = v),
            ),
            (
                "caregivers[1].family_name",
                Box::new(|i, v| i.caregivers[1].family_name = v),
            ),
            (
                "caregivers[1].relationship",
                Box::new(|i, v| i.caregivers[1].relationship = v),
            ),
            (
                "consent.by_relationship",
                Box::new(|i, v| i.consent.by_relationship = v),
            ),
            ("notes", Box::new(|i, v| i.notes = Some(v))),
            (
                "custom.village_code",
                Box::new(|i, v| {
                    i.custom.insert("village_code".into(), v);
                }),
            ),
        ]
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused_in_every_text_field() {
        let invisible = [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{FE0F}',
            '\u{034F}',
            '\u{3164}',
            '\u{180E}',
            '\u{2064}',
            '\u{FFF9}',
        ];
        let others = [
            ('\u{0007}', "a control character"),
            ('\u{009B}', "a control character"),
            ('\u{E000}', "a private-use character"),
            ('\u{F8FF}', "a private-use character"),
            ('\u{F0000}', "a private-use character"),
            ('\u{10FFFD}', "a private-use character"),
            ('\u{FDD0}', "a noncharacter"),
            ('\u{FFFE}', "a noncharacter"),
            ('\u{FFFF}', "a noncharacter"),
            ('\u{1FFFF}', "a noncharacter"),
        ];
        let cases = invisible
            .iter()
            .map(|&ch| (ch, "an invisible or direction-changing character"))
            .chain(others);
        for (ch, kind) in cases {
            for (path, set) in text_fields() {
                let mut input = reference_input();
                set(&mut input, format!("Ол{ch}ена"));
                let errors = validate(&input, AT).unwrap_err();
                let expected = FieldError {
                    path: path.into(),
                    code: FieldCode::ForbiddenCharacter,
                    message: format!("contains {kind} (U+{:04X})", ch as u32),
                };
                assert!(
                    errors.0.contains(&expected),
                    "{path} with U+{:04X}: {errors}",
                    ch as u32
                );
                assert!(
                    !errors.to_string().contains("Ол"),
                    "the value is not repeated"
                );
            }
        }
        let mut input = reference_input();
        input.child.given_names = "Олена\u{202E}".into();
        assert_eq!(
            validate(&input, AT).unwrap_err().lines(),
            "child.given_names: contains an invisible or direction-changing character (U+202E)"
        );
    }

    #[test]
    fn names_with_apostrophes_hyphens_and_diacritics_stay_valid() {
        let names = [
            "Ștefan",
            "Țăran",
            "Ioana Măgureanu",
            "Îngrid",
            "Ârvinte",
            "Мар'яна",
            "Мар\u{2BC}яна",
            "Анна-Марія",
            "Ковальчук-Шевченко",
            "O'Brien",
            "Zoë",
            "Ярослав Юрійович",
            "Saint-Exupéry",
            "Ğüneş",
        ];
        for name in names {
            for (path, set) in text_fields() {
                let mut input = reference_input();
                set(&mut input, name.into());
                let normal = validate(&input, AT);
                assert!(
                    normal
                        .as_ref()
                        .map_err(|e| e.to_string())
                        .err()
                        .filter(|e| e.contains(path))
                        .is_none(),
                    "{name} in {path}: {normal:?}"
                );
            }
        }
        // Newlines stay allowed in notes only.
        let mut input = reference_input();
        input.notes = Some("line one\nline two".into());
        assert_eq!(
            validate(&input, AT).unwrap().notes.as_deref(),
            Some("line one\nline two")
        );
    }

    #[test]
    fn messages_never_contain_the_value() {
        let mut input = reference_input();
        input.informant.phone = Some("+0SECRET".into());
        input.child.family_name = "9".repeat(120);
        let errors = validate(&input, AT).unwrap_err();
        for e in &errors.0 {
            assert!(!e.message.contains("SECRET") && !e.message.contains("999"));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_normalising_is_idempotent(
            given in "\\PC{0,120}", family in "\\PC{0,40}", dob in "\\PC{0,12}",
            phone in "\\PC{0,20}", area in "\\PC{0,8}", notes in "(?s).{0,50}",
            key in "\\PC{0,10}", lat in proptest::prelude::any::<f64>(),
        ) {
            let mut input = reference_input();
            input.child.given_names = given;
            input.caregivers[0].family_name = family;
            input.mother.date_of_birth = Some(dob);
            input.informant.phone = Some(phone);
            input.place_of_birth.admin_area = area;
            input.notes = Some(notes);
            input.custom.insert(key, "value".into());
            input.place_of_birth.latitude = Some(lat);
            if let Ok(normal) = validate(&input, AT) {
                proptest::prop_assert_eq!(validate(&normal, AT).unwrap(), normal);
            }
        }
    }
}
