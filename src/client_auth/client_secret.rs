//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1): the credentials of a
//! request, from the `Authorization` header or the body, never both.

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{clients::Credentials, error::OAuthError, params::FormFields};

/// Parses `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
/// Any malformation is a failed authentication (401 `invalid_client`).
pub fn parse_basic(header: &str) -> Result<Credentials, OAuthError> {
    let (scheme, value) = header
        .trim()
        .split_once(' ')
        .ok_or(OAuthError::InvalidClient)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient);
    }
    let decoded = STANDARD
        .decode(value.trim())
        .map_err(|_| OAuthError::InvalidClient)?;
    let text = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
    let (id, secret) = text.split_once(':').ok_or(OAuthError::InvalidClient)?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if id.is_empty() {
        return Err(OAuthError::InvalidClient);
    }
    Ok(Credentials {
        client_id: id,
        client_secret: secret,
    })
}

/// `application/x-www-form-urlencoded` decoding of one component, as §2.3.1 requires.
fn form_decode(s: &str) -> Result<String, OAuthError> {
    // Generated ids and secrets (base64url) contain neither: no decoding work per request.
    if !s.contains(['%', '+']) {
        return Ok(s.to_string());
    }
    let with_spaces = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(with_spaces.as_bytes()).ok_or(OAuthError::InvalidClient)?;
    String::from_utf8(bytes).map_err(|_| OAuthError::InvalidClient)
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The credentials of this request, from the header or the body.
pub fn credentials(
    authorization: Option<&str>,
    params: &impl FormFields,
) -> Result<Credentials, OAuthError> {
    let body_id = params.single("client_id")?;
    let body_secret = params.single("client_secret")?;
    match authorization {
        Some(header) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use only one client authentication method",
                ));
            }
            let creds = parse_basic(header)?;
            if body_id.is_some_and(|id| id != creds.client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            Ok(creds)
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials {
                client_id: id.into(),
                client_secret: secret.into(),
            }),
            _ => Err(OAuthError::InvalidClient),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let c = parse_basic(&basic("my%20client:p%3Ass+word")).unwrap();
        assert_eq!(c.client_id, "my client");
        assert_eq!(c.client_secret, "p:ss word");
    }

    #[test]
    fn malformed_basic_headers_fail_authentication() {
        for h in [
            "Basic",
            "Basic !!!",
            &basic("no-colon"),
            &basic(":secret"),
            &basic("id:%zz"),
            &format!("Basic {}", STANDARD.encode([0xff, b':', 0xfe])),
            "Bearer abc",
        ] {
            assert_eq!(parse_basic(h), Err(OAuthError::InvalidClient), "{h}");
        }
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let p = Params::parse(b"client_id=a&client_secret=b").unwrap();
        assert!(matches!(
            credentials(Some(&basic("a:b")), &p),
            Err(OAuthError::InvalidRequest(_))
        ));
        let p = Params::parse(b"client_id=a&client_secret=b").unwrap();
        assert_eq!(credentials(None, &p).unwrap().client_id, "a");
        let p = Params::parse(b"client_id=a").unwrap();
        assert_eq!(credentials(None, &p), Err(OAuthError::InvalidClient));
    }
}
