//! The scoring function (docs/MATCHING.md §6): evidence points for and against two records
//! being the same child, a level, and the reasons in plain language.

use super::{
    Prepared,
    dates::{DateMatch, PartialDate, compare_dates},
    names::{NameMatch, NamePart, PersonName, compare_names, part_similarity},
    normalise::tidy,
};

/// Points from which a pair is a `likely` duplicate.
pub const LIKELY: i32 = 70;
/// Points from which a pair is a `possible` duplicate.
pub const POSSIBLE: i32 = 45;

/// How strongly a pair looks like one child registered twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Below [`POSSIBLE`]: not a duplicate.
    None,
    /// From [`POSSIBLE`]: worth a look.
    Possible,
    /// From [`LIKELY`]: probably the same child.
    Likely,
}

impl Level {
    /// `likely`, `possible` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Possible => "possible",
            Level::Likely => "likely",
        }
    }

    /// The level of `points`.
    pub fn of(points: i32) -> Level {
        if points >= LIKELY {
            Level::Likely
        } else if points >= POSSIBLE {
            Level::Possible
        } else {
            Level::None
        }
    }
}

/// The outcome of comparing two records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Evidence points (the sum of §6's table; may be negative).
    pub points: i32,
    /// The level of the points, or `None` when a rule (twins) rules the pair out.
    pub level: Level,
    /// Why, in plain language, strongest evidence first.
    pub reasons: Vec<String>,
}

impl Match {
    /// The reasons as one sentence (`same mother and date of birth; child's name Олена/Olena`).
    pub fn reasons_text(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Points for a name-part similarity `s` on the scale `(exact, close, near, different)`:
/// `s >= 0.95`, `>= 0.88`, `>= 0.80`, below.
fn name_points(s: Option<f64>, scale: (i32, i32, i32, i32)) -> i32 {
    match s {
        None => 0,
        Some(s) if s >= 0.95 => scale.0,
        Some(s) if s >= 0.88 => scale.1,
        Some(s) if s >= 0.80 => scale.2,
        Some(_) => scale.3,
    }
}

/// Points of the mother's names (§6): given names on (10, 7, 2, -15), family name on
/// (6, 4, 0, -3).
pub(super) fn mother_name_points(m: &NameMatch) -> i32 {
    name_points(m.given, (10, 7, 2, -15)) + name_points(m.family, (6, 4, 0, -3))
}

/// Whether both parts of a name compare at least 0.88 (the same person's name, §6).
pub(super) fn same_name(m: &NameMatch) -> bool {
    m.given.is_some_and(|s| s >= 0.88) && m.family.is_some_and(|s| s >= 0.88)
}

/// The twins rule (§6.2) but for the mother: whether two records of the same mother are
/// two children of one multiple birth, their dates of birth not different and the two told
/// apart (`other_child`: by birth order or given name). [`weigh`] and the bound
/// ([`super::BoundFacts::rules_out`]) both ask it.
pub(super) fn twins_if_same_mother(
    multiple: bool,
    dob: Option<DateMatch>,
    other_child: bool,
) -> bool {
    multiple && dob.is_some_and(|d| d != DateMatch::Different) && other_child
}

pub(super) fn date_points(m: Option<DateMatch>, scale: [i32; 7]) -> i32 {
    match m {
        None => 0,
        Some(DateMatch::Same) => scale[0],
        Some(DateMatch::DayMonthSwapped) => scale[1],
        Some(DateMatch::WithinDays(_)) => scale[2],
        Some(DateMatch::Near(_)) => scale[3],
        Some(DateMatch::SameMonth) => scale[4],
        Some(DateMatch::SameYear) => scale[5],
        Some(DateMatch::Different) => scale[6],
    }
}

pub(super) fn dates(a: Option<PartialDate>, b: Option<PartialDate>) -> Option<DateMatch> {
    Some(compare_dates(&a?, &b?))
}

/// Mean of the two parts' similarities of a person's name, `None` if neither compares.
fn whole_name(m: &NameMatch) -> Option<f64> {
    match (m.given, m.family) {
        (Some(g), Some(f)) => Some((g + f) / 2.0),
        (g, f) => g.or(f),
    }
}

fn place_similarity(a: &NamePart, b: &NamePart) -> Option<f64> {
    part_similarity(a, b)
}

/// Most points a common child's name takes off (docs/MATCHING.md §6.3).
pub const MAX_COMMON_NAME_PENALTY: i32 = 20;

/// Points taken off an agreement on the child's name when `common` records of the population
/// share the pair's child's-name-and-month key (docs/MATCHING.md §6.3): 5 for each doubling
/// beyond the first record, at most [`MAX_COMMON_NAME_PENALTY`]; 0 for `common` of 0 or 1.
pub fn common_name_penalty(common: u64) -> i32 {
    if common < 2 {
        return 0;
    }
    let doublings = 63 - common.leading_zeros() as i32; // floor(log2(common))
    (5 * doublings).min(MAX_COMMON_NAME_PENALTY)
}

/// Scores two prepared records (docs/MATCHING.md §6) without knowing the population (as if
/// their child's name were rare): [`score_in`] with `common` 1.
pub fn score(a: &Prepared, b: &Prepared) -> Match {
    score_in(a, b, 1)
}

/// Scores two prepared records (docs/MATCHING.md §6), where `common` is how many records of
/// the population the two are matched in hold the child's-name-and-month key the pair shares
/// ([`super::blocking::commonness`]). Symmetric: `score_in(a, b, n)` equals
/// `score_in(b, a, n)` apart from the order of the names quoted in the reasons.
pub fn score_in(a: &Prepared, b: &Prepared, common: u64) -> Match {
    weigh(a, b, || common).into_match()
}

/// The evidence of [`score_in`] before its reasons are written: its points and level, and
/// what the reasons are written from. `common` is asked for only when the pair agrees on
/// the child's name (the only case its penalty applies), so a caller that must count it
/// pays for counting only then; [`Evidence::into_match`] writes the reasons, so a caller
/// that keeps only pairs from `possible` writes them only for those.
pub fn weigh<'a>(a: &'a Prepared, b: &'a Prepared, common: impl FnOnce() -> u64) -> Evidence<'a> {
    let mut points = 0;
    let child = compare_names(&a.child, &b.child);
    points += name_points(child.given, (20, 14, 6, -12));
    points += name_points(child.family, (10, 7, 3, -6));
    // A name many children of that month share says less about which child this is
    // (Fellegi-Sunter's frequency-adjusted agreement weight, in steps).
    let (common, penalty) = if same_name(&child) {
        let common = common();
        (common, common_name_penalty(common))
    } else {
        (0, 0)
    };
    points -= penalty;

    let dob = dates(a.dob, b.dob);
    points += date_points(dob, [25, 18, 18, 8, 14, 5, -45]);

    let (sa, sb) = (a.profile.sex, b.profile.sex);
    let sex_differs = sa != 0 && sb != 0 && sa != sb;
    if sa != 0 && sb != 0 {
        points += if sex_differs { -12 } else { 2 };
    }

    let area = place_similarity(&a.admin_area, &b.admin_area);
    points += match area {
        Some(s) if s >= 0.90 => 2,
        Some(_) => -2,
        None => 0,
    };
    let locality = place_similarity(&a.locality, &b.locality);
    let same_place = locality.is_some_and(|s| s >= 0.90);
    points += match locality {
        Some(_) if same_place => 5,
        Some(_) => -5,
        None => 0,
    };

    let mother = compare_names(&a.mother, &b.mother);
    points += mother_name_points(&mother);
    let mother_dob = dates(a.mother_dob, b.mother_dob);
    points += date_points(mother_dob, [8, 5, 5, 2, 2, 2, -4]);
    let ids_known = !a.mother_id.is_empty() && !b.mother_id.is_empty();
    let same_id = ids_known && a.mother_id == b.mother_id;
    if ids_known {
        points += if same_id { 15 } else { -15 };
    }

    if !a.father.is_empty() && !b.father.is_empty() {
        points += match whole_name(&compare_names(&a.father, &b.father)) {
            Some(s) if s >= 0.90 => 4,
            Some(s) if s < 0.80 => -3,
            _ => 0,
        };
    }
    let shared_caregiver = a.caregivers.iter().any(|x| {
        b.caregivers
            .iter()
            .any(|y| whole_name(&compare_names(x, y)).is_some_and(|s| s >= 0.92))
    });
    if shared_caregiver {
        points += 2;
    }

    let same_mother = same_id || same_name(&mother);
    let twins = same_mother
        && twins_if_same_mother(
            a.profile.plurality >= 2 || b.profile.plurality >= 2,
            dob,
            a.profile.birth_order != b.profile.birth_order || child.given.is_some_and(|s| s < 0.80),
        );
    Evidence {
        a,
        b,
        points,
        level: if twins {
            Level::None
        } else {
            Level::of(points)
        },
        twins,
        child,
        dob,
        common,
        penalty,
        same_mother,
        same_id,
        ids_known,
        same_place,
        sex_differs,
    }
}

/// What [`weigh`] found of a pair: its points and level, and what its reasons say.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    a: &'a Prepared,
    b: &'a Prepared,
    /// Evidence points (as [`Match::points`]).
    pub points: i32,
    /// The level (as [`Match::level`]).
    pub level: Level,
    twins: bool,
    child: NameMatch,
    dob: Option<DateMatch>,
    common: u64,
    penalty: i32,
    same_mother: bool,
    same_id: bool,
    ids_known: bool,
    same_place: bool,
    sex_differs: bool,
}

impl Evidence<'_> {
    /// The match, its reasons written, strongest first.
    pub fn into_match(self) -> Match {
        let (a, b) = (self.a, self.b);
        let mut reasons = Vec::new();
        if self.twins {
            reasons.push("twins or a multiple birth: another child of the same delivery".into());
        }
        match (self.same_mother, self.dob) {
            (true, Some(DateMatch::Same)) => reasons.push("same mother and date of birth".into()),
            (true, _) => reasons.push("same mother".into()),
            (false, Some(DateMatch::Same)) => reasons.push("same date of birth".into()),
            _ => {}
        }
        if self.same_id {
            reasons.push("same mother's national id".into());
        }
        let (da, db) = (&a.profile.date_of_birth, &b.profile.date_of_birth);
        match self.dob {
            Some(DateMatch::DayMonthSwapped) => reasons.push(format!(
                "dates of birth {da} and {db} (day and month swapped)"
            )),
            Some(DateMatch::WithinDays(n) | DateMatch::Near(n)) => {
                reasons.push(format!("dates of birth {n} days apart ({da} and {db})"))
            }
            Some(DateMatch::SameMonth) => {
                reasons.push(format!("date of birth in the same month ({da} and {db})"))
            }
            Some(DateMatch::SameYear) => {
                reasons.push(format!("date of birth in the same year ({da} and {db})"))
            }
            _ => {}
        }
        reasons.push(child_name_reason(a, b, &self.child));
        if self.penalty > 0 {
            reasons.push(format!(
                "a common child's name ({} records with it born around that month)",
                self.common
            ));
        }
        if self.same_place {
            reasons.push("same place of birth".into());
        }
        if self.sex_differs {
            reasons.push("different sex".into());
        }
        if self.ids_known && !self.same_id {
            reasons.push("different mother's national id".into());
        }
        Match {
            points: self.points,
            level: self.level,
            reasons,
        }
    }
}

/// `child's name Олена/Olena`, `same child's name`, or with the names swapped.
fn child_name_reason(a: &Prepared, b: &Prepared, m: &NameMatch) -> String {
    let (na, nb) = (a.profile.child_name(), b.profile.child_name());
    let swapped = if m.swapped {
        " (given and family names swapped)"
    } else {
        ""
    };
    if tidy(&na) == tidy(&nb) {
        return "same child's name".into();
    }
    format!("child's name {na}/{nb}{swapped}")
}

/// Whether two names are the same person's (both parts at least 0.88), for callers that
/// compare names outside a full score.
pub fn same_person(a: &PersonName, b: &PersonName) -> bool {
    same_name(&compare_names(a, b))
}
