//! Search and statistics of the registrars' API over real HTTP on loopback, on SQLite and on
//! PostgreSQL: names found across case, diacritics and script, mother's name, date of birth
//! exact and by range, registration number, status, pages; statistics (registrations by
//! month, region and sex, timeliness, statuses, the queue and its ages, devices) with exact
//! figures, as JSON and CSV; and for every role and region, that nothing outside a user's
//! regions leaks through search, statistics or the CSV, and that no name, date of birth or
//! record id is in the statistics or the audit log.

mod common;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
        mpsc,
    },
};

use birthright_core::{
    device::Device,
    fixtures::reference_input,
    record::{DatePrecision, RegistrationForm, Sex},
};
use birthright_registry::{
    Registry,
    http::{HeaderName, Limits, run_with},
    pg::testing::TestDatabase,
    registrar::{
        Registrar, Role,
        records::Filter,
        sessions::LoginRequest,
        statistics::{CSV_HEADER, StatisticsFilter},
    },
};
use common::{Client, Reply, device_in};
use serde_json::{Value, json};
use uuid::Uuid;

const PASSWORD: &str = "a long enough password";
/// Names in the test records that must never reach the statistics or the audit log.
const NAMES: [&str; 8] = [
    "Олена",
    "Коваленко",
    "Ірина",
    "Țurcanu",
    "Turcanu",
    "Ștefan",
    "Popescu",
    "Bondar",
];

impl Reply {
    /// The ids of a search answer.
    fn ids(&self) -> Vec<Uuid> {
        assert_eq!(self.status, 200, "{:?}", self.json);
        self.json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().parse().unwrap())
            .collect()
    }
}

/// Days from today (UTC) as `YYYY-MM-DD`, or `YYYY-MM` with `month_only`.
fn days_ago(days: i64, month_only: bool) -> String {
    let d = time::OffsetDateTime::now_utc().date() - time::Duration::days(days);
    if month_only {
        format!("{:04}-{:02}", d.year(), u8::from(d.month()))
    } else {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

fn form(given: &str, family: &str, mother: &str, sex: Sex, dob: String) -> RegistrationForm {
    let mut f = reference_input();
    let month_only = dob.len() == 7;
    f.child.given_names = given.into();
    f.child.family_name = family.into();
    f.child.sex = Some(sex);
    f.child.date_of_birth = dob;
    if month_only {
        f.child.date_of_birth_precision = Some(DatePrecision::Month);
        f.child.time_of_birth = None;
    }
    f.mother.given_names = mother.into();
    f.mother.family_name = family.into();
    f.father = None;
    f.informant.given_names = mother.into();
    f.informant.family_name = family.into();
    f.caregivers.truncate(1);
    f.caregivers[0].given_names = mother.into();
    f.caregivers[0].family_name = family.into();
    f
}

fn kid_of(device: &Device) -> String {
    device.identity().unwrap().key_id.to_string()
}

struct World {
    addr: SocketAddr,
    clock: Arc<AtomicI64>,
    registrar: Arc<Registrar>,
    olena: Uuid,
    ion: Uuid,
    petro: Uuid,
    petro_corrected: Uuid,
    olena_again: Uuid,
    stefan: Uuid,
    /// Device kids: a and c in UA-46, b in UA-32.
    kids: [String; 3],
    olena_dob: String,
    _dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

impl World {
    fn new(postgres: bool) -> Option<World> {
        let dir = tempfile::tempdir().unwrap();
        let (database, guard) = common::test_database(postgres)?;
        let registry = Arc::new(
            Registry::init_on(dir.path(), "registry.test/births", &database)
                .unwrap()
                .0,
        );
        // This world is about the figures, not the review: its registry registers every record
        // at once (late ones and corrections too) unless it may be a duplicate.
        registry
            .set_review_policy(&birthright_registry::store::ReviewPolicy {
                max_age_days: 36_500,
                review_corrections: false,
            })
            .unwrap();
        let a = device_in(&registry, "worker-a", "UA-46");
        let b = device_in(&registry, "worker-b", "UA-32");
        let c = device_in(&registry, "worker-c", "UA-46");

        // UA-46, device a: a timely registration, a late one, one corrected.
        let mut olena_form = reference_input();
        let olena_dob = days_ago(10, false);
        olena_form.child.date_of_birth = olena_dob.clone();
        let olena = a.capture(&olena_form).unwrap().summary.id;
        let ion_form = form(
            "Ion",
            "Țurcanu",
            "Maria",
            Sex::Male,
            days_ago(3 * 365 + 20, false),
        );
        let ion = a.capture(&ion_form).unwrap().summary.id;
        let petro_form = form("Petro", "Bondar", "Oksana", Sex::Male, days_ago(200, false));
        let petro = a.capture(&petro_form).unwrap().summary.id;
        common::sync(&registry, &a);
        let mut corrected = petro_form.clone();
        corrected.child.family_name = "Bondarenko".into();
        let petro_corrected = a.correct(&petro, &corrected).unwrap().summary.id;
        common::sync(&registry, &a);
        // UA-46, device c: the same child again, held for review as a likely duplicate.
        let olena_again = c.capture(&olena_form).unwrap().summary.id;
        common::sync(&registry, &c);
        // UA-32, device b: a date of birth known to the month only.
        let stefan_form = form("Ștefan", "Popescu", "Ana", Sex::Male, days_ago(180, true));
        let stefan = b.capture(&stefan_form).unwrap().summary.id;
        common::sync(&registry, &b);

        let clock = Arc::new(AtomicI64::new(
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        let tick = clock.clone();
        let registrar = Arc::new(
            Registrar::open(dir.path(), &database, registry.clone())
                .unwrap()
                .with_clock(Arc::new(move || tick.load(Ordering::SeqCst))),
        );
        let now = clock.load(Ordering::SeqCst);
        for (name, roles, regions) in [
            ("reg46", vec![Role::Registrar], vec!["UA-46".to_string()]),
            ("regall", vec![Role::Registrar], vec![]),
            ("sup32", vec![Role::Supervisor], vec!["UA-32".to_string()]),
            ("auditor", vec![Role::Auditor], vec![]),
            ("aud46", vec![Role::Auditor], vec!["UA-46".to_string()]),
            ("admin", vec![Role::Admin], vec![]),
        ] {
            registrar
                .add_user(name, &roles, &regions, Some(PASSWORD), now)
                .unwrap();
        }
        let limits = Limits {
            requests_per_second: 1000.0,
            burst: 10_000.0,
            trusted_proxy_header: Some(HeaderName::from_static("x-forwarded-for")),
            ..Limits::default()
        };
        let (ready, addr) = mpsc::channel();
        let served = registrar.clone();
        std::thread::spawn(move || {
            run_with(registry, Some(served), "127.0.0.1:0", limits, |a| {
                ready.send(a).unwrap()
            })
            .unwrap();
        });
        Some(World {
            addr: addr.recv().unwrap(),
            clock,
            registrar,
            olena,
            ion,
            petro,
            petro_corrected,
            olena_again,
            stefan,
            kids: [kid_of(&a), kid_of(&b), kid_of(&c)],
            olena_dob,
            _dir: dir,
            _database: guard,
        })
    }

    fn login(&self, user: &str) -> Client {
        let from = "198.51.100.7";
        let reply = common::api_login(self.addr, user, PASSWORD, None, from);
        Client::of(self.addr, &reply, user, from)
    }

    /// Every record id, in ledger order.
    fn all(&self) -> Vec<Uuid> {
        vec![
            self.olena,
            self.ion,
            self.petro,
            self.petro_corrected,
            self.olena_again,
            self.stefan,
        ]
    }
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

fn search_finds_names_across_scripts_and_every_filter(w: &World) {
    let all = w.login("regall");
    assert_eq!(all.get("/records").ids(), w.all());
    let olenas = set(&[w.olena, w.olena_again]);
    for query in [
        "Kovalenko",
        "%D0%9A%D0%BE%D0%B2%D0%B0%D0%BB%D0%B5%D0%BD%D0%BA%D0%BE", // Коваленко
        "OLENA%20kovalenko",
        "olena%20koval",
    ] {
        assert_eq!(
            set(&all.get(&format!("/records?query={query}")).ids()),
            olenas,
            "{query}"
        );
    }
    for query in [
        "%D0%A6%D1%83%D1%80%D0%BA%D0%B0%D0%BD%D1%83", // Цуркану
        "%C5%A3urcanu",                               // ţurcanu, with a cedilla
        "%C8%9Burcanu",                               // țurcanu, with a comma below
        "TURCANU%20ion",
    ] {
        assert_eq!(
            all.get(&format!("/records?query={query}")).ids(),
            [w.ion],
            "{query}"
        );
    }
    assert_eq!(
        all.get("/records?query=%C5%9Ftefan").ids(),
        [w.stefan],
        "ş finds ș"
    );
    assert!(all.get("/records?query=olena%20popescu").ids().is_empty());
    // The mother's names only.
    assert_eq!(all.get("/records?mother=maria").ids(), [w.ion]);
    assert_eq!(
        set(&all.get("/records?mother=Iryna%20Kovalenko").ids()),
        olenas
    );
    assert!(all.get("/records?mother=ion").ids().is_empty());
    // Date of birth: exact, by range (a partial date by its possible days).
    assert_eq!(
        set(&all.get(&format!("/records?dob={}", w.olena_dob)).ids()),
        olenas
    );
    assert_eq!(
        set(&all
            .get(&format!(
                "/records?dob_from={}&dob_to={}",
                days_ago(250, false),
                days_ago(5, false)
            ))
            .ids()),
        set(&[w.olena, w.petro, w.petro_corrected, w.olena_again, w.stefan])
    );
    assert_eq!(
        all.get(&format!("/records?dob_to={}", days_ago(300, false)))
            .ids(),
        [w.ion]
    );
    assert_eq!(all.get("/records?dob_from=2024").code(), "bad_query");
    // Registration number: the record id or its ledger index.
    assert_eq!(
        all.get(&format!("/records?number={}", w.stefan)).ids(),
        [w.stefan]
    );
    let ion_leaf = all.get(&format!("/records/{}", w.ion)).json["leaf_index"]
        .as_u64()
        .unwrap();
    assert_eq!(
        all.get(&format!("/records?number={ion_leaf}")).ids(),
        [w.ion]
    );
    assert_eq!(all.get("/records?number=BR-7").code(), "bad_query");
    // Status and region together.
    assert_eq!(
        all.get("/records?status=superseded&region=UA-46").ids(),
        [w.petro]
    );
    assert!(
        all.get("/records?status=superseded&region=UA-32")
            .ids()
            .is_empty()
    );
    // Pages: limit and after, until next_after is null.
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    for _ in 0..10 {
        let path = match after {
            Some(a) => format!("/records?limit=2&after={a}"),
            None => "/records?limit=2".to_string(),
        };
        let page = all.get(&path);
        let ids = page.ids();
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match page.json["next_after"].as_u64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(seen, w.all());
}

fn search_stays_in_the_users_regions(w: &World) {
    let reg46 = w.login("reg46");
    assert_eq!(
        reg46.get("/records").ids(),
        [w.olena, w.ion, w.petro, w.petro_corrected, w.olena_again]
    );
    for path in [
        "/records?query=stefan".to_string(),
        "/records?mother=ana".to_string(),
        format!("/records?number={}", w.stefan),
        format!("/records?dob={}", days_ago(180, true)),
    ] {
        let found = reg46.get(&path).ids();
        assert!(!found.contains(&w.stefan), "{path}");
    }
    assert_eq!(
        reg46.get("/records?region=UA-32").code(),
        "region_forbidden"
    );
    let sup32 = w.login("sup32");
    assert_eq!(sup32.get("/records").ids(), [w.stefan]);
    assert!(sup32.get("/records?query=kovalenko").ids().is_empty());
    assert_eq!(w.login("aud46").get("/records").ids().len(), 5);
    assert_eq!(w.login("auditor").get("/records").ids(), w.all());
}

fn figures(stats: &Value, key: &str) -> Vec<Value> {
    stats[key].as_array().unwrap().clone()
}

fn statistics_count_what_happened(w: &World) {
    let month = days_ago(0, true);
    let all = w.login("regall");
    let reply = all.get("/statistics");
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    let stats = &reply.json;
    assert_eq!(stats["regions"], Value::Null);
    // The held duplicate and the superseded record are no registrations; the correction is
    // one, dated by its original.
    assert_eq!(
        figures(stats, "registrations"),
        [
            json!({"month": month, "region": "UA-32", "sex": "male", "count": 1}),
            json!({"month": month, "region": "UA-46", "sex": "female", "count": 1}),
            json!({"month": month, "region": "UA-46", "sex": "male", "count": 2}),
        ]
    );
    let t = figures(stats, "timeliness");
    assert_eq!(t.len(), 3);
    assert_eq!(t[0]["region"], Value::Null);
    assert_eq!(
        (
            &t[0]["registrations"],
            &t[0]["within_30_days"],
            &t[0]["within_1_year"],
            &t[0]["later"],
            &t[0]["date_unknown"]
        ),
        (&json!(4), &json!(1), &json!(2), &json!(1), &json!(1))
    );
    let share = |v: &Value| v.as_f64().unwrap();
    assert!((share(&t[0]["share_within_30_days"]) - 1.0 / 3.0).abs() < 1e-9);
    assert!((share(&t[0]["share_within_1_year"]) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(t[1]["region"], "UA-32");
    assert_eq!(t[1]["date_unknown"], 1);
    assert_eq!(t[1]["share_within_30_days"], Value::Null);
    assert_eq!(t[2]["region"], "UA-46");
    assert_eq!(
        (&t[2]["registrations"], &t[2]["later"]),
        (&json!(3), &json!(1))
    );
    assert_eq!(
        figures(stats, "statuses"),
        [
            json!({"region": "UA-32", "status": "registered", "count": 1}),
            json!({"region": "UA-46", "status": "awaiting_review", "count": 1}),
            json!({"region": "UA-46", "status": "registered", "count": 3}),
            json!({"region": "UA-46", "status": "superseded", "count": 1}),
        ]
    );
    let queue = figures(stats, "queue");
    assert_eq!(queue[0]["region"], "UA-32");
    assert_eq!(queue[0]["awaiting"], 0);
    assert_eq!(queue[1]["region"], "UA-46");
    assert_eq!(
        (&queue[1]["awaiting"], &queue[1]["under_1_day"]),
        (&json!(1), &json!(1))
    );
    let devices = figures(stats, "devices");
    assert_eq!(devices.len(), 3);
    let device = |kid: &str| devices.iter().find(|d| d["kid"] == kid).unwrap().clone();
    let a = device(&w.kids[0]);
    assert_eq!(
        (&a["region"], &a["records"], &a["awaiting_review"]),
        (&json!("UA-46"), &json!(4), &json!(0))
    );
    assert_eq!(a["by_status"], json!({"registered": 3, "superseded": 1}));
    assert!(a["last_record_at"].as_str().is_some());
    assert_eq!(device(&w.kids[1])["records"], 1);
    let c = device(&w.kids[2]);
    assert_eq!(
        (&c["records"], &c["awaiting_review"]),
        (&json!(1), &json!(1))
    );

    // The queue ages with the registry's clock.
    w.clock.fetch_add(8 * 86_400, Ordering::SeqCst);
    let later = w.login("regall").get("/statistics?region=UA-46").json;
    assert_eq!(later["regions"], json!(["UA-46"]));
    let queue = figures(&later, "queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(
        (&queue[0]["under_1_day"], &queue[0]["from_7_to_30_days"]),
        (&json!(0), &json!(1))
    );
    assert!(queue[0]["oldest_age_secs"].as_i64().unwrap() >= 8 * 86_400);

    // The CSV holds the same figures.
    let csv = all_csv(&w.login("auditor"), "");
    assert!(csv.contains(&format!("registrations,UA-46,{month},male,,,2\r\n")));
    assert!(csv.contains("timeliness_within_1_year,,,,,,2\r\n"));
    assert!(csv.contains("timeliness_share_within_30_days,,,,,,0.3333\r\n"));
    assert!(csv.contains("records,UA-46,,,awaiting_review,,1\r\n"));
    assert!(csv.contains("queue_7_to_30_days,UA-46,,,,,1\r\n"));
    assert!(csv.contains(&format!(
        "device_records,UA-46,,,superseded,{},1\r\n",
        w.kids[0]
    )));
}

fn all_csv(client: &Client, query: &str) -> String {
    let reply = client.get(&format!("/statistics.csv{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let text = reply.body;
    assert!(text.starts_with(&format!("{CSV_HEADER}\r\n")), "{text}");
    text
}

fn no_personal_data(text: &str, w: &World) {
    for name in NAMES {
        assert!(!text.contains(name), "{name} in {text}");
    }
    assert!(!text.contains(&w.olena_dob));
    for id in w.all() {
        assert!(!text.contains(&id.to_string()), "a record id in {text}");
    }
}

fn statistics_stay_in_the_users_regions(w: &World) {
    for user in ["reg46", "aud46"] {
        let client = w.login(user);
        let stats = client.get("/statistics");
        assert_eq!(stats.status, 200, "{:?}", stats.json);
        assert_eq!(stats.json["regions"], json!(["UA-46"]));
        let csv = all_csv(&client, "");
        for text in [&stats.body, &csv] {
            assert!(!text.contains("UA-32"), "{user}: {text}");
            assert!(!text.contains(&w.kids[1]), "{user}: UA-32's device");
            assert!(text.contains(&w.kids[0]) && text.contains(&w.kids[2]));
            no_personal_data(text, w);
        }
        for path in ["/statistics?region=UA-32", "/statistics.csv?region=UA-32"] {
            assert_eq!(client.get(path).code(), "region_forbidden", "{user} {path}");
        }
    }
    let sup32 = w.login("sup32");
    let stats = sup32.get("/statistics");
    assert_eq!(stats.json["regions"], json!(["UA-32"]));
    assert_eq!(figures(&stats.json, "registrations").len(), 1);
    assert_eq!(figures(&stats.json, "devices").len(), 1);
    assert_eq!(stats.json["devices"][0]["kid"], w.kids[1].as_str());
    let csv = all_csv(&sup32, "");
    for text in [&stats.body, &csv] {
        assert!(!text.contains("UA-46"), "{text}");
        no_personal_data(text, w);
    }
    assert_eq!(
        sup32.get("/statistics.csv?region=UA-46").code(),
        "region_forbidden"
    );
    let auditor = w.login("auditor");
    let stats = auditor.get("/statistics");
    no_personal_data(&stats.body, w);
    no_personal_data(&all_csv(&auditor, "?region=UA-46"), w);
    assert_eq!(auditor.get("/statistics?colour=red").code(), "bad_query");

    // No session: 401. An admin without a records role: 403 (its pending TOTP enrolment
    // stops the API first, so ask the workspace itself).
    for path in ["/statistics", "/statistics.csv"] {
        assert_eq!(common::api_call(w.addr, "GET", path, &[], "").status, 401);
    }
    let now = w.registrar.now();
    let admin = w
        .registrar
        .login(
            &LoginRequest {
                username: "admin",
                password: PASSWORD,
                totp: None,
                address: "198.51.100.8",
            },
            now,
        )
        .unwrap();
    let e = w
        .registrar
        .statistics(
            &admin.session,
            &StatisticsFilter::default(),
            "198.51.100.8",
            now,
        )
        .unwrap_err();
    assert_eq!((e.status, e.code), (403, "forbidden"));
    let e = w
        .registrar
        .search_page(&admin.session, &Filter::default(), "198.51.100.8", now)
        .unwrap_err();
    assert_eq!((e.status, e.code), (403, "forbidden"));
}

fn the_audit_log_says_what_was_shown_without_names(w: &World) {
    let auditor = w.login("auditor");
    let audit = auditor.get("/audit?limit=1000");
    assert_eq!(audit.status, 200);
    let entries = audit.json["entries"].as_array().unwrap();
    let searches: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "record_search")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    // The Cyrillic query for Цуркану: its filter's name, the count and the id shown.
    assert!(
        searches
            .iter()
            .any(|t| *t == format!("1 results; filters: query; shown: {}", w.ion)),
        "{searches:?}"
    );
    assert!(
        searches
            .iter()
            .any(|t| t.starts_with("0 results; filters: query; shown: none"))
    );
    assert!(
        !entries
            .iter()
            .filter(|e| e["action"] == "statistics_read")
            .any(|e| e["actor"] == "reg46" && e["target"] == "region UA-32"),
        "a refused read is no read"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "statistics_read" && e["actor"] == "sup32")
    );
    let text = audit.json.to_string();
    for name in NAMES {
        assert!(!text.contains(name), "{name} in the audit log");
    }
    assert!(!text.to_lowercase().contains("kovalenko"));
    assert!(!text.to_lowercase().contains("maria"));
}

fn the_pages_use_the_same_search_and_statistics(w: &World) {
    let reg46 = w.login("reg46");
    let page = reg46.get_abs("/registrar/statistics");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Timeliness") && page.body.contains("UA-46"));
    assert!(page.body.contains(&w.kids[0]));
    assert!(!page.body.contains("UA-32") && !page.body.contains(&w.kids[1]));
    no_personal_data(&page.body, w);
    assert!(page.body.contains("/api/registrar/v1/statistics.csv"));
    let refused = reg46.get_abs("/registrar/statistics?region=UA-32");
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains(&w.kids[1]));
    let uk = common::call(
        w.addr,
        "GET",
        "/registrar/statistics",
        &[("Cookie", &format!("{}; birthright_lang=uk", reg46.cookie))],
        "",
    );
    assert!(uk.body.contains("Своєчасність"), "{}", uk.body);
    // The search page: Latin finds Cyrillic, and pages on with a link.
    let found = reg46.get_abs("/registrar/search?query=Kovalenko");
    assert_eq!(found.status, 200);
    assert!(
        found
            .body
            .contains(&format!("/registrar/records/{}", w.olena))
    );
    assert!(
        found
            .body
            .contains(&format!("/registrar/records/{}", w.olena_again))
    );
    assert!(
        !found
            .body
            .contains(&format!("/registrar/records/{}", w.ion))
    );
    let by_mother = reg46.get_abs("/registrar/search?mother=maria&dob_to=2099-01-01");
    assert!(
        by_mother
            .body
            .contains(&format!("/registrar/records/{}", w.ion))
    );
    let hidden = reg46.get_abs(&format!("/registrar/search?number={}", w.stefan));
    assert_eq!(hidden.status, 200);
    assert!(
        !hidden
            .body
            .contains(&format!("/registrar/records/{}", w.stefan))
    );
}

fn run_all(w: &World) {
    the_pages_use_the_same_search_and_statistics(w);
    search_finds_names_across_scripts_and_every_filter(w);
    search_stays_in_the_users_regions(w);
    statistics_count_what_happened(w);
    statistics_stay_in_the_users_regions(w);
    the_audit_log_says_what_was_shown_without_names(w);
}

#[test]
fn search_and_statistics_on_sqlite() {
    run_all(&World::new(false).unwrap());
}

#[test]
fn search_and_statistics_on_postgres() {
    let Some(world) = World::new(true) else {
        return;
    };
    run_all(&world);
}
