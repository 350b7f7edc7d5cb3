//! The registrars' API over real HTTP on loopback (the registry's own server, `http::run_with`),
//! on SQLite and on PostgreSQL: every route's session boundary, CSRF, roles and regions,
//! the same answer for a wrong name and a wrong password, back-off per name and per address,
//! idle and absolute session expiry (time moved, not slept), TOTP enrolment and login with no
//! code reuse, the one-time password that must be changed first, the audit log, and no
//! plaintext name in the database or the audit log.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
        mpsc,
    },
};

use birthright_core::{device::Device, record::RegistrationForm};
use birthright_registry::{
    Registry,
    http::{HeaderName, Limits, run_with},
    pg::testing::TestDatabase,
    registrar::{Registrar, RegistrarConfig, Role, totp},
    service::Database,
};
use common::{Client, Reply, api_call, days_ago, device_in, timely_input};

const T0: i64 = 1_800_000_000;
const PASSWORD: &str = "a long enough password";
/// Names in the test records that must never be stored in plaintext or audited.
const NAMES: [&str; 4] = ["Олена", "Коваленко", "Ștefan", "Popescu"];

struct World {
    addr: SocketAddr,
    clock: Arc<AtomicI64>,
    registrar: Arc<Registrar>,
    /// Record ids by region.
    ua46: Vec<uuid::Uuid>,
    ua32: Vec<uuid::Uuid>,
    /// The date of birth of the UA-32 child (`YYYY-MM-DD`).
    stefan_dob: String,
    dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
    database: Database,
}

fn capture_and_sync(
    registry: &Arc<Registry>,
    device: &Device,
    forms: &[RegistrationForm],
) -> Vec<uuid::Uuid> {
    let ids = forms
        .iter()
        .map(|f| device.capture(f).unwrap().summary.id)
        .collect();
    common::sync(registry, device);
    ids
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
        let a = device_in(&registry, "worker-a", "UA-46");
        let b = device_in(&registry, "worker-b", "UA-32");
        let mut stefan = timely_input();
        stefan.child.given_names = "Ștefan".into();
        stefan.child.family_name = "Popescu".into();
        // Born more than 365 days before the registry receives the record: a late registration.
        stefan.child.date_of_birth = days_ago(400).to_string();
        let stefan_dob = stefan.child.date_of_birth.clone();
        let ua46 = capture_and_sync(&registry, &a, &[timely_input()]);
        let ua32 = capture_and_sync(&registry, &b, &[stefan]);
        let clock = Arc::new(AtomicI64::new(T0));
        let c = clock.clone();
        let registrar = Arc::new(
            Registrar::open(dir.path(), &database, registry.clone())
                .unwrap()
                .with_clock(Arc::new(move || c.load(Ordering::SeqCst))),
        );
        for (name, roles, regions) in [
            ("reg46", vec![Role::Registrar], vec!["UA-46".to_string()]),
            ("regall", vec![Role::Registrar], vec![]),
            ("sup32", vec![Role::Supervisor], vec!["UA-32".to_string()]),
            ("auditor", vec![Role::Auditor], vec![]),
            ("admin", vec![Role::Admin], vec![]),
            ("adminreg", vec![Role::Admin, Role::Registrar], vec![]),
        ] {
            registrar
                .add_user(name, &roles, &regions, Some(PASSWORD), T0)
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
            ua46,
            ua32,
            stefan_dob,
            dir,
            _database: guard,
            database,
        })
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn try_login(&self, user: &str, password: &str, totp: Option<&str>, from: &str) -> Reply {
        common::api_login(self.addr, user, password, totp, from)
    }

    fn login_with(&self, user: &str, password: &str, totp: Option<&str>, from: &str) -> Client {
        Client::of(
            self.addr,
            &self.try_login(user, password, totp, from),
            user,
            from,
        )
    }

    fn login(&self, user: &str) -> Client {
        self.login_with(user, PASSWORD, None, "198.51.100.1")
    }
}

fn every_route_needs_a_session(w: &World) {
    let id = w.ua46[0].to_string();
    for (method, path) in [
        ("POST", "/logout"),
        ("POST", "/password"),
        ("POST", "/totp/enrol"),
        ("POST", "/totp/confirm"),
        ("GET", "/me"),
        ("GET", "/records"),
        ("GET", &format!("/records/{id}") as &str),
        ("GET", "/audit"),
        ("GET", "/queue"),
        ("POST", &format!("/records/{id}/decision") as &str),
    ] {
        let reply = api_call(w.addr, method, path, &[], "{}");
        assert_eq!(
            (reply.status, reply.code()),
            (401, "unauthenticated"),
            "{method} {path}"
        );
        let reply = api_call(
            w.addr,
            method,
            path,
            &[("Cookie", "birthright_session=forged")],
            "{}",
        );
        assert_eq!(reply.status, 401, "{method} {path} with a forged cookie");
    }
    let doc = api_call(w.addr, "GET", "/openapi.json", &[], "");
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.0.3");
    assert_eq!(
        api_call(w.addr, "GET", "/nothing", &[], "").code(),
        "not_found"
    );
    let reply = api_call(
        w.addr,
        "POST",
        "/login",
        &[("Content-Type", "text/plain")],
        "{}",
    );
    assert_eq!(reply.status, 415);
    let reply = api_call(w.addr, "POST", "/login", &[], "{\"user\": 1}");
    assert_eq!((reply.status, reply.code()), (400, "bad_body"));
}

fn csrf_guards_every_state_change(w: &World) {
    let c = w.login("regall");
    for path in ["/logout", "/password", "/totp/enrol", "/totp/confirm"] {
        for token in [None, Some("wrong")] {
            let mut headers = vec![("Cookie", c.cookie.as_str())];
            if let Some(t) = token {
                headers.push(("X-CSRF-Token", t));
            }
            let reply = api_call(w.addr, "POST", path, &headers, "{}");
            assert_eq!(
                (reply.status, reply.code()),
                (403, "csrf"),
                "{path} {token:?}"
            );
        }
    }
    let me = c.get("/me");
    assert_eq!(me.json["csrf_token"], c.csrf.as_str());
    assert_eq!(me.json["roles"], serde_json::json!(["registrar"]));
    // Behind the trusted proxy saying so, the cookie is Secure; without it, not.
    assert!(
        !w.try_login("regall", PASSWORD, None, "198.51.100.2")
            .header("set-cookie")
            .unwrap()
            .contains("Secure")
    );
    let body = serde_json::json!({"username": "regall", "password": PASSWORD}).to_string();
    let tls = api_call(
        w.addr,
        "POST",
        "/login",
        &[
            ("X-Forwarded-For", "198.51.100.2"),
            ("X-Forwarded-Proto", "https"),
        ],
        &body,
    );
    assert!(
        tls.header("set-cookie").unwrap().ends_with("; Secure"),
        "{:?}",
        tls.headers
    );
    let out = c.post("/logout", "");
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(c.get("/me").status, 401, "the session ended");
}

fn roles_and_regions_bound_every_read(w: &World) {
    let (id46, id32) = (w.ua46[0].to_string(), w.ua32[0].to_string());
    let reg46 = w.login("reg46");
    let list = reg46.get("/records");
    assert_eq!(list.status, 200, "{:?}", list.json);
    let ids: Vec<&str> = list.json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id46.as_str()]);
    assert_eq!(
        reg46.get("/records?region=UA-32").code(),
        "region_forbidden"
    );
    assert_eq!(reg46.get(&format!("/records/{id32}")).status, 403);
    assert_eq!(
        reg46.get("/records?query=stefan").json["records"],
        serde_json::json!([])
    );
    let view = reg46.get(&format!("/records/{id46}"));
    assert_eq!(view.status, 200);
    assert_eq!(view.json["region"], "UA-46");
    assert_eq!(view.json["form"]["child"]["given_names"], "Олена");
    assert_eq!(reg46.get("/audit").code(), "forbidden");

    let sup32 = w.login("sup32");
    let list = sup32.get("/records");
    assert_eq!(list.json["records"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["records"][0]["id"], id32.as_str());
    assert_eq!(sup32.get(&format!("/records/{id46}")).status, 403);

    let all = w.login("regall");
    assert_eq!(
        all.get("/records").json["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Case and diacritics ignored; every word must match; date of birth by prefix.
    assert_eq!(
        all.get("/records?query=%C8%99tefan").json["records"][0]["id"],
        id32.as_str()
    );
    assert_eq!(
        all.get("/records?query=STEFAN%20popescu").json["records"][0]["id"],
        id32.as_str()
    );
    // Across scripts: Ștefan's mother is Ірина Коваленко.
    assert_eq!(
        all.get("/records?query=stefan%20kovalenko").json["records"][0]["id"],
        id32.as_str()
    );
    assert_eq!(
        all.get("/records?query=stefan%20petrenko").json["records"],
        serde_json::json!([])
    );
    assert_eq!(
        all.get(&format!("/records?dob={}", &w.stefan_dob[..7]))
            .json["records"][0]["id"],
        id32.as_str()
    );
    assert_eq!(all.get("/records?dob=2025-1").code(), "bad_query");
    // The reference child (born 30 days ago) was registered at once; Ștefan, born more than
    // 365 days before the registry received the record, awaits review.
    let with_status = |status: &str| {
        all.get(&format!("/records?status={status}")).json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(with_status("registered"), std::slice::from_ref(&id46));
    assert_eq!(with_status("awaiting_review"), std::slice::from_ref(&id32));
    assert_eq!(
        all.get("/records?status=revoked").json["records"],
        serde_json::json!([])
    );
    assert_eq!(all.get("/records?status=lost").code(), "bad_query");
    assert_eq!(all.get("/records/not-a-uuid").code(), "bad_id");
    assert_eq!(
        all.get(&format!("/records/{}", uuid::Uuid::now_v7()))
            .status,
        404
    );

    // An admin sees no record without a records role, and must enrol TOTP first anyway.
    let admin = w.login("admin");
    assert_eq!(admin.get("/records").code(), "totp_enrolment_required");
    let auditor = w.login("auditor");
    assert_eq!(
        auditor.get("/records").json["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let audit = auditor.get("/audit?limit=1000");
    assert_eq!(audit.status, 200);
    let entries = audit.json["entries"].as_array().unwrap();
    let has = |action: &str, target: Option<&str>| {
        entries
            .iter()
            .any(|e| e["action"] == action && target.is_none_or(|t| e["target"] == t))
    };
    assert!(has("record_view", Some(&id46)), "{entries:?}");
    assert!(has("record_view_refused", Some(&id32)));
    assert!(has("record_search", None));
    assert!(has("login", None));
    assert!(entries.iter().all(|e| e["at"].as_str().is_some()));
    assert!(
        entries.iter().filter(|e| e["action"] == "login").all(
            |e| ["198.51.100.1", "198.51.100.2"].contains(&e["address"].as_str().unwrap_or(""))
        ),
        "{entries:?}"
    );
    let text = audit.json.to_string();
    for name in NAMES {
        assert!(!text.contains(name), "{name} in the audit log");
    }
}

fn a_failed_login_says_nothing_and_backs_off(w: &World) {
    let from = "203.0.113.5";
    let wrong = w.try_login("reg46", "not the password", None, from);
    let unknown = w.try_login("nobody-here", "not the password", None, "203.0.113.6");
    assert_eq!((wrong.status, wrong.code()), (401, "login_failed"));
    assert_eq!(
        wrong.json, unknown.json,
        "the same answer whether the user exists or not"
    );
    // Per name: the fifth failure starts the back-off, for an unknown name too.
    for name in ["reg46", "nobody-here"] {
        for i in 0..5 {
            let from = format!("203.0.113.{}", 10 + i);
            w.try_login(name, "not the password", None, &from);
        }
        let refused = w.try_login(name, PASSWORD, None, "203.0.113.99");
        assert_eq!(
            (refused.status, refused.code()),
            (429, "login_backoff"),
            "{name}"
        );
        assert!(
            refused
                .header("retry-after")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
    }
    w.advance(31);
    w.login_with("reg46", PASSWORD, None, "203.0.113.98");
    // Per address: many names from one address.
    for i in 0..5 {
        w.try_login(&format!("guess{i}"), "x", None, "192.0.2.77");
    }
    assert_eq!(
        w.try_login("regall", PASSWORD, None, "192.0.2.77").code(),
        "login_backoff"
    );
    w.login_with("regall", PASSWORD, None, "192.0.2.78");
    w.advance(3600);
}

fn sessions_expire(w: &World) {
    let idle = RegistrarConfig::default().idle_timeout_secs;
    let c = w.login("regall");
    w.advance(idle - 1);
    assert_eq!(c.get("/me").status, 200, "used just in time");
    w.advance(idle - 1);
    assert_eq!(c.get("/me").status, 200, "activity keeps it alive");
    w.advance(idle + 1);
    assert_eq!(c.get("/me").code(), "session_expired");
    assert_eq!(c.get("/me").code(), "unauthenticated", "and it is gone");
    // However busy, a session ends after its lifetime.
    let c = w.login("regall");
    let lifetime = RegistrarConfig::default().session_lifetime_secs;
    let mut spent = 0;
    while spent + idle / 2 <= lifetime {
        w.advance(idle / 2);
        spent += idle / 2;
        assert_eq!(c.get("/me").status, 200);
    }
    w.advance(idle / 2);
    assert_eq!(c.get("/me").code(), "session_expired");
    // Disabling a user ends its sessions.
    let c = w.login("sup32");
    w.registrar.disable_user("sup32", w.now()).unwrap();
    assert_eq!(c.get("/me").status, 401);
    assert_eq!(
        w.try_login("sup32", PASSWORD, None, "198.51.100.3").code(),
        "login_failed"
    );
    w.registrar
        .reset_password("sup32", Some(PASSWORD), false, w.now())
        .unwrap();
    w.login("sup32");
}

fn totp_is_enrolled_and_required_for_admins(w: &World) {
    let from = "198.51.100.40";
    let c = w.login_with("adminreg", PASSWORD, None, from);
    assert_eq!(c.get("/me").json["totp_enrolment_required"], true);
    assert_eq!(c.get("/records").code(), "totp_enrolment_required");
    assert_eq!(
        c.post("/totp/confirm", "{\"code\":\"123456\"}").code(),
        "no_totp_enrolment"
    );
    let enrol = c.post("/totp/enrol", "");
    assert_eq!(enrol.status, 200, "{:?}", enrol.json);
    assert_eq!(enrol.header("cache-control"), Some("no-store"));
    let secret = common::base32_decode(enrol.json["secret"].as_str().unwrap());
    assert_eq!(secret.len(), totp::SECRET_BYTES);
    assert!(
        enrol.json["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert_eq!(
        c.post("/totp/confirm", "{\"code\":\"000000\"}").code(),
        "wrong_code"
    );
    let code = totp::code_at(&secret, w.now());
    assert_eq!(
        c.post("/totp/confirm", format!("{{\"code\":\"{code}\"}}"))
            .status,
        204
    );
    assert_eq!(
        c.get("/records").status,
        200,
        "enrolled: the admin (also a registrar) reads"
    );
    assert_eq!(c.post("/totp/enrol", "").code(), "totp_already_enrolled");
    // The code used to confirm is spent; the next step's code is needed.
    assert_eq!(
        w.try_login("adminreg", PASSWORD, None, from).code(),
        "totp_required"
    );
    assert_eq!(
        w.try_login("adminreg", PASSWORD, Some(&code), from).code(),
        "login_failed"
    );
    w.advance(totp::STEP_SECS);
    let next = totp::code_at(&secret, w.now());
    w.login_with("adminreg", PASSWORD, Some(&next), from);
    assert_eq!(
        w.try_login("adminreg", PASSWORD, Some(&next), from).code(),
        "login_failed",
        "no reuse"
    );
    // The secret is sealed at rest.
    let user = w
        .registrar
        .store()
        .user_by_name("adminreg")
        .unwrap()
        .unwrap();
    let sealed = user.totp_secret.unwrap();
    assert!(
        !sealed
            .windows(secret.len())
            .any(|win| win == secret.as_slice())
    );
    w.advance(3600);
}

fn a_one_time_password_must_be_changed_first(w: &World) {
    let (_, one_time) = w
        .registrar
        .add_user("newbie", &[Role::Registrar], &[], None, w.now())
        .unwrap();
    let one_time = one_time.unwrap();
    let c = w.login_with("newbie", &one_time, None, "198.51.100.50");
    assert_eq!(c.get("/me").json["must_change_password"], true);
    assert_eq!(c.get("/records").code(), "password_change_required");
    assert_eq!(c.post("/totp/enrol", "").code(), "password_change_required");
    let change = |current: &str, new: &str| {
        c.post(
            "/password",
            serde_json::json!({"current_password": current, "new_password": new}),
        )
    };
    assert_eq!(
        change("wrong", "a brand new password").code(),
        "wrong_password"
    );
    assert_eq!(change(&one_time, "short").code(), "weak_password");
    assert_eq!(change(&one_time, "a brand new password").status, 204);
    assert_eq!(c.get("/records").status, 200);
    assert_eq!(
        w.try_login("newbie", &one_time, None, "198.51.100.51")
            .code(),
        "login_failed"
    );
    w.login_with("newbie", "a brand new password", None, "198.51.100.52");
}

fn no_names_in_the_database(w: &World) {
    let mut stored = Vec::new();
    match &w.database {
        Database::Sqlite => {
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(w.dir.path().join(format!("registry.db{suffix}")))
                {
                    stored.extend(bytes);
                }
            }
        }
        Database::Postgres(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            for table in [
                "registrar_users",
                "registrar_sessions",
                "registrar_login_failures",
                "registrar_audit",
                "records",
            ] {
                for row in client
                    .query(&format!("SELECT t::text FROM {table} t"), &[])
                    .unwrap()
                {
                    stored.extend(row.get::<_, String>(0).into_bytes());
                }
            }
        }
    }
    assert!(stored.len() > 1000);
    for name in NAMES {
        let needle = name.as_bytes();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "{name} stored in plaintext"
        );
    }
    // The audit log cannot be rewritten.
    if let Database::Sqlite = w.database {
        let conn = rusqlite::Connection::open(w.dir.path().join("registry.db")).unwrap();
        assert!(conn.execute("DELETE FROM registrar_audit", []).is_err());
        assert!(
            conn.execute("UPDATE registrar_audit SET actor = 'x'", [])
                .is_err()
        );
    }
}

fn reopening_migrates_nothing_twice(w: &World) {
    use birthright_registry::registrar::{
        store::RegistrarStore, store_pg::PgRegistrarStore, store_sqlite::SqliteRegistrarStore,
    };
    let users = w.registrar.list_users().unwrap().len();
    let again: Box<dyn RegistrarStore> = match &w.database {
        Database::Sqlite => {
            let store = SqliteRegistrarStore::open(&w.dir.path().join("registry.db")).unwrap();
            assert_eq!(store.schema_version().unwrap(), 2);
            Box::new(store)
        }
        Database::Postgres(url) => Box::new(PgRegistrarStore::open(url).unwrap()),
    };
    assert_eq!(again.users().unwrap().len(), users);
    assert!(again.audit(0, 10).unwrap().len() == 10);
}

fn review_queue_and_decisions(w: &World) {
    use birthright_core::wire::{DecidedBy, DecisionKind, DecisionLeaf, LedgerLeaf};
    let (id46, id32) = (w.ua46[0].to_string(), w.ua32[0].to_string());
    let all = w.login("regall");
    let queue = all.get("/queue");
    assert_eq!(queue.status, 200, "{:?}", queue.json);
    assert_eq!(queue.json["total"], 1);
    assert_eq!(queue.json["counts"]["late_registration"], 1);
    assert_eq!(queue.json["counts"]["possible_duplicate"], 0);
    assert_eq!(queue.json["records"][0]["id"], id32.as_str());
    assert_eq!(
        queue.json["records"][0]["reasons"],
        serde_json::json!(["late_registration"])
    );
    assert!(
        queue.json["records"][0]["age_at_capture_days"]
            .as_i64()
            .unwrap()
            > 365
    );
    for (filter, expected) in [
        ("reason=late_registration", 1),
        ("reason=correction", 0),
        ("region=UA-32", 1),
        ("region=UA-46", 0),
        ("min_age_days=366", 1),
        ("max_age_days=365", 0),
    ] {
        let reply = all.get(&format!("/queue?{filter}"));
        assert_eq!(
            reply.json["records"].as_array().unwrap().len(),
            expected,
            "{filter}: {:?}",
            reply.json
        );
    }
    assert_eq!(all.get("/queue?reason=late").code(), "bad_query");
    assert_eq!(all.get("/queue?device=xyz").code(), "bad_query");
    // A registrar of another region sees an empty queue and cannot decide there.
    let reg46 = w.login("reg46");
    assert_eq!(reg46.get("/queue").json["total"], 0);
    assert_eq!(reg46.get("/queue?region=UA-32").code(), "region_forbidden");
    let register = r#"{"action": "register", "note": "birth certificate of the maternity ward of Popescu seen"}"#;
    let path = format!("/records/{id32}/decision");
    let refused = reg46.post(&path, register);
    assert_eq!((refused.status, refused.code()), (403, "region_forbidden"));
    // Auditors and admins do not decide; without the CSRF token nobody does.
    let auditor = w.login("auditor");
    assert_eq!(auditor.post(&path, register).code(), "forbidden");
    for token in [None, Some("wrong")] {
        let mut headers = vec![("Cookie", all.cookie.as_str())];
        if let Some(t) = token {
            headers.push(("X-CSRF-Token", t));
        }
        let reply = api_call(w.addr, "POST", &path, &headers, register);
        assert_eq!((reply.status, reply.code()), (403, "csrf"));
    }
    let no_session = api_call(w.addr, "POST", &path, &[], register);
    assert_eq!(no_session.status, 401);
    // Bad decisions.
    for (body, code) in [
        (r#"{"action": "approve"}"#, "bad_decision"),
        (r#"{"action": "reject"}"#, "reason_required"),
        (r#"{"action": "reject", "reason": "timely"}"#, "bad_reason"),
        (r#"{"action": "duplicate_of"}"#, "bad_decision"),
        (
            r#"{"action": "register", "duplicate_of": "0190c8a1-0000-7000-8000-000000000000"}"#,
            "bad_decision",
        ),
        (r#"{"action": "register", "extra": 1}"#, "bad_body"),
    ] {
        let reply = all.post(&path, body);
        assert_eq!((reply.status, reply.code()), (400, code), "{body}");
    }
    assert_eq!(
        all.post(
            &format!("/records/{}/decision", uuid::Uuid::now_v7()),
            register
        )
        .status,
        404
    );
    // A record registered at once does not await review.
    let again = all.post(&format!("/records/{id46}/decision"), register);
    assert_eq!((again.status, again.code()), (409, "not_awaiting_review"));

    // The supervisor of UA-32 registers it: on the ledger, audited, out of the queue.
    let sup32 = w.login("sup32");
    let size_before = w.registrar.registry().tree_size().unwrap();
    let decided = sup32.post(&path, register);
    assert_eq!(decided.status, 200, "{:?}", decided.json);
    assert_eq!(decided.json["status"], "registered");
    let leaf_index = decided.json["decision_leaf"].as_u64().unwrap();
    assert_eq!(leaf_index, size_before);
    assert_eq!(decided.json["tree_size"], size_before + 1);
    let registry = w.registrar.registry();
    let leaves = registry.leaves(0, size_before + 1).unwrap();
    let leaf = DecisionLeaf::parse(&leaves[leaf_index as usize]).unwrap();
    let view = all.get(&format!("/records/{id32}"));
    assert_eq!(view.json["status"], "registered");
    let record_leaf = view.json["leaf_index"].as_u64().unwrap();
    assert_eq!(leaf.record_index, record_leaf);
    assert_eq!(
        leaf.commitment,
        LedgerLeaf::parse(&leaves[record_leaf as usize])
            .unwrap()
            .commitment
    );
    assert_eq!(
        (leaf.decision, leaf.decided_by, leaf.decided_at),
        (DecisionKind::Registered, DecidedBy::Registrar, w.now())
    );
    let history = &view.json["decisions"];
    assert_eq!(history.as_array().unwrap().len(), 1, "{history:?}");
    assert_eq!(history[0]["decided_by"], "sup32");
    assert_eq!(history[0]["reason"], "reviewed");
    assert_eq!(history[0]["leaf_index"], leaf_index);
    assert!(history[0]["note"].as_str().unwrap().contains("maternity"));
    assert_eq!(all.get("/queue").json["total"], 0);
    let twice = sup32.post(&path, register);
    assert_eq!((twice.status, twice.code()), (409, "not_awaiting_review"));
    // The policy's own registration of the reference child is on the ledger too.
    let policy = &all.get(&format!("/records/{id46}")).json["decisions"];
    assert_eq!(policy[0]["decided_by"], "review policy");
    assert_eq!(policy[0]["reason"], "timely");
    let entries = w.registrar.store().audit(0, 1000).unwrap();
    let decision = entries
        .iter()
        .find(|e| e.action == "record_decision")
        .expect("the decision is audited");
    assert_eq!(decision.actor.as_deref(), Some("sup32"));
    assert_eq!(
        decision.target.as_deref(),
        Some(format!("{id32} register reviewed").as_str())
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "record_decision_refused" && e.actor.as_deref() == Some("reg46"))
    );
    assert!(entries.iter().any(|e| e.action == "queue_read"));
}

fn run_all(w: &World) {
    every_route_needs_a_session(w);
    csrf_guards_every_state_change(w);
    roles_and_regions_bound_every_read(w);
    review_queue_and_decisions(w);
    a_failed_login_says_nothing_and_backs_off(w);
    sessions_expire(w);
    totp_is_enrolled_and_required_for_admins(w);
    a_one_time_password_must_be_changed_first(w);
    no_names_in_the_database(w);
    reopening_migrates_nothing_twice(w);
}

#[test]
fn registrar_api_on_sqlite() {
    run_all(&World::new(false).unwrap());
}

#[test]
fn registrar_api_on_postgres() {
    let Some(world) = World::new(true) else {
        return;
    };
    run_all(&world);
}
