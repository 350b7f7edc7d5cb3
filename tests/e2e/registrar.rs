//! The registrars' workspace on a real `registry serve` process: the first administrator made
//! with `registry user add` (a one-time password), logged in over HTTP, made to change the
//! password first, then to enrol a second factor; users listed as JSON; a disabled user
//! refused. The API's every route, role and region boundary is tested in process, on both
//! backends, in `registry/tests/registrar_api.rs`.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use serde_json::Value;

use crate::support::*;

#[test]
fn the_first_administrator_logs_in_changes_the_password_and_enrols_totp() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("registry");
    init_registry(&dir);
    let added = ok(&[
        "registry",
        "user",
        "add",
        "--data",
        p(&dir),
        "--username",
        "root-admin",
        "--role",
        "admin",
        "--json",
    ]);
    let added: Value = serde_json::from_str(&added).unwrap();
    let one_time = added["one_time_password"].as_str().unwrap().to_string();
    assert_eq!(added["user"]["must_change_password"], true);
    // A second user with a password of its own, from standard input.
    let mut child = Command::new(BIN)
        .args([
            "registry",
            "user",
            "add",
            "--data",
            p(&dir),
            "--username",
            "olha",
            "--role",
            "registrar",
            "--region",
            "UA-46",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"olha's own long password\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let list: Value = serde_json::from_str(&ok(&[
        "registry",
        "user",
        "list",
        "--data",
        p(&dir),
        "--json",
    ]))
    .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["regions"], serde_json::json!(["UA-46"]));
    let exists = fails(&[
        "registry",
        "user",
        "add",
        "--data",
        p(&dir),
        "--username",
        "olha",
        "--role",
        "auditor",
        "--json",
    ]);
    assert!(exists.contains("\"code\":\"user_exists\""), "{exists}");

    let registry = serve_registry(&dir);
    let url = &registry.url;
    let login = |user: &str, password: &str| {
        registrar_call(
            url,
            "POST",
            "/login",
            &[],
            &serde_json::json!({"username": user, "password": password}).to_string(),
        )
    };
    let (status, head, body) = login("root-admin", &one_time);
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("HttpOnly; SameSite=Strict; Path=/"), "{head}");
    assert!(
        !head.contains("Secure"),
        "plain HTTP on loopback: no Secure flag"
    );
    let cookie = cookie_of(&head);
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let auth = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    assert_eq!(
        registrar_call(url, "POST", "/totp/enrol", &auth, "").2["code"],
        "password_change_required"
    );
    let change = serde_json::json!({"current_password": one_time, "new_password": "the administrator's password"});
    assert_eq!(
        registrar_call(url, "POST", "/password", &auth, &change.to_string()).0,
        204
    );
    assert_eq!(
        registrar_call(url, "GET", "/records", &auth, "").2["code"],
        "totp_enrolment_required"
    );
    let (status, _, enrol) = registrar_call(url, "POST", "/totp/enrol", &auth, "");
    assert_eq!(status, 200);
    assert!(
        enrol["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains("root-admin")
    );
    assert_eq!(registrar_call(url, "POST", "/logout", &auth, "").0, 204);
    assert_eq!(registrar_call(url, "GET", "/me", &auth, "").0, 401);

    // The registrar reads (no records yet); a disabled user is refused like a wrong password.
    let (status, head, _) = login("olha", "olha's own long password");
    assert_eq!(status, 200);
    let cookie = cookie_of(&head);
    let (status, _, records) = registrar_call(url, "GET", "/records", &[("Cookie", &cookie)], "");
    assert_eq!(
        (status, records["records"].clone()),
        (200, serde_json::json!([]))
    );
    ok(&[
        "registry",
        "user",
        "disable",
        "--data",
        p(&dir),
        "--username",
        "olha",
    ]);
    assert_eq!(
        registrar_call(url, "GET", "/me", &[("Cookie", &cookie)], "").0,
        401
    );
    let (status, _, refused) = login("olha", "olha's own long password");
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("login_failed"))
    );
    let (_, _, unknown) = login("nobody", "olha's own long password");
    assert_eq!(refused, unknown);
    let (status, _, doc) = registrar_call(url, "GET", "/openapi.json", &[], "");
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.0.3")));
}
