//! Redirect URIs: what may be registered, and how a response is appended to one.
//! Matching is exact string comparison (RFC 9700 §4.1.3): no prefixes, no wildcards.

use url::Url;

use super::GrantType;
use crate::error::{Error, Field, Result};

/// Validated redirect URIs of a registration.
pub struct ClientUris {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

/// Checks the URIs and client type of a registration: the authorization code grant needs
/// at least one redirect URI; a public client may only use the browser grants.
pub fn validate_client_uris(
    grants: &[GrantType],
    redirect_uris: &[String],
    post_logout: &[String],
    public: bool,
) -> Result<ClientUris> {
    let redirect_uris = check_list(Field::RedirectUris, redirect_uris)?;
    let post_logout_redirect_uris = check_list(Field::PostLogoutRedirectUris, post_logout)?;
    let code = grants.contains(&GrantType::AuthorizationCode);
    if code && redirect_uris.is_empty() {
        return Err(Error::invalid(
            Field::RedirectUris,
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    if !code && (!redirect_uris.is_empty() || !post_logout_redirect_uris.is_empty()) {
        return Err(Error::invalid(
            Field::RedirectUris,
            "redirect URIs need the authorization_code grant",
        ));
    }
    if public
        && grants.iter().any(|g| {
            !matches!(
                g,
                GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode
            )
        })
    {
        return Err(Error::invalid(
            Field::Public,
            "a public client has no secret, so it may only use the authorization_code, \
             device_code and refresh_token grants",
        ));
    }
    // A public client signs users in through a browser: its own redirect (code flow) or
    // the verification page (device flow; RFC 8628 §3.1 expects public clients).
    if public && !code && !grants.contains(&GrantType::DeviceCode) {
        return Err(Error::invalid(
            Field::Public,
            "a public client needs the authorization_code or device_code grant",
        ));
    }
    Ok(ClientUris {
        redirect_uris,
        post_logout_redirect_uris,
    })
}

fn check_list(field: Field, uris: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for u in uris.iter().flat_map(|u| u.split_whitespace()) {
        check_uri(u).map_err(|why| Error::invalid(field, format!("{u:?} {why}")))?;
        if !out.iter().any(|x| x == u) {
            out.push(u.to_string());
        }
    }
    Ok(out)
}

/// An absolute URI without fragment (RFC 6749 §3.1.2); plain `http` only for loopback
/// hosts (RFC 8252 §7.3); private-use schemes (`com.example.app:/cb`) for native apps.
fn check_uri(u: &str) -> std::result::Result<(), &'static str> {
    if u.len() > 2000 {
        return Err("is too long");
    }
    let parsed = Url::parse(u).map_err(|_| "is not an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    if parsed.as_str() != u && parsed.as_str() != format!("{u}/") {
        // Exact matching compares strings: refuse forms the parser would rewrite.
        return Err("is not in normalised form");
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err("uses http on a non-loopback host (use https)"),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err("uses a forbidden scheme"),
        _ if parsed.cannot_be_a_base() => Err("is not a usable redirect URI"),
        _ => Ok(()),
    }
}

/// `base` with the given parameters added to its query (existing ones are kept, RFC 6749
/// §3.1.2).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        // Registered URIs were validated; an unparsable one cannot happen, but never panic.
        Err(_) => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn registration_rules() {
        let code = [GrantType::AuthorizationCode, GrantType::RefreshToken];
        assert!(validate_client_uris(&code, &v(&["https://app/cb"]), &[], false).is_ok());
        assert!(validate_client_uris(&code, &v(&["http://127.0.0.1:3000/cb"]), &[], true).is_ok());
        assert!(validate_client_uris(&code, &v(&["com.example.app:/cb"]), &[], true).is_ok());
        assert!(validate_client_uris(&code, &[], &[], false).is_err());
        for bad in [
            "http://app.example/cb",
            "https://app/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "https://APP/cb",
        ] {
            assert!(
                validate_client_uris(&code, &v(&[bad]), &[], false).is_err(),
                "{bad}"
            );
        }
        let cc = [GrantType::ClientCredentials, GrantType::AuthorizationCode];
        assert!(validate_client_uris(&cc, &v(&["https://app/cb"]), &[], true).is_err());
        assert!(
            validate_client_uris(
                &[GrantType::ClientCredentials],
                &v(&["https://a/cb"]),
                &[],
                false
            )
            .is_err()
        );
    }

    #[test]
    fn query_is_appended() {
        assert_eq!(
            with_query("https://app/cb?x=1", &[("code", "a b"), ("state", "s&t")]),
            "https://app/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
