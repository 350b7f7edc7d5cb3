//! Realistic sample enrolments for tests, the demo and benchmarks. All names are invented.

use std::collections::BTreeMap;

use time::{Date, Duration};

use crate::record::{
    Caregiver, Child, Consent, DatePrecision, EnrolmentInput, Informant, Parent, PlaceKind,
    PlaceOfBirth, Sex,
};

/// The reference registration used across the docs: Олена Коваленко, born 2026-03-14 at home in
/// Зимна Вода (UA-46), cared for by her mother Ірина and father Андрій.
pub fn reference_input() -> EnrolmentInput {
    let person = |given: &str, relationship: &str| Caregiver {
        given_names: given.into(),
        family_name: "Коваленко".into(),
        relationship: relationship.into(),
        phone: None,
    };
    EnrolmentInput {
        child: Child {
            given_names: "Олена".into(),
            family_name: "Коваленко".into(),
            sex: Some(Sex::Female),
            date_of_birth: "2026-03-14".into(),
            date_of_birth_precision: Some(DatePrecision::Day),
            time_of_birth: Some("04:35".into()),
            plurality: 1,
            birth_order: 1,
        },
        place_of_birth: PlaceOfBirth {
            kind: Some(PlaceKind::Home),
            admin_area: "UA-46".into(),
            locality: "Зимна Вода".into(),
            facility: None,
            latitude: Some(49.8),
            longitude: Some(23.9),
        },
        mother: Parent {
            given_names: "Ірина".into(),
            family_name: "Коваленко".into(),
            date_of_birth: Some("1998-07-02".into()),
            national_id: None,
            nationality: Some("UA".into()),
        },
        father: Some(Parent {
            given_names: "Андрій".into(),
            family_name: "Коваленко".into(),
            date_of_birth: None,
            national_id: None,
            nationality: Some("UA".into()),
        }),
        informant: Informant {
            given_names: "Ірина".into(),
            family_name: "Коваленко".into(),
            relationship: "mother".into(),
            phone: Some("+380501234567".into()),
        },
        caregivers: vec![person("Ірина", "mother"), person("Андрій", "father")],
        consent: Consent {
            given: true,
            by_relationship: "mother".into(),
        },
        notes: None,
        custom: BTreeMap::new(),
    }
}

struct Family {
    area: &'static str,
    locality: &'static str,
    country: &'static str,
    phone_prefix: &'static str,
    girls: &'static [&'static str],
    boys: &'static [&'static str],
    women: &'static [&'static str],
    men: &'static [&'static str],
    surnames: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        area: "UA-46",
        locality: "Зимна Вода",
        country: "UA",
        phone_prefix: "+38050",
        girls: &["Олена", "Марія", "Софія", "Дарина"],
        boys: &["Андрій", "Тарас", "Богдан", "Максим"],
        women: &["Ірина", "Оксана", "Наталія"],
        men: &["Василь", "Петро", "Олег"],
        surnames: &["Коваленко", "Шевчук", "Бондаренко", "Мельник"],
    },
    Family {
        area: "RO-IS",
        locality: "Târgu Frumos",
        country: "RO",
        phone_prefix: "+40740",
        girls: &["Ioana", "Ștefania", "Maria"],
        boys: &["Ștefan", "Andrei", "Mihai"],
        women: &["Elena", "Cătălina", "Mădălina"],
        men: &["Gheorghe", "Ion", "Vasile"],
        surnames: &["Țăran", "Popescu", "Rădulescu"],
    },
    Family {
        area: "SD-DN",
        locality: "الفاشر",
        country: "SD",
        phone_prefix: "+24991",
        girls: &["فاطمة", "آمنة", "مريم"],
        boys: &["محمد", "عمر", "يوسف"],
        women: &["زينب", "خديجة", "حليمة"],
        men: &["أحمد", "إبراهيم", "علي"],
        surnames: &["الزهراء", "عبد الله", "حسن"],
    },
    Family {
        area: "TZ-05",
        locality: "Kigoma",
        country: "TZ",
        phone_prefix: "+25575",
        girls: &["Neema", "Amani", "Rehema"],
        boys: &["Baraka", "Juma", "Imani"],
        women: &["Mwanaisha", "Zawadi", "Halima"],
        men: &["Hamisi", "Salim", "Daudi"],
        surnames: &["Mwakyusa", "Kimaro", "Njoroge"],
    },
    Family {
        area: "GT-QC",
        locality: "Santa Cruz del Quiché",
        country: "GT",
        phone_prefix: "+50255",
        girls: &["María José", "Ana Lucía", "Xiomara"],
        boys: &["José Ángel", "Juan Carlos", "Mateo"],
        women: &["Rosa", "Juana", "Guadalupe"],
        men: &["Pedro", "Tomás", "Domingo"],
        surnames: &["Ixcoy Tzoc", "López", "Pérez Chávez"],
    },
];

/// Deterministic pseudo-random numbers (SplitMix64): samples are reproducible from a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// `n` varied, valid enrolments (Ukrainian, Romanian, Sudanese Arabic, Tanzanian, Guatemalan
/// families), births within the two years before `today`, reproducible from `seed`.
pub fn sample_inputs(n: usize, seed: u64, today: Date) -> Vec<EnrolmentInput> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let f = &FAMILIES[rng.below(FAMILIES.len())];
            let surname = rng.pick(f.surnames);
            let girl = rng.next() % 2 == 0;
            let born = today - Duration::days(rng.below(730) as i64);
            let mother_born = born - Duration::days(365 * 18 + rng.below(365 * 20) as i64);
            let mother = rng.pick(f.women);
            let father = rng.pick(f.men);
            let phone = format!("{}{:07}", f.phone_prefix, rng.next() % 10_000_000);
            let with_father = rng.below(4) != 0;
            let mut caregivers = vec![Caregiver {
                given_names: mother.into(),
                family_name: surname.into(),
                relationship: "mother".into(),
                phone: Some(phone.clone()),
            }];
            if with_father {
                caregivers.push(Caregiver {
                    given_names: father.into(),
                    family_name: surname.into(),
                    relationship: "father".into(),
                    phone: None,
                });
            }
            let in_facility = rng.below(3) == 0;
            EnrolmentInput {
                child: Child {
                    given_names: rng.pick(if girl { f.girls } else { f.boys }).into(),
                    family_name: surname.into(),
                    sex: Some(if girl { Sex::Female } else { Sex::Male }),
                    date_of_birth: born.to_string(),
                    date_of_birth_precision: Some(DatePrecision::Day),
                    time_of_birth: None,
                    plurality: 1,
                    birth_order: 1,
                },
                place_of_birth: PlaceOfBirth {
                    kind: Some(if in_facility {
                        PlaceKind::HealthFacility
                    } else {
                        PlaceKind::Home
                    }),
                    admin_area: f.area.into(),
                    locality: f.locality.into(),
                    facility: in_facility.then(|| format!("{} District Hospital", f.locality)),
                    latitude: None,
                    longitude: None,
                },
                mother: Parent {
                    given_names: mother.into(),
                    family_name: surname.into(),
                    date_of_birth: Some(mother_born.to_string()),
                    national_id: None,
                    nationality: Some(f.country.into()),
                },
                father: with_father.then(|| Parent {
                    given_names: father.into(),
                    family_name: surname.into(),
                    date_of_birth: None,
                    national_id: None,
                    nationality: Some(f.country.into()),
                }),
                informant: Informant {
                    given_names: mother.into(),
                    family_name: surname.into(),
                    relationship: "mother".into(),
                    phone: Some(phone),
                },
                caregivers,
                consent: Consent {
                    given: true,
                    by_relationship: "mother".into(),
                },
                notes: None,
                custom: BTreeMap::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::validate::validate;

    #[test]
    fn samples_are_valid_normalised_and_reproducible() {
        let at = datetime!(2026-11-24 12:00 UTC);
        let samples = sample_inputs(300, 7, at.date());
        for s in &samples {
            assert_eq!(&validate(s, at).unwrap(), s);
        }
        assert_eq!(samples, sample_inputs(300, 7, at.date()));
        assert_ne!(samples, sample_inputs(300, 8, at.date()));
    }
}
