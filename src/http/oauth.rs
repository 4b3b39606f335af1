//! `POST /oauth/token`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    ApiTags,
    form::OAuthForm,
    responses::{NO_CACHE, NO_STORE, OAuthFailure},
};
use crate::{app::AppState, grants};

/// Form parameters of the token endpoint.
#[derive(Debug, Object)]
pub struct TokenForm {
    /// `client_credentials`.
    pub grant_type: String,
    /// Space-separated scopes, a subset of the client's registered scopes. Default: all of them.
    pub scope: Option<String>,
    /// RFC 8707 resource indicator: the audience wanted, one of the client's registered
    /// audiences. May be repeated. Default: every registered audience.
    pub resource: Option<String>,
    /// `client_secret_post` authentication: the client id (or sent with HTTP Basic).
    pub client_id: Option<String>,
    /// `client_secret_post` authentication: the client secret. Never together with HTTP Basic.
    pub client_secret: Option<String>,
}

/// RFC 6749 §5.1 access token response.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenBody {
    /// The access token: an RFC 9068 JWT (`typ: at+jwt`), verifiable against the JWKS.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
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
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum TokenIssued {
    /// The token was issued. Never cached (`Cache-Control: no-store`).
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

pub struct OAuthApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl OAuthApi {
    /// Token endpoint
    ///
    /// Exchanges client credentials for an access token (RFC 6749 §4.4,
    /// `grant_type=client_credentials`). Clients authenticate with HTTP Basic
    /// (`client_secret_basic`, id and secret form-urlencoded first, RFC 6749 §2.3.1) or with
    /// `client_id`/`client_secret` in the body (`client_secret_post`), never both. Errors follow
    /// RFC 6749 §5.2.
    #[oai(
        path = "/oauth/token",
        method = "post",
        tag = "ApiTags::OAuth",
        operation_id = "token"
    )]
    async fn token(
        &self,
        req: &Request,
        form: OAuthForm<TokenForm>,
    ) -> Result<TokenIssued, OAuthFailure> {
        let params = form.params?;
        let authorization = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let res = grants::token(&self.state.grants, authorization, &params).await?;
        Ok(TokenIssued::Ok(
            Json(TokenBody {
                access_token: res.access_token,
                token_type: res.token_type.into(),
                expires_in: res.expires_in,
                scope: res.scope,
            }),
            NO_STORE.into(),
            NO_CACHE.into(),
        ))
    }
}
