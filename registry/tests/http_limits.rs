//! The registry's HTTP front: per-client rate limits answered with 429 and `Retry-After`, and
//! clients too slow to send their headers cut off.

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
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
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
