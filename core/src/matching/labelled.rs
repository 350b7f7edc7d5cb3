//! A labelled test set for duplicate detection (behind the `fixtures` feature): families of
//! records with true duplicates made by the variations real registers contain, and
//! look-alikes that are not duplicates (twins, siblings, cousins with the same names in the
//! same village, common names born the same month). Reproducible from a seed.

use super::{
    Profile,
    normalise::{Scheme, transliterate},
};

/// One generated record and the child it is of: two records are true duplicates exactly
/// when their `child` is the same.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The child this record registers (the truth).
    pub child: u64,
    /// The record as captured.
    pub profile: Profile,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    /// A pick biased to the front of the list (common names are common).
    fn common<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let a = self.below(items.len());
        let b = self.below(items.len());
        items[a.min(b)]
    }
}

const UK_GIRLS: &[&str] = &[
    "Олена",
    "Марія",
    "Анна",
    "Софія",
    "Оксана",
    "Ірина",
    "Наталія",
    "Тетяна",
    "Юлія",
    "Вікторія",
    "Катерина",
    "Дарина",
    "Анастасія",
    "Соломія",
    "Христина",
    "Зоряна",
    "Ольга",
    "Людмила",
    "Галина",
    "Ярослава",
];
const UK_BOYS: &[&str] = &[
    "Іван",
    "Андрій",
    "Олександр",
    "Дмитро",
    "Максим",
    "Михайло",
    "Петро",
    "Богдан",
    "Юрій",
    "Тарас",
    "Василь",
    "Микола",
    "Сергій",
    "Остап",
    "Назар",
    "Ярослав",
    "Григорій",
    "Олег",
    "Роман",
    "Євген",
];
const UK_FAMILIES: &[&str] = &[
    "Петренко",
    "Коваленко",
    "Шевченко",
    "Бондаренко",
    "Ткаченко",
    "Кравченко",
    "Олійник",
    "Мельник",
    "Шевчук",
    "Поліщук",
    "Бойко",
    "Ковальчук",
    "Лисенко",
    "Савчук",
    "Руденко",
    "Марченко",
    "Мороз",
    "Гончаренко",
    "Клименко",
    "Кузьменко",
    "Павленко",
    "Симоненко",
    "Захарченко",
    "Яковенко",
    "Зінченко",
    "Левченко",
    "Гребенюк",
    "Тимошенко",
    "Дорошенко",
    "Юрченко",
];
const UK_PLACES: &[&str] = &[
    "Бородянка",
    "Ірпінь",
    "Макарів",
    "Немішаєве",
    "Клавдієво",
    "Пісківка",
    "Загальці",
    "Гостомель",
];
/// Romanian names, with their Moldovan Cyrillic spelling.
const RO_GIRLS: &[(&str, &str)] = &[
    ("Ana", "Ана"),
    ("Maria", "Мария"),
    ("Elena", "Елена"),
    ("Ioana", "Иоана"),
    ("Cristina", "Кристина"),
    ("Daniela", "Даниела"),
    ("Mihaela", "Михаела"),
    ("Natalia", "Наталия"),
    ("Victoria", "Виктория"),
    ("Doina", "Дойна"),
];
const RO_BOYS: &[(&str, &str)] = &[
    ("Ion", "Ион"),
    ("Vasile", "Василе"),
    ("Mihai", "Михай"),
    ("Andrei", "Андрей"),
    ("Nicolae", "Николае"),
    ("Ștefan", "Штефан"),
    ("Dumitru", "Думитру"),
    ("Gheorghe", "Георге"),
    ("Victor", "Виктор"),
    ("Sergiu", "Серджиу"),
];
const RO_FAMILIES: &[(&str, &str)] = &[
    ("Țurcanu", "Цуркану"),
    ("Rusu", "Русу"),
    ("Ceban", "Чебан"),
    ("Popescu", "Попеску"),
    ("Munteanu", "Мунтяну"),
    ("Lungu", "Лунгу"),
    ("Cojocaru", "Кожокару"),
    ("Sârbu", "Сырбу"),
    ("Botnari", "Ботнарь"),
    ("Țîgan", "Цыган"),
    ("Moraru", "Морару"),
    ("Ursu", "Урсу"),
];
const RO_PLACES: &[&str] = &[
    "Sculeni",
    "Ungheni",
    "Cornești",
    "Pârlița",
    "Valea Mare",
    "Zagarancea",
];

/// Whether a family writes Romanian names (with a Cyrillic spelling beside each).
#[derive(Clone, Copy)]
enum Culture {
    Ukrainian,
    Romanian,
}

/// A name as the family writes it, and its spelling in the other script.
#[derive(Clone)]
struct Name {
    usual: String,
    other: String,
}

fn uk(name: &str) -> Name {
    Name {
        usual: name.into(),
        other: capitalise(
            &name
                .to_lowercase()
                .split(' ')
                .map(|w| transliterate(w, Scheme::Ukrainian))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

fn capitalise(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn given(rng: &mut Rng, culture: Culture, girl: bool) -> Name {
    match culture {
        Culture::Ukrainian => uk(rng.common(if girl { UK_GIRLS } else { UK_BOYS })),
        Culture::Romanian => {
            let list = if girl { RO_GIRLS } else { RO_BOYS };
            let (l, c) = list[rng.below(list.len()).min(rng.below(list.len()))];
            Name {
                usual: l.into(),
                other: c.into(),
            }
        }
    }
}

fn family(rng: &mut Rng, culture: Culture) -> Name {
    match culture {
        Culture::Ukrainian => uk(rng.common(UK_FAMILIES)),
        Culture::Romanian => {
            let (l, c) = RO_FAMILIES[rng.below(RO_FAMILIES.len())];
            Name {
                usual: l.into(),
                other: c.into(),
            }
        }
    }
}

fn date(year: i32, month: u8, day: u8) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

/// A day number (days since 1970-01-01) as `YYYY-MM-DD`.
fn from_day(n: i64) -> String {
    let julian = n + 2_440_588;
    time::Date::from_julian_day(julian as i32)
        .map(|d| date(d.year(), d.month() as u8, d.day()))
        .unwrap_or_else(|_| "2026-01-01".into())
}

fn to_day(s: &str) -> i64 {
    super::dates::PartialDate::parse(s)
        .and_then(|d| d.day_number())
        .unwrap_or(20_000)
}

/// A typing error: a letter dropped, doubled, replaced by its neighbour, or two swapped.
fn typo(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 4 {
        return s.into();
    }
    let at = 1 + rng.below(chars.len() - 2);
    match rng.below(4) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        2 => chars.swap(at, at + 1),
        _ => chars[at] = chars[at - 1],
    }
    chars.into_iter().collect()
}

struct Child {
    id: u64,
    given: Name,
    family: Name,
    sex: u8,
    dob: String,
    plurality: u8,
    birth_order: u8,
}

struct Family {
    culture: Culture,
    area: String,
    locality: String,
    mother_given: Name,
    mother_family: Name,
    mother_dob: String,
    mother_id: String,
    father: Option<(Name, Name)>,
}

fn profile(f: &Family, c: &Child) -> Profile {
    Profile {
        child_given: c.given.usual.clone(),
        child_family: c.family.usual.clone(),
        sex: c.sex,
        date_of_birth: c.dob.clone(),
        plurality: c.plurality,
        birth_order: c.birth_order,
        admin_area: f.area.clone(),
        locality: f.locality.clone(),
        mother_given: f.mother_given.usual.clone(),
        mother_family: f.mother_family.usual.clone(),
        mother_date_of_birth: f.mother_dob.clone(),
        mother_national_id: f.mother_id.clone(),
        father_given: f
            .father
            .as_ref()
            .map(|x| x.0.usual.clone())
            .unwrap_or_default(),
        father_family: f
            .father
            .as_ref()
            .map(|x| x.1.usual.clone())
            .unwrap_or_default(),
        caregivers: vec![(f.mother_given.usual.clone(), f.mother_family.usual.clone())],
    }
}

/// The variations a second registration of the same child may carry (one to three of them).
fn vary(rng: &mut Rng, f: &Family, c: &Child, p: &mut Profile) {
    for _ in 0..1 + rng.below(3) {
        match rng.below(12) {
            0 => p.child_given = typo(rng, &p.child_given),
            1 => p.child_family = typo(rng, &p.child_family),
            2 => {
                // The other script, for the child and the mother.
                p.child_given = c.given.other.clone();
                p.child_family = c.family.other.clone();
                p.mother_given = f.mother_given.other.clone();
                p.mother_family = f.mother_family.other.clone();
            }
            3 => std::mem::swap(&mut p.child_given, &mut p.child_family),
            4 => {
                // Double names: the other order, or one half.
                let words: Vec<&str> = p.child_given.split(' ').collect();
                p.child_given = if words.len() > 1 && rng.chance(50) {
                    words.iter().rev().copied().collect::<Vec<_>>().join(" ")
                } else if words.len() > 1 {
                    words[0].into()
                } else {
                    let extra = given(rng, f.culture, c.sex == 1).usual;
                    format!("{} {extra}", p.child_given)
                };
            }
            5 => {
                // Day and month swapped, when the day can be a month.
                let (y, rest) = c.dob.split_at(5);
                let (m, d) = (&rest[..2], &rest[3..5]);
                if d <= "12" && d != m {
                    p.date_of_birth = format!("{y}{d}-{m}");
                } else {
                    p.date_of_birth = from_day(to_day(&c.dob) + 1);
                }
            }
            6 => {
                let off = 1 + rng.below(5) as i64;
                p.date_of_birth =
                    from_day(to_day(&c.dob) + if rng.chance(50) { off } else { -off });
            }
            7 => p.date_of_birth = c.dob[..7].into(),
            8 => p.mother_given = typo(rng, &p.mother_given),
            9 => {
                p.mother_date_of_birth.clear();
                p.mother_national_id.clear();
            }
            10 => {
                // ș/ş, ț/ţ as another keyboard types them.
                let swap = |s: &str| s.replace('ș', "ş").replace('ț', "ţ").replace('Ț', "Ţ");
                p.child_family = swap(&p.child_family);
                p.mother_family = swap(&p.mother_family);
            }
            _ => {
                p.father_given.clear();
                p.father_family.clear();
                p.sex = if rng.chance(80) { p.sex } else { 0 };
            }
        }
    }
}

/// About `n` labelled records from `seed` (see the module documentation). About a quarter
/// of the children are registered two or three times; one family in eight has twins; a
/// quarter of families have a sister family (cousins) in the same village, often giving a
/// child the same name.
pub fn labelled_set(n: usize, seed: u64) -> Vec<Labelled> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n + 8);
    let mut next_child = 0u64;
    // Births over two years; one area per culture with a few villages: look-alikes abound.
    let start = to_day("2024-06-01");
    while out.len() < n {
        let culture = if rng.chance(70) {
            Culture::Ukrainian
        } else {
            Culture::Romanian
        };
        let (area, places) = match culture {
            Culture::Ukrainian => ("Київська область", UK_PLACES),
            Culture::Romanian => ("Ungheni", RO_PLACES),
        };
        // One region per 400 families, so the common names repeat within a village.
        let region = (seed % 10_000) * 1_000 + (out.len() / 2_000) as u64;
        // A village's second word tells the regions apart (letters: digits fold away).
        let suffix: String = [region / 676, region / 26 % 26, region % 26]
            .iter()
            .map(|&d| char::from(b'a' + (d % 26) as u8))
            .collect();
        let locality = format!("{} {suffix}", places[rng.below(places.len())]);
        let surname = family(&mut rng, culture);
        let base = Family {
            culture,
            area: area.into(),
            locality,
            mother_given: given(&mut rng, culture, true),
            mother_family: surname.clone(),
            mother_dob: from_day(to_day("1985-01-01") + rng.below(6_000) as i64),
            mother_id: if rng.chance(40) {
                format!("{:012}", rng.next() % 1_000_000_000_000)
            } else {
                String::new()
            },
            father: rng
                .chance(70)
                .then(|| (given(&mut rng, culture, false), surname.clone())),
        };
        let mut families = vec![base];
        if rng.chance(25) {
            // A sister family in the same village, same family name (cousins).
            let first = &families[0];
            families.push(Family {
                culture,
                area: first.area.clone(),
                locality: first.locality.clone(),
                mother_given: given(&mut rng, culture, true),
                mother_family: first.mother_family.clone(),
                mother_dob: from_day(to_day("1985-01-01") + rng.below(6_000) as i64),
                mother_id: String::new(),
                father: first
                    .father
                    .clone()
                    .map(|(_, fam)| (given(&mut rng, culture, false), fam)),
            });
        }
        let mut shared_name: Option<Name> = None;
        for (which, f) in families.iter().enumerate() {
            let mut dob_day = start + rng.below(700) as i64;
            for _ in 0..1 + rng.below(3) {
                let twins = rng.chance(12);
                let sex = 1 + rng.below(2) as u8;
                let mut children = Vec::new();
                for order in 1..=if twins { 2u8 } else { 1 } {
                    // A cousin often has the same name as a child of the sister family;
                    // twins and siblings have names of their own.
                    let mut name = match &shared_name {
                        Some(n) if which == 1 && order == 1 && rng.chance(50) => n.clone(),
                        _ => given(&mut rng, culture, sex == 1),
                    };
                    while children.iter().any(|c: &Child| c.given.usual == name.usual) {
                        name = given(&mut rng, culture, sex == 1);
                    }
                    if which == 0 {
                        shared_name.get_or_insert_with(|| name.clone());
                    }
                    next_child += 1;
                    children.push(Child {
                        id: next_child,
                        given: name,
                        family: f.mother_family.clone(),
                        sex,
                        dob: from_day(dob_day),
                        plurality: if twins { 2 } else { 1 },
                        birth_order: order,
                    });
                }
                for c in &children {
                    let p = profile(f, c);
                    out.push(Labelled {
                        child: c.id,
                        profile: p.clone(),
                    });
                    if rng.chance(25) {
                        for _ in 0..1 + rng.below(2) {
                            let mut q = p.clone();
                            vary(&mut rng, f, c, &mut q);
                            out.push(Labelled {
                                child: c.id,
                                profile: q,
                            });
                        }
                    }
                }
                dob_day += 400 + rng.below(900) as i64;
            }
        }
    }
    out.truncate(n);
    out
}

/// A registration form that carries `profile` (everything matching does not read is the
/// reference form's): the benchmark stores the labelled records as the registry stores
/// records, signed forms, so that [`Profile::from_form`] gives `profile` back.
pub fn form_of(profile: &Profile) -> crate::record::RegistrationForm {
    use crate::record::{Caregiver, DatePrecision, Parent, Sex};
    let mut form = crate::fixtures::reference_input();
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
    form.child.given_names = profile.child_given.clone();
    form.child.family_name = profile.child_family.clone();
    form.child.sex = match profile.sex {
        1 => Some(Sex::Female),
        2 => Some(Sex::Male),
        _ => None,
    };
    form.child.date_of_birth = profile.date_of_birth.clone();
    form.child.date_of_birth_precision = Some(match profile.date_of_birth.len() {
        4 => DatePrecision::Year,
        7 => DatePrecision::Month,
        _ => DatePrecision::Day,
    });
    form.child.plurality = profile.plurality;
    form.child.birth_order = profile.birth_order;
    form.place_of_birth.admin_area = profile.admin_area.clone();
    form.place_of_birth.locality = profile.locality.clone();
    form.mother.given_names = profile.mother_given.clone();
    form.mother.family_name = profile.mother_family.clone();
    form.mother.date_of_birth = optional(&profile.mother_date_of_birth);
    form.mother.national_id = optional(&profile.mother_national_id);
    form.father =
        (!profile.father_given.is_empty() || !profile.father_family.is_empty()).then(|| Parent {
            given_names: profile.father_given.clone(),
            family_name: profile.father_family.clone(),
            date_of_birth: None,
            national_id: None,
            nationality: None,
        });
    form.informant.given_names = profile.mother_given.clone();
    form.informant.family_name = profile.mother_family.clone();
    form.caregivers = profile
        .caregivers
        .iter()
        .map(|(given, family)| Caregiver {
            given_names: given.clone(),
            family_name: family.clone(),
            relationship: "mother".into(),
            phone: None,
        })
        .collect();
    form
}

/// Precision, recall and F1 of one threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quality {
    /// Pairs found at the threshold.
    pub found: u64,
    /// Of those, true duplicates.
    pub true_found: u64,
    /// True duplicate pairs in the set.
    pub true_pairs: u64,
}

impl Quality {
    /// Found pairs that are true duplicates.
    pub fn precision(&self) -> f64 {
        if self.found == 0 {
            1.0
        } else {
            self.true_found as f64 / self.found as f64
        }
    }
    /// True duplicate pairs that were found.
    pub fn recall(&self) -> f64 {
        if self.true_pairs == 0 {
            1.0
        } else {
            self.true_found as f64 / self.true_pairs as f64
        }
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// The result of matching a labelled set the way the registry does (each record against the
/// records before it, through the blocking index).
#[derive(Debug, Clone, Copy, Default)]
pub struct Evaluation {
    /// At `possible` and above.
    pub possible: Quality,
    /// At `likely`.
    pub likely: Quality,
    /// Candidates scored, all records together.
    pub candidates: u64,
}

/// Matches `set` in order and counts found and true pairs.
pub fn evaluate(set: &[Labelled]) -> Evaluation {
    use std::collections::HashMap;
    let mut index = super::blocking::Index::new();
    let mut children: Vec<u64> = Vec::with_capacity(set.len());
    let mut per_child: HashMap<u64, u64> = HashMap::new();
    let mut e = Evaluation::default();
    for item in set {
        let prepared = super::Prepared::new(item.profile.clone());
        let candidates = index.candidates(&prepared);
        e.candidates += candidates.len() as u64;
        for at in candidates {
            let Some(m) = index.score(&prepared, at) else {
                continue;
            };
            let truth = children[at] == item.child;
            for (q, level) in [
                (&mut e.possible, super::Level::Possible),
                (&mut e.likely, super::Level::Likely),
            ] {
                if m.level >= level {
                    q.found += 1;
                    q.true_found += u64::from(truth);
                }
            }
        }
        let seen = per_child.entry(item.child).or_default();
        e.possible.true_pairs += *seen;
        e.likely.true_pairs += *seen;
        *seen += 1;
        index.add(prepared);
        children.push(item.child);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labelled_profile_survives_its_form() {
        for item in labelled_set(500, 3) {
            assert_eq!(Profile::from_form(&form_of(&item.profile)), item.profile);
        }
    }

    #[test]
    fn the_set_has_duplicates_and_look_alikes_and_meets_the_goals() {
        let set = labelled_set(3_000, 7);
        assert_eq!(set.len(), 3_000);
        let e = evaluate(&set);
        println!("{e:?}");
        assert!(e.possible.true_pairs > 300, "{e:?}");
        assert!(set.iter().any(|l| l.profile.plurality == 2));
        assert!(e.possible.recall() >= 0.95, "{e:?}");
        assert!(e.possible.precision() >= 0.90, "{e:?}");
        assert!(e.likely.precision() >= 0.98, "{e:?}");
    }
}
#[cfg(test)]
mod figures {
    use super::*;

    /// The quality figures of the benchmark, without a release build:
    /// `cargo test -p birthright-core --lib matching::labelled::figures -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn quality_at_10k_and_100k() {
        let sizes = std::env::var("BIRTHRIGHT_MATCH_SIZES").unwrap_or("10000,100000".into());
        for n in sizes
            .split(',')
            .filter_map(|n| n.trim().parse::<usize>().ok())
        {
            let e = evaluate(&labelled_set(n, 11));
            println!(
                "{n}: true pairs {}, candidates/record {:.2}; possible P {:.4} R {:.4} F1 {:.4}; likely P {:.4} R {:.4} F1 {:.4}",
                e.possible.true_pairs,
                e.candidates as f64 / n as f64,
                e.possible.precision(),
                e.possible.recall(),
                e.possible.f1(),
                e.likely.precision(),
                e.likely.recall(),
                e.likely.f1()
            );
        }
    }
}
