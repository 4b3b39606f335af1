//! Optional TLS of the HTTP server: rustls on aws-lc-rs, through poem's `rustls`
//! listener.

use poem::listener::{IntoTlsConfigStream, RustlsCertificate, RustlsConfig};

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
