//! Validation of an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1).
//! The order matters: until the client and its redirect URI are known to be good, an error
//! is shown to the user and never redirected (RFC 6749 §4.1.2.1) — otherwise the endpoint
//! would be an open redirector.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    authorization_codes::is_s256_challenge,
    clients::{Client, GrantType, redirect_uris::with_query},
    context::Context,
    params::Params,
    scope::granted_scope,
};

/// A validated authorization request, as carried (sealed) through the login form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// `prompt=login`: authenticate again even with a live session.
    pub force_login: bool,
    /// `prompt=none`: never show a page; `login_required` when there is no session.
    pub no_prompt: bool,
    /// `max_age`: a session authenticated longer ago than this must log in again.
    pub max_age: Option<i64>,
    /// RFC 9449 §10 `dpop_jkt`: the code will be bound to this DPoP key thumbprint.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown to the user on an error page; nothing is redirected.
    Page(&'static str),
    /// Redirected back to the client with `error` (and `state`, `iss`).
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: &'static str,
        state: Option<String>,
    },
}

impl Refusal {
    /// The URL of a redirected error (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
    pub fn location(&self, issuer: &str) -> Option<String> {
        let Refusal::Redirect {
            redirect_uri,
            error,
            description,
            state,
        } = self
        else {
            return None;
        };
        let mut params = vec![("error", *error), ("error_description", *description)];
        if let Some(s) = state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        Some(with_query(redirect_uri, &params))
    }
}

const MAX_STATE: usize = 1024;
const MAX_NONCE: usize = 512;

/// Validates the query of `GET /oauth/authorize`.
pub async fn validate(
    ctx: &Context,
    params: &Params,
) -> Result<(AuthRequest, Arc<Client>), Refusal> {
    // 1. Client and redirect URI: failures here never redirect.
    let (client, redirect_uri) = client_and_redirect_uri(ctx, params).await?;
    // 2. From here on, errors go back to the client.
    let state = params.single("state").ok().flatten().map(str::to_string);
    let back = Back {
        redirect_uri: redirect_uri.clone(),
        state: state.clone().filter(|s| s.len() <= MAX_STATE),
    };
    check_response_parameters(params, &client, &back)?;
    let code_challenge = pkce_challenge(params, &back)?;
    let scope =
        granted_scope(&client.scopes, params.single("scope").ok().flatten()).map_err(|_| {
            back.refuse(
                "invalid_scope",
                "the requested scope is not allowed for this client",
            )
        })?;
    let nonce = params.single("nonce").ok().flatten().map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(back.refuse("invalid_request", "nonce is too long"));
    }
    let (force_login, no_prompt) = prompt(params, &back)?;
    let max_age = max_age(params, &back)?;
    let dpop_jkt = dpop_jkt(params, &back)?;
    Ok((
        AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri,
            scope,
            state,
            nonce,
            code_challenge,
            force_login,
            no_prompt,
            max_age,
            dpop_jkt,
        },
        client,
    ))
}

/// RFC 9449 §10 `dpop_jkt`: a base64url SHA-256 thumbprint (43 characters), if given.
fn dpop_jkt(params: &Params, back: &Back) -> Result<Option<String>, Refusal> {
    let jkt = params
        .single("dpop_jkt")
        .map_err(|_| back.refuse("invalid_request", "dpop_jkt is repeated"))?;
    match jkt {
        None => Ok(None),
        Some(j)
            if j.len() == 43
                && j.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(j.to_string()))
        }
        Some(_) => Err(back.refuse(
            "invalid_request",
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        )),
    }
}

/// The client and the redirect URI to use, both known good, or a page.
async fn client_and_redirect_uri(
    ctx: &Context,
    params: &Params,
) -> Result<(Arc<Client>, String), Refusal> {
    let client_id = params
        .single("client_id")
        .map_err(|_| Refusal::Page("The request repeats the client_id parameter."))?
        .ok_or(Refusal::Page(
            "The request does not name a client (client_id is missing).",
        ))?;
    let client = match ctx.clients.get(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(Refusal::Page(
                "The application that sent you here is not registered with this server.",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err(Refusal::Page(
                "The server could not complete the request. Try again later.",
            ));
        }
    };
    let requested_uri = params
        .single("redirect_uri")
        .map_err(|_| Refusal::Page("The request repeats the redirect_uri parameter."))?;
    let redirect_uri = match requested_uri {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.to_string(),
        Some(_) => {
            tracing::warn!(client_id = %client.client_id, "authorization request with an unregistered redirect_uri");
            return Err(Refusal::Page(
                "The application asked to send you back to an address it has not registered. \
                 For your safety you are not being redirected.",
            ));
        }
        // Omitted: allowed only when exactly one is registered (RFC 6749 §3.1.2.3).
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(Refusal::Page(
                "The request does not say where to return (redirect_uri is missing).",
            ));
        }
    };
    Ok((client, redirect_uri))
}

/// Where errors go once the redirect URI is known good.
struct Back {
    redirect_uri: String,
    state: Option<String>,
}

impl Back {
    fn refuse(&self, error: &'static str, description: &'static str) -> Refusal {
        Refusal::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description,
            state: self.state.clone(),
        }
    }
}

/// No repeated parameter, `state` not too long, `response_type=code` in query mode, a
/// client registered for the flow, no request objects.
fn check_response_parameters(params: &Params, client: &Client, back: &Back) -> Result<(), Refusal> {
    for name in [
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "response_mode",
        "dpop_jkt",
    ] {
        if params.single(name).is_err() {
            return Err(back.refuse("invalid_request", "a parameter is repeated"));
        }
    }
    if params
        .single("state")
        .ok()
        .flatten()
        .is_some_and(|s| s.len() > MAX_STATE)
    {
        return Err(back.refuse("invalid_request", "state is too long"));
    }
    match params.single("response_type").ok().flatten() {
        Some("code") => {}
        None => return Err(back.refuse("invalid_request", "response_type is missing")),
        Some(_) => {
            return Err(back.refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    if !matches!(
        params.single("response_mode").ok().flatten(),
        None | Some("query")
    ) {
        return Err(back.refuse("invalid_request", "only response_mode=query is supported"));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(back.refuse(
            "unauthorized_client",
            "the client is not registered for the authorization code flow",
        ));
    }
    if params.single("request").ok().flatten().is_some() {
        return Err(back.refuse("request_not_supported", "request objects are not supported"));
    }
    if params.single("request_uri").ok().flatten().is_some() {
        return Err(back.refuse("request_uri_not_supported", "request_uri is not supported"));
    }
    Ok(())
}

/// PKCE is mandatory for every client, and only S256 (RFC 9700 §2.1.1).
fn pkce_challenge(params: &Params, back: &Back) -> Result<String, Refusal> {
    let code_challenge = params
        .single("code_challenge")
        .ok()
        .flatten()
        .ok_or_else(|| back.refuse("invalid_request", "code_challenge is required (PKCE S256)"))?;
    if params.single("code_challenge_method").ok().flatten() != Some("S256") {
        return Err(back.refuse("invalid_request", "code_challenge_method must be S256"));
    }
    if !is_s256_challenge(code_challenge) {
        return Err(back.refuse("invalid_request", "code_challenge is malformed"));
    }
    Ok(code_challenge.to_string())
}

/// `prompt`: (`login`, `none`). Consent is implied by registration (first-party clients);
/// one account per browser session.
fn prompt(params: &Params, back: &Back) -> Result<(bool, bool), Refusal> {
    let (mut force_login, mut no_prompt) = (false, false);
    let Some(prompt) = params.single("prompt").ok().flatten() else {
        return Ok((false, false));
    };
    for p in prompt.split(' ').filter(|p| !p.is_empty()) {
        match p {
            "login" => force_login = true,
            "none" => no_prompt = true,
            "consent" | "select_account" => {}
            _ => return Err(back.refuse("invalid_request", "unsupported prompt value")),
        }
    }
    if no_prompt && prompt.split(' ').filter(|p| !p.is_empty()).count() > 1 {
        return Err(back.refuse("invalid_request", "prompt=none cannot be combined"));
    }
    Ok((force_login, no_prompt))
}

/// `max_age`: a non-negative number of seconds.
fn max_age(params: &Params, back: &Back) -> Result<Option<i64>, Refusal> {
    match params.single("max_age").ok().flatten() {
        None => Ok(None),
        Some(v) => Ok(Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(
            || back.refuse("invalid_request", "max_age must be a non-negative integer"),
        )?)),
    }
}
