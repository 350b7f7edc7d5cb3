//! The CLI's registry URLs, and its HTTP transport for sync and enrolment: the core's
//! [`UreqTransport`] (blocking, with timeouts), which the benchmarks use too.

pub(crate) use birthright_core::http_client::UreqTransport;

/// A registry base URL the CLI accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryUrl {
    /// The URL without a trailing `/`.
    pub base: String,
    /// Whether it names this machine (127.0.0.0/8, `localhost`, `[::1]`).
    pub loopback: bool,
}

/// Checks a registry URL: `https://` (certificates verified by rustls against the web PKI
/// roots), or `http://` only for a registry on this machine, where nobody can stand between
/// the device and the registry. Plain HTTP over a network would let an interceptor read and
/// answer every request.
pub(crate) fn registry_url(text: &str) -> anyhow::Result<RegistryUrl> {
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
