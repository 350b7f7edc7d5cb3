//! The CLI's HTTP transport for sync and enrolment (ureq, blocking, with timeouts).

use std::time::Duration;

use birthright_core::sync::{HttpRequest, HttpResponse, Method, Transport, TransportError};

/// A registry base URL the CLI accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryUrl {
    /// The URL without a trailing `/`.
    pub base: String,
    /// Whether it names this machine (127.0.0.0/8, `localhost`, `[::1]`).
    pub loopback: bool,
}

/// Checks a registry URL: `https://` (certificates verified by rustls against the web PKI
/// roots), or `http://` only for a registry on this machine, where nobody can stand between
/// the device and the registry. Plain HTTP over a network would let an interceptor read and
/// answer every request.
pub fn registry_url(text: &str) -> anyhow::Result<RegistryUrl> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://").ok_or_else(|| {
        anyhow::anyhow!("the registry URL must start with https:// (got '{text}')")
    })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        anyhow::bail!("the registry URL has no host: '{text}'");
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback => {}
        "http" => anyhow::bail!(
            "the registry URL must be https:// for a registry on another machine (plain http \
             is accepted only for 127.0.0.1, localhost or [::1]): '{text}'"
        ),
        other => anyhow::bail!("unsupported scheme '{other}' in the registry URL: use https://"),
    }
    Ok(RegistryUrl {
        base: text.trim_end_matches('/').to_string(),
        loopback,
    })
}

/// A blocking HTTP client bound to one registry base URL.
pub struct UreqTransport {
    base: String,
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport for the registry at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build();
        UreqTransport {
            base: base.trim_end_matches('/').to_string(),
            agent: config.into(),
        }
    }
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
        let retry_after_secs = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response
            .body_mut()
            .with_config()
            .limit(birthright_core::wire::MAX_SEALED_RESPONSE_BYTES as u64)
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
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://registry.example/births",
            "HTTPS://registry.example:8443/",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1/x",
            "http://[::1]:8080/",
        ] {
            assert!(registry_url(ok).is_ok(), "{ok}");
        }
        assert!(registry_url("http://127.0.0.1:8080/").unwrap().loopback);
        assert!(!registry_url("https://registry.example").unwrap().loopback);
        for bad in [
            "http://registry.example",
            "http://10.0.0.1:8080",
            "http://127.0.0.1.evil.example",
            "http://localhost@evil.example",
            "ftp://127.0.0.1",
            "registry.example",
            "https://",
        ] {
            assert!(registry_url(bad).is_err(), "{bad}");
        }
    }
}
