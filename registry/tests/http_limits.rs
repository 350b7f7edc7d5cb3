//! The registry's HTTP front: per-client rate limits answered with 429 and `Retry-After` (per
//! proxied client behind a trusted proxy), clients too slow to send their headers cut off,
//! batches beyond the concurrency bound told to retry, and a batch bomb answered 400.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::mpsc,
    time::Duration,
};

use birthright_registry::{
    Registry,
    http::{Limits, run},
};

fn get(addr: SocketAddr, path: &str) -> String {
    request(addr, "GET", path, "", &[])
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Type: application/cbor\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Serves a fresh registry with `limits`; returns its address and the sealed bytes of a batch
/// holding `n` empty records, sealed to it.
fn serve_with_batch(limits: Limits, n: u32) -> (SocketAddr, Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _) = Registry::init(dir.path(), "registry.test/births").unwrap();
    let hpke = registry.trust_bundle().hpke_public_key().unwrap();
    let sealed = birthright_core::fixtures::batch_claiming_empty_records(&hpke, n);
    let (ready, addr) = mpsc::channel();
    std::thread::spawn(move || {
        run(registry, "127.0.0.1:0", limits, |a| ready.send(a).unwrap()).unwrap();
    });
    (addr.recv().unwrap(), sealed, dir)
}

fn code(answer: &str) -> &str {
    answer
        .split("\"code\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

#[test]
fn a_batch_of_millions_of_empty_records_is_answered_400() {
    // The reported request: 19 million empty byte strings, an 18 KB body.
    let (addr, sealed, _dir) = serve_with_batch(Limits::default(), 19_000_000);
    assert!(sealed.len() < 64 * 1024, "{} bytes", sealed.len());
    let answer = request(addr, "POST", "/v1/batches", "", &sealed);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(code(&answer), "malformed_batch", "{answer}");
    // One that inflates within the cap is refused by the decoder at the count limit.
    let (addr, sealed, _dir) = serve_with_batch(Limits::default(), 2_000_000);
    let answer = request(addr, "POST", "/v1/batches", "", &sealed);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("too many records: at most 1000"),
        "{answer}"
    );
}

#[test]
fn batches_beyond_the_concurrency_bound_are_told_to_retry() {
    let limits = Limits {
        max_concurrent_ingests: 0,
        ..Limits::default()
    };
    let (addr, sealed, _dir) = serve_with_batch(limits, 1);
    let answer = request(addr, "POST", "/v1/batches", "", &sealed);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(code(&answer), "busy", "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 2"),
        "{answer}"
    );
    // Reads are not affected.
    assert!(get(addr, "/v1/checkpoint").starts_with("HTTP/1.1 200"));
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let limits = Limits {
        requests_per_second: 0.01,
        burst: 2.0,
        trusted_proxy_header: Some("x-forwarded-for".parse().unwrap()),
        ..Limits::default()
    };
    let (addr, _, _dir) = serve_with_batch(limits, 1);
    let from = |client: &str| {
        request(
            addr,
            "GET",
            "/v1/checkpoint",
            &format!("X-Forwarded-For: 192.0.2.1, {client}\r\n"),
            &[],
        )
    };
    assert!(from("198.51.100.1").starts_with("HTTP/1.1 200"));
    assert!(from("198.51.100.1").starts_with("HTTP/1.1 200"));
    let refused = from("198.51.100.1");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    // Another client behind the same proxy (loopback here) is not limited by the first.
    assert!(from("198.51.100.2").starts_with("HTTP/1.1 200"));
}

#[test]
fn a_client_over_its_budget_is_told_when_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _) = Registry::init(dir.path(), "registry.test/births").unwrap();
    let limits = Limits {
        requests_per_second: 0.01,
        burst: 3.0,
        request_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let (ready, addr) = mpsc::channel();
    std::thread::spawn(move || {
        run(registry, "127.0.0.1:0", limits, |a| ready.send(a).unwrap()).unwrap();
    });
    let addr = addr.recv().unwrap();
    for _ in 0..3 {
        let answer = get(addr, "/v1/checkpoint");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let refused = get(addr, "/v1/checkpoint");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    let retry_after: u64 = refused
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_string)
        })
        .expect("a Retry-After header")
        .trim()
        .parse()
        .unwrap();
    // One token at 0.01 per second: about 100 s.
    assert!((90..=100).contains(&retry_after), "{retry_after}");
    assert!(refused.contains("\"code\":\"rate_limited\""), "{refused}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _) = Registry::init(dir.path(), "registry.test/births").unwrap();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (ready, addr) = mpsc::channel();
    std::thread::spawn(move || {
        run(registry, "127.0.0.1:0", limits, |a| ready.send(a).unwrap()).unwrap();
    });
    let addr = addr.recv().unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    // Far longer than the header timeout: if the registry kept the connection, this read
    // would fail with a timeout error instead of seeing the connection end.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(slow, "GET /v1/checkpoint HTTP/1.1\r\nHost: {addr}\r\n").unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer)
        .expect("the registry closes the connection");
    // Hyper answers 408 or just closes; either way no request was served.
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    // A normal client is still served.
    assert!(get(addr, "/v1/checkpoint").starts_with("HTTP/1.1 200"));
}

/// The registry's PostgreSQL server is out of reach (its connections cut, new ones refused):
/// the requests that need the database are answered 503 `database_unavailable` with
/// `Retry-After`, so a device retries; once the server is back, the next request is served on
/// a new connection.
#[test]
fn a_lost_database_is_answered_503_with_retry_after() {
    use birthright_registry::{pg::testing, service::Database};
    if !testing::available() {
        return;
    }
    let db = testing::TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let (registry, _) = Registry::init_on(
        dir.path(),
        "registry.test/births",
        &Database::Postgres(db.url.clone()),
    )
    .unwrap();
    let (ready, addr) = mpsc::channel();
    std::thread::spawn(move || {
        run(registry, "127.0.0.1:0", Limits::default(), |a| {
            ready.send(a).unwrap()
        })
        .unwrap();
    });
    let addr = addr.recv().unwrap();
    assert!(get(addr, "/v1/checkpoint").starts_with("HTTP/1.1 200"));
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut admin = postgres::Client::connect(&testing::server_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
        ))
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .unwrap();
    // (A batch answered so is covered end to end, in tests/e2e/postgres.rs.)
    for answer in [get(addr, "/v1/checkpoint"), get(addr, "/v1/revocations")] {
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert_eq!(code(&answer), "database_unavailable", "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 2"),
            "{answer}"
        );
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
        ))
        .unwrap();
    // The registry reconnects with back-off: the first attempts may still be answered 503
    // until the next permitted connection attempt (at most a few seconds).
    let mut answer = get(addr, "/v1/checkpoint");
    for _ in 0..100 {
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            !answer.contains("127.0.0.1:5432"),
            "the database's address leaked: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        answer = get(addr, "/v1/checkpoint");
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
