//! The registrars' web workspace (`/registrar/`) over real HTTP on loopback (the registry's
//! own server), on SQLite and PostgreSQL: no session redirects to the login page; the login
//! form's double-submit token; the session's CSRF token on every form; a page view of a
//! record is the audited view and a record outside the user's regions shows nothing; pending
//! first steps redirect; the language from cookie and `Accept-Language`; every value escaped;
//! the security headers. (The pages in a real browser: `tests/e2e/browser.rs`.)

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, mpsc},
};

use birthright_core::{device::Device, record::RegistrationForm};
use birthright_registry::{
    Registry,
    http::{Limits, run_with},
    pg::testing::{TestDatabase, available},
    registrar::{Registrar, Role},
    service::Database,
};
use common::{call, days_ago, device_in, timely_input};

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
    let registrar = Arc::new(Registrar::open(dir.path(), &database, registry.clone()).unwrap());
    let now = registrar.now();
    for (name, roles, regions) in [
        ("reg46", vec![Role::Registrar], vec!["UA-46".to_string()]),
        ("regall", vec![Role::Registrar], vec![]),
        ("admin", vec![Role::Admin], vec![]),
        ("auditor", vec![Role::Auditor], vec![]),
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
    std::thread::spawn(move || {
        run_with(registry, Some(served), "127.0.0.1:0", limits, |a| {
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
