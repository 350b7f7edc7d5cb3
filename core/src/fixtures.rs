//! Realistic sample enrolments for tests, the demo and benchmarks. All names are invented.

use std::collections::BTreeMap;

#[cfg(any(test, feature = "fixtures"))]
use time::{Date, Duration};

use crate::record::{
    Caregiver, Child, Consent, DatePrecision, Informant, Parent, PlaceKind, PlaceOfBirth,
    RegistrationForm, Sex,
};

/// The reference registration used across the docs: Олена Коваленко, born 2026-03-14 at home in
/// Зимна Вода (UA-46), cared for by her mother Ірина and father Андрій.
pub fn reference_input() -> RegistrationForm {
    let person = |given: &str, relationship: &str| Caregiver {
        given_names: given.into(),
        family_name: "Коваленко".into(),
        relationship: relationship.into(),
        phone: None,
    };
    RegistrationForm {
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

/// [`reference_input`] with the child born `days_before` days before `today`: for tests whose
/// outcome depends on the child's age at registration (the registry's review policy judges it
/// by the registry's clock), so that they mean the same whatever day they run.
#[cfg(any(test, feature = "fixtures"))]
pub fn reference_input_born(days_before: i64, today: Date) -> RegistrationForm {
    let mut form = reference_input();
    form.child.date_of_birth = (today - Duration::days(days_before)).to_string();
    form
}

#[cfg(any(test, feature = "fixtures"))]
struct Family {
    country: &'static str,
    phone_prefix: &'static str,
    /// (ISO 3166-2 area, locality, nearby facility, latitude, longitude).
    places: &'static [(&'static str, &'static str, &'static str, f64, f64)],
    girls: &'static [&'static str],
    boys: &'static [&'static str],
    women: &'static [&'static str],
    men: &'static [&'static str],
    surnames: &'static [&'static str],
    notes: &'static [&'static str],
}

#[cfg(any(test, feature = "fixtures"))]
const FAMILIES: &[Family] = &[
    Family {
        country: "UA",
        phone_prefix: "+38050",
        places: &[
            (
                "UA-46",
                "Зимна Вода",
                "Пустомитівська лікарня",
                49.82,
                23.91,
            ),
            (
                "UA-46",
                "Старий Самбір",
                "Старосамбірська лікарня",
                49.44,
                23.0,
            ),
            ("UA-46", "Жовква", "Жовківська лікарня", 50.06, 23.97),
            ("UA-07", "Ковель", "Ковельське ТМО", 51.21, 24.71),
            ("UA-26", "Коломия", "Коломийська ЦРЛ", 48.53, 25.04),
            ("UA-21", "Мукачево", "Мукачівська ЦРЛ", 48.44, 22.72),
        ],
        girls: &[
            "Олена",
            "Марія",
            "Софія",
            "Дарина",
            "Анна",
            "Злата",
            "Вікторія",
            "Соломія",
        ],
        boys: &[
            "Андрій",
            "Тарас",
            "Богдан",
            "Максим",
            "Іван",
            "Назар",
            "Остап",
            "Данило",
        ],
        women: &["Ірина", "Оксана", "Наталія", "Галина", "Христина", "Юлія"],
        men: &["Василь", "Петро", "Олег", "Роман", "Юрій", "Михайло"],
        surnames: &[
            "Коваленко",
            "Шевчук",
            "Бондаренко",
            "Мельник",
            "Ткачук",
            "Кравців",
            "Гнатюк",
            "Федорович",
        ],
        notes: &[
            "Народжена вдома, акушерка присутня",
            "Документи матері втрачено під час евакуації",
        ],
    },
    Family {
        country: "RO",
        phone_prefix: "+40740",
        places: &[
            (
                "RO-IS",
                "Târgu Frumos",
                "Spitalul Orășenesc Pașcani",
                47.21,
                27.01,
            ),
            ("RO-IS", "Hârlău", "Spitalul Orășenesc Hârlău", 47.43, 26.9),
            ("RO-VS", "Bârlad", "Spitalul Municipal Bârlad", 46.23, 27.67),
            (
                "RO-NT",
                "Târgu Neamț",
                "Spitalul Orășenesc Târgu Neamț",
                47.2,
                26.36,
            ),
        ],
        girls: &[
            "Ioana",
            "Ștefania",
            "Maria",
            "Andreea",
            "Bianca",
            "Alexandra",
        ],
        boys: &[
            "Ștefan",
            "Andrei",
            "Mihai",
            "Alexandru",
            "Răzvan",
            "Gabriel",
        ],
        women: &["Elena", "Cătălina", "Mădălina", "Georgiana", "Florentina"],
        men: &["Gheorghe", "Ion", "Vasile", "Constantin", "Dumitru"],
        surnames: &[
            "Țăran",
            "Popescu",
            "Rădulescu",
            "Ciobanu",
            "Lupu",
            "Munteanu",
        ],
        notes: &["Mama fără act de identitate"],
    },
    Family {
        country: "SD",
        phone_prefix: "+24991",
        places: &[
            ("SD-DN", "الفاشر", "مستشفى الفاشر التعليمي", 13.63, 25.35),
            ("SD-DN", "كتم", "مستشفى كتم الريفي", 14.2, 24.67),
            ("SD-DW", "الجنينة", "مستشفى الجنينة", 13.45, 22.45),
            ("SD-DS", "نيالا", "مستشفى نيالا التعليمي", 12.05, 24.88),
            ("SD-KA", "كسلا", "مستشفى كسلا", 15.45, 36.4),
        ],
        girls: &["فاطمة", "آمنة", "مريم", "هبة", "سارة", "رقية"],
        boys: &["محمد", "عمر", "يوسف", "عثمان", "خالد", "مصطفى"],
        women: &["زينب", "خديجة", "حليمة", "عائشة", "نفيسة"],
        men: &["أحمد", "إبراهيم", "علي", "آدم", "الطيب"],
        surnames: &["الزهراء", "عبد الله", "حسن", "عبد الرحمن", "إسحاق", "موسى"],
        notes: &["ولادة في مخيم للنازحين", "الأب غائب وقت التسجيل"],
    },
    Family {
        country: "TZ",
        phone_prefix: "+25575",
        places: &[
            ("TZ-08", "Kigoma", "Maweni Regional Hospital", -4.88, 29.63),
            ("TZ-08", "Kasulu", "Kasulu District Hospital", -4.58, 30.1),
            (
                "TZ-08",
                "Kibondo",
                "Kibondo District Hospital",
                -3.59,
                30.69,
            ),
            (
                "TZ-18",
                "Shinyanga",
                "Shinyanga Regional Hospital",
                -3.66,
                33.42,
            ),
            ("TZ-19", "Tanga", "Bombo Regional Hospital", -5.07, 39.1),
        ],
        girls: &["Neema", "Amani", "Rehema", "Upendo", "Faraja", "Tumaini"],
        boys: &["Baraka", "Juma", "Imani", "Emmanuel", "Frank", "Hassani"],
        women: &["Mwanaisha", "Zawadi", "Halima", "Esther", "Grace"],
        men: &["Hamisi", "Salim", "Daudi", "Joseph", "Petro"],
        surnames: &[
            "Mwakyusa", "Kimaro", "Njoroge", "Massawe", "Mushi", "Lyimo", "Mrema",
        ],
        notes: &["Mtoto alizaliwa njiani kwenda kituo cha afya"],
    },
    Family {
        country: "GT",
        phone_prefix: "+50255",
        places: &[
            (
                "GT-QC",
                "Santa Cruz del Quiché",
                "Hospital Regional de Quiché",
                15.03,
                -91.15,
            ),
            (
                "GT-QC",
                "Chichicastenango",
                "Centro de Salud Chichicastenango",
                14.94,
                -91.11,
            ),
            (
                "GT-QC",
                "Nebaj",
                "Hospital Distrital de Nebaj",
                15.4,
                -91.15,
            ),
            (
                "GT-HU",
                "Huehuetenango",
                "Hospital Nacional de Huehuetenango",
                15.32,
                -91.47,
            ),
            (
                "GT-AV",
                "Cobán",
                "Hospital Regional de Cobán",
                15.47,
                -90.37,
            ),
        ],
        girls: &[
            "María José",
            "Ana Lucía",
            "Xiomara",
            "Rosa María",
            "Ixchel",
            "Juana",
        ],
        boys: &[
            "José Ángel",
            "Juan Carlos",
            "Mateo",
            "Diego",
            "Kevin",
            "Santiago",
        ],
        women: &["Rosa", "Juana", "Guadalupe", "Micaela", "Catarina"],
        men: &["Pedro", "Tomás", "Domingo", "Sebastián", "Diego"],
        surnames: &[
            "Ixcoy Tzoc",
            "López",
            "Pérez Chávez",
            "Tum",
            "Us Cac",
            "Gómez",
            "Caal",
        ],
        notes: &["Comadrona presente en el parto", "Madre habla k'iche'"],
    },
];

/// Deterministic pseudo-random numbers (SplitMix64): samples are reproducible from a seed.
#[cfg(any(test, feature = "fixtures"))]
struct SplitMix(u64);

#[cfg(any(test, feature = "fixtures"))]
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

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// One given name, or (one time in four) two different ones.
    fn given(&mut self, items: &[&str]) -> String {
        let first = self.pick(items);
        let second = self.pick(items);
        if self.chance(4) && second != first {
            format!("{first} {second}")
        } else {
            first.to_string()
        }
    }

    /// A coordinate near `centre` (within about 10 km), 4 decimal places as a phone reports.
    fn near(&mut self, centre: f64) -> f64 {
        let offset = (self.below(2001) as f64 - 1000.0) / 10_000.0;
        ((centre + offset) * 10_000.0).round() / 10_000.0
    }

    fn digits(&mut self, n: u32) -> String {
        format!("{:0width$}", self.next() % 10u64.pow(n), width = n as usize)
    }
}

/// `n` varied, valid enrolments (Ukrainian, Romanian, Sudanese Arabic, Tanzanian, Guatemalan
/// families in several localities each; double given names, optional fathers, coordinates,
/// times of birth, national ids and notes), births within the two years before `today`,
/// reproducible from `seed`. Behind the `fixtures` feature: test data, not for the apps.
#[cfg(any(test, feature = "fixtures"))]
pub fn sample_inputs(n: usize, seed: u64, today: Date) -> Vec<RegistrationForm> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|_| {
            let f = &FAMILIES[rng.below(FAMILIES.len())];
            let (area, locality, facility, lat, lon) = f.places[rng.below(f.places.len())];
            let surname = rng.pick(f.surnames);
            // Some mothers keep their own family name.
            let mother_surname = if rng.chance(5) {
                rng.pick(f.surnames)
            } else {
                surname
            };
            let girl = rng.next().is_multiple_of(2);
            let born = today - Duration::days(rng.below(730) as i64);
            let mother_born = born - Duration::days(365 * 16 + rng.below(365 * 26) as i64);
            let father_born = mother_born - Duration::days(rng.below(365 * 12) as i64);
            let mother = rng.given(f.women);
            let father = rng.given(f.men);
            let phone = format!("{}{}", f.phone_prefix, rng.digits(7));
            let with_father = !rng.chance(4);
            let father_phone = (with_father && rng.chance(2))
                .then(|| format!("{}{}", f.phone_prefix, rng.digits(7)));
            let mut caregivers = vec![Caregiver {
                given_names: mother.clone(),
                family_name: mother_surname.into(),
                relationship: "mother".into(),
                phone: Some(phone.clone()),
            }];
            if with_father {
                caregivers.push(Caregiver {
                    given_names: father.clone(),
                    family_name: surname.into(),
                    relationship: "father".into(),
                    phone: father_phone,
                });
            }
            if rng.chance(6) {
                caregivers.push(Caregiver {
                    given_names: rng.given(f.women),
                    family_name: rng.pick(f.surnames).into(),
                    relationship: "grandmother".into(),
                    phone: None,
                });
            }
            let in_facility = rng.chance(3);
            let located = rng.chance(2);
            let (latitude, longitude) = if located {
                (Some(rng.near(lat)), Some(rng.near(lon)))
            } else {
                (None, None)
            };
            let exact_day = !rng.chance(10);
            let time_of_birth = (exact_day && rng.chance(2))
                .then(|| format!("{:02}:{:02}", rng.below(24), rng.below(60)));
            let twins = rng.chance(40);
            RegistrationForm {
                child: Child {
                    given_names: rng.given(if girl { f.girls } else { f.boys }),
                    family_name: surname.into(),
                    sex: Some(if girl { Sex::Female } else { Sex::Male }),
                    date_of_birth: if exact_day {
                        born.to_string()
                    } else {
                        format!("{:04}-{:02}", born.year(), u8::from(born.month()))
                    },
                    date_of_birth_precision: Some(if exact_day {
                        DatePrecision::Day
                    } else {
                        DatePrecision::Month
                    }),
                    time_of_birth,
                    plurality: if twins { 2 } else { 1 },
                    birth_order: if twins { 1 + rng.below(2) as u8 } else { 1 },
                },
                place_of_birth: PlaceOfBirth {
                    kind: Some(if in_facility {
                        PlaceKind::HealthFacility
                    } else {
                        PlaceKind::Home
                    }),
                    admin_area: area.into(),
                    locality: locality.into(),
                    facility: in_facility.then(|| facility.to_string()),
                    latitude,
                    longitude,
                },
                mother: Parent {
                    given_names: mother.clone(),
                    family_name: mother_surname.into(),
                    date_of_birth: Some(mother_born.to_string()),
                    national_id: rng
                        .chance(2)
                        .then(|| format!("{}{}", f.country, rng.digits(9))),
                    nationality: Some(f.country.into()),
                },
                father: with_father.then(|| Parent {
                    given_names: father.clone(),
                    family_name: surname.into(),
                    date_of_birth: rng.chance(2).then(|| father_born.to_string()),
                    national_id: None,
                    nationality: Some(f.country.into()),
                }),
                informant: Informant {
                    given_names: mother.clone(),
                    family_name: mother_surname.into(),
                    relationship: "mother".into(),
                    phone: Some(phone),
                },
                caregivers,
                consent: Consent {
                    given: true,
                    by_relationship: "mother".into(),
                },
                notes: rng.chance(8).then(|| rng.pick(f.notes).to_string()),
                custom: BTreeMap::new(),
            }
        })
        .collect()
}

/// A hostile batch for resource-limit tests: a valid batch whose records array claims `n`
/// empty byte strings (one byte each, so a few KB after compression), sealed to the registry's
/// HPKE key `hpke_public` as anyone holding the public trust bundle can. The registry must
/// refuse it at the count limit without allocating for `n` records.
#[cfg(any(test, feature = "fixtures"))]
pub fn batch_claiming_empty_records(hpke_public: &[u8; 32], n: u32) -> Vec<u8> {
    use crate::wire::{self, Batch};
    let batch = Batch {
        version: wire::WIRE_VERSION,
        batch_id: uuid::Uuid::now_v7(),
        device_kid: serde_bytes::ByteBuf::from(vec![1; 8]),
        certificate: None,
        known_tree_size: 0,
        records: vec![],
    };
    let mut plain = crate::codec::to_vec(&batch).unwrap_or_default();
    // The empty records array (0x80) is the last field: replace it by a 32-bit length.
    plain.pop();
    plain.push(0x9a);
    plain.extend_from_slice(&n.to_be_bytes());
    plain.resize(plain.len() + n as usize, 0x40);
    wire::seal_encoded_batch(&plain, &batch.batch_id, hpke_public)
        .map(|(sealed, _)| sealed)
        .unwrap_or_default()
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
        // Varied enough for realistic compression figures: many places, double names.
        let places: std::collections::BTreeSet<_> = samples
            .iter()
            .map(|s| s.place_of_birth.locality.as_str())
            .collect();
        assert!(places.len() >= 20, "{} localities", places.len());
        assert!(samples.iter().any(|s| s.child.given_names.contains(' ')));
    }

    #[test]
    fn the_reference_child_is_born_when_asked() {
        let at = datetime!(2031-01-05 12:00 UTC);
        let form = reference_input_born(30, at.date());
        assert_eq!(form.child.date_of_birth, "2030-12-06");
        assert_eq!(&validate(&form, at).unwrap(), &form);
        let mut reference = reference_input();
        reference.child.date_of_birth = form.child.date_of_birth.clone();
        assert_eq!(form, reference, "only the date of birth differs");
    }
}
