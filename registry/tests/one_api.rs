//! The in-process transport and the HTTP server answer through one dispatcher: every endpoint,
//! the auditors' included, answers alike over both (status, body, error codes).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::mpsc,
    time::Duration,
};

use birthright_core::{
    fixtures::sample_inputs,
    sync::{HttpRequest, Method, SyncConfig, Transport},
};
use birthright_registry::{http, local::LocalTransport};
use time::OffsetDateTime;

mod common;
use common::{NoProgress, enrolled_device, registry};

/// Status and body of `method path` over HTTP/1.1 on loopback.
fn over_http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, answer[split + 4..].to_vec())
}

#[test]
fn the_in_process_transport_serves_exactly_the_http_api() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    // A few records on the ledger, synced in process.
    let device = enrolled_device(&registry, "w1");
    let now = OffsetDateTime::now_utc();
    for input in sample_inputs(3, 7, now.date()) {
        device.capture(&input).unwrap();
    }
    let local = LocalTransport::new(registry.clone());
    let report = device
        .sync_with_sleep(&local, &NoProgress, SyncConfig::default(), &mut |_| {})
        .unwrap();
    assert_eq!(report.accepted, 3);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (done, finished) = mpsc::channel();
    let served = registry.clone();
    runtime.spawn(async move {
        let result = http::serve(served, listener, http::Limits::default(), async move {
            let _ = stopped.await;
        })
        .await;
        let _ = done.send(result.is_ok());
    });

    let get = |path: &str| HttpRequest {
        method: Method::Get,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
    };
    let cases = [
        (get("/v1/trust"), 200),
        (get("/v1/checkpoint"), 200),
        (get("/v1/proof/inclusion?index=1&size=3"), 200),
        (get("/v1/proof/consistency?from=1&to=3"), 200),
        (get("/v1/leaves?start=0&end=3"), 200),
        (get("/v1/leaves?start=0"), 400),
        (get("/v1/proof/inclusion?index=5&size=3"), 400),
        (get("/v1/nothing"), 404),
        (
            HttpRequest {
                method: Method::Post,
                path: "/v1/checkpoint".into(),
                content_type: None,
                body: Vec::new(),
            },
            405,
        ),
        (
            HttpRequest {
                method: Method::Post,
                path: "/v1/enrol".into(),
                content_type: Some("application/cbor".into()),
                body: vec![0; birthright_registry::api::MAX_ENROL_BYTES + 1],
            },
            413,
        ),
        (
            HttpRequest {
                method: Method::Post,
                path: "/v1/batches".into(),
                content_type: Some("application/cbor".into()),
                body: b"not a batch".to_vec(),
            },
            400,
        ),
    ];
    for (request, status) in cases {
        let in_process = local.send(&request).unwrap();
        let method = match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let (http_status, http_body) = over_http(addr, method, &request.path, &request.body);
        assert_eq!(in_process.status, status, "{method} {}", request.path);
        assert_eq!(http_status, status, "{method} {} over HTTP", request.path);
        assert_eq!(
            String::from_utf8_lossy(&in_process.body),
            String::from_utf8_lossy(&http_body),
            "{method} {}",
            request.path
        );
    }
    // The signed lists: the same answers too (status; their bodies carry a signing time).
    for path in ["/v1/revocations", "/v1/status-list"] {
        assert_eq!(local.send(&get(path)).unwrap().status, 200);
        assert_eq!(over_http(addr, "GET", path, &[]).0, 200);
    }
    let _ = stop.send(());
    assert_eq!(finished.recv_timeout(Duration::from_secs(60)), Ok(true));
}
