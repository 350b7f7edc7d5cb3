//! Biometric-free duplicate detection: one scoring function for the device and the registry
//! (docs/MATCHING.md).
//!
//! A [`Profile`] holds the parts of a registration that matching reads (names, dates, sex,
//! place, parents); [`Prepared`] is a profile with its names folded and dates parsed, made once
//! per record. [`score`] compares two prepared profiles and returns a [`Match`]: points, a
//! [`Level`] (`likely`, `possible` or none) and the reasons in plain language. [`blocking`]
//! gives the keys under which candidates are looked up, so that nobody scores every pair.

pub mod blocking;
pub mod bound;
pub mod dates;
#[cfg(any(test, feature = "fixtures"))]
pub mod labelled;
pub mod names;
pub mod normalise;
pub mod score;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use self::{
    blocking::block_keys,
    bound::{BoundFacts, rules_out, rules_out_prepared},
    score::{Evidence, LIKELY, Level, Match, POSSIBLE, score, score_in, weigh},
};
use self::{dates::PartialDate, names::PersonName};
use crate::record::{RegistrationForm, Sex};

/// What matching reads of a registration. Kept sealed beside each record on the device; the
/// registry builds it from the stored record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Child's given names.
    pub child_given: String,
    /// Child's family name.
    pub child_family: String,
    /// Child's sex: 0 unknown or not given, 1 female, 2 male.
    pub sex: u8,
    /// Child's date of birth as entered (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`).
    pub date_of_birth: String,
    /// Children born in this delivery (1 single, 2 twins, ...).
    pub plurality: u8,
    /// Position in a multiple birth.
    pub birth_order: u8,
    /// Administrative area of the place of birth.
    pub admin_area: String,
    /// Locality (village, town) of the place of birth.
    pub locality: String,
    /// Mother's given names.
    pub mother_given: String,
    /// Mother's family name.
    pub mother_family: String,
    /// Mother's date of birth, empty when not given.
    pub mother_date_of_birth: String,
    /// Mother's national id, empty when not given.
    pub mother_national_id: String,
    /// Father's given names, empty when no father is declared.
    pub father_given: String,
    /// Father's family name.
    pub father_family: String,
    /// Caregivers' names, given then family.
    pub caregivers: Vec<(String, String)>,
}

impl Profile {
    /// The profile of a registration form.
    pub fn from_form(form: &RegistrationForm) -> Profile {
        let father = form.father.as_ref();
        Profile {
            child_given: form.child.given_names.clone(),
            child_family: form.child.family_name.clone(),
            sex: match form.child.sex {
                Some(Sex::Female) => 1,
                Some(Sex::Male) => 2,
                _ => 0,
            },
            date_of_birth: form.child.date_of_birth.clone(),
            plurality: form.child.plurality,
            birth_order: form.child.birth_order,
            admin_area: form.place_of_birth.admin_area.clone(),
            locality: form.place_of_birth.locality.clone(),
            mother_given: form.mother.given_names.clone(),
            mother_family: form.mother.family_name.clone(),
            mother_date_of_birth: form.mother.date_of_birth.clone().unwrap_or_default(),
            mother_national_id: form.mother.national_id.clone().unwrap_or_default(),
            father_given: father.map(|f| f.given_names.clone()).unwrap_or_default(),
            father_family: father.map(|f| f.family_name.clone()).unwrap_or_default(),
            caregivers: form
                .caregivers
                .iter()
                .map(|c| (c.given_names.clone(), c.family_name.clone()))
                .collect(),
        }
    }

    /// The child's name for display (`Олена Коваленко`).
    pub fn child_name(&self) -> String {
        format!("{} {}", self.child_given, self.child_family)
            .trim()
            .to_string()
    }
}

/// A profile made ready for scoring: names split and folded, dates parsed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prepared {
    /// The profile it was made from (its text is used in the reasons).
    pub profile: Profile,
    /// Child's name.
    pub child: PersonName,
    /// Child's date of birth, when it could be read.
    pub dob: Option<PartialDate>,
    /// Place of birth: the area and the locality as one-word name parts.
    pub admin_area: names::NamePart,
    /// Locality.
    pub locality: names::NamePart,
    /// Mother's name.
    pub mother: PersonName,
    /// Mother's date of birth.
    pub mother_dob: Option<PartialDate>,
    /// Mother's national id: letters and digits only, upper case; empty when not given.
    pub mother_id: String,
    /// Father's name (empty parts when none).
    pub father: PersonName,
    /// Caregivers' names.
    pub caregivers: Vec<PersonName>,
}

/// A national id as compared: its letters and digits, upper case.
pub(crate) fn national_id(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Prepared {
    /// Prepares `profile` (the only costly step: do it once per record).
    pub fn new(profile: Profile) -> Prepared {
        Prepared {
            child: PersonName::new(&profile.child_given, &profile.child_family),
            dob: PartialDate::parse(&profile.date_of_birth),
            admin_area: names::NamePart::new(&profile.admin_area),
            locality: names::NamePart::new(&profile.locality),
            mother: PersonName::new(&profile.mother_given, &profile.mother_family),
            mother_dob: PartialDate::parse(&profile.mother_date_of_birth),
            mother_id: national_id(&profile.mother_national_id),
            father: PersonName::new(&profile.father_given, &profile.father_family),
            caregivers: profile
                .caregivers
                .iter()
                .map(|(g, f)| PersonName::new(g, f))
                .collect(),
            profile,
        }
    }

    /// Prepares the profile of a form.
    pub fn from_form(form: &RegistrationForm) -> Prepared {
        Prepared::new(Profile::from_form(form))
    }

    /// This prepared profile without the text as entered that scoring, blocking and the
    /// bound never read (the place's, the mother's, the father's and the caregivers' names,
    /// the mother's date of birth and id: their prepared forms are kept; the child's names,
    /// date of birth, sex, plurality and birth order stay): what the registry keeps of a
    /// candidate. Scores (reasons included), keys and facts are the same as the full one's.
    pub fn scoring_only(&self) -> Prepared {
        let p = &self.profile;
        Prepared {
            profile: Profile {
                child_given: p.child_given.clone(),
                child_family: p.child_family.clone(),
                sex: p.sex,
                date_of_birth: p.date_of_birth.clone(),
                plurality: p.plurality,
                birth_order: p.birth_order,
                ..Profile::default()
            },
            child: self.child.clone(),
            dob: self.dob,
            admin_area: self.admin_area.clone(),
            locality: self.locality.clone(),
            mother: self.mother.clone(),
            mother_dob: self.mother_dob,
            mother_id: self.mother_id.clone(),
            father: self.father.clone(),
            caregivers: self.caregivers.clone(),
        }
    }
}
