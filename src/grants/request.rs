//! The token endpoint's request, parsed once into one typed value per grant. A handler
//! takes its variant's fields and never reads the form itself, so what the endpoint
//! accepts is written down here (and `http::oauth::TokenForm` documents exactly this; a
//! test there fails when they drift apart).

use super::token_exchange::TokenType;
use crate::{clients::GrantType, error::OAuthError, params::FormFields};

/// What a token may be for: `scope` and the RFC 8707 `resource`s, both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Space-separated scopes asked for; `None`: every scope allowed.
    pub scope: Option<String>,
    /// Audiences asked for; empty: every registered audience.
    pub resources: Vec<String>,
}

/// A token request, one variant per grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRequest {
    /// RFC 6749 §4.4: a service asks for a token for itself.
    ClientCredentials { target: Target },
    /// RFC 6749 §4.3: a first-party app sends a user's credentials.
    Password {
        username: String,
        password: String,
        target: Target,
    },
    /// RFC 6749 §6: a refresh token is spent for new tokens.
    RefreshToken {
        refresh_token: String,
        target: Target,
    },
    /// RFC 6749 §4.1.3 with RFC 7636: a code from browser sign-in and its PKCE verifier.
    /// The scope is the one the user signed in for; a `scope` parameter is ignored.
    AuthorizationCode {
        code: String,
        code_verifier: String,
        redirect_uri: Option<String>,
        resources: Vec<String>,
    },
    /// RFC 8693 §2.1: a token the client received is traded for one for another audience.
    TokenExchange(Exchange),
    /// RFC 8628 §3.4: a device polls with its device code.
    DeviceCode { device_code: String },
}

/// The parameters of a token exchange (RFC 8693 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub subject_token: String,
    pub subject_token_type: TokenType,
    /// The token of the party acting for the subject, with its type (both or neither).
    pub actor: Option<(String, TokenType)>,
    /// What the client wants back; `None`: an access token.
    pub requested_token_type: Option<TokenType>,
    /// `audience` (logical names) and `resource` (URIs) together: both name where the new
    /// token will be used, and both are checked against the same per-client policy.
    pub audiences: Vec<String>,
    pub scope: Option<String>,
}

impl GrantRequest {
    /// The `grant_type` parameter: missing is `invalid_request`, unknown is
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    pub fn grant_type(params: &impl FormFields) -> Result<GrantType, OAuthError> {
        let name = params.required("grant_type")?;
        GrantType::parse(name).ok_or(OAuthError::UnsupportedGrantType)
    }

    /// The fields of a `grant` request; a missing or repeated one is `invalid_request`.
    pub fn parse(grant: GrantType, params: &impl FormFields) -> Result<Self, OAuthError> {
        Ok(match grant {
            GrantType::ClientCredentials => GrantRequest::ClientCredentials {
                target: target(params)?,
            },
            GrantType::Password => GrantRequest::Password {
                username: params.required("username")?.to_string(),
                password: params.required("password")?.to_string(),
                target: target(params)?,
            },
            GrantType::RefreshToken => GrantRequest::RefreshToken {
                refresh_token: params.required("refresh_token")?.to_string(),
                target: target(params)?,
            },
            GrantType::AuthorizationCode => GrantRequest::AuthorizationCode {
                code: params.required("code")?.to_string(),
                code_verifier: params
                    .single("code_verifier")?
                    .ok_or_else(|| OAuthError::invalid_request("code_verifier is missing (PKCE)"))?
                    .to_string(),
                redirect_uri: params.single_owned("redirect_uri")?,
                resources: params.all_owned("resource"),
            },
            GrantType::TokenExchange => GrantRequest::TokenExchange(exchange(params)?),
            GrantType::DeviceCode => GrantRequest::DeviceCode {
                device_code: params.required("device_code")?.to_string(),
            },
        })
    }
}

fn exchange(params: &impl FormFields) -> Result<Exchange, OAuthError> {
    let subject_token = params.required("subject_token")?.to_string();
    let subject_token_type = TokenType::parse_param(params.required("subject_token_type")?)?;
    // §2.1: `actor_token_type` is required with `actor_token` and must not come without it.
    let actor = match (
        params.single("actor_token")?,
        params.single("actor_token_type")?,
    ) {
        (Some(t), Some(ty)) => Some((t.to_string(), TokenType::parse_param(ty)?)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is missing (required with actor_token)",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type was sent without actor_token",
            ));
        }
    };
    let requested_token_type = params
        .single("requested_token_type")?
        .map(TokenType::parse_param)
        .transpose()?;
    let mut audiences = params.all_owned("audience");
    audiences.extend(params.all_owned("resource"));
    Ok(Exchange {
        subject_token,
        subject_token_type,
        actor,
        requested_token_type,
        audiences,
        scope: params.single_owned("scope")?,
    })
}

fn target(params: &impl FormFields) -> Result<Target, OAuthError> {
    Ok(Target {
        scope: params.single_owned("scope")?,
        resources: params.all_owned("resource"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    fn parse(body: &str) -> Result<GrantRequest, OAuthError> {
        let p = Params::parse(body.as_bytes()).unwrap();
        GrantRequest::parse(GrantRequest::grant_type(&p)?, &p)
    }

    #[test]
    fn each_grant_parses_into_its_typed_fields() {
        assert_eq!(
            parse("grant_type=client_credentials&scope=a+b&resource=https://x&resource=https://y")
                .unwrap(),
            GrantRequest::ClientCredentials {
                target: Target {
                    scope: Some("a b".into()),
                    resources: vec!["https://x".into(), "https://y".into()],
                }
            }
        );
        assert_eq!(
            parse("grant_type=authorization_code&code=c&code_verifier=v").unwrap(),
            GrantRequest::AuthorizationCode {
                code: "c".into(),
                code_verifier: "v".into(),
                redirect_uri: None,
                resources: vec![],
            }
        );
    }

    /// T5: missing, unknown and repeated parameters.
    #[test]
    fn missing_unknown_and_repeated_parameters_are_refused() {
        assert!(matches!(
            parse("scope=a"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert_eq!(
            parse("grant_type=implicit"),
            Err(OAuthError::UnsupportedGrantType)
        );
        assert!(matches!(
            parse("grant_type=password&username=a"),
            Err(OAuthError::InvalidRequest(m)) if m == "password is missing"
        ));
        assert!(matches!(
            parse("grant_type=refresh_token&refresh_token=a&refresh_token=b"),
            Err(OAuthError::InvalidRequest(m)) if m == "refresh_token is repeated"
        ));
        assert!(matches!(
            parse("grant_type=authorization_code&code=c"),
            Err(OAuthError::InvalidRequest(m)) if m == "code_verifier is missing (PKCE)"
        ));
    }
}
