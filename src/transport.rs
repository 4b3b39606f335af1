//! Transport options of the HTTP server: optional TLS (rustls on aws-lc-rs, through poem's
//! `rustls` listener) and the CORS allow-list for browser clients.

use std::{collections::HashSet, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    listener::{IntoTlsConfigStream, RustlsCertificate, RustlsConfig},
    middleware::Cors,
};

use crate::{
    config::Settings,
    error::{Error, Result},
};

/// The TLS configuration as poem's acceptor takes it.
pub type TlsStream = <RustlsConfig as IntoTlsConfigStream<RustlsConfig>>::Stream;

const CERT_BLOCK: &str = "-----BEGIN CERTIFICATE-----";

/// Reads and checks `tls_cert_file` / `tls_key_file`; `None` when TLS is off. The rustls
/// server configuration is built here once, so a bad certificate or key stops start-up with
/// the file named instead of failing every handshake.
pub fn load_tls(settings: &Settings) -> Result<Option<TlsStream>> {
    let (cert_path, key_path) = match (&settings.tls_cert_file, &settings.tls_key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(Error::Config(
                "tls_cert_file and tls_key_file must be set together".into(),
            ));
        }
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
    };
    let cert = read(cert_path)?;
    // poem reads a file without any certificate block as an empty chain and would only
    // fail at the first handshake.
    if !cert
        .windows(CERT_BLOCK.len())
        .any(|w| w == CERT_BLOCK.as_bytes())
    {
        return Err(Error::Config(format!(
            "TLS certificate {}: no PEM CERTIFICATE block",
            cert_path.display()
        )));
    }
    let config =
        RustlsConfig::new().fallback(RustlsCertificate::new().cert(cert).key(read(key_path)?));
    config.into_stream().map(Some).map_err(|e| {
        Error::Config(format!(
            "TLS certificate {} / key {}: {e}",
            cert_path.display(),
            key_path.display()
        ))
    })
}

/// The origins of `cors_allowed_origins` (comma-separated), each checked to be a bare
/// `scheme://host[:port]` as browsers send it in `Origin`.
pub fn parse_origins(list: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let url = url::Url::parse(raw)
            .map_err(|e| format!("cors_allowed_origins: {raw:?} is not an origin: {e}"))?;
        let origin = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https") || origin != raw || raw.contains('*') {
            return Err(format!(
                "cors_allowed_origins: {raw:?} must be exactly scheme://host[:port] \
                 (no path, no trailing '/', no wildcard), e.g. https://app.example.com"
            ));
        }
        out.push(origin);
    }
    Ok(out)
}

/// CORS for the listed origins only. Requests from other origins (and same-origin or
/// non-browser requests, which send no `Origin` or one not listed) pass through untouched:
/// without `Access-Control-Allow-Origin` the browser keeps the response from the page, and
/// a preflight gets the route's own 405. poem's `Cors` alone would answer 403 to any
/// unlisted `Origin`, including this server's own login form.
#[derive(Clone)]
pub struct CorsPolicy {
    origins: Arc<HashSet<String>>,
    cors: Arc<Cors>,
}

impl CorsPolicy {
    pub fn new(origins: Vec<String>) -> Self {
        let cors = Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([poem::http::Method::GET, poem::http::Method::POST])
            .allow_headers(["authorization", "content-type"])
            .allow_credentials(false)
            .max_age(600);
        Self {
            origins: Arc::new(origins.into_iter().collect()),
            cors: Arc::new(cors),
        }
    }

    /// Middleware body for `EndpointExt::around`.
    pub async fn handle<E: Endpoint>(&self, ep: Arc<E>, req: Request) -> poem::Result<Response> {
        let listed = req
            .header(poem::http::header::ORIGIN)
            .is_some_and(|o| self.origins.contains(o));
        let mut resp = if listed {
            let ep = poem::Middleware::transform(self.cors.as_ref(), ep);
            ep.call(req).await?.into_response()
        } else {
            ep.call(req).await?.into_response()
        };
        if !self.origins.is_empty() {
            // The response now depends on `Origin`: shared caches (the JWKS is cacheable)
            // must not hand one origin's answer to another.
            resp.headers_mut().append(
                poem::http::header::VARY,
                poem::http::HeaderValue::from_static("Origin"),
            );
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_origins;

    #[test]
    fn origins_must_be_bare() {
        assert_eq!(parse_origins("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_origins("https://app.example.com, http://localhost:3000").unwrap(),
            vec!["https://app.example.com", "http://localhost:3000"]
        );
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "*",
            "https://*.example.com",
            "ftp://files.example.com",
            "app.example.com",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad} accepted");
        }
    }
}
