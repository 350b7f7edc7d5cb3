//! Devices and enrolment tokens (supervisors; auditors read), users (admins) and printable
//! certificates with reissue, through the registrars' API over real HTTP on loopback, on
//! SQLite and on PostgreSQL: every route's session and CSRF boundary, every role and region
//! boundary, the audit entries (no names, no revocation notes), a token created through the
//! API that a real device enrols with (its QR code read back from the SVG), a revocation
//! whose signed list carries the public reason code and not the note, and a certificate whose
//! QR code, read back from the page's SVG, verifies with the core's verifier — before and
//! after a reissue, which leaves the old credential valid.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
        mpsc,
    },
};

use birthright_core::{
    credential::{
        Verdict, Verifier,
        qr::{self, QrMatrix},
    },
    device::Device,
    record::RegistrationForm,
    store::StorageKey,
    trust::RevocationList,
};
use birthright_registry::{
    Registry,
    http::{HeaderName, Limits, run_with},
    pg::testing::TestDatabase,
    registrar::{Registrar, Role, totp},
    service::Database,
};
use common::{Client, Reply, days_ago, device_in, timely_input};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough password";
/// The address the test's clients call from (the loopback peer's own).
const FROM: &str = "127.0.0.1";
const NOTE: &str = "phone fell into the river near Vylkove";

impl Client {
    /// The same POST without the CSRF header, and with a wrong one: both refused.
    fn post_without_csrf(&self, path: &str, body: Value) -> [Reply; 2] {
        [
            self.post_with_csrf(path, &body, None),
            self.post_with_csrf(path, &body, Some("forged")),
        ]
    }
}

struct World {
    addr: SocketAddr,
    clock: Arc<AtomicI64>,
    registry: Arc<Registry>,
    registrar: Arc<Registrar>,
    ua46: uuid::Uuid,
    ua32: uuid::Uuid,
    kid46: String,
    kid32: String,
    admin_totp: Vec<u8>,
    dir: tempfile::TempDir,
    database: Database,
    _database: Option<TestDatabase>,
}

fn enrol_with(
    registry: &Registry,
    device: &Device,
    token: &str,
) -> Result<(), birthright_registry::ServiceError> {
    let answer = registry.enrol(&common::request(registry, device, token))?;
    device
        .complete_enrolment(&answer, registry.trust_bundle())
        .unwrap();
    Ok(())
}

fn capture_and_sync(
    registry: &Arc<Registry>,
    device: &Device,
    form: &RegistrationForm,
) -> uuid::Uuid {
    let id = device.capture(form).unwrap().summary.id;
    common::sync(registry, device);
    id
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
        // Within the review policy's 365 days: registered at once.
        stefan.child.date_of_birth = days_ago(60).to_string();
        let ua46 = capture_and_sync(&registry, &a, &timely_input());
        let ua32 = capture_and_sync(&registry, &b, &stefan);
        let kid = |d: &Device| d.identity().unwrap().key_id.to_string();
        let (kid46, kid32) = (kid(&a), kid(&b));
        // The registrar's clock starts at the registry's (real) one: the tokens it creates are
        // used at the registry, which judges their expiry by its own clock.
        let t0 = time::OffsetDateTime::now_utc().unix_timestamp();
        let clock = Arc::new(AtomicI64::new(t0));
        let c = clock.clone();
        let registrar = Arc::new(
            Registrar::open(dir.path(), &database, registry.clone())
                .unwrap()
                .with_clock(Arc::new(move || c.load(Ordering::SeqCst))),
        );
        for (name, roles, regions) in [
            ("reg46", vec![Role::Registrar], vec!["UA-46".to_string()]),
            ("sup46", vec![Role::Supervisor], vec!["UA-46".to_string()]),
            ("sup32", vec![Role::Supervisor], vec!["UA-32".to_string()]),
            ("auditor", vec![Role::Auditor], vec![]),
            ("admin", vec![Role::Admin], vec![]),
        ] {
            registrar
                .add_user(name, &roles, &regions, Some(PASSWORD), t0)
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
        let serving = registry.clone();
        std::thread::spawn(move || {
            run_with(serving, Some(served), "127.0.0.1:0", limits, |a| {
                ready.send(a).unwrap()
            })
            .unwrap();
        });
        let mut w = World {
            addr: addr.recv().unwrap(),
            clock,
            registry,
            registrar,
            ua46,
            ua32,
            kid46,
            kid32,
            admin_totp: Vec::new(),
            dir,
            database,
            _database: guard,
        };
        w.admin_totp = w.enrol_admin_totp();
        Some(w)
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn try_login(&self, user: &str, password: &str, totp: Option<String>) -> Reply {
        common::api_login(self.addr, user, password, totp.as_deref(), FROM)
    }

    fn client_of(&self, reply: Reply, user: &str) -> Client {
        Client::of(self.addr, &reply, user, FROM)
    }

    fn login(&self, user: &str) -> Client {
        let totp = (user == "admin").then(|| {
            // A fresh step each time: a code is never accepted twice.
            self.advance(totp::STEP_SECS);
            totp::code_at(&self.admin_totp, self.now())
        });
        self.client_of(self.try_login(user, PASSWORD, totp), user)
    }

    /// Enrols the admin's second factor (required before anything else): its secret.
    fn enrol_admin_totp(&self) -> Vec<u8> {
        let c = self.client_of(self.try_login("admin", PASSWORD, None), "admin");
        assert_eq!(c.get("/users").code(), "totp_enrolment_required");
        let enrol = c.post("/totp/enrol", json!({}));
        let secret = common::base32_decode(enrol.json["secret"].as_str().unwrap());
        let code = totp::code_at(&secret, self.now());
        assert_eq!(c.post("/totp/confirm", json!({ "code": code })).status, 204);
        secret
    }

    fn verifier(&self) -> Verifier {
        Verifier::from_bytes(self.registry.trust_bundle().to_json().as_bytes(), None).unwrap()
    }

    fn audit_actions(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.registrar
            .store()
            .audit(0, 10_000)
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.actor, e.target))
            .collect()
    }
}

/// The modules of the QR code drawn in `svg` (as `qr::matrix_svg` draws: a viewBox of the
/// code with its quiet zone, one `Mx,yh1v1h-1z` square a dark module).
fn svg_matrix(svg: &str) -> QrMatrix {
    let view = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let side: usize = view.split(' ').next().unwrap().parse().unwrap();
    let size = side - 2 * qr::QUIET_ZONE;
    let mut modules = vec![false; size * size];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let (xy, rest) = square.split_once('h').unwrap();
        assert_eq!(rest, "1v1h-1z");
        let (x, y) = xy.split_once(',').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        modules[(y - qr::QUIET_ZONE) * size + (x - qr::QUIET_ZONE)] = true;
    }
    QrMatrix { size, modules }
}

/// The text in the QR code drawn in `svg`, read back by the core's QR reader from an image.
fn read_svg(svg: &str) -> String {
    let png = qr::matrix_png(&svg_matrix(svg), 4).unwrap();
    qr::read_image(&png).unwrap()
}

fn every_route_needs_a_session_and_csrf(w: &World) {
    let id = w.ua46.to_string();
    let token_id = "ab".repeat(32);
    let gets = [
        "/devices".to_string(),
        "/tokens".to_string(),
        "/users".to_string(),
        format!("/records/{id}/certificate"),
    ];
    let posts = [
        format!("/devices/{}/revoke", w.kid46),
        "/tokens".to_string(),
        format!("/tokens/{token_id}/cancel"),
        "/users".to_string(),
        "/users/reg46/disable".to_string(),
        "/users/reg46/reset-password".to_string(),
        "/users/reg46/access".to_string(),
        format!("/records/{id}/reissue"),
    ];
    for path in &gets {
        let reply = common::api_call(w.addr, "GET", path, &[], "{}");
        assert_eq!(
            (reply.status, reply.code()),
            (401, "unauthenticated"),
            "{path}"
        );
    }
    for path in &posts {
        let reply = common::api_call(w.addr, "POST", path, &[], "{}");
        assert_eq!(
            (reply.status, reply.code()),
            (401, "unauthenticated"),
            "{path}"
        );
    }
    let page = common::call(
        w.addr,
        "GET",
        &format!("/registrar/records/{id}/certificate"),
        &[],
        "",
    );
    assert_eq!(page.status, 303, "to the login page");
    assert!(
        page.header("location")
            .unwrap()
            .starts_with("/registrar/login")
    );
    // Every state change needs the CSRF token, whoever asks (checked before the role).
    for user in ["sup32", "admin", "reg46"] {
        let c = w.login(user);
        for path in &posts {
            for reply in c.post_without_csrf(path, json!({})) {
                assert_eq!((reply.status, reply.code()), (403, "csrf"), "{user} {path}");
            }
        }
    }
}

fn devices_are_listed_by_region(w: &World) {
    let sup32 = w.login("sup32");
    let list = sup32.get("/devices");
    assert_eq!(list.status, 200, "{:?}", list.json);
    assert_eq!(list.header("cache-control"), Some("no-store"));
    let devices = list.json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "only UA-32: {devices:?}");
    let d = &devices[0];
    assert_eq!(d["device_kid"], w.kid32.as_str());
    assert_eq!(d["region"], "UA-32");
    assert_eq!(d["worker_id"], "worker-b");
    assert_eq!(d["records"], 1);
    assert!(d["last_sync"].as_str().unwrap().ends_with('Z'));
    assert_eq!(d["revoked"], false);
    let all = w.login("auditor").get("/devices");
    let kids: Vec<&str> = all.json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [w.kid46.as_str(), w.kid32.as_str()]);
    for user in ["reg46", "admin"] {
        let reply = w.login(user).get("/devices");
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{user}");
        let reply = w.login(user).get("/tokens");
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{user}");
    }
}

fn tokens_are_created_listed_used_and_cancelled(w: &World) {
    let sup32 = w.login("sup32");
    let created = sup32.post(
        "/tokens",
        json!({"worker_id": "worker-c", "region": "UA-32", "ttl": "2d"}),
    );
    assert_eq!(created.status, 200, "{:?}", created.json);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let token = created.json["token"].as_str().unwrap().to_string();
    let token_id = created.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.json["trust_fingerprint"],
        w.registry.trust_bundle().fingerprint().unwrap().as_str()
    );
    assert_eq!(
        created.json["expires_at"],
        time::OffsetDateTime::from_unix_timestamp(w.now() + 2 * 86_400)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    // The phone scans the QR code: it holds the token.
    assert_eq!(read_svg(created.json["qr_svg"].as_str().unwrap()), token);
    // Boundaries: another region, too long, not a supervisor.
    let reply = sup32.post("/tokens", json!({"worker_id": "w", "region": "UA-46"}));
    assert_eq!((reply.status, reply.code()), (403, "region_forbidden"));
    let reply = sup32.post(
        "/tokens",
        json!({"worker_id": "w", "region": "UA-32", "ttl": "31d"}),
    );
    assert_eq!((reply.status, reply.code()), (400, "bad_ttl"));
    let reply = sup32.post("/tokens", json!({"worker_id": "w w", "region": "UA-32"}));
    assert_eq!((reply.status, reply.code()), (400, "bad_worker"));
    for user in ["auditor", "reg46", "admin"] {
        let reply = w
            .login(user)
            .post("/tokens", json!({"worker_id": "w", "region": "UA-32"}));
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{user}");
    }
    // Listed by public id, never with the token, only in its region.
    let second = sup32.post(
        "/tokens",
        json!({"worker_id": "worker-d", "region": "UA-32"}),
    );
    let second_id = second.json["id"].as_str().unwrap().to_string();
    let second_token = second.json["token"].as_str().unwrap().to_string();
    let listed = sup32.get("/tokens");
    assert_eq!(listed.status, 200);
    let ids: Vec<&str> = listed.json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [token_id.as_str(), second_id.as_str()]);
    assert!(!listed.body.contains(&token) && !listed.body.contains(&second_token));
    assert_eq!(listed.json["tokens"][0]["worker_id"], "worker-c");
    let sup46 = w.login("sup46");
    assert_eq!(sup46.get("/tokens").json["tokens"], json!([]));
    assert_eq!(
        w.login("auditor").get("/tokens").json["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A real device enrols with the first; it is no longer listed.
    let phone = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    phone.init("worker-c").unwrap();
    enrol_with(&w.registry, &phone, &token).unwrap();
    let ids: Vec<Value> = sup32.get("/tokens").json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!(second_id)]);
    // A used token cannot be cancelled.
    let reply = sup32.post(&format!("/tokens/{token_id}/cancel"), json!({}));
    assert_eq!((reply.status, reply.code()), (404, "unknown_token"));
    // The other region's supervisor cannot cancel the second; its own can, once.
    let reply = sup46.post(&format!("/tokens/{second_id}/cancel"), json!({}));
    assert_eq!((reply.status, reply.code()), (403, "region_forbidden"));
    let reply = w
        .login("auditor")
        .post(&format!("/tokens/{second_id}/cancel"), json!({}));
    assert_eq!((reply.status, reply.code()), (403, "forbidden"));
    assert_eq!(
        sup32
            .post(&format!("/tokens/{second_id}/cancel"), json!({}))
            .status,
        204
    );
    let reply = sup32.post(&format!("/tokens/{second_id}/cancel"), json!({}));
    assert_eq!((reply.status, reply.code()), (404, "unknown_token"));
    let reply = sup32.post("/tokens/xyz/cancel", json!({}));
    assert_eq!((reply.status, reply.code()), (400, "bad_id"));
    assert_eq!(sup32.get("/tokens").json["tokens"], json!([]));
    let late = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    late.init("worker-d").unwrap();
    let refused = enrol_with(&w.registry, &late, &second_token).unwrap_err();
    assert_eq!(refused.code, "token_unknown");
    // Expired tokens are not listed.
    let short = sup32.post(
        "/tokens",
        json!({"worker_id": "worker-e", "region": "UA-32", "ttl": "1m"}),
    );
    assert_eq!(short.status, 200);
    assert_eq!(
        sup32.get("/tokens").json["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    w.advance(61);
    assert_eq!(sup32.get("/tokens").json["tokens"], json!([]));
    let audit = w.audit_actions();
    for (action, target) in [
        ("token_create", format!("{token_id} UA-32")),
        ("token_cancel", format!("{second_id} UA-32")),
    ] {
        assert!(
            audit.iter().any(|(a, actor, t)| a == action
                && actor.as_deref() == Some("sup32")
                && t.as_deref() == Some(target.as_str())),
            "{action} {target} in {audit:?}"
        );
    }
    assert!(
        !audit
            .iter()
            .any(|(_, _, t)| t.as_deref().is_some_and(|t| t.contains(&token)))
    );
}

fn devices_are_revoked_with_a_public_code_and_a_private_note(w: &World) {
    let sup32 = w.login("sup32");
    let path = format!("/devices/{}/revoke", w.kid46);
    let reply = sup32.post(&path, json!({"reason": "lost", "note": NOTE}));
    assert_eq!((reply.status, reply.code()), (403, "region_forbidden"));
    let reply = w.login("auditor").post(&path, json!({"reason": "lost"}));
    assert_eq!((reply.status, reply.code()), (403, "forbidden"));
    let path = format!("/devices/{}/revoke", w.kid32);
    let reply = sup32.post(&path, json!({"reason": "misplaced"}));
    assert_eq!((reply.status, reply.code()), (400, "bad_reason"));
    let reply = sup32.post(&path, json!({"reason": "lost", "note": "x".repeat(1001)}));
    assert_eq!((reply.status, reply.code()), (400, "bad_note"));
    let reply = sup32.post("/devices/nothex/revoke", json!({"reason": "lost"}));
    assert_eq!((reply.status, reply.code()), (400, "bad_id"));
    let reply = sup32.post(
        "/devices/0123456789abcdef/revoke",
        json!({"reason": "lost"}),
    );
    assert_eq!((reply.status, reply.code()), (404, "unknown_device"));
    let revoked = sup32.post(&path, json!({"reason": "lost", "note": NOTE}));
    assert_eq!(revoked.status, 200, "{:?}", revoked.json);
    assert_eq!(revoked.json["revoked"], true);
    assert_eq!(revoked.json["revoke_reason"], "lost");
    assert_eq!(revoked.json["revoke_note"], NOTE);
    let reply = sup32.post(&path, json!({"reason": "stolen"}));
    assert_eq!((reply.status, reply.code()), (409, "already_revoked"));
    // The signed list carries the code, not the note; it verifies under the trust bundle.
    let list = w.registry.revocation_list().unwrap();
    let verified = RevocationList::verify(&list, w.registry.trust_bundle()).unwrap();
    let entry = verified
        .entries
        .iter()
        .find(|e| hex::encode(e.device_kid.as_slice()) == w.kid32)
        .expect("the revoked device is in the signed list");
    assert_eq!(entry.reason, "lost");
    assert_eq!(entry.revoked_at, w.now(), "revoked at the registry's time");
    let needle = NOTE.as_bytes();
    assert!(!list.windows(needle.len()).any(|win| win == needle));
    let audit = w.audit_actions();
    assert!(audit.iter().any(|(a, actor, t)| a == "device_revoke"
        && actor.as_deref() == Some("sup32")
        && t.as_deref() == Some(format!("{} lost", w.kid32).as_str())));
    assert!(
        !format!("{audit:?}").contains("river"),
        "the note is not audited"
    );
}

fn admins_manage_users(w: &World) {
    let admin = w.login("admin");
    let list = admin.get("/users");
    assert_eq!(list.status, 200, "{:?}", list.json);
    let names: Vec<&str> = list.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reg46", "sup46", "sup32", "auditor", "admin"]);
    assert!(!list.body.contains("argon2"), "no password hashes");
    // An admin reads no record.
    assert_eq!(admin.get("/records").code(), "forbidden");
    assert_eq!(
        admin
            .get(&format!("/records/{}/certificate", w.ua46))
            .code(),
        "forbidden"
    );
    for user in ["sup32", "auditor", "reg46"] {
        let c = w.login(user);
        assert_eq!(c.get("/users").code(), "forbidden", "{user}");
        let reply = c.post("/users", json!({"username": "x", "roles": ["registrar"]}));
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{user}");
        let reply = c.post("/users/reg46/disable", json!({}));
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{user}");
    }
    // Add: a one-time password, shown once, changed at first login.
    let added = admin.post(
        "/users",
        json!({"username": "Newreg", "roles": ["registrar"], "regions": ["UA-32"]}),
    );
    assert_eq!(added.status, 200, "{:?}", added.json);
    assert_eq!(added.header("cache-control"), Some("no-store"));
    assert_eq!(added.json["user"]["username"], "newreg");
    assert_eq!(added.json["user"]["must_change_password"], true);
    let one_time = added.json["one_time_password"]
        .as_str()
        .unwrap()
        .to_string();
    let newreg = w.client_of(w.try_login("newreg", &one_time, None), "newreg");
    assert_eq!(newreg.get("/records").code(), "password_change_required");
    for (body, code) in [
        (
            json!({"username": "newreg", "roles": ["registrar"]}),
            "user_exists",
        ),
        (
            json!({"username": "x y", "roles": ["registrar"]}),
            "bad_username",
        ),
        (json!({"username": "z", "roles": []}), "no_role"),
        (json!({"username": "z", "roles": ["root"]}), "bad_role"),
        (
            json!({"username": "z", "roles": ["registrar"], "regions": ["ua 1"]}),
            "bad_region",
        ),
        (json!({"username": "z"}), "bad_body"),
    ] {
        assert_eq!(admin.post("/users", body.clone()).code(), code, "{body}");
    }
    // Roles and regions change; the user's sessions end.
    let reg46 = w.login("reg46");
    let changed = admin.post(
        "/users/reg46/access",
        json!({"roles": ["registrar"], "regions": ["UA-32", "UA-46"]}),
    );
    assert_eq!(changed.status, 200, "{:?}", changed.json);
    assert_eq!(changed.json["regions"], json!(["UA-32", "UA-46"]));
    assert_eq!(reg46.get("/me").status, 401, "its session ended");
    let records = w.login("reg46").get("/records");
    assert_eq!(records.json["records"].as_array().unwrap().len(), 2);
    admin.post(
        "/users/reg46/access",
        json!({"roles": ["registrar"], "regions": ["UA-46"]}),
    );
    assert_eq!(
        w.login("reg46").get("/records").json["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let reply = admin.post("/users/admin/access", json!({"roles": ["registrar"]}));
    assert_eq!((reply.status, reply.code()), (409, "own_account"));
    let reply = admin.post("/users/nobody/access", json!({"roles": ["registrar"]}));
    assert_eq!((reply.status, reply.code()), (404, "unknown_user"));
    // Disable: not oneself; the user can no longer log in.
    let reply = admin.post("/users/admin/disable", json!({}));
    assert_eq!((reply.status, reply.code()), (409, "own_account"));
    let disabled = admin.post("/users/newreg/disable", json!({}));
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.json["disabled"], true);
    assert_eq!(
        w.try_login("newreg", &one_time, None).code(),
        "login_failed"
    );
    // Reset: a new one-time password, enabled again.
    let reset = admin.post("/users/newreg/reset-password", json!({"reset_totp": true}));
    assert_eq!(reset.status, 200, "{:?}", reset.json);
    assert_eq!(reset.json["user"]["disabled"], false);
    let again = reset.json["one_time_password"].as_str().unwrap();
    assert_ne!(again, one_time);
    let c = w.client_of(w.try_login("newreg", again, None), "newreg");
    assert_eq!(c.get("/records").code(), "password_change_required");
    let audit = w.audit_actions();
    for action in [
        "user_add",
        "user_set_access",
        "user_disable",
        "user_reset_password_and_totp",
    ] {
        assert!(
            audit
                .iter()
                .any(|(a, actor, _)| a == action && actor.as_deref() == Some("admin")),
            "{action} by admin in {audit:?}"
        );
    }
    assert!(
        !format!("{audit:?}").contains(&one_time),
        "no password audited"
    );
}

fn certificates_verify_and_are_reissued(w: &World) {
    let verifier = w.verifier();
    let reg46 = w.login("reg46");
    let path = format!("/registrar/records/{}/certificate", w.ua46);
    let page = reg46.get_abs(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = &page.body;
    assert!(html.contains("@page { size: A4 portrait"), "A4 print CSS");
    assert!(
        html.contains(&w.ua46.to_string()),
        "the registration number"
    );
    let leaf = w
        .registrar
        .store()
        .record_index()
        .unwrap()
        .into_iter()
        .find(|m| m.id == w.ua46)
        .unwrap()
        .leaf_index;
    assert!(html.contains(&format!("<th>Ledger index</th><td>{leaf}</td>")));
    let form = timely_input();
    assert!(html.contains(&form.child.given_names));
    assert!(html.contains(&form.mother.family_name));
    // The record page links to it for those who print, not for an auditor.
    let link = format!("/registrar/records/{}/certificate", w.ua46);
    let record_page = format!("/registrar/records/{}", w.ua46);
    assert!(reg46.get_abs(&record_page).body.contains(&link));
    let auditor_page = w.login("auditor").get_abs(&record_page);
    assert_eq!(auditor_page.status, 200);
    assert!(!auditor_page.body.contains(&link));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("style-src 'sha256-") && !csp.contains("unsafe"),
        "{csp}"
    );
    let a5 = reg46.get_abs(&format!("{path}?paper=a5"));
    assert!(a5.body.contains("@page { size: A5 portrait"));
    // In the registrar's language, dates as it writes them.
    let uk = common::call(
        w.addr,
        "GET",
        &path,
        &[("Cookie", &format!("{}; birthright_lang=uk", reg46.cookie))],
        "",
    );
    assert_eq!(uk.status, 200);
    assert!(uk.body.contains("Свідоцтво про народження"), "{}", uk.body);
    let dob: Vec<&str> = form.child.date_of_birth.split('-').rev().collect();
    assert!(uk.body.contains(&dob.join(".")));
    // The QR code in the page, read back, is a registered credential that verifies.
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap() + 6];
    let text = read_svg(svg);
    assert!(html.contains(&text), "the credential text is printed too");
    let verified = verifier.verify_text(&text, w.now());
    assert_eq!(verified.verdict, Verdict::Valid, "{verified:?}");
    let claims = verified.registration.unwrap();
    assert_eq!(claims.record_id, w.ua46);
    assert_eq!(claims.leaf_index, Some(leaf));
    assert_eq!(claims.given_names, form.child.given_names);
    // The API gives the same credential.
    let json = reg46.get(&format!("/records/{}/certificate", w.ua46));
    assert_eq!(json.status, 200);
    assert_eq!(json.json["credential"], text.as_str());
    assert_eq!(json.json["reissued"], false);
    // Region, role: refused; refusals of another region are audited.
    let other = reg46.get_abs(&format!("/registrar/records/{}/certificate", w.ua32));
    assert_eq!(other.status, 403);
    assert!(!other.body.contains("Popescu"));
    assert_eq!(
        reg46
            .get(&format!("/records/{}/certificate", w.ua32))
            .code(),
        "region_forbidden"
    );
    assert_eq!(
        w.login("auditor")
            .get(&format!("/records/{}/certificate", w.ua46))
            .code(),
        "forbidden"
    );
    assert_eq!(
        reg46
            .get(&format!("/records/{}/certificate", uuid::Uuid::nil()))
            .status,
        404
    );
    assert_eq!(reg46.get("/records/nope/certificate").code(), "bad_id");
    // Reissue: a NEW credential, issued now; the old one stays valid.
    w.advance(60);
    let reissued = reg46.post(&format!("/records/{}/reissue", w.ua46), json!({}));
    assert_eq!(reissued.status, 200, "{:?}", reissued.json);
    assert_eq!(reissued.json["reissued"], true);
    let new_text = reissued.json["credential"].as_str().unwrap().to_string();
    assert_ne!(new_text, text);
    let new_claims = verifier.verify_text(&new_text, w.now());
    assert_eq!(new_claims.verdict, Verdict::Valid);
    assert_eq!(new_claims.registration.unwrap().issued_at, w.now());
    assert_eq!(verifier.verify_text(&text, w.now()).verdict, Verdict::Valid);
    let again = reg46.post(&format!("/records/{}/reissue", w.ua46), json!({}));
    assert_eq!((again.status, again.code()), (409, "just_issued"));
    let reprint = reg46.get_abs(&path);
    let svg = &reprint.body[reprint.body.find("<svg").unwrap()..];
    assert_eq!(
        read_svg(svg),
        new_text,
        "the page shows the newest credential"
    );
    assert!(reprint.body.contains("Reissued on"));
    let reply = w
        .login("sup32")
        .post(&format!("/records/{}/reissue", w.ua46), json!({}));
    assert_eq!((reply.status, reply.code()), (403, "region_forbidden"));
    // A supervisor of its region prints too.
    let sup32 = w.login("sup32");
    assert_eq!(
        sup32
            .get_abs(&format!("/registrar/records/{}/certificate", w.ua32))
            .status,
        200
    );
    let audit = w.audit_actions();
    let id = w.ua46.to_string();
    let count = |action: &str, who: &str, target: &str| {
        audit
            .iter()
            .filter(|(a, actor, t)| {
                a == action && actor.as_deref() == Some(who) && t.as_deref() == Some(target)
            })
            .count()
    };
    assert_eq!(count("certificate_view", "reg46", &id), 5, "{audit:?}");
    assert_eq!(count("certificate_reissue", "reg46", &id), 1);
    assert!(count("certificate_refused", "reg46", &w.ua32.to_string()) >= 1);
    for name in [
        "Олена",
        "Коваленко",
        "Ștefan",
        "Popescu",
        &form.child.given_names,
    ] {
        assert!(!format!("{audit:?}").contains(name), "{name} audited");
    }
}

fn no_names_or_notes_stored_in_plaintext(w: &World) {
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
                "registrar_audit",
                "registrar_credential_issues",
                "records",
                "tokens",
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
    for name in ["Ștefan", "Popescu", &timely_input().child.given_names] {
        let needle = name.as_bytes();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "{name} stored in plaintext"
        );
    }
}

fn run_all(w: &World) {
    every_route_needs_a_session_and_csrf(w);
    devices_are_listed_by_region(w);
    tokens_are_created_listed_used_and_cancelled(w);
    admins_manage_users(w);
    certificates_verify_and_are_reissued(w);
    devices_are_revoked_with_a_public_code_and_a_private_note(w);
    no_names_or_notes_stored_in_plaintext(w);
}

#[test]
fn devices_users_and_certificates_on_sqlite() {
    run_all(&World::new(false).unwrap());
}

#[test]
fn devices_users_and_certificates_on_postgres() {
    let Some(world) = World::new(true) else {
        return;
    };
    run_all(&world);
}
