//! The blocking HTTP transport for sync and enrolment on a desktop or server host (ureq, with
//! timeouts), shared by the CLI and the benchmarks so both behave the same, `Retry-After`
//! included. Behind the `http-client` feature: the mobile library uses the app's own HTTP
//! stack through the bindings' `Transport` instead.

use std::time::Duration;

use crate::sync::{HttpRequest, HttpResponse, Method, Transport, TransportError};

/// A blocking HTTP client bound to one registry base URL.
pub struct UreqTransport {
    base: String,
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport for the registry at `base` (e.g. `http://127.0.0.1:8080`): connect
    /// timeout 15 s, whole exchange 120 s, every status returned as an answer.
    pub fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build();
        UreqTransport {
            base: base.trim().trim_end_matches('/').to_string(),
            agent: config.into(),
        }
    }
}

/// The `Retry-After` header as whole seconds (the only form the registry sends); an HTTP date
/// or anything else is ignored.
fn retry_after_secs(value: Option<&ureq::http::HeaderValue>) -> Option<u64> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = format!("{}{}", self.base, request.path);
        let started = std::time::Instant::now();
        // The path only: queries carry tree sizes, never personal data, and bodies are sealed.
        let route = request.path.split('?').next().unwrap_or_default();
        let method = match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let result = match request.method {
            Method::Get => self.agent.get(&url).call(),
            Method::Post => {
                let mut post = self.agent.post(&url);
                if let Some(ct) = &request.content_type {
                    post = post.header("content-type", ct);
                }
                post.send(&request.body[..])
            }
        };
        let mut response = result.map_err(|e| {
            tracing::debug!(method, route, error = %e, "no answer");
            TransportError {
                message: e.to_string(),
            }
        })?;
        let status = response.status().as_u16();
        let retry_after_secs = retry_after_secs(response.headers().get("retry-after"));
        let body = response
            .body_mut()
            .with_config()
            .limit(crate::wire::MAX_SEALED_RESPONSE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| TransportError {
                message: format!("reading the answer: {e}"),
            })?;
        tracing::debug!(
            method,
            route,
            status,
            sent_bytes = request.body.len(),
            received_bytes = body.len(),
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "answered"
        );
        Ok(HttpResponse {
            status,
            retry_after_secs,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// Serves one connection on a real socket with `answer`; returns the base URL and the
    /// request line and headers it received.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            reader
                .get_mut()
                .write_all(answer.as_bytes())
                .expect("write");
            head
        });
        (base, handle)
    }

    #[test]
    fn retry_after_is_passed_through() {
        let (base, server) = serve_once(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\
             Connection: close\r\n\r\nbusy",
        );
        let answer = UreqTransport::new(&base)
            .send(&HttpRequest {
                method: Method::Post,
                path: "/v1/batches".into(),
                content_type: Some("application/cbor".into()),
                body: vec![1, 2, 3],
            })
            .expect("an answer");
        assert_eq!(answer.status, 503);
        assert_eq!(answer.retry_after_secs, Some(7));
        assert_eq!(answer.body, b"busy");
        let head = server.join().expect("server").to_ascii_lowercase();
        assert!(head.starts_with("post /v1/batches "), "{head}");
        assert!(head.contains("content-type: application/cbor"), "{head}");
    }

    #[test]
    fn no_or_unreadable_retry_after_is_none() {
        let (base, server) =
            serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let get = HttpRequest {
            method: Method::Get,
            path: "/v1/checkpoint".into(),
            content_type: None,
            body: Vec::new(),
        };
        let answer = UreqTransport::new(&base).send(&get).expect("an answer");
        assert_eq!((answer.status, answer.retry_after_secs), (200, None));
        server.join().expect("server");
        let date = ureq::http::HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT");
        assert_eq!(retry_after_secs(Some(&date)), None);
    }

    #[test]
    fn no_answer_is_a_transport_error() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let get = HttpRequest {
            method: Method::Get,
            path: "/v1/checkpoint".into(),
            content_type: None,
            body: Vec::new(),
        };
        assert!(UreqTransport::new(&base).send(&get).is_err());
    }
}
