//! The registrars' web workspace (`/registrar/`) over real HTTP on loopback (the registry's
//! own server), on SQLite and PostgreSQL: no session redirects to the login page; the login
//! form's double-submit token; the session's CSRF token on every form; a page view of a
//! record is the audited view and a record outside the user's regions shows nothing; pending
//! first steps redirect; the language from cookie and `Accept-Language`; every value escaped;
//! the security headers; the devices and tokens page (supervisors, auditors read, in their
//! regions), the users page (admins), the certificate's reissue button, and the queue's
//! pages. (The pages in a real browser: `tests/e2e/browser.rs`.)

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
    credential::{Verdict, Verifier},
    device::Device,
    record::RegistrationForm,
    store::StorageKey,
    trust::RevocationList,
};
use birthright_registry::{
    Registry,
    http::{Limits, run_with},
    pg::testing::{TestDatabase, available},
    registrar::{Registrar, Role, sessions::LoginRequest, totp},
    service::Database,
};
use common::{Reply, base32_decode, call, days_ago, device_in, timely_input};

const PASSWORD: &str = "a long enough password";

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn capture_and_sync(registry: &Arc<Registry>, device: &Device, form: &RegistrationForm) -> String {
    let id = device.capture(form).unwrap().summary.id;
    common::sync(registry, device);
    id.to_string()
}

/// Logs `user` in through the login form; returns the session cookie (`name=value`).
fn form_login(addr: SocketAddr, user: &str) -> String {
    let page = call(addr, "GET", "/registrar/login", &[], "");
    let token = page.field("csrf");
    let cookie = format!("birthright_login_csrf={token}");
    let body = format!("csrf={token}&username={user}&password=a+long+enough+password");
    let reply = call(
        addr,
        "POST",
        "/registrar/login",
        &[FORM, ("Cookie", &cookie)],
        &body,
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
    reply
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("birthright_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn run(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (database, _guard) = if postgres {
        if !available() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and no PostgreSQL server"
            );
            return;
        }
        let db = TestDatabase::create();
        (Database::Postgres(db.url.clone()), Some(db))
    } else {
        (Database::Sqlite, None)
    };
    let registry = Arc::new(
        Registry::init_on(dir.path(), "registry.test/births", &database)
            .unwrap()
            .0,
    );
    let a = device_in(&registry, "worker-a", "UA-46");
    let b = device_in(&registry, "worker-b", "UA-32");
    let mut stefan = timely_input();
    stefan.child.given_names = "Ștefan<script>".into();
    stefan.child.family_name = "Popescu".into();
    // Born more than 365 days before the registry receives the record: a late registration.
    stefan.child.date_of_birth = days_ago(400).to_string();
    let olena = capture_and_sync(&registry, &a, &timely_input());
    let stefan_id = capture_and_sync(&registry, &b, &stefan);
    // The system clock, moved on by the test (a reissue needs a later second).
    let skew = Arc::new(AtomicI64::new(0));
    let clock_skew = skew.clone();
    let registrar = Arc::new(
        Registrar::open(dir.path(), &database, registry.clone())
            .unwrap()
            .with_clock(Arc::new(move || {
                time::OffsetDateTime::now_utc().unix_timestamp() + clock_skew.load(Ordering::SeqCst)
            })),
    );
    let now = registrar.now();
    for (name, roles, regions) in [
        ("reg46", vec![Role::Registrar], vec!["UA-46".to_string()]),
        ("regall", vec![Role::Registrar], vec![]),
        ("admin", vec![Role::Admin], vec![]),
        ("auditor", vec![Role::Auditor], vec![]),
        ("sup46", vec![Role::Supervisor], vec!["UA-46".to_string()]),
        ("sup32", vec![Role::Supervisor], vec!["UA-32".to_string()]),
    ] {
        registrar
            .add_user(name, &roles, &regions, Some(PASSWORD), now)
            .unwrap();
    }
    let limits = Limits {
        requests_per_second: 1000.0,
        burst: 10_000.0,
        ..Limits::default()
    };
    let (ready, addr) = mpsc::channel();
    let served = registrar.clone();
    let served_registry = registry.clone();
    std::thread::spawn(move || {
        run_with(served_registry, Some(served), "127.0.0.1:0", limits, |a| {
            ready.send(a).unwrap()
        })
        .unwrap();
    });
    let addr: SocketAddr = addr.recv().unwrap();

    // No session: to the login page, back here afterwards.
    let reply = call(addr, "GET", "/registrar/queue", &[], "");
    assert_eq!(reply.status, 303);
    assert_eq!(
        reply.header("location"),
        Some("/registrar/login?next=%2Fregistrar%2Fqueue")
    );

    // The login page: a fresh double-submit token in a cookie and in the form.
    let page = call(addr, "GET", "/registrar/login", &[], "");
    assert_eq!(page.status, 200);
    let token = page.field("csrf");
    let set = page.cookies();
    assert!(
        set.iter().any(
            |c| c.starts_with(&format!("birthright_login_csrf={token};"))
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")
        ),
        "{set:?}"
    );
    assert_ne!(
        call(addr, "GET", "/registrar/login", &[], "").field("csrf"),
        token
    );
    let body = format!("csrf={token}&username=reg46&password=a+long+enough+password");
    // Without the cookie, or with another token: refused, no session.
    for cookie in ["", "birthright_login_csrf=someone-elses"] {
        let reply = call(
            addr,
            "POST",
            "/registrar/login",
            &[FORM, ("Cookie", cookie)],
            &body,
        );
        assert_eq!(reply.status, 403, "{cookie}");
        assert!(
            !reply
                .cookies()
                .iter()
                .any(|c| c.starts_with("birthright_session="))
        );
        assert!(reply.body.contains("The login form has expired"));
    }
    // A wrong password: 401, said plainly.
    let cookie = format!("birthright_login_csrf={token}");
    let wrong = format!("csrf={token}&username=reg46&password=wrong+password+here");
    let reply = call(
        addr,
        "POST",
        "/registrar/login",
        &[FORM, ("Cookie", &cookie)],
        &wrong,
    );
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .body
            .contains("The user name, password or code is wrong")
    );
    // The right one, with a next page elsewhere: only a workspace path is followed.
    let elsewhere = format!("{body}&next=https%3A%2F%2Fevil.example%2F");
    let reply = call(
        addr,
        "POST",
        "/registrar/login",
        &[FORM, ("Cookie", &cookie)],
        &elsewhere,
    );
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/registrar/queue"));
    let session = form_login(addr, "reg46");
    let auth = [("Cookie", session.as_str())];

    // The record page is the audited view; a record of another region shows nothing.
    let page = call(
        addr,
        "GET",
        &format!("/registrar/records/{olena}"),
        &auth,
        "",
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Олена") && page.body.contains("Зимна Вода"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let refused = call(
        addr,
        "GET",
        &format!("/registrar/records/{stefan_id}"),
        &auth,
        "",
    );
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("Popescu") && !refused.body.contains("Ștefan"));
    let audit = registrar.store().audit(0, 1000).unwrap();
    let seen = |action: &str, target: &str| {
        audit.iter().any(|e| {
            e.action == action
                && e.actor.as_deref() == Some("reg46")
                && e.target.as_deref() == Some(target)
        })
    };
    assert!(seen("record_view", &olena), "{audit:?}");
    assert!(seen("record_view_refused", &stefan_id), "{audit:?}");
    // Search: the region filter applies; the query is echoed escaped.
    let found = call(
        addr,
        "GET",
        "/registrar/search?query=%3Cscript%3E&status=",
        &[("Cookie", session.as_str())],
        "",
    );
    assert_eq!(found.status, 200);
    assert!(found.body.contains("value=\"&lt;script&gt;\""), "escaped");
    assert!(!found.body.contains("<script>"));
    let everyone = form_login(addr, "regall");
    let found = call(
        addr,
        "GET",
        "/registrar/search?query=popescu",
        &[("Cookie", everyone.as_str())],
        "",
    );
    assert!(
        found.body.contains("Ștefan&lt;script&gt;"),
        "{}",
        found.body
    );
    assert!(!found.body.contains("Ștefan<script>"));
    let page = call(
        addr,
        "GET",
        &format!("/registrar/records/{stefan_id}"),
        &[("Cookie", everyone.as_str())],
        "",
    );
    assert!(page.body.contains("Ștefan&lt;script&gt;") && !page.body.contains("<script"));

    // The queue: the late registration with its reason and the counts per reason; the
    // filters as a GET form.
    let stefan_link = format!("href=\"/registrar/records/{stefan_id}\"");
    let queue = |session: &str, query: &str| {
        let reply = call(
            addr,
            "GET",
            &format!("/registrar/queue{query}"),
            &[("Cookie", session)],
            "",
        );
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body
    };
    let listed = queue(&everyone, "");
    assert!(listed.contains(&stefan_link), "{listed}");
    assert!(!listed.contains(&format!("href=\"/registrar/records/{olena}\"")));
    assert!(listed.contains("reason reason-late_registration\">Late registration"));
    assert!(
        listed.contains("Late registration: <strong>1</strong>"),
        "{listed}"
    );
    assert!(listed.contains("Possible duplicate: <strong>0</strong>"));
    assert!(listed.contains("name=\"min_age_days\""));
    assert!(
        queue(
            &everyone,
            "?reason=late_registration&region=UA-32&min_age_days=300"
        )
        .contains(&stefan_link)
    );
    for other in ["?reason=correction", "?region=UA-46", "?max_age_days=30"] {
        assert!(!queue(&everyone, other).contains(&stefan_link), "{other}");
    }
    assert!(queue(&everyone, "?min_age_days=many").contains("The filter could not be applied"));
    // In Ukrainian and Romanian too.
    let uk = call(
        addr,
        "GET",
        "/registrar/queue",
        &[("Cookie", &format!("{everyone}; birthright_lang=uk"))],
        "",
    );
    assert!(uk.body.contains("Пізня реєстрація"), "{}", uk.body);
    let ro = call(
        addr,
        "GET",
        "/registrar/queue",
        &[("Cookie", &format!("{everyone}; birthright_lang=ro"))],
        "",
    );
    assert!(ro.body.contains("Înregistrare târzie"));

    // The record page of a record awaiting review has the decision forms, for a registrar.
    let decision = format!("action=\"/registrar/records/{stefan_id}/decision\"");
    assert!(page.body.contains("status status-awaiting_review"));
    assert!(page.body.contains(&decision), "{}", page.body);
    assert!(page.body.contains("value=\"incorrect_information\""));
    let auditor = form_login(addr, "auditor");
    let seen_by_auditor = call(
        addr,
        "GET",
        &format!("/registrar/records/{stefan_id}"),
        &[("Cookie", auditor.as_str())],
        "",
    );
    assert_eq!(seen_by_auditor.status, 200);
    assert!(!seen_by_auditor.body.contains(&decision));
    let path = format!("/registrar/records/{stefan_id}/decision");
    let post =
        |session: &str, body: &str| call(addr, "POST", &path, &[FORM, ("Cookie", session)], body);
    let awaiting = || {
        call(
            addr,
            "GET",
            &format!("/registrar/records/{stefan_id}"),
            &[("Cookie", everyone.as_str())],
            "",
        )
        .body
        .contains("status status-awaiting_review")
    };
    let register = "action=register&note=Birth+certificate+of+the+hospital+seen";
    // Without the session's token (none, or another session's): 403, nothing changes.
    let everyone_csrf = page_csrf(addr, &everyone);
    for body in [register.to_string(), format!("csrf=wrong&{register}")] {
        let reply = post(&everyone, &body);
        assert_eq!(reply.status, 403, "{body}");
        assert!(reply.body.contains("The form has expired"));
    }
    assert_eq!(
        post(&session, &format!("csrf={everyone_csrf}&{register}")).status,
        403
    );
    assert!(awaiting());
    // A registrar of another region: 403, audited, nothing changes.
    let reply = post(
        &session,
        &format!("csrf={}&{register}", page_csrf(addr, &session)),
    );
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("outside the regions you work in"));
    assert!(!reply.body.contains("Popescu"));
    // An auditor: refused.
    let reply = post(
        &auditor,
        &format!("csrf={}&{register}", page_csrf(addr, &auditor)),
    );
    assert_eq!(reply.status, 403);
    assert!(awaiting());
    // A rejection without a reason: said plainly, nothing changes.
    let reply = post(
        &everyone,
        &format!("csrf={everyone_csrf}&action=reject&reason=&note="),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("Choose a reason"), "{}", reply.body);
    assert!(awaiting());
    // The registrar of every region registers it: back to the record page, registered, the
    // decision in its history; out of the queue.
    let reply = post(&everyone, &format!("csrf={everyone_csrf}&{register}"));
    assert_eq!(
        (reply.status, reply.header("location")),
        (
            303,
            Some(format!("/registrar/records/{stefan_id}").as_str())
        ),
        "{}",
        reply.body
    );
    let decided = call(
        addr,
        "GET",
        &format!("/registrar/records/{stefan_id}"),
        &[("Cookie", everyone.as_str())],
        "",
    );
    assert!(
        decided.body.contains("status status-registered"),
        "{}",
        decided.body
    );
    assert!(!decided.body.contains(&decision));
    assert!(decided.body.contains("checked by a registrar") && decided.body.contains("regall"));
    assert!(
        decided
            .body
            .contains("Birth certificate of the hospital seen")
    );
    assert!(!queue(&everyone, "").contains(&stefan_link));
    // Decided once: a second decision is refused.
    let reply = post(&everyone, &format!("csrf={everyone_csrf}&{register}"));
    assert_eq!(reply.status, 409, "{}", reply.body);
    let audit = registrar.store().audit(0, 1000).unwrap();
    let by = |actor: &str, action: &str| {
        audit
            .iter()
            .any(|e| e.action == action && e.actor.as_deref() == Some(actor))
    };
    assert!(by("reg46", "record_decision_refused"), "{audit:?}");
    assert!(by("regall", "record_decision") && by("regall", "queue_read"));
    assert!(!by("auditor", "record_decision"));

    // The language: the cookie's, else Accept-Language, else English.
    let lang = |headers: &[(&str, &str)]| {
        let page = call(addr, "GET", "/registrar/login", headers, "");
        page.body[page.body.find("<html lang=\"").unwrap() + 12..][..2].to_string()
    };
    assert_eq!(lang(&[]), "en");
    assert_eq!(
        lang(&[("Accept-Language", "uk-UA,uk;q=0.9,en;q=0.5")]),
        "uk"
    );
    assert_eq!(
        lang(&[("Accept-Language", "uk"), ("Cookie", "birthright_lang=ro")]),
        "ro"
    );
    let switch = call(
        addr,
        "GET",
        "/registrar/lang/uk?next=%2F%2Fevil.example",
        &[],
        "",
    );
    assert_eq!(switch.header("location"), Some("/registrar/queue"));
    assert!(switch.cookies()[0].starts_with("birthright_lang=uk;"));

    // Forms need the session's CSRF token: logout without it changes nothing.
    let csrf = page_csrf(addr, &session);
    let reply = call(
        addr,
        "POST",
        "/registrar/logout",
        &[FORM, ("Cookie", &session)],
        "csrf=wrong",
    );
    assert_eq!(reply.status, 403);
    assert_eq!(call(addr, "GET", "/registrar/queue", &auth, "").status, 200);
    let reply = call(
        addr,
        "POST",
        "/registrar/logout",
        &[FORM, ("Cookie", &session)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/login"))
    );
    assert_eq!(call(addr, "GET", "/registrar/queue", &auth, "").status, 303);

    // An administrator without a second factor is sent to set one up first; a records page
    // is not for an administrator alone.
    let admin = form_login(addr, "admin");
    let reply = call(
        addr,
        "GET",
        "/registrar/queue",
        &[("Cookie", admin.as_str())],
        "",
    );
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/totp"))
    );
    assert_eq!(
        call(
            addr,
            "GET",
            "/registrar/totp",
            &[("Cookie", admin.as_str())],
            ""
        )
        .status,
        200
    );
    let missing = call(
        addr,
        "GET",
        "/registrar/no-such-page",
        &[("Cookie", everyone.as_str())],
        "",
    );
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("There is no such page"));

    let w = World {
        addr,
        registry: &registry,
        registrar: &registrar,
        skew: &skew,
    };
    devices_and_tokens(&w, &a);
    users_for_admins(&w, &admin);
    reissue_on_the_certificate_page(&w, &everyone, &stefan_id);
    queue_pages(&w, &a, &everyone);
}

/// What the page tests beyond the first share.
struct World<'a> {
    addr: SocketAddr,
    registry: &'a Arc<Registry>,
    registrar: &'a Arc<Registrar>,
    skew: &'a AtomicI64,
}

impl World<'_> {
    fn get(&self, session: &str, path: &str) -> Reply {
        call(self.addr, "GET", path, &[("Cookie", session)], "")
    }

    fn post(&self, session: &str, path: &str, body: &str) -> Reply {
        call(self.addr, "POST", path, &[FORM, ("Cookie", session)], body)
    }

    /// The audit log's (action, actor, target).
    fn audit(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.registrar
            .store()
            .audit(0, 100_000)
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.actor, e.target))
            .collect()
    }

    fn audited(&self, action: &str, actor: &str) -> bool {
        self.audit()
            .iter()
            .any(|(a, by, _)| a == action && by.as_deref() == Some(actor))
    }
}

/// The CSRF token of any page of `session` (its logout form).
fn csrf_of(w: &World<'_>, session: &str) -> String {
    w.get(session, "/registrar/account").field("csrf")
}

/// The text of the element with id `id` in `body` (`id="…">TEXT<`).
fn element_text(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
    body[start..start + body[start..].find('<').unwrap()].to_string()
}

/// Every `/registrar/tokens/{id}/cancel` form's token id in `body`.
fn cancel_ids(body: &str) -> Vec<String> {
    body.match_indices("action=\"/registrar/tokens/")
        .map(|(i, m)| body[i + m.len()..i + m.len() + 64].to_string())
        .collect()
}

fn kid_of(device: &Device) -> String {
    device.identity().unwrap().key_id.to_string()
}

/// Devices and tokens: supervisors manage those of their regions, auditors read, others are
/// refused; a token made on the page enrols a real device once; cancel and revoke; every form
/// needs the session's CSRF token.
fn devices_and_tokens(w: &World<'_>, a: &Device) {
    let sup46 = form_login(w.addr, "sup46");
    let sup32 = form_login(w.addr, "sup32");
    let auditor = form_login(w.addr, "auditor");
    let reg46 = form_login(w.addr, "reg46");
    let kid_a = kid_of(a);
    let page = w.get(&sup46, "/registrar/devices");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/registrar/devices\" aria-current=\"page\"")
    );
    assert!(page.body.contains(&kid_a) && page.body.contains("worker-a"));
    assert!(!page.body.contains("worker-b"), "a device of UA-32");
    assert!(page.body.contains("action=\"/registrar/tokens\""));
    assert!(
        page.body
            .contains(&format!("action=\"/registrar/devices/{kid_a}/revoke\""))
    );
    // An auditor reads every region's, changes nothing.
    let read = w.get(&auditor, "/registrar/devices");
    assert_eq!(read.status, 200);
    assert!(read.body.contains("worker-a") && read.body.contains("worker-b"));
    assert!(
        !read.body.contains("action=\"/registrar/tokens\"") && !read.body.contains("/revoke\"")
    );
    // A registrar: refused, and no link to it.
    let refused = w.get(&reg46, "/registrar/devices");
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("worker-a"));
    assert!(
        !w.get(&reg46, "/registrar/queue")
            .body
            .contains("href=\"/registrar/devices\"")
    );

    // A token: without the session's CSRF token refused, nothing made.
    let csrf46 = csrf_of(w, &sup46);
    let create = "worker_id=worker-c&region=UA-46&ttl=7d";
    for body in [create.to_string(), format!("csrf=wrong&{create}")] {
        let reply = w.post(&sup46, "/registrar/tokens", &body);
        assert_eq!(reply.status, 403, "{body}");
        assert!(reply.body.contains("The form has expired"));
    }
    assert!(cancel_ids(&w.get(&sup46, "/registrar/devices").body).is_empty());
    // Too long, another region, an auditor's or a registrar's: refused, said plainly.
    let reply = w.post(
        &sup46,
        "/registrar/tokens",
        &format!("csrf={csrf46}&worker_id=worker-c&region=UA-46&ttl=31d"),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("at most 30 days"), "{}", reply.body);
    let reply = w.post(
        &sup46,
        "/registrar/tokens",
        &format!("csrf={csrf46}&worker_id=worker-c&region=UA-32&ttl=1d"),
    );
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("outside the regions you work in"));
    for other in [&auditor, &reg46] {
        let reply = w.post(
            other,
            "/registrar/tokens",
            &format!("csrf={}&{create}", csrf_of(w, other)),
        );
        assert_eq!(reply.status, 403);
    }
    assert!(cancel_ids(&w.get(&sup46, "/registrar/devices").body).is_empty());
    // Made: shown once with its QR code; listed by its id only; not seen from another region.
    let made = w.post(
        &sup46,
        "/registrar/tokens",
        &format!("csrf={csrf46}&{create}"),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.header("cache-control"), Some("no-store"));
    assert!(made.body.contains("<svg") && made.body.contains("shown only now"));
    let first = element_text(&made.body, "token");
    assert_eq!(first.len(), 32, "{first}");
    let listed = w.get(&sup46, "/registrar/devices");
    let ids = cancel_ids(&listed.body);
    assert_eq!(ids.len(), 1, "{}", listed.body);
    assert!(
        !listed.body.contains(&first),
        "the token is never shown again"
    );
    let theirs = w.get(&sup32, "/registrar/devices");
    assert!(!theirs.body.contains("worker-c") && cancel_ids(&theirs.body).is_empty());
    // Cancel: CSRF first, another region refused, then gone; it enrols nothing.
    let cancel = format!("/registrar/tokens/{}/cancel", ids[0]);
    assert_eq!(w.post(&sup46, &cancel, "csrf=wrong").status, 403);
    let reply = w.post(&sup32, &cancel, &format!("csrf={}", csrf_of(w, &sup32)));
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("outside the regions you work in"));
    assert_eq!(
        cancel_ids(&w.get(&sup46, "/registrar/devices").body).len(),
        1
    );
    let reply = w.post(&sup46, &cancel, &format!("csrf={csrf46}"));
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/devices"))
    );
    assert!(cancel_ids(&w.get(&sup46, "/registrar/devices").body).is_empty());
    let phone = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    phone.init("worker-c").unwrap();
    assert!(
        w.registry
            .enrol(&common::request(w.registry, &phone, &first))
            .is_err()
    );
    assert_eq!(
        w.post(&sup46, &cancel, &format!("csrf={csrf46}")).status,
        404
    );
    // A second token enrols the phone, which is then listed.
    let made = w.post(
        &sup46,
        "/registrar/tokens",
        &format!("csrf={csrf46}&{create}"),
    );
    let second = element_text(&made.body, "token");
    let answer = w
        .registry
        .enrol(&common::request(w.registry, &phone, &second))
        .unwrap();
    phone
        .complete_enrolment(&answer, w.registry.trust_bundle())
        .unwrap();
    let kid_c = kid_of(&phone);
    assert!(w.get(&sup46, "/registrar/devices").body.contains(&kid_c));
    assert!(!w.get(&sup32, "/registrar/devices").body.contains(&kid_c));

    // Revoke: CSRF first; another region's supervisor and an auditor refused; then revoked
    // with the reason public and the note internal.
    let revoke = format!("/registrar/devices/{kid_c}/revoke");
    const NOTE: &str = "Phone left on the river bus";
    let form = "reason=lost&note=Phone+left+on+the+river+bus";
    assert_eq!(w.post(&sup46, &revoke, form).status, 403);
    let reply = w.post(
        &sup32,
        &revoke,
        &format!("csrf={}&{form}", csrf_of(w, &sup32)),
    );
    assert_eq!(reply.status, 403);
    assert!(!reply.body.contains(&kid_c));
    assert_eq!(
        w.post(
            &auditor,
            &revoke,
            &format!("csrf={}&{form}", csrf_of(w, &auditor))
        )
        .status,
        403
    );
    let reply = w.post(&sup46, &revoke, &format!("csrf={csrf46}&reason=misplaced"));
    assert_eq!(reply.status, 400);
    assert!(w.registry.revocation_list().map_or(true, |l| {
        RevocationList::verify(&l, w.registry.trust_bundle())
            .unwrap()
            .entries
            .is_empty()
    }));
    let reply = w.post(&sup46, &revoke, &format!("csrf={csrf46}&{form}"));
    assert_eq!(
        (reply.status, reply.header("location")),
        (
            303,
            Some(format!("/registrar/devices#device-{kid_c}").as_str())
        ),
        "{}",
        reply.body
    );
    let page = w.get(&sup46, "/registrar/devices");
    assert!(page.body.contains(NOTE), "the note, for supervisors");
    assert!(
        !page
            .body
            .contains(&format!("action=\"/registrar/devices/{kid_c}/revoke\""))
    );
    assert!(
        page.body
            .contains(&format!("action=\"/registrar/devices/{kid_a}/revoke\""))
    );
    assert_eq!(
        w.post(&sup46, &revoke, &format!("csrf={csrf46}&{form}"))
            .status,
        409
    );
    let list = w.registry.revocation_list().unwrap();
    let verified = RevocationList::verify(&list, w.registry.trust_bundle()).unwrap();
    let entry = verified
        .entries
        .iter()
        .find(|e| hex::encode(e.device_kid.as_slice()) == kid_c)
        .expect("the revoked device is in the signed list");
    assert_eq!(entry.reason, "lost");
    assert!(!list.windows(NOTE.len()).any(|win| win == NOTE.as_bytes()));
    let audit = w.audit();
    for (action, target) in [
        ("token_cancel", format!("{} UA-46", ids[0])),
        ("device_revoke", format!("{kid_c} lost")),
    ] {
        assert!(
            audit.iter().any(|(a, by, t)| *a == action
                && by.as_deref() == Some("sup46")
                && t.as_deref() == Some(target.as_str())),
            "{action}: {audit:?}"
        );
    }
    assert!(w.audited("token_create", "sup46"));
    assert!(
        !format!("{audit:?}").contains("river"),
        "the note is not audited"
    );
    // In Ukrainian and Romanian too.
    for (lang, text) in [
        ("uk", "Пристрої та токени реєстрації"),
        ("ro", "Dispozitive și tokenuri de înrolare"),
    ] {
        let page = w.get(
            &format!("{sup46}; birthright_lang={lang}"),
            "/registrar/devices",
        );
        assert!(page.body.contains(text), "{lang}");
    }
}

/// Sets up the admin's second factor through the pages (required first): its secret.
fn enrol_totp(w: &World<'_>, admin: &str) -> Vec<u8> {
    let csrf = w.get(admin, "/registrar/totp").field("csrf");
    let enrol = w.post(admin, "/registrar/totp/enrol", &format!("csrf={csrf}"));
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    let marker = "<p class=\"secret\"><code>";
    let at = enrol.body.find(marker).unwrap() + marker.len();
    let text = &enrol.body[at..at + enrol.body[at..].find('<').unwrap()];
    let secret = base32_decode(text);
    let code = totp::code_at(&secret, w.registrar.now());
    let reply = w.post(
        admin,
        "/registrar/totp/confirm",
        &format!("csrf={csrf}&code={code}"),
    );
    assert_eq!(reply.status, 303, "{}", reply.body);
    secret
}

/// Whether `user` logs in with `password` (a one-time password still to change counts).
fn logs_in(w: &World<'_>, user: &str, password: &str) -> bool {
    w.registrar
        .login(
            &LoginRequest {
                username: user,
                password,
                totp: None,
                address: "127.0.0.9",
            },
            w.registrar.now(),
        )
        .is_ok()
}

/// Users: admins list, add (the one-time password shown once), disable and reset; others are
/// refused; an admin still reads no record; every form needs the session's CSRF token.
fn users_for_admins(w: &World<'_>, admin: &str) {
    let secret = enrol_totp(w, admin);
    // Logging in again (with the next code): the users page is where an admin starts.
    w.skew.fetch_add(totp::STEP_SECS, Ordering::SeqCst);
    let token = w.get("", "/registrar/login").field("csrf");
    let code = totp::code_at(&secret, w.registrar.now());
    let reply = call(
        w.addr,
        "POST",
        "/registrar/login",
        &[FORM, ("Cookie", &format!("birthright_login_csrf={token}"))],
        &format!("csrf={token}&username=admin&password=a+long+enough+password&totp={code}"),
    );
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/users")),
        "{}",
        reply.body
    );
    let page = w.get(admin, "/registrar/users");
    assert_eq!(page.status, 200, "{}", page.body);
    for name in ["reg46", "regall", "auditor", "sup46", "sup32"] {
        assert!(page.body.contains(&format!("id=\"user-{name}\"")), "{name}");
    }
    assert!(
        page.body
            .contains("href=\"/registrar/users\" aria-current=\"page\"")
    );
    assert!(
        !page.body.contains("href=\"/registrar/queue\""),
        "no records link"
    );
    assert!(
        !page.body.contains("/registrar/users/admin/disable"),
        "not oneself"
    );
    assert_eq!(
        w.get(admin, "/registrar/queue").status,
        403,
        "an admin reads no record"
    );
    assert_eq!(w.get(admin, "/registrar/devices").status, 403);
    let sup46 = form_login(w.addr, "sup46");
    assert_eq!(w.get(&sup46, "/registrar/users").status, 403);
    assert!(
        !w.get(&sup46, "/registrar/devices")
            .body
            .contains("href=\"/registrar/users\"")
    );
    let csrf = csrf_of(w, admin);
    let add = "username=newreg&role=registrar&role=supervisor&regions=UA-46+UA-32";
    // CSRF refused on each form, and the forms of another role.
    for (path, body) in [
        ("/registrar/users", add),
        ("/registrar/users/reg46/disable", ""),
        ("/registrar/users/reg46/reset-password", ""),
    ] {
        assert_eq!(
            w.post(admin, path, &format!("csrf=wrong&{body}")).status,
            403,
            "{path}"
        );
        assert_eq!(w.post(admin, path, body).status, 403, "{path}");
        let reply = w.post(&sup46, path, &format!("csrf={}&{body}", csrf_of(w, &sup46)));
        assert_eq!(reply.status, 403, "{path}");
    }
    assert!(
        !w.get(admin, "/registrar/users")
            .body
            .contains("user-newreg")
    );
    assert!(logs_in(w, "reg46", PASSWORD));
    // Bad input: said on the page.
    let reply = w.post(
        admin,
        "/registrar/users",
        &format!("csrf={csrf}&username=newreg&regions="),
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("at least one role"), "{}", reply.body);
    let reply = w.post(
        admin,
        "/registrar/users",
        &format!("csrf={csrf}&username=New+Reg&role=registrar"),
    );
    assert_eq!(reply.status, 400);
    // Added: the one-time password once; it logs in.
    let added = w.post(admin, "/registrar/users", &format!("csrf={csrf}&{add}"));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.header("cache-control"), Some("no-store"));
    let password = element_text(&added.body, "one-time-password");
    assert!(password.len() >= 12, "{password}");
    let listed = w.get(admin, "/registrar/users");
    assert!(listed.body.contains("id=\"user-newreg\""));
    assert!(listed.body.contains("UA-32, UA-46"), "{}", listed.body);
    assert!(!listed.body.contains(&password));
    assert!(logs_in(w, "newreg", &password));
    assert_eq!(
        w.post(admin, "/registrar/users", &format!("csrf={csrf}&{add}"))
            .status,
        409
    );
    // Roles and regions changed: CSRF first; then as asked, the form filled in with them.
    let change = "/registrar/users/newreg/access";
    assert_eq!(w.post(admin, change, "csrf=wrong&role=auditor").status, 403);
    let reply = w.post(
        admin,
        change,
        &format!("csrf={csrf}&role=auditor&regions=UA-46"),
    );
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/users#user-newreg")),
        "{}",
        reply.body
    );
    let row = |body: &str| {
        let at = body.find("id=\"user-newreg\"").unwrap();
        body[at..at + body[at..].find("</tr>").unwrap()].to_string()
    };
    let changed = row(&w.get(admin, "/registrar/users").body);
    assert!(
        changed.contains("<td>Auditor</td><td>UA-46</td>"),
        "{changed}"
    );
    assert!(
        changed.contains("value=\"auditor\" checked")
            && !changed.contains("value=\"registrar\" checked")
    );
    assert_eq!(
        w.post(admin, change, &format!("csrf={csrf}&regions=UA-46"))
            .status,
        400
    );
    assert!(w.audited("user_set_access", "admin"));
    // Disabled: no login; not oneself.
    let reply = w.post(
        admin,
        "/registrar/users/newreg/disable",
        &format!("csrf={csrf}"),
    );
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some("/registrar/users#user-newreg"))
    );
    assert!(!logs_in(w, "newreg", &password));
    assert!(w.get(admin, "/registrar/users").body.contains("Disabled"));
    assert_eq!(
        w.post(
            admin,
            "/registrar/users/admin/disable",
            &format!("csrf={csrf}")
        )
        .status,
        409
    );
    assert_eq!(
        w.post(
            admin,
            "/registrar/users/nobody/disable",
            &format!("csrf={csrf}")
        )
        .status,
        404
    );
    // Reset: a new one-time password, enabled again.
    let reset = w.post(
        admin,
        "/registrar/users/newreg/reset-password",
        &format!("csrf={csrf}"),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    let again = element_text(&reset.body, "one-time-password");
    assert_ne!(again, password);
    assert!(!logs_in(w, "newreg", &password) && logs_in(w, "newreg", &again));
    for action in ["user_add", "user_disable", "user_reset_password"] {
        assert!(w.audited(action, "admin"), "{action}");
    }
    let page = w.get(&format!("{admin}; birthright_lang=ro"), "/registrar/users");
    assert!(page.body.contains("Adăugați un utilizator"));
    let page = w.get(&format!("{admin}; birthright_lang=uk"), "/registrar/users");
    assert!(page.body.contains("Додати користувача"));
}

/// The reissue button: a new registered credential, which differs from the first and
/// verifies; the old one stays valid; audited; CSRF, role and region checked.
fn reissue_on_the_certificate_page(w: &World<'_>, regall: &str, id: &str) {
    let path = format!("/registrar/records/{id}/certificate");
    let page = w.get(regall, &path);
    assert_eq!(page.status, 200, "{}", page.body);
    let action = format!("action=\"/registrar/records/{id}/reissue\"");
    assert!(page.body.contains(&action));
    let first = element_text(&page.body, "credential");
    let verifier =
        Verifier::from_bytes(w.registry.trust_bundle().to_json().as_bytes(), None).unwrap();
    assert_eq!(
        verifier.verify_text(&first, w.registrar.now()).verdict,
        Verdict::Valid
    );
    w.skew.fetch_add(60, Ordering::SeqCst);
    let reissue = format!("/registrar/records/{id}/reissue");
    assert_eq!(w.post(regall, &reissue, "").status, 403);
    assert_eq!(w.post(regall, &reissue, "csrf=wrong").status, 403);
    let auditor = form_login(w.addr, "auditor");
    assert_eq!(
        w.post(
            &auditor,
            &reissue,
            &format!("csrf={}", csrf_of(w, &auditor))
        )
        .status,
        403
    );
    let reg46 = form_login(w.addr, "reg46");
    assert_eq!(
        w.post(&reg46, &reissue, &format!("csrf={}", csrf_of(w, &reg46)))
            .status,
        403
    );
    assert!(!w.audited("certificate_reissue", "regall"));
    let csrf = csrf_of(w, regall);
    let before = w.registrar.now();
    let reply = w.post(regall, &reissue, &format!("csrf={csrf}"));
    let after = w.registrar.now();
    assert_eq!(
        (reply.status, reply.header("location")),
        (303, Some(path.as_str())),
        "{}",
        reply.body
    );
    let page = w.get(regall, &path);
    let second = element_text(&page.body, "credential");
    assert_ne!(second, first);
    assert!(page.body.contains("Reissued on"));
    let now = w.registrar.now();
    let verified = verifier.verify_text(&second, now);
    assert_eq!(verified.verdict, Verdict::Valid, "{verified:?}");
    let claims = verified.registration.unwrap();
    assert_eq!(claims.record_id.to_string(), id);
    assert!(
        (before..=after).contains(&claims.issued_at),
        "issued by the reissue: {}",
        claims.issued_at
    );
    assert_eq!(verifier.verify_text(&first, now).verdict, Verdict::Valid);
    assert!(
        w.audit().iter().any(|(a, by, t)| a == "certificate_reissue"
            && by.as_deref() == Some("regall")
            && t.as_deref() == Some(id)),
        "audited"
    );
}

/// More than a page of queued records: next and previous links that keep the filters; no
/// record on two pages.
fn queue_pages(w: &World<'_>, a: &Device, regall: &str) {
    // Late registrations, captured in one batch and synced at once (the fast path).
    let forms: Vec<RegistrationForm> = (0..105)
        .map(|i| {
            let mut form = timely_input();
            let letters = |n: usize| -> String {
                n.to_string()
                    .bytes()
                    .map(|d| char::from(b'a' + (d - b'0')))
                    .collect()
            };
            form.child.given_names = format!("Dana{}", letters(i));
            form.mother.given_names = format!("Maria{}", letters(i));
            // Born more than 365 days before: late registrations.
            form.child.date_of_birth = days_ago(400 + i64::try_from(i).unwrap()).to_string();
            form
        })
        .collect();
    a.capture_batch(&forms, time::OffsetDateTime::now_utc())
        .unwrap();
    common::sync(w.registry, a);
    let links = |body: &str| -> Vec<String> {
        body.match_indices("<td><a href=\"/registrar/records/")
            .map(|(i, m)| body[i + m.len()..i + m.len() + 36].to_string())
            .collect()
    };
    let first = w.get(
        regall,
        "/registrar/queue?region=UA-46&reason=late_registration",
    );
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("105 records are waiting"),
        "{}",
        first.body
    );
    let on_first = links(&first.body);
    assert_eq!(on_first.len(), 100);
    let next = "href=\"/registrar/queue?reason=late_registration&amp;region=UA-46&amp;page=2\"";
    assert!(first.body.contains(next), "{}", first.body);
    assert!(!first.body.contains("rel=\"prev\""));
    let second = w.get(
        regall,
        "/registrar/queue?reason=late_registration&region=UA-46&page=2",
    );
    let on_second = links(&second.body);
    assert_eq!(on_second.len(), 5);
    assert!(on_second.iter().all(|id| !on_first.contains(id)));
    assert!(second.body.contains(
        "href=\"/registrar/queue?reason=late_registration&amp;region=UA-46&amp;page=1\""
    ));
    assert!(!second.body.contains("rel=\"next\""));
    assert!(second.body.contains("Page 2"));
    // Another filter keeps its own pages; past the end: an empty page with a way back.
    assert!(links(&w.get(regall, "/registrar/queue?region=UA-32").body).is_empty());
    let past = w.get(regall, "/registrar/queue?page=9");
    assert!(links(&past.body).is_empty() && past.body.contains("page=8"));
    assert!(past.body.contains("past the end of the queue"));
    // With an age filter the earlier pages are counted after it.
    let aged = w.get(
        regall,
        "/registrar/queue?region=UA-46&min_age_days=300&page=2",
    );
    assert_eq!(links(&aged.body).len(), 5, "{}", aged.body);
    assert!(aged.body.contains("min_age_days=300&amp;page=1"));
}

/// The CSRF token in the logout form of a page of `session`.
fn page_csrf(addr: SocketAddr, session: &str) -> String {
    call(addr, "GET", "/registrar/queue", &[("Cookie", session)], "").field("csrf")
}

#[test]
fn the_web_workspace_on_sqlite() {
    run(false);
}

#[test]
fn the_web_workspace_on_postgres() {
    run(true);
}
