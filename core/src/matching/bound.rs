//! The bound of docs/MATCHING.md §6.4 over a record's cheap facts ([`BoundFacts`]: its
//! child's and mother's dates of birth, sex and mother's national id), small enough for the
//! registry to keep for every record in memory and so rule a candidate out before reading it.

use uuid::Uuid;

use super::{
    Prepared, Profile,
    dates::PartialDate,
    national_id,
    score::{POSSIBLE, date_points, dates},
};
use crate::{keys::KeyId, store::crypto::context};

/// Bytes of [`BoundFacts::to_bytes`].
pub const FACTS_LEN: usize = 19;

/// Version byte of [`BoundFacts::to_bytes`].
const FACTS_VERSION: u8 = 1;

/// Most points the evidence the bound does not look at can add: the child's names (20 +
/// 10), admin area (2), locality (5), the mother's names (10 + 6), father (4), caregiver (2).
const MAX_NAME_AND_PLACE_POINTS: i32 = 59;

/// What the bound of §6.4 reads of a record. The mother's national id is kept as the first 8
/// bytes of a keyed hash (equality is all the bound asks of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BoundFacts {
    /// Child's date of birth, when it could be read.
    pub dob: Option<PartialDate>,
    /// Mother's date of birth, when given and readable.
    pub mother_dob: Option<PartialDate>,
    /// Child's sex: 0 unknown, 1 female, 2 male.
    pub sex: u8,
    /// The mother's national id, keyed ([`mother_id_hash`]); `None` when not given.
    pub mother_id: Option<[u8; 8]>,
}

/// Facts that could not be read back from bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// Not [`FACTS_LEN`] bytes.
    #[error("matching facts must be {FACTS_LEN} bytes, not {0}")]
    Length(usize),
    /// A version this build does not read.
    #[error("matching facts of version {0} (this build reads version 1)")]
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
        }
    }

    /// The facts of a profile not prepared (the same as [`Self::of`] its prepared form).
    pub fn of_profile(profile: &Profile, secret: &[u8; 32]) -> BoundFacts {
        BoundFacts {
            dob: PartialDate::parse(&profile.date_of_birth),
            mother_dob: PartialDate::parse(&profile.mother_date_of_birth),
            sex: profile.sex,
            mother_id: mother_id_hash(secret, &national_id(&profile.mother_national_id)),
        }
    }

    /// Whether a pair of records with these facts is certain to score below
    /// [`POSSIBLE`] (docs/MATCHING.md §6.4): the points of the dates, sex and mother's id
    /// exactly, with every name and place taken at its best. Symmetric. Both sides' ids must
    /// be keyed with the same secret.
    pub fn rules_out(&self, other: &BoundFacts) -> bool {
        let mut points = MAX_NAME_AND_PLACE_POINTS;
        points += date_points(dates(self.dob, other.dob), [25, 18, 18, 8, 14, 5, -45]);
        points += date_points(
            dates(self.mother_dob, other.mother_dob),
            [8, 5, 5, 2, 2, 2, -4],
        );
        if self.sex != 0 && other.sex != 0 {
            points += if self.sex != other.sex { -12 } else { 2 };
        }
        if let (Some(a), Some(b)) = (self.mother_id, other.mother_id) {
            points += if a == b { 15 } else { -15 };
        }
        points < POSSIBLE
    }

    /// The facts as [`FACTS_LEN`] bytes (docs/MATCHING.md §7): version 1; a presence byte
    /// (bit 0 the child's date, bit 1 the mother's, bit 2 the mother's id); the child's date
    /// and the mother's, each as year (u16, big-endian), month and day (0 when not known, and
    /// all zero when absent); sex; the mother's id hash (zero when absent).
    pub fn to_bytes(&self) -> [u8; FACTS_LEN] {
        let mut out = [0u8; FACTS_LEN];
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
            | u8::from(self.mother_id.is_some()) << 2;
        date(self.dob, &mut out[2..6]);
        date(self.mother_dob, &mut out[6..10]);
        out[10] = self.sex;
        if let Some(id) = self.mother_id {
            out[11..19].copy_from_slice(&id);
        }
        out
    }

    /// Reads [`Self::to_bytes`] back; every field is checked (a date must be one
    /// [`PartialDate::parse`] could give), so what is read is what was written.
    pub fn from_bytes(bytes: &[u8]) -> Result<BoundFacts, FactsError> {
        let bytes: &[u8; FACTS_LEN] = bytes
            .try_into()
            .map_err(|_| FactsError::Length(bytes.len()))?;
        if bytes[0] != FACTS_VERSION {
            return Err(FactsError::Version(bytes[0]));
        }
        let present = bytes[1];
        if present > 0b111 {
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
        let dob = date(present & 1 != 0, &bytes[2..6], "child's date of birth")?;
        let mother_dob = date(present & 2 != 0, &bytes[6..10], "mother's date of birth")?;
        let sex = bytes[10];
        if sex > 2 {
            return Err(FactsError::Field("sex"));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[11..19]);
        let mother_id = if present & 4 != 0 {
            Some(id)
        } else if id == [0; 8] {
            None
        } else {
            return Err(FactsError::Field("mother's id"));
        };
        Ok(BoundFacts {
            dob,
            mother_dob,
            sex,
            mother_id,
        })
    }
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

    fn facts() -> impl Strategy<Value = BoundFacts> {
        (
            date(),
            date(),
            0u8..=2,
            proptest::option::of(any::<[u8; 8]>()),
        )
            .prop_map(|(dob, mother_dob, sex, mother_id)| BoundFacts {
                dob,
                mother_dob,
                sex,
                mother_id,
            })
    }

    proptest! {
        #[test]
        fn facts_survive_their_bytes(f in facts()) {
            prop_assert_eq!(BoundFacts::from_bytes(&f.to_bytes()), Ok(f));
        }

        #[test]
        fn bytes_read_are_bytes_written(bytes in proptest::collection::vec(any::<u8>(), FACTS_LEN)) {
            if let Ok(f) = BoundFacts::from_bytes(&bytes) {
                prop_assert_eq!(f.to_bytes().to_vec(), bytes);
            }
        }

        #[test]
        fn the_bound_is_symmetric_and_never_rules_a_record_out_against_itself(
            a in facts(), b in facts()
        ) {
            prop_assert_eq!(a.rules_out(&b), b.rules_out(&a));
            prop_assert!(!a.rules_out(&a));
        }
    }

    #[test]
    fn bad_bytes_say_what_is_wrong() {
        let good = BoundFacts {
            dob: PartialDate::parse("2026-03-14"),
            mother_dob: PartialDate::parse("1998-07"),
            sex: 1,
            mother_id: Some([7; 8]),
        }
        .to_bytes();
        assert_eq!(
            BoundFacts::from_bytes(&good[..18]),
            Err(FactsError::Length(18))
        );
        let mut bad = good;
        bad[0] = 2;
        assert_eq!(BoundFacts::from_bytes(&bad), Err(FactsError::Version(2)));
        let mut bad = good;
        bad[5] = 31; // 2026-03-31 is fine
        assert!(BoundFacts::from_bytes(&bad).is_ok());
        bad[4] = 2; // 2026-02-31 is not
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("child's date of birth"))
        );
        let mut bad = good;
        bad[10] = 3;
        assert_eq!(BoundFacts::from_bytes(&bad), Err(FactsError::Field("sex")));
        let mut bad = good;
        bad[1] = 0b011; // an id without its presence bit
        assert_eq!(
            BoundFacts::from_bytes(&bad),
            Err(FactsError::Field("mother's id"))
        );
    }

    #[test]
    fn the_bytes_are_as_documented() {
        let facts = BoundFacts {
            dob: PartialDate::parse("2026-03-14"),
            mother_dob: PartialDate::parse("1998"),
            sex: 2,
            mother_id: None,
        };
        assert_eq!(
            hex::encode(facts.to_bytes()),
            "010307ea030e07ce0000020000000000000000"
        );
    }
}
