//! The bound of docs/MATCHING.md §6.4 over a record's cheap facts ([`BoundFacts`]: its
//! child's and mother's dates of birth, sex, plurality and birth order, the mother's national
//! id and her name's skeletons), small enough for the registry to keep for every record in
//! memory and so rule a candidate out before reading it.

use uuid::Uuid;

use super::{
    Prepared, Profile,
    dates::PartialDate,
    names::{NamePart, PersonName, compare_names},
    national_id,
    score::{POSSIBLE, date_points, dates, mother_name_points, same_name, twins_if_same_mother},
};
use crate::{keys::KeyId, store::crypto::context};

/// Bytes of facts of version 1 (no plurality, birth order or mother's name), still read.
pub const FACTS_LEN: usize = 19;

/// Version byte of [`BoundFacts::to_bytes`] (version 1 is still read).
const FACTS_VERSION: u8 = 2;

/// Most bytes of each of the mother's name parts' skeletons kept in the facts; a longer
/// name is left out (the bound then takes her name at its best).
pub const MAX_FACTS_NAME_BYTES: usize = 255;

/// Most points the evidence the bound never looks at can add: the child's names (20 + 10),
/// admin area (2), locality (5), father (4), caregiver (2).
const MAX_NAME_AND_PLACE_POINTS: i32 = 43;

/// Most points the mother's names can add (10 + 6), taken when the facts do not keep them.
const MAX_MOTHER_NAME_POINTS: i32 = 16;

/// Fewest points the mother's names can add (-15 - 3).
const MIN_MOTHER_NAME_POINTS: i32 = -18;

/// What the bound of §6.4 reads of a record. The mother's national id is kept as the first 8
/// bytes of a keyed hash (equality is all the bound asks of it), her name as its skeletons
/// ([`NamePart::skeleton_text`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoundFacts {
    /// Child's date of birth, when it could be read.
    pub dob: Option<PartialDate>,
    /// Mother's date of birth, when given and readable.
    pub mother_dob: Option<PartialDate>,
    /// Child's sex: 0 unknown, 1 female, 2 male.
    pub sex: u8,
    /// The mother's national id, keyed ([`mother_id_hash`]); `None` when not given.
    pub mother_id: Option<[u8; 8]>,
    /// Children born in the delivery (0 in facts of version 1).
    pub plurality: u8,
    /// Position in a multiple birth (0 in facts of version 1).
    pub birth_order: u8,
    /// The mother's name as prepared (its parts empty when not given); `None` in facts of
    /// version 1 or when a part's skeletons are longer than [`MAX_FACTS_NAME_BYTES`].
    pub mother: Option<PersonName>,
}

/// Facts that could not be read back from bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// Not as many bytes as their version and names say.
    #[error("matching facts of {0} bytes do not have the length their version and names give")]
    Length(usize),
    /// A version this build does not read.
    #[error("matching facts of version {0} (this build reads versions 1 and 2)")]
    Version(u8),
    /// A field out of its range.
    #[error("matching facts with an impossible {0}")]
    Field(&'static str),
}

/// The first 8 bytes of `HMAC-SHA256(secret, "birthright mother id v1\0" || id)`, for a
/// national id as compared (letters and digits, upper case; empty gives `None`).
pub fn mother_id_hash(secret: &[u8; 32], id: &str) -> Option<[u8; 8]> {
    use hmac::Mac;
    if id.is_empty() {
        return None;
    }
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(b"birthright mother id v1\0");
    mac.update(id.as_bytes());
    let full: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    Some(out)
}

impl BoundFacts {
    /// The facts of a prepared record, its mother's id keyed with `secret`.
    pub fn of(record: &Prepared, secret: &[u8; 32]) -> BoundFacts {
        BoundFacts {
            dob: record.dob,
            mother_dob: record.mother_dob,
            sex: record.profile.sex,
            mother_id: mother_id_hash(secret, &record.mother_id),
            plurality: record.profile.plurality,
            birth_order: record.profile.birth_order,
            mother: kept(&record.mother).then(|| record.mother.clone()),
        }
    }

    /// The facts of a profile not prepared (the same as [`Self::of`] its prepared form).
    pub fn of_profile(profile: &Profile, secret: &[u8; 32]) -> BoundFacts {
        let mother = PersonName::new(&profile.mother_given, &profile.mother_family);
        BoundFacts {
            dob: PartialDate::parse(&profile.date_of_birth),
            mother_dob: PartialDate::parse(&profile.mother_date_of_birth),
            sex: profile.sex,
            mother_id: mother_id_hash(secret, &national_id(&profile.mother_national_id)),
            plurality: profile.plurality,
            birth_order: profile.birth_order,
            mother: kept(&mother).then_some(mother),
        }
    }

    /// Whether a pair of records with these facts is certain to score below
    /// [`POSSIBLE`] or to be twins (docs/MATCHING.md §6.4): the points of the dates, sex,
    /// mother's id and, when both keep it, the mother's name exactly, with the child's names,
    /// the places, the father and the caregivers taken at their best; and the twins rule
    /// (§6.1) where the birth orders tell the two children apart. Symmetric. Both sides' ids
    /// must be keyed with the same secret.
    pub fn rules_out(&self, other: &BoundFacts) -> bool {
        let mut points = MAX_NAME_AND_PLACE_POINTS;
        let dob = dates(self.dob, other.dob);
        points += date_points(dob, [25, 18, 18, 8, 14, 5, -45]);
        points += date_points(
            dates(self.mother_dob, other.mother_dob),
            [8, 5, 5, 2, 2, 2, -4],
        );
        if self.sex != 0 && other.sex != 0 {
            points += if self.sex != other.sex { -12 } else { 2 };
        }
        let same_id = matches!((self.mother_id, other.mother_id), (Some(a), Some(b)) if a == b);
        if let (Some(a), Some(b)) = (self.mother_id, other.mother_id) {
            points += if a == b { 15 } else { -15 };
        }
        if points + MAX_MOTHER_NAME_POINTS < POSSIBLE {
            return true; // whatever the mother's names
        }
        let (Some(mother), Some(other_mother)) = (&self.mother, &other.mother) else {
            return false;
        };
        // The twins rule, told apart by birth order only (the child's names are not known).
        let twins_possible = twins_if_same_mother(
            self.plurality >= 2 || other.plurality >= 2,
            dob,
            self.birth_order != other.birth_order,
        );
        if !twins_possible && points + MIN_MOTHER_NAME_POINTS >= POSSIBLE {
            return false; // whatever the mother's names
        }
        let names = compare_names(mother, other_mother);
        points += mother_name_points(&names);
        let twins = twins_possible && (same_id || same_name(&names));
        twins || points < POSSIBLE
    }

    /// The facts as bytes (docs/MATCHING.md §6.4, version 2): the version; a presence byte
    /// (bit 0 the child's date, bit 1 the mother's, bit 2 the mother's id, bit 3 the mother's
    /// name); the child's date and the mother's, each as year (u16, big-endian), month and
    /// day (0 when not known, and all zero when absent); sex; the mother's id hash (zero when
    /// absent); plurality; birth order; then the mother's given names' and family name's
    /// skeletons, each as a length byte and its ASCII (both lengths zero without the name).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mother = self.mother.as_ref().filter(|m| kept(m));
        let (given, family) = match mother {
            Some(m) => (m.given.skeleton_text(), m.family.skeleton_text()),
            None => ("", ""),
        };
        let mut out = vec![0u8; FACTS_LEN];
        out[0] = FACTS_VERSION;
        let date = |d: Option<PartialDate>, at: &mut [u8]| {
            if let Some(d) = d {
                at[..2].copy_from_slice(&u16::try_from(d.year).unwrap_or(0).to_be_bytes());
                at[2] = d.month.unwrap_or(0);
                at[3] = d.day.unwrap_or(0);
            }
        };
        out[1] = u8::from(self.dob.is_some())
            | u8::from(self.mother_dob.is_some()) << 1
            | u8::from(self.mother_id.is_some()) << 2
            | u8::from(mother.is_some()) << 3;
        date(self.dob, &mut out[2..6]);
        date(self.mother_dob, &mut out[6..10]);
        out[10] = self.sex;
        if let Some(id) = self.mother_id {
            out[11..19].copy_from_slice(&id);
        }
        out.push(self.plurality);
        out.push(self.birth_order);
        for part in [given, family] {
            // Only a name [`kept`] is written (one that is not is written as absent).
            out.push(part.len() as u8);
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    /// Reads [`Self::to_bytes`] (or facts of version 1, 19 bytes) back; every field is
    /// checked (a date must be one [`PartialDate::parse`] could give, a name's skeletons
    /// one [`NamePart::from_skeleton_text`] reads), so what is read is what was written.
    pub fn from_bytes(bytes: &[u8]) -> Result<BoundFacts, FactsError> {
        let length = || FactsError::Length(bytes.len());
        let head: &[u8; FACTS_LEN] = bytes
            .get(..FACTS_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(length)?;
        let version = head[0];
        if version != 1 && version != FACTS_VERSION {
            return Err(FactsError::Version(version));
        }
        let present = head[1];
        let bits = if version == 1 { 0b111 } else { 0b1111 };
        if present & !bits != 0 {
            return Err(FactsError::Field("presence byte"));
        }
        let date = |on: bool, at: &[u8], what: &'static str| -> Result<_, FactsError> {
            if !on {
                return if at.iter().all(|&b| b == 0) {
                    Ok(None)
                } else {
                    Err(FactsError::Field(what))
                };
            }
            let year = i32::from(u16::from_be_bytes([at[0], at[1]]));
            let known = |b: u8| (b != 0).then_some(b);
            PartialDate::from_parts(year, known(at[2]), known(at[3]))
                .map(Some)
                .ok_or(FactsError::Field(what))
        };
        let dob = date(present & 1 != 0, &head[2..6], "child's date of birth")?;
        let mother_dob = date(present & 2 != 0, &head[6..10], "mother's date of birth")?;
        let sex = head[10];
        if sex > 2 {
            return Err(FactsError::Field("sex"));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&head[11..19]);
        let mother_id = if present & 4 != 0 {
            Some(id)
        } else if id == [0; 8] {
            None
        } else {
            return Err(FactsError::Field("mother's id"));
        };
        let mut facts = BoundFacts {
            dob,
            mother_dob,
            sex,
            mother_id,
            ..BoundFacts::default()
        };
        if version == 1 {
            return if bytes.len() == FACTS_LEN {
                Ok(facts)
            } else {
                Err(length())
            };
        }
        let mut rest = &bytes[FACTS_LEN..];
        let [plurality, birth_order, tail @ ..] = rest else {
            return Err(length());
        };
        facts.plurality = *plurality;
        facts.birth_order = *birth_order;
        rest = tail;
        let mut parts = Vec::with_capacity(2);
        for what in ["mother's given names", "mother's family name"] {
            let [n, tail @ ..] = rest else {
                return Err(length());
            };
            let n = usize::from(*n);
            let text = tail.get(..n).ok_or_else(length)?;
            rest = &tail[n..];
            let part = std::str::from_utf8(text)
                .ok()
                .and_then(NamePart::from_skeleton_text)
                .ok_or(FactsError::Field(what))?;
            parts.push(part);
        }
        if !rest.is_empty() {
            return Err(length());
        }
        let (Some(family), Some(given)) = (parts.pop(), parts.pop()) else {
            return Err(length());
        };
        if present & 8 != 0 {
            let mother = PersonName { given, family };
            if !kept(&mother) {
                return Err(FactsError::Field("mother's name"));
            }
            facts.mother = Some(mother);
        } else if !given.skeleton_text().is_empty() || !family.skeleton_text().is_empty() {
            return Err(FactsError::Field("mother's name"));
        }
        Ok(facts)
    }
}

/// Whether the facts keep a mother's name: one of its parts has a skeleton, each part's
/// skeletons fit in [`MAX_FACTS_NAME_BYTES`] and every word has a skeleton (so a name
/// compared with itself scores at least 6, and a record is never ruled out against itself:
/// a name of no skeleton at all would score 0 where one not kept is taken at its best).
fn kept(name: &PersonName) -> bool {
    let has_a_skeleton = !(name.given.is_empty() && name.family.is_empty());
    has_a_skeleton
        && [&name.given, &name.family].into_iter().all(|part| {
            part.skeleton_text().len() <= MAX_FACTS_NAME_BYTES
                && part
                    .words()
                    .all(|w| super::names::skeletons_of(w).next().is_some())
        })
}

/// The associated data under which the registry seals a record's facts in its row of
/// `match_records` (docs/MATCHING.md §7): the table and column, then the device's key id,
/// the record's id and its keyed blocking hashes in their stored order, so that neither the
/// facts nor the hashes of a row can be changed, or moved to another row, unseen.
pub fn sealing_context(kid: &KeyId, id: &Uuid, keys: &[[u8; 32]]) -> Vec<u8> {
    let mut row = Vec::with_capacity(kid.0.len() + 16 + 32 * keys.len());
    row.extend_from_slice(&kid.0);
    row.extend_from_slice(id.as_bytes());
    for key in keys {
        row.extend_from_slice(key);
    }
    context("match_records", "sealed_facts", &row)
}

/// Whether the pair of `a` and the not yet prepared `b` is certain to score below
/// [`POSSIBLE`], judged from the cheap evidence alone ([`BoundFacts::rules_out`]). A
/// candidate ruled out need not be prepared (the costly step): its
/// [`super::score_in`] would give level none.
pub fn rules_out(a: &Prepared, b: &Profile) -> bool {
    BoundFacts::of(a, &LOCAL).rules_out(&BoundFacts::of_profile(b, &LOCAL))
}

/// [`rules_out`] with the other record prepared (its parsed dates and id).
pub fn rules_out_prepared(a: &Prepared, b: &Prepared) -> bool {
    BoundFacts::of(a, &LOCAL).rules_out(&BoundFacts::of(b, &LOCAL))
}

/// Any secret serves to compare two ids within one call.
const LOCAL: [u8; 32] = [0; 32];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date() -> impl Strategy<Value = Option<PartialDate>> {
        prop_oneof![
            Just(None),
            (0i32..=9999).prop_map(|year| PartialDate::from_parts(year, None, None)),
            (1900i32..2100, 1u8..=12).prop_map(|(y, m)| PartialDate::from_parts(y, Some(m), None)),
            (1900i32..2100, 1u8..=12, 1u8..=31).prop_map(|(y, m, d)| PartialDate::from_parts(
                y,
                Some(m),
                Some(d)
            )),
        ]
    }

    fn mother() -> impl Strategy<Value = Option<PersonName>> {
        let names = [
            "Олена",
            "Olena",
            "Оксана",
            "Ana",
            "Ioana",
            "Maria Elena",
            "",
        ];
        let families = ["Коваленко", "Kovalenko", "Țurcanu", "Turcanu", "Lungu", ""];
        prop_oneof![
            Just(None),
            (0..names.len(), 0..families.len())
                // As `BoundFacts::of` keeps them: a name of no skeleton at all is not kept.
                .prop_map(move |(g, f)| Some(PersonName::new(names[g], families[f])).filter(kept)),
        ]
    }

    fn facts() -> impl Strategy<Value = BoundFacts> {
        facts_with(
            date(),
            date(),
            proptest::option::of(any::<[u8; 8]>()),
            0..=3,
        )
    }

    /// Facts drawn from few values, so that pairs often agree or nearly agree on each field
    /// and land near the threshold.
    fn close_facts() -> impl Strategy<Value = BoundFacts> {
        let day = |d: u8| PartialDate::from_parts(2026, Some(3), Some(d));
        let dob = prop_oneof![
            Just(None),
            Just(day(14)),
            Just(day(16)),
            Just(PartialDate::from_parts(2026, Some(3), None)),
            Just(PartialDate::from_parts(2025, Some(1), Some(2))),
        ];
        let mother_dob = prop_oneof![
            Just(None),
            Just(PartialDate::from_parts(1990, Some(5), Some(1))),
            Just(PartialDate::from_parts(1991, Some(7), Some(9))),
        ];
        let id = prop_oneof![Just(None), Just(Some([1u8; 8])), Just(Some([2u8; 8]))];
        facts_with(dob, mother_dob, id, 1..=2)
    }

    /// Facts of those dates and mother's ids, any sex and mother, plurality and birth order
    /// in `delivery`.
    fn facts_with(
        dob: impl Strategy<Value = Option<PartialDate>>,
        mother_dob: impl Strategy<Value = Option<PartialDate>>,
        mother_id: impl Strategy<Value = Option<[u8; 8]>>,
        delivery: std::ops::RangeInclusive<u8>,
    ) -> impl Strategy<Value = BoundFacts> {
        let fields = (dob, mother_dob, 0u8..=2, mother_id);
        (fields, delivery.clone(), delivery, mother()).prop_map(
            |((dob, mother_dob, sex, mother_id), plurality, birth_order, mother)| BoundFacts {
                dob,
                mother_dob,
                sex,
                mother_id,
                plurality,
                birth_order,
                mother,
            },
        )
    }

    /// [`BoundFacts::rules_out`] as it was before its shortcuts: the mother's names compared
    /// whenever both are kept.
    fn rules_out_comparing_names(a: &BoundFacts, b: &BoundFacts) -> bool {
        let mut points = MAX_NAME_AND_PLACE_POINTS;
        let dob = dates(a.dob, b.dob);
        points += date_points(dob, [25, 18, 18, 8, 14, 5, -45]);
        points += date_points(dates(a.mother_dob, b.mother_dob), [8, 5, 5, 2, 2, 2, -4]);
        if a.sex != 0 && b.sex != 0 {
            points += if a.sex != b.sex { -12 } else { 2 };
        }
        let same_id = matches!((a.mother_id, b.mother_id), (Some(x), Some(y)) if x == y);
        if let (Some(x), Some(y)) = (a.mother_id, b.mother_id) {
            points += if x == y { 15 } else { -15 };
        }
        let (Some(m), Some(n)) = (&a.mother, &b.mother) else {
            return points + MAX_MOTHER_NAME_POINTS < POSSIBLE;
        };
        let names = compare_names(m, n);
        points += mother_name_points(&names);
        let multiple = a.plurality >= 2 || b.plurality >= 2;
        let twins = twins_if_same_mother(multiple, dob, a.birth_order != b.birth_order)
            && (same_id || same_name(&names));
        twins || points < POSSIBLE
    }

    #[test]
    fn the_mothers_names_points_lie_between_the_bounds_used() {
        let s = [
            None,
            Some(0.0),
            Some(0.79),
            Some(0.85),
            Some(0.9),
            Some(1.0),
        ];
        let mut seen = Vec::new();
        for given in s {
            for family in s {
                seen.push(mother_name_points(&crate::matching::names::NameMatch {
                    given,
                    family,
                    swapped: false,
                }));
            }
        }
        assert_eq!(seen.iter().min(), Some(&MIN_MOTHER_NAME_POINTS));
        assert_eq!(seen.iter().max(), Some(&MAX_MOTHER_NAME_POINTS));
    }

    proptest! {
        #[test]
        fn facts_survive_their_bytes(f in facts()) {
            prop_assert_eq!(BoundFacts::from_bytes(&f.to_bytes()), Ok(f));
        }

        #[test]
        fn bytes_read_are_bytes_written(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = BoundFacts::from_bytes(&bytes) {
                prop_assert_eq!(f.to_bytes(), bytes);
            }
        }

        #[test]
        fn version_1_bytes_read_as_they_were_written(bytes in proptest::collection::vec(any::<u8>(), FACTS_LEN)) {
            let mut bytes = bytes;
            bytes[0] = 1;
            if let Ok(f) = BoundFacts::from_bytes(&bytes) {
                prop_assert!(f.mother.is_none());
                let mut again = f.to_bytes();
                again.truncate(FACTS_LEN);
                again[0] = 1;
                again[1] &= 0b111;
                prop_assert_eq!(again, bytes);
            }
        }

        /// The shortcuts (deciding without the mother's names when at their best or worst
        /// they cannot change the answer) give the answer of comparing them every time.
        #[test]
        fn the_shortcuts_answer_as_comparing_the_mothers_names_always(
            a in close_facts(), b in close_facts()
        ) {
            prop_assert_eq!(a.rules_out(&b), rules_out_comparing_names(&a, &b));
        }

        #[test]
        fn the_bound_is_symmetric_and_never_rules_a_record_out_against_itself(
            a in facts(), b in facts()
        ) {
            prop_assert_eq!(a.rules_out(&b), b.rules_out(&a));
            prop_assert!(!a.rules_out(&a));
        }
    }

    fn good() -> BoundFacts {
        BoundFacts {
            dob: PartialDate::parse("2026-03-14"),
            mother_dob: PartialDate::parse("1998-07"),
            sex: 1,
            mother_id: Some([7; 8]),
            plurality: 1,
            birth_order: 1,
            mother: Some(PersonName::new("Олена", "Коваленко")),
        }
    }

    #[test]
    fn bad_bytes_say_what_is_wrong() {
        let good = good().to_bytes();
        assert_eq!(
            BoundFacts::from_bytes(&good[..18]),
            Err(FactsError::Length(18))
        );
        let cut = good.len() - 1;
        assert_eq!(
            BoundFacts::from_bytes(&good[..cut]),
            Err(FactsError::Length(cut))
        );
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            BoundFacts::from_bytes(&longer),
            Err(FactsError::Length(good.len() + 1))
        );
        let mut bad = good.clone();
        bad[0] = 3;
        assert_eq!(BoundFacts::from_bytes(&bad), Err(FactsError::Version(3)));
        let mut bad = good.clone();
        bad[5] = 31; // 2026-03-31 is fine
        assert!(BoundFacts::from_bytes(&bad).is_ok());
        bad[4] = 2; // 2026-02-31 is not
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("child's date of birth"))
        );
        let mut bad = good.clone();
        bad[10] = 3;
        assert_eq!(BoundFacts::from_bytes(&bad), Err(FactsError::Field("sex")));
        let mut bad = good.clone();
        bad[1] = 0b1011; // an id without its presence bit
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("mother's id"))
        );
        let mut bad = good.clone();
        bad[1] = 0b0111; // a name without its presence bit
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("mother's name"))
        );
        let mut bad = good.clone();
        bad[22] = 0xff; // not ASCII
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("mother's given names"))
        );
        // Version 1 has no presence bit 3.
        let mut old = good[..FACTS_LEN].to_vec();
        old[0] = 1;
        assert_eq!(
            BoundFacts::from_bytes(&old),
            Err(FactsError::Field("presence byte"))
        );
    }

    #[test]
    fn the_bytes_are_as_documented() {
        let facts = BoundFacts {
            dob: PartialDate::parse("2026-03-14"),
            mother_dob: PartialDate::parse("1998"),
            sex: 2,
            mother_id: None,
            plurality: 1,
            birth_order: 1,
            mother: Some(PersonName::new("Олена", "Ткач")),
        };
        assert_eq!(
            hex::encode(facts.to_bytes()),
            "020b07ea030e07ce00000200000000000000000101\
             066f6c656e61200b746b61437c746b61436920"
        );
        // Version 1 (before plurality, birth order and the mother's name) is still read.
        let old = hex::decode("010307ea030e07ce0000020000000000000000").unwrap();
        assert_eq!(
            BoundFacts::from_bytes(&old),
            Ok(BoundFacts {
                mother: None,
                plurality: 0,
                birth_order: 0,
                ..facts
            })
        );
    }

    /// A name with a word of no skeleton (found by the fuzz target `match_facts`) is not
    /// kept: compared with itself it would not score its best, and a record with a child's
    /// date of year only would be ruled out against itself.
    #[test]
    fn a_name_with_a_word_of_no_skeleton_is_not_kept() {
        let name = PersonName {
            given: NamePart::from_skeleton_text(" rIna ").unwrap(),
            family: NamePart::from_skeleton_text("ko-alenko ").unwrap(),
        };
        let facts = BoundFacts {
            dob: PartialDate::from_parts(4352, None, None),
            mother_dob: PartialDate::from_parts(0, None, None),
            sex: 1,
            mother: Some(name),
            ..BoundFacts::default()
        };
        let bytes = facts.to_bytes();
        assert_eq!(bytes[1] & 8, 0, "written without the name");
        let read = BoundFacts::from_bytes(&bytes).unwrap();
        assert_eq!(read.mother, None);
        assert!(!read.rules_out(&read));
        let with_name = hex::decode(
            "020b1100000000000000010000000000000000010106207249\
             6e61200a6b6f2d616c656e6b6f20",
        )
        .unwrap();
        assert_eq!(
            BoundFacts::from_bytes(&with_name),
            Err(FactsError::Field("mother's name"))
        );
        assert!(kept(&PersonName::new("Ірина Марія", "Коваленко")));
    }

    /// A mother's name of no skeleton at all (found by the fuzz target `match_facts`: both
    /// parts empty, no dates, no sex, no id) is not kept: it would score 0 against itself,
    /// 43 in all, below `possible`, and the facts would rule themselves out.
    #[test]
    fn a_name_of_no_skeleton_at_all_is_not_kept() {
        let empty = PersonName::new("", "");
        assert!(!kept(&empty));
        assert!(!kept(&PersonName::new(" - ", "'")));
        assert!(kept(&PersonName::new("", "Коваленко")));
        assert!(kept(&PersonName::new("Олена", "")));
        let facts = BoundFacts {
            mother: Some(empty),
            ..BoundFacts::default()
        };
        let bytes = facts.to_bytes();
        assert_eq!(bytes[1] & 8, 0, "written without the name");
        assert!(!facts.rules_out(&BoundFacts::from_bytes(&bytes).unwrap()));
        let crash = b"\x02\x08\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(
            BoundFacts::from_bytes(crash),
            Err(FactsError::Field("mother's name"))
        );
    }

    #[test]
    fn twins_told_apart_by_birth_order_are_ruled_out() {
        let first = BoundFacts {
            plurality: 2,
            birth_order: 1,
            ..good()
        };
        let second = BoundFacts {
            birth_order: 2,
            ..first.clone()
        };
        assert!(first.rules_out(&second));
        // The same child twice (same birth order) is not.
        assert!(!first.rules_out(&first.clone()));
        // Another mother's name of the same family: not the same delivery, judged on points.
        let cousin = BoundFacts {
            mother: Some(PersonName::new("Оксана", "Коваленко")),
            mother_id: None,
            ..second.clone()
        };
        let first_without_id = BoundFacts {
            mother_id: None,
            ..first.clone()
        };
        assert!(!first_without_id.rules_out(&cousin));
        // Facts of version 1 (no names): twins are not told apart.
        let old = |f: &BoundFacts| BoundFacts {
            mother: None,
            plurality: 0,
            birth_order: 0,
            ..f.clone()
        };
        assert!(!old(&first).rules_out(&old(&second)));
    }

    #[test]
    fn a_different_mother_rules_a_look_alike_out() {
        // Child's dates 3 days apart, another mother's name and date:
        // 43 + 18 + 2 (sex) - 15 - 3 - 4 = 41 < 45; without her name, 59 + 18 + 2 - 4 = 75.
        let a = BoundFacts {
            mother_id: None,
            ..good()
        };
        let b = BoundFacts {
            mother: Some(PersonName::new("Ioana", "Lungu")),
            mother_dob: PartialDate::parse("1985-02"),
            dob: PartialDate::parse("2026-03-17"),
            ..a.clone()
        };
        assert!(a.rules_out(&b));
        assert!(!a.rules_out(&BoundFacts { mother: None, ..b }));
    }
}
