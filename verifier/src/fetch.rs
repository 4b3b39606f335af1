//! HTTP plumbing: the default client, URL policy, size-capped reads, Cache-Control.
//!
//! The client builder, [`send_capped`] and [`max_age`] are public so that a server fetching
//! key sets from elsewhere (Tessera's remote JWKS for client keys and federated issuers)
//! applies the same discipline as this verifier, with its own address policy on top.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};

use crate::error::Error;

/// The default client: TLS through rustls on aws-lc-rs with the OS root store (feature
/// `rustls`), no redirects, a whole-request timeout.
pub(crate) fn default_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    client_builder(timeout)?
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}

/// The builder of the default client: TLS through rustls on aws-lc-rs with the OS root
/// store (feature `rustls`), redirects never followed, `timeout` for connecting and for the
/// whole request. Callers may add to it (a DNS resolver, a user agent) before `build()`.
pub fn client_builder(timeout: Duration) -> Result<reqwest::ClientBuilder, Error> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera-verify/", env!("CARGO_PKG_VERSION")));
    #[cfg(feature = "rustls")]
    let builder = builder.use_preconfigured_tls(tls_config()?);
    Ok(builder)
}

#[cfg(feature = "rustls")]
fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // Unparseable system certificates are skipped, as browsers do.
        let _ = roots.add(cert);
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `https://` always; `http://` only to a loopback host, or when explicitly allowed.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<reqwest::Url, Error> {
    let u =
        reqwest::Url::parse(url).map_err(|e| Error::Config(format!("invalid URL {url:?}: {e}")))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if allow_http || is_loopback(&u) => Ok(u),
        "http" => Err(Error::Config(format!(
            "{url:?} is plain http to a non-loopback host (use https, or allow_http for tests)"
        ))),
        other => Err(Error::Config(format!("unsupported URL scheme {other:?}"))),
    }
}

fn is_loopback(u: &reqwest::Url) -> bool {
    match u.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Sends a request and reads at most `max_bytes` of body (after decompression): a longer
/// body, announced or not, is an error as soon as the cap is passed, so a hostile server
/// cannot make the caller buffer more.
pub async fn send_capped(
    req: reqwest::RequestBuilder,
    url: &str,
    max_bytes: usize,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), Error> {
    let fail = |detail: String| Error::Fetch {
        url: url.to_owned(),
        detail,
    };
    let mut resp = req.send().await.map_err(|e| fail(short(&e)))?;
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(fail(format!("response larger than {max_bytes} bytes")));
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(short(&e)))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(fail(format!("response larger than {max_bytes} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn short(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// `max-age` from Cache-Control (`no-store`/`no-cache` count as 0), else `None`.
pub fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut age = None;
    for v in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(v) = v.to_str() else { continue };
        for d in v.split(',') {
            let d = d.trim();
            if d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if let Some((k, n)) = d.split_once('=')
                && k.trim().eq_ignore_ascii_case("max-age")
                && let Ok(n) = n.trim().trim_matches('"').parse::<u64>()
            {
                age = Some(Duration::from_secs(n));
            }
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy() {
        assert!(check_url("https://auth.internal", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", false).is_ok());
        assert!(check_url("http://[::1]:8080", false).is_ok());
        assert!(check_url("http://localhost", false).is_ok());
        assert!(check_url("http://auth.internal", false).is_err());
        assert!(check_url("http://auth.internal", true).is_ok());
        assert!(check_url("file:///etc/passwd", true).is_err());
    }

    #[test]
    fn cache_control() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert("cache-control", "public, max-age=300".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(300)));
        h.insert("cache-control", "no-cache".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::ZERO));
    }
}
