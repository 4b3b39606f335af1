//! The OAuth endpoints: token, revocation, introspection, logout, revocation feed, UserInfo.
//! Handlers only translate HTTP to domain calls (`grants`, `client_auth`, `token_status`,
//! `token_revocation`) and back.

use std::sync::Arc;

use poem::{Request, web::RemoteAddr};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Query,
    payload::{Json, PlainText},
};

use super::{
    ApiTags,
    client_ip::client_ip,
    form::OAuthForm,
    responses::{DirectJson, NO_CACHE, NO_STORE, OAuthFailure},
};
use crate::{
    client_auth,
    clients::Client,
    dpop,
    error::OAuthError,
    grants,
    http::AppState,
    params::{FormFields, Params},
    token_rate_limits::Endpoint,
    token_revocation,
    token_status::{self, BearerError},
};

/// Form parameters of the token endpoint: every parameter of every grant (see
/// `grants::GrantRequest`, which parses them), and of client authentication.
#[derive(Debug, Object)]
pub struct TokenForm {
    /// `client_credentials`, `password`, `refresh_token`, `authorization_code` or
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693) or
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    pub grant_type: String,
    /// Device grant: the `device_code` from `/oauth/device_authorization`. Poll no faster
    /// than its `interval`.
    pub device_code: Option<String>,
    /// Space-separated scopes, a subset of the client's registered scopes (or, on refresh,
    /// of the scope originally granted). Default: all of them.
    pub scope: Option<String>,
    /// RFC 8707 resource indicator: the audience wanted, one of the client's registered
    /// audiences (token exchange: one of its exchange audiences). May be repeated.
    /// Default: every registered audience.
    pub resource: Option<String>,
    /// Token exchange: the audience wanted (a logical name), one of the client's exchange
    /// audiences. May be repeated; taken together with `resource`. Default: every exchange
    /// audience of the client.
    pub audience: Option<String>,
    /// Token exchange: the token received, whose subject the new token is for (a Tessera
    /// access token).
    pub subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token` (the
    /// `...:token-type:jwt` of a federated issuer is not supported yet).
    pub subject_token_type: Option<String>,
    /// Token exchange, optional: a Tessera access token of the party acting for the
    /// subject; its `sub` and `client_id` go into the new token's `act`. Default: the
    /// exchanging client acts.
    pub actor_token: Option<String>,
    /// Token exchange: the type of `actor_token` (required with it):
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub actor_token_type: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token` (default) or
    /// `urn:ietf:params:oauth:token-type:jwt`; either way a JWT access token is issued.
    pub requested_token_type: Option<String>,
    /// `password` grant: the username (normalised: NFKC, lowercase).
    pub username: Option<String>,
    /// `password` grant: the password.
    pub password: Option<String>,
    /// `refresh_token` grant: the refresh token; it is spent and a new one returned.
    pub refresh_token: Option<String>,
    /// `authorization_code` grant: the code from the redirect back from
    /// `/oauth/authorize`. Single use; valid 60 seconds.
    pub code: Option<String>,
    /// `authorization_code` grant: the PKCE code verifier (RFC 7636), 43 to 128
    /// characters, whose S256 hash is the `code_challenge` of the authorization request.
    pub code_verifier: Option<String>,
    /// `authorization_code` grant: the `redirect_uri` of the authorization request,
    /// identical (required when that request carried one, which Tessera's clients do).
    pub redirect_uri: Option<String>,
    /// The client id: with `client_secret` (`client_secret_post`), alone for a public client
    /// (`none`), optionally beside HTTP Basic (then it must match) or a client assertion.
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret. Never together with HTTP Basic.
    pub client_secret: Option<String>,
    /// `private_key_jwt` authentication (RFC 7523 §2.2):
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt` authentication: a JWT signed with one of the client's registered
    /// keys; `iss` = `sub` = client_id, `aud` = the issuer identifier, `exp` at most
    /// `client_assertion_max_lifetime` ahead, a `jti` used once.
    pub client_assertion: Option<String>,
}

/// RFC 6749 §5.1 access token response.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenBody {
    /// The access token: an RFC 9068 JWT (`typ: at+jwt`), verifiable against the JWKS.
    /// Bound to the DPoP proof key (`cnf.jkt`) when the request carried a proof.
    pub access_token: String,
    /// `DPoP` for a token bound to the request's DPoP proof key (RFC 9449 §5), else
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    /// Opaque refresh token (password and refresh grants, for clients registered for
    /// `refresh_token`). Single use: each refresh returns the next one.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// OpenID Connect ID token, when `openid` was granted to a user.
    #[oai(skip_serializing_if_is_none)]
    pub id_token: Option<String>,
    /// Token exchange (RFC 8693 §2.2.1): the type of the issued token,
    /// `urn:ietf:params:oauth:token-type:access_token` or `...:jwt` as requested.
    #[oai(skip_serializing_if_is_none)]
    pub issued_token_type: Option<String>,
}

impl poem_openapi::types::Example for TokenBody {
    fn example() -> Self {
        TokenBody {
            access_token:
                "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiIuLi4ifQ.c2ln"
                    .into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            scope: Some("orders:read".into()),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum TokenIssued {
    /// The token was issued. Never cached (`Cache-Control: no-store`).
    #[oai(status = 200)]
    Ok(
        // Documented as `TokenBody`, written straight from the grant's `TokenResponse`.
        DirectJson<TokenBody, grants::TokenResponse>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// The DPoP server nonce to put in the next proof (RFC 9449 §8): sent when the
        /// request carried a DPoP proof or the server requires nonces.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
}

/// Form of the device authorization endpoint (RFC 8628 §3.1).
#[derive(Debug, Object)]
pub struct DeviceAuthorizationForm {
    /// Space-separated scopes, a subset of the client's (default: all of them); `openid`
    /// for an ID token.
    pub scope: Option<String>,
    /// The client id: alone for a public client, or with `client_secret`
    /// (`client_secret_post`), or beside HTTP Basic (then it must match).
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret.
    pub client_secret: Option<String>,
    /// `private_key_jwt` authentication:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt` authentication: the signed client assertion (see the token
    /// endpoint).
    pub client_assertion: Option<String>,
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Debug, Object)]
pub struct DeviceAuthorizationBody {
    /// The code the device polls the token endpoint with
    /// (`grant_type=urn:ietf:params:oauth:grant-type:device_code`). Secret: never shown.
    pub device_code: String,
    /// The code the person types on the verification page: 8 letters of the RFC 8628 §6.1
    /// consonant alphabet, shown `BCDF-GHJK` (case, spaces and the dash do not matter).
    pub user_code: String,
    /// The verification page (`/device`).
    pub verification_uri: String,
    /// The verification page with the code filled in, for a link or QR code. Opening it
    /// approves nothing: the person confirms on the page.
    pub verification_uri_complete: String,
    /// Seconds the codes stay valid.
    pub expires_in: i64,
    /// Seconds to wait between polls; faster polling gets `slow_down` (+5 s).
    pub interval: i64,
}

#[derive(Debug, ApiResponse)]
pub enum DeviceAuthorized {
    /// The codes. Never cached.
    #[oai(status = 200)]
    Ok(
        Json<DeviceAuthorizationBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// Form of the revocation, introspection and logout endpoints.
#[derive(Debug, Object)]
pub struct TokenParamForm {
    /// The token: an access token or a refresh token.
    pub token: String,
    /// Optional hint: `access_token` or `refresh_token` (both are tried anyway).
    pub token_type_hint: Option<String>,
    /// `client_secret_post` authentication: the client id.
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret.
    pub client_secret: Option<String>,
    /// `private_key_jwt` authentication:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt` authentication: the signed client assertion (see the token
    /// endpoint).
    pub client_assertion: Option<String>,
}

/// Form of the revocation feed's POST variant.
#[derive(Debug, Object)]
pub struct FeedForm {
    /// The `cursor` of the previous page; absent: every entry still relevant.
    pub since: Option<String>,
    /// Most entries in this page: 1 to 10000, default 1000.
    pub limit: Option<String>,
    /// `client_secret_post` authentication: the client id.
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret.
    pub client_secret: Option<String>,
    /// `private_key_jwt` authentication:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt` authentication: the signed client assertion.
    pub client_assertion: Option<String>,
}

/// Form of the logout endpoint.
#[derive(Debug, Object)]
pub struct LogoutForm {
    /// The refresh token of the session to end.
    pub refresh_token: String,
    /// `true`: end every session of the user and make every access token issued to them so
    /// far inactive (logout everywhere). Default `false`.
    pub all_sessions: Option<String>,
    /// `client_secret_post` authentication: the client id.
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret.
    pub client_secret: Option<String>,
    /// `private_key_jwt` authentication:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt` authentication: the signed client assertion (see the token
    /// endpoint).
    pub client_assertion: Option<String>,
}

#[derive(Debug, ApiResponse)]
pub enum Done {
    /// Done (also for unknown tokens and tokens of other clients, RFC 7009 §2.2).
    #[oai(status = 200)]
    Ok(
        PlainText<String>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// RFC 7662 introspection response; inactive tokens are `{"active": false}` only.
#[derive(Debug, Object)]
pub struct IntrospectionBody {
    /// Whether the token is active: valid signature, not expired, not revoked.
    pub active: bool,
    /// Granted scopes, space-separated.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// The user's username (user tokens).
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    /// `Bearer` or `DPoP` (access tokens; `DPoP` when bound to a proof key) or
    /// `refresh_token`.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    /// Expiry (Unix seconds).
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    /// Issue time (Unix seconds).
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    /// Not-before time (Unix seconds).
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<i64>,
    /// Subject: the user id, or the client id for client_credentials tokens.
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    /// Audience (string or array).
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<serde_json::Value>,
    /// Issuer.
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    /// Token id.
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
    /// The user's roles (user access tokens).
    #[oai(skip_serializing_if_is_none)]
    pub roles: Option<Vec<String>>,
    /// RFC 8693 §4.1: who acts for the subject, for a token issued by token exchange:
    /// `{"sub", "client_id"}` of the current actor, with the previous actor nested in
    /// `act` (gateway → orders → billing: `act.sub` orders, `act.act.sub` gateway).
    #[oai(skip_serializing_if_is_none)]
    pub act: Option<serde_json::Value>,
    /// RFC 9449 §6.2: the confirmation of a DPoP-bound access token, `{"jkt": "<RFC 7638
    /// thumbprint of the proof key>"}` (then `token_type` is `DPoP`).
    #[oai(skip_serializing_if_is_none)]
    pub cnf: Option<serde_json::Value>,
}

#[derive(Debug, ApiResponse)]
pub enum IntrospectionResponse {
    /// The token's state.
    #[oai(status = 200)]
    Ok(
        Json<IntrospectionBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// A revoked access token.
#[derive(Debug, Object)]
pub struct RevokedJtiBody {
    /// The token id.
    pub jti: String,
    /// Its expiry: the entry can be forgotten after it.
    pub exp: i64,
}

/// A subject whose tokens issued before `not_before` are revoked.
#[derive(Debug, Object)]
pub struct SubjectBody {
    /// The subject (`sub`).
    pub sub: String,
    /// Tokens with `iat` before this time are revoked.
    pub not_before: i64,
}

/// One page of the revocation feed.
#[derive(Debug, Object)]
pub struct FeedBody {
    /// Pass as `since` next time to get only newer entries.
    pub cursor: String,
    /// Revoked access tokens still unexpired.
    pub revoked: Vec<RevokedJtiBody>,
    /// Subject not-before times still relevant.
    pub subjects: Vec<SubjectBody>,
    /// More entries are waiting: call again at once with `cursor`.
    pub more: bool,
}

#[derive(Debug, ApiResponse)]
pub enum FeedResponse {
    /// Entries after the cursor.
    #[oai(status = 200)]
    Ok(
        Json<FeedBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum UserInfoResponse {
    /// Claims about the user: `sub`, `preferred_username`, `roles` and custom claims.
    #[oai(status = 200)]
    Ok(
        Json<serde_json::Value>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// The DPoP server nonce for the next proof, when the server requires nonces.
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// No, invalid, expired or revoked access token (RFC 6750 §3); a DPoP-bound token
    /// without its proof, or with an invalid, replayed or nonce-less one (RFC 9449 §7.1:
    /// the challenge is then `DPoP`).
    #[oai(status = 401)]
    Unauthorized(
        PlainText<String>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        /// A fresh DPoP server nonce (with `use_dpop_nonce`, or when nonces are required).
        #[oai(header = "DPoP-Nonce")]
        Option<String>,
    ),
    /// The token lacks the `openid` scope or is not a user's token.
    #[oai(status = 403)]
    Forbidden(
        PlainText<String>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// The database is unavailable.
    #[oai(status = 503)]
    Unavailable(PlainText<String>, #[oai(header = "Retry-After")] String),
}

pub struct OAuthApi {
    pub state: Arc<AppState>,
}

/// The values of every `DPoP` header (a value that is not visible ASCII stays, to fail
/// the proof check).
/// The values of every `DPoP` header (one proof is allowed; more are refused later).
pub(super) fn dpop_proofs(req: &Request) -> Vec<&str> {
    req.headers()
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect()
}

fn authorization(req: &Request) -> Option<&str> {
    // A header that is not visible ASCII can only be a failed authentication.
    req.headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// Who may reach a client-authenticated endpoint besides confidential clients.
#[derive(Clone, Copy)]
enum Callers {
    /// Confidential clients only (introspection).
    Confidential,
    /// Public clients too, by `client_id` alone (revocation, RFC 7009 §2.1).
    AlsoPublic,
}

impl OAuthApi {
    /// The client behind a request to `endpoint`, inside that endpoint's rate limits: per
    /// IP before anything is read, per client once it is authenticated.
    async fn rate_limited_client(
        &self,
        endpoint: Endpoint,
        callers: Callers,
        req: &Request,
        remote: &RemoteAddr,
        params: &Result<Params, OAuthError>,
    ) -> Result<Arc<Client>, OAuthFailure> {
        let ctx = &self.state.ctx;
        let ip = client_ip(&self.state.trusted_proxies, remote, req.headers());
        ctx.rate_limits.check_ip(endpoint, ip)?;
        let params = params.as_ref().map_err(Clone::clone)?;
        let client = match callers {
            Callers::Confidential => {
                client_auth::authenticate(ctx, authorization(req), params).await?
            }
            Callers::AlsoPublic => {
                client_auth::authenticate_or_public(ctx, authorization(req), params).await?
            }
        };
        ctx.rate_limits.check_client(endpoint, &client.client_id)?;
        Ok(client)
    }
}

/// The feed page as served (GET and form POST).
fn feed_response(feed: crate::revocation::Feed) -> FeedResponse {
    FeedResponse::Ok(
        Json(FeedBody {
            cursor: feed.cursor,
            revoked: feed
                .revoked
                .into_iter()
                .map(|r| RevokedJtiBody {
                    jti: r.jti,
                    exp: r.exp,
                })
                .collect(),
            subjects: feed
                .subjects
                .into_iter()
                .map(|s| SubjectBody {
                    sub: s.sub,
                    not_before: s.not_before,
                })
                .collect(),
            more: feed.more,
        }),
        NO_STORE.into(),
        NO_CACHE.into(),
    )
}

fn plain_ok() -> Done {
    Done::Ok(PlainText(String::new()), NO_STORE.into(), NO_CACHE.into())
}

#[OpenApi]
impl OAuthApi {
    /// Token endpoint
    ///
    /// Issues tokens (RFC 6749 §5): `client_credentials` (a service for itself),
    /// `password` (first-party apps; throttled, 429 with `Retry-After` after repeated
    /// failures), `refresh_token` (rotating: each refresh token works once; reuse revokes the
    /// whole session), `authorization_code` (browser sign-in: the code from
    /// `/oauth/authorize` with its PKCE `code_verifier` and the same `redirect_uri`; a code
    /// works once, and presenting it again revokes what it issued). Confidential clients
    /// authenticate with HTTP Basic (`client_secret_basic`, id and secret form-urlencoded
    /// first, RFC 6749 §2.3.1), `client_id`/`client_secret` in the body
    /// (`client_secret_post`) or a JWT signed with their own key (`private_key_jwt`,
    /// RFC 7523: `client_assertion_type` and `client_assertion`), one method per request;
    /// public clients send `client_id` alone. Errors follow RFC 6749 §5.2.
    #[oai(
        path = "/oauth/token",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "token"
    )]
    async fn token(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<TokenForm>,
    ) -> Result<TokenIssued, OAuthFailure> {
        let params = form.params?;
        let ctx = &self.state.ctx;
        let ip = client_ip(&self.state.trusted_proxies, remote, req.headers());
        let proofs = dpop_proofs(req);
        // A DPoP client learns the current nonce from every answer (RFC 9449 §8.2).
        let nonce = (!proofs.is_empty() || ctx.dpop.nonce_always()).then(|| ctx.dpop.nonce());
        match grants::token(ctx, authorization(req), &params, ip, &proofs).await {
            Ok(res) => Ok(TokenIssued::Ok(
                DirectJson::new(res),
                NO_STORE.into(),
                NO_CACHE.into(),
                nonce,
            )),
            Err(e) => {
                let nonce = nonce
                    .or_else(|| matches!(e, OAuthError::UseDpopNonce).then(|| ctx.dpop.nonce()));
                let failure = OAuthFailure::from(e);
                Err(match nonce {
                    Some(n) => failure.with_dpop_nonce(n),
                    None => failure,
                })
            }
        }
    }

    /// Device authorization
    ///
    /// RFC 8628 §3.1: a device without a (usable) browser asks for a user code and shows
    /// it with `verification_uri`; it then polls the token endpoint with `device_code`
    /// until the person has approved or denied on the verification page. For clients
    /// registered for `device_code`; confidential clients authenticate as at the token
    /// endpoint, public clients send `client_id`. Errors follow RFC 6749 §5.2.
    #[oai(
        path = "/oauth/device_authorization",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "deviceAuthorization"
    )]
    async fn device_authorization(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<DeviceAuthorizationForm>,
    ) -> Result<DeviceAuthorized, OAuthFailure> {
        let params = form.params?;
        let ip = client_ip(&self.state.trusted_proxies, remote, req.headers());
        let d = crate::device::authorize(&self.state.ctx, authorization(req), &params, ip).await?;
        Ok(DeviceAuthorized::Ok(
            Json(DeviceAuthorizationBody {
                device_code: d.device_code,
                user_code: d.user_code,
                verification_uri: d.verification_uri,
                verification_uri_complete: d.verification_uri_complete,
                expires_in: d.expires_in,
                interval: d.interval,
            }),
            NO_STORE.into(),
            NO_CACHE.into(),
        ))
    }

    /// Token revocation
    ///
    /// RFC 7009. Public clients identify themselves with `client_id` alone.
    /// A refresh token revokes its whole session (family); an access token is
    /// denylisted until it expires (introspection reports it inactive, the revocation feed
    /// lists it). Unknown tokens and other clients' tokens answer 200 and change nothing.
    /// Rate-limited like the token endpoint (429 `slow_down` with `Retry-After`).
    #[oai(
        path = "/oauth/revoke",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "revoke"
    )]
    async fn revoke(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<TokenParamForm>,
    ) -> Result<Done, OAuthFailure> {
        // Public clients (browser sign-in) may revoke their own tokens (RFC 7009 §2.1).
        let client = self
            .rate_limited_client(
                Endpoint::Revocation,
                Callers::AlsoPublic,
                req,
                remote,
                &form.params,
            )
            .await?;
        let params = form.params?;
        let token = params.required("token")?;
        token_revocation::revoke(&self.state.ctx, &client, token).await?;
        Ok(plain_ok())
    }

    /// Token introspection
    ///
    /// RFC 7662. Active access tokens (any authenticated client may ask, e.g. a resource
    /// server) and refresh tokens (only the client they belong to) are described; anything
    /// else — expired, revoked, forged, `alg: none`, garbage — is `{"active": false}`.
    /// Rate-limited like the token endpoint (429 `slow_down` with `Retry-After`).
    #[oai(
        path = "/oauth/introspect",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "introspect"
    )]
    async fn introspect(
        &self,
        req: &Request,
        remote: &RemoteAddr,
        form: OAuthForm<TokenParamForm>,
    ) -> Result<IntrospectionResponse, OAuthFailure> {
        let client = self
            .rate_limited_client(
                Endpoint::Introspection,
                Callers::Confidential,
                req,
                remote,
                &form.params,
            )
            .await?;
        let params = form.params?;
        let token = params.required("token")?;
        let i = token_status::introspect(&self.state.ctx, &client, token).await?;
        Ok(IntrospectionResponse::Ok(
            Json(IntrospectionBody {
                active: i.active,
                scope: i.scope,
                client_id: i.client_id,
                username: i.username,
                token_type: i.token_type,
                exp: i.exp,
                iat: i.iat,
                nbf: i.nbf,
                sub: i.sub,
                aud: i.aud,
                iss: i.iss,
                jti: i.jti,
                roles: i.roles,
                cnf: i.cnf,
                act: i.act,
            }),
            NO_STORE.into(),
            NO_CACHE.into(),
        ))
    }

    /// Logout
    ///
    /// Ends the session of a refresh token. With `all_sessions=true`, ends every session of
    /// the user and makes every access token issued to them so far inactive (introspection,
    /// revocation feed): "log out everywhere".
    #[oai(
        path = "/oauth/logout",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "logout"
    )]
    async fn logout(
        &self,
        req: &Request,
        form: OAuthForm<LogoutForm>,
    ) -> Result<Done, OAuthFailure> {
        let params = form.params?;
        let ctx = &self.state.ctx;
        let client = client_auth::authenticate_or_public(ctx, authorization(req), &params).await?;
        let token = params.required("refresh_token")?;
        let everywhere = matches!(params.single("all_sessions")?, Some("true" | "1"));
        token_revocation::logout(ctx, &client, token, everywhere).await?;
        Ok(plain_ok())
    }

    /// Revocation feed
    ///
    /// Revoked access-token ids (until their expiry) and subject not-before times since a
    /// cursor, for verifiers that poll every few seconds and so honour revocation with no
    /// per-request call: a revocation reaches a polling verifier within its poll interval.
    /// Client authentication with HTTP Basic.
    #[oai(
        path = "/oauth/revocations",
        method = "get",
        tag = "ApiTags::OAuth",
        operation_id = "revocationFeed"
    )]
    async fn revocations(
        &self,
        req: &Request,
        /// The `cursor` of the previous page; absent: every entry still relevant.
        since: Query<Option<String>>,
        /// Most entries in this page: 1 to 10000, default 1000 (~64 KB of JSON). A reader
        /// that accepts larger responses syncs 100,000 entries in 10 requests with 10000.
        limit: Query<Option<String>>,
    ) -> Result<FeedResponse, OAuthFailure> {
        super::form::no_secrets_in_query(req)?;
        let ctx = &self.state.ctx;
        client_auth::authenticate(ctx, authorization(req), &Params::default()).await?;
        let feed = token_revocation::feed(ctx, since.0.as_deref(), limit.0.as_deref()).await?;
        Ok(feed_response(feed))
    }

    /// Revocation feed (form)
    ///
    /// The revocation feed with the parameters in a form body, for clients that
    /// authenticate with a client assertion (`private_key_jwt`), which belongs in a body
    /// and never in a URL; HTTP Basic and `client_secret_post` work too. Same answer as
    /// `GET /oauth/revocations`.
    #[oai(
        path = "/oauth/revocations",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "revocationFeedForm"
    )]
    async fn revocations_form(
        &self,
        req: &Request,
        form: OAuthForm<FeedForm>,
    ) -> Result<FeedResponse, OAuthFailure> {
        let params = form.params?;
        let ctx = &self.state.ctx;
        client_auth::authenticate(ctx, authorization(req), &params).await?;
        let feed =
            token_revocation::feed(ctx, params.single("since")?, params.single("limit")?).await?;
        Ok(feed_response(feed))
    }

    /// UserInfo
    ///
    /// OpenID Connect UserInfo: claims about the user behind an access token that carries
    /// the `openid` scope: `Authorization: Bearer <token>`, or for a DPoP-bound token
    /// `Authorization: DPoP <token>` with a `DPoP` proof for `GET` on this URL carrying the
    /// token's `ath` (RFC 9449 §7; a bound token is never accepted as `Bearer`). Errors per
    /// RFC 6750 §3 and RFC 9449 §7.1 in `WWW-Authenticate`.
    #[oai(
        path = "/userinfo",
        method = "get",
        tag = "ApiTags::OAuth",
        operation_id = "userinfo"
    )]
    async fn userinfo(&self, req: &Request) -> UserInfoResponse {
        let ctx = &self.state.ctx;
        let proofs = dpop_proofs(req);
        let resource = token_status::ResourceRequest {
            authorization: authorization(req),
            dpop_proofs: &proofs,
            method: req.method().as_str(),
            path: crate::dpop::USERINFO_PATH,
        };
        let unauthorized = |text: &str, challenge: String, nonce: Option<String>| {
            UserInfoResponse::Unauthorized(
                PlainText(text.into()),
                challenge,
                NO_STORE.into(),
                NO_CACHE.into(),
                nonce,
            )
        };
        let nonce = ctx.dpop.nonce_always().then(|| ctx.dpop.nonce());
        match token_status::userinfo(ctx, &resource).await {
            Ok(v) => UserInfoResponse::Ok(Json(v), NO_STORE.into(), NO_CACHE.into(), nonce),
            Err(BearerError::Missing) => unauthorized(
                "missing access token",
                format!(r#"Bearer realm="tessera", {}"#, dpop::challenge_algs()),
                nonce,
            ),
            Err(BearerError::InvalidToken) => unauthorized(
                "invalid token",
                r#"Bearer realm="tessera", error="invalid_token", error_description="the access token is invalid, expired or revoked""#.into(),
                nonce,
            ),
            Err(BearerError::DpopRequired) => unauthorized(
                "DPoP proof required",
                dpop::challenge("invalid_token", dpop::BOUND_TOKEN_NEEDS_PROOF),
                nonce,
            ),
            Err(BearerError::InvalidDpopProof(why)) => unauthorized(
                "invalid DPoP proof",
                dpop::challenge("invalid_dpop_proof", &why),
                nonce,
            ),
            Err(BearerError::UseDpopNonce) => unauthorized(
                "DPoP nonce required",
                dpop::challenge("use_dpop_nonce", dpop::PROOF_NEEDS_NONCE),
                Some(ctx.dpop.nonce()),
            ),
            Err(BearerError::InsufficientScope) => UserInfoResponse::Forbidden(
                PlainText("insufficient scope".into()),
                r#"Bearer realm="tessera", error="insufficient_scope", scope="openid""#.into(),
                NO_STORE.into(),
                NO_CACHE.into(),
            ),
            Err(BearerError::Unavailable) => UserInfoResponse::Unavailable(PlainText("unavailable".into()), "1".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, sync::Mutex};

    use poem_openapi::{registry::Registry, types::ToJSON};

    use super::{TokenBody, TokenForm};
    use crate::{
        client_auth,
        clients::GrantType,
        error::OAuthError,
        grants::{GrantRequest, TokenResponse},
        params::FormFields,
    };

    /// Answers every parameter with a value and remembers which were read.
    #[derive(Default)]
    struct Recorder(Mutex<BTreeSet<&'static str>>);

    impl FormFields for Recorder {
        fn single(&self, name: &'static str) -> Result<Option<&str>, OAuthError> {
            self.0.lock().unwrap().insert(name);
            // Token types are identifiers: answer one that parses.
            if name.ends_with("_token_type") {
                return Ok(Some(crate::grants::token_exchange::TokenType::ACCESS_TOKEN));
            }
            Ok(Some("x"))
        }
        fn all(&self, name: &'static str) -> Vec<&str> {
            self.0.lock().unwrap().insert(name);
            vec!["x"]
        }
    }

    /// The documented token form holds every parameter the token endpoint reads: the
    /// grant type, each grant's fields and client authentication.
    #[test]
    fn token_form_documents_every_parameter_the_parser_reads() {
        let recorder = Recorder::default();
        GrantRequest::grant_type(&recorder).ok();
        for grant in [
            GrantType::ClientCredentials,
            GrantType::Password,
            GrantType::RefreshToken,
            GrantType::AuthorizationCode,
            GrantType::TokenExchange,
            GrantType::DeviceCode,
        ] {
            GrantRequest::parse(grant, &recorder).expect("every parameter present");
        }
        client_auth::client_secret::credentials(None, &recorder).ok();
        client_auth::presented(None, &recorder).ok();
        let read = recorder.0.into_inner().unwrap();
        let mut registry = Registry::new();
        <TokenForm as poem_openapi::types::Type>::register(&mut registry);
        let schema = registry
            .schemas
            .get("TokenForm")
            .expect("TokenForm is registered");
        let documented: BTreeSet<&str> = schema.properties.iter().map(|(n, _)| *n).collect();
        let missing: Vec<_> = read.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "read by the token endpoint but not documented in TokenForm: {missing:?}"
        );
        for name in [
            "client_assertion",
            "client_assertion_type",
            "code",
            "code_verifier",
            "redirect_uri",
            "grant_type",
            "resource",
        ] {
            assert!(read.contains(name), "{name} is not read any more");
        }
    }

    /// The token response is documented as `TokenBody` but written from `TokenResponse`:
    /// both must produce the same JSON, with and without the optional members.
    #[test]
    fn token_response_serialises_as_documented() {
        let full = TokenResponse {
            access_token: "a.b.c".into(),
            token_type: "Bearer",
            expires_in: 900,
            scope: Some("api:read".into()),
            refresh_token: Some("r".into()),
            id_token: Some("i.d.t".into()),
            issued_token_type: Some(crate::grants::token_exchange::TokenType::ACCESS_TOKEN),
        };
        let bare = TokenResponse {
            scope: None,
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
            ..full.clone()
        };
        for r in [full, bare] {
            let documented = TokenBody {
                access_token: r.access_token.clone(),
                token_type: r.token_type.into(),
                expires_in: r.expires_in,
                scope: r.scope.clone(),
                refresh_token: r.refresh_token.clone(),
                id_token: r.id_token.clone(),
                issued_token_type: r.issued_token_type.map(str::to_string),
            };
            assert_eq!(
                serde_json::to_value(&r).unwrap(),
                documented.to_json().unwrap()
            );
        }
    }
}
