//! Helpers shared by the registry's integration tests: a registry in a directory, devices
//! enrolled with it in process, and raw HTTP/1.1 calls to a served registry (the registrars'
//! API and web pages) with a logged-in client.
#![allow(dead_code)] // each test crate uses its own subset

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    sync::Arc,
    time::Duration,
};

use birthright_core::{
    device::Device,
    fixtures::reference_input_born,
    record::RegistrationForm,
    store::StorageKey,
    sync::{SyncConfig, SyncCounts, SyncProgress},
};
use birthright_registry::{Registry, local::LocalTransport, registrar::api::PREFIX};
use serde_json::Value;

/// Ignores progress.
pub(crate) struct NoProgress;
impl SyncProgress for NoProgress {
    fn on_progress(&self, _: &SyncCounts) {}
}

/// How many days before today the child of [`timely_input`] is born: well within the review
/// policy's default 365 days.
pub(crate) const TIMELY_DAYS: i64 = 30;

/// The date `days` before today (UTC).
pub(crate) fn days_ago(days: i64) -> time::Date {
    time::OffsetDateTime::now_utc().date() - time::Duration::days(days)
}

/// The reference child born [`TIMELY_DAYS`] days ago: a timely registration whatever the date
/// (a registry judges a record by its own clock when it arrives).
pub(crate) fn timely_input() -> RegistrationForm {
    reference_input_born(TIMELY_DAYS, days_ago(0))
}

/// A new registry in `dir`.
/// The backend of a test registry: SQLite, or a fresh PostgreSQL database (kept while its
/// guard lives); `None` when PostgreSQL is asked for and no server is reachable.
pub(crate) fn test_database(
    postgres: bool,
) -> Option<(
    birthright_registry::service::Database,
    Option<birthright_registry::pg::testing::TestDatabase>,
)> {
    use birthright_registry::{
        pg::testing::{TestDatabase, available},
        service::Database,
    };
    if !postgres {
        return Some((Database::Sqlite, None));
    }
    if !available() {
        return None;
    }
    let db = TestDatabase::create();
    Some((Database::Postgres(db.url.clone()), Some(db)))
}

pub(crate) fn registry(dir: &Path) -> Arc<Registry> {
    Arc::new(Registry::init(dir, "registry.test/births").unwrap().0)
}

/// A new in-memory device for `worker`, enrolled with `registry` (in region UA-46).
pub(crate) fn enrolled_device(registry: &Registry, worker: &str) -> Device {
    device_in(registry, worker, "UA-46")
}

/// Enrols an initialised `device` for `worker` with a fresh token.
pub(crate) fn enrol(registry: &Registry, device: &Device, worker: &str) {
    let token = registry.create_token(worker, "UA-46", 3600).unwrap();
    let answer = registry.enrol(&request(registry, device, &token)).unwrap();
    device
        .complete_enrolment(&answer, registry.trust_bundle())
        .unwrap();
}

/// The enrolment request `device` makes to `registry` with `token`.
pub(crate) fn request(registry: &Registry, device: &Device, token: &str) -> Vec<u8> {
    device
        .enrolment_request(token, &registry.trust_bundle().origin)
        .unwrap()
}

/// A new in-memory device for `worker`, enrolled with `registry` in `region`.
pub(crate) fn device_in(registry: &Registry, worker: &str, region: &str) -> Device {
    let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    device.init(worker).unwrap();
    let token = registry.create_token(worker, region, 3600).unwrap();
    let answer = registry.enrol(&request(registry, &device, &token)).unwrap();
    device
        .complete_enrolment(&answer, registry.trust_bundle())
        .unwrap();
    device
}

/// Syncs `device` with `registry` in process, to the end.
pub(crate) fn sync(registry: &Arc<Registry>, device: &Device) {
    device
        .sync_with_sleep(
            &LocalTransport::new(registry.clone()),
            &NoProgress,
            SyncConfig::default(),
            &mut |_| {},
        )
        .unwrap();
}

/// An HTTP answer: its status, headers, body and, when the body is JSON, the body parsed
/// (`Value::Null` otherwise).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) json: Value,
}

impl Reply {
    /// The first header called `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header.
    pub(crate) fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The error code of a JSON error answer (empty if none).
    pub(crate) fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// The value of `name="…" value="…"` in the page.
    pub(crate) fn field(&self, name: &str) -> String {
        let at = self
            .body
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap();
        let rest = &self.body[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// One HTTP/1.1 request to `path` (absolute) on `addr`, on its own connection. A POST without
/// a `Content-Type` header is sent as JSON.
pub(crate) fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST"
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    Reply {
        status,
        headers: lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_string(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// [`call`] to `path` under the registrars' API prefix.
pub(crate) fn api_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    call(addr, method, &format!("{PREFIX}{path}"), headers, body)
}

/// `POST /login` of the registrars' API from address `from` (sent as `X-Forwarded-For`).
pub(crate) fn api_login(
    addr: SocketAddr,
    user: &str,
    password: &str,
    totp: Option<&str>,
    from: &str,
) -> Reply {
    let mut body = serde_json::json!({"username": user, "password": password});
    if let Some(code) = totp {
        body["totp"] = serde_json::json!(code);
    }
    api_call(
        addr,
        "POST",
        "/login",
        &[("X-Forwarded-For", from)],
        &body.to_string(),
    )
}

/// A client logged in to the registrars' API: its session cookie and CSRF token, and the
/// address it says it calls from (`X-Forwarded-For`).
pub(crate) struct Client {
    pub(crate) addr: SocketAddr,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
    pub(crate) from: String,
}

impl Client {
    /// The client of a successful login's `reply` (asserted: 200, a strict session cookie).
    pub(crate) fn of(addr: SocketAddr, reply: &Reply, user: &str, from: &str) -> Client {
        assert_eq!(reply.status, 200, "login {user}: {:?}", reply.json);
        let cookie = reply.header("set-cookie").unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict")
                && cookie.contains("Path=/"),
            "{cookie}"
        );
        Client {
            addr,
            cookie: cookie.split(';').next().unwrap().to_string(),
            csrf: reply.json["csrf_token"].as_str().unwrap().to_string(),
            from: from.to_string(),
        }
    }

    /// `GET` of `path` under the API's prefix.
    pub(crate) fn get(&self, path: &str) -> Reply {
        self.get_abs(&format!("{PREFIX}{path}"))
    }

    /// `GET` of `path` (absolute: a web page).
    pub(crate) fn get_abs(&self, path: &str) -> Reply {
        call(
            self.addr,
            "GET",
            path,
            &[("Cookie", &self.cookie), ("X-Forwarded-For", &self.from)],
            "",
        )
    }

    /// `POST` of a JSON `body` (its text, or a `serde_json::Value`) to `path` under the API's
    /// prefix, with the CSRF token.
    pub(crate) fn post(&self, path: &str, body: impl std::fmt::Display) -> Reply {
        self.post_with_csrf(path, body, Some(&self.csrf))
    }

    /// `POST` of a JSON `body` to `path` under the API's prefix, with `csrf` as the CSRF token
    /// (none without).
    pub(crate) fn post_with_csrf(
        &self,
        path: &str,
        body: impl std::fmt::Display,
        csrf: Option<&str>,
    ) -> Reply {
        let mut headers = vec![
            ("Cookie", self.cookie.as_str()),
            ("X-Forwarded-For", &self.from),
        ];
        if let Some(csrf) = csrf {
            headers.push(("X-CSRF-Token", csrf));
        }
        api_call(self.addr, "POST", path, &headers, &body.to_string())
    }
}

/// The bytes of RFC 4648 base32 `text` (upper case, no padding), as a TOTP secret is shown.
pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
