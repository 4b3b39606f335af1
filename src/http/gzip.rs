//! gzip for the revocation feed (`docs/scale.md`): a verifier's first sync of 100,000
//! revocations is 5.0 MB of JSON, 1.8 MB compressed.
//!
//! Only the feed is compressed. Responses that carry secrets (tokens, client secrets)
//! next to anything a requester chooses are never compressed: compression would let
//! the length of the response tell an observer about the secret (BREACH).

use std::io::Write;

use poem::{Endpoint, IntoResponse, Request, Response, http::header};

/// Paths whose responses are compressed when the client accepts gzip.
const COMPRESSED_PATHS: &[&str] = &["/oauth/revocations"];

/// Smaller bodies are sent as they are: the gzip framing would eat the gain.
const MIN_BYTES: usize = 1024;

/// Whether an `Accept-Encoding` value accepts gzip (RFC 9110 §12.5.3: a listed `gzip`,
/// `x-gzip` or `*` whose weight is not zero).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let named = ["gzip", "x-gzip", "*"]
            .iter()
            .any(|c| coding.eq_ignore_ascii_case(c));
        let weight_zero = parts.any(|p| {
            p.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        named && !weight_zero
    })
}

/// Middleware: gzips a successful response of [`COMPRESSED_PATHS`] when the request
/// accepts it (fastest level: the feed is random ids, which a higher level barely
/// shrinks further, for several times the CPU). Adds `Vary: Accept-Encoding` on those
/// paths either way.
pub async fn gzip_feed<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let compressible = COMPRESSED_PATHS.contains(&req.uri().path());
    let wants = compressible
        && req
            .headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(accepts_gzip);
    let mut resp = next.call(req).await?.into_response();
    if !compressible {
        return Ok(resp);
    }
    resp.headers_mut().append(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if !wants
        || !resp.status().is_success()
        || resp.headers().contains_key(header::CONTENT_ENCODING)
    {
        return Ok(resp);
    }
    let body = resp.take_body().into_bytes().await?;
    if body.len() < MIN_BYTES {
        resp.set_body(body);
        return Ok(resp);
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::fast(),
    );
    let compressed = enc.write_all(&body).and_then(|()| enc.finish());
    match compressed {
        Ok(gz) => {
            resp.headers_mut().insert(
                header::CONTENT_ENCODING,
                header::HeaderValue::from_static("gzip"),
            );
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            resp.set_body(gz);
        }
        // Writing to memory does not fail; if it ever did, the plain body is still right.
        Err(_) => resp.set_body(body),
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn accept_encoding_is_read_with_weights() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("br, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.000"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("gzipx, deflate"));
    }
}
