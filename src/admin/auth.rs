//! Admin authorisation: a bearer access token issued by this Tessera, verified with
//! `tessera-verify` (the crate our users embed — the product trusting its own product)
//! against the keys this instance publishes, for the audience [`ADMIN_AUDIENCE`], then
//! checked against the revocation log and the client registry like any token presented
//! to us.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tessera_verify::Verifier;

use super::{ADMIN_AUDIENCE, SCOPE_ADMIN, SCOPE_CLIENTS, SCOPE_KEYS, SCOPE_USERS};
use crate::{context::Context, error::Result};

/// A part of the admin API, each guarded by its own scope (or `tessera:admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Clients,
    Users,
    Keys,
    /// The audit log: `tessera:admin` only.
    Audit,
}

impl Area {
    /// The scope that opens this area besides `tessera:admin`.
    pub fn scope(self) -> &'static str {
        match self {
            Area::Clients => SCOPE_CLIENTS,
            Area::Users => SCOPE_USERS,
            Area::Keys => SCOPE_KEYS,
            Area::Audit => SCOPE_ADMIN,
        }
    }
}

/// Who is calling: the admin client behind the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    /// The token's scopes that the client is still registered for: a scope taken away
    /// from the client stops counting at once, even in tokens issued before.
    pub scopes: Vec<String>,
}

/// Why a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No valid admin token (401).
    Unauthenticated,
    /// A valid admin token without the scope for this area (403).
    Forbidden,
}

/// Verifies admin tokens. The verifier is rebuilt only when the published key set
/// changes (keyed by the JWKS ETag), so a request costs one signature check.
pub struct AdminAuth {
    current: ArcSwapOption<(String, Verifier)>,
}

impl Default for AdminAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl AdminAuth {
    pub fn new() -> Self {
        Self {
            current: ArcSwapOption::empty(),
        }
    }

    /// The verifier for the keys published right now.
    fn verifier(&self, ctx: &Context) -> Option<Arc<(String, Verifier)>> {
        let snapshot = ctx.keyring.snapshot();
        if let Some(v) = self.current.load_full()
            && v.0 == snapshot.etag
        {
            return Some(v);
        }
        let jwks = std::str::from_utf8(&snapshot.jwks).ok()?;
        let clock = ctx.clock.clone();
        let built = Verifier::builder()
            .issuer(ctx.issuer.issuer())
            .audience(ADMIN_AUDIENCE)
            .leeway(ctx.settings.clock_leeway.min(tessera_verify::MAX_LEEWAY))
            .static_jwks(jwks)
            .clock(move || clock.now())
            .build_static();
        match built {
            Ok(v) => {
                let v = Arc::new((snapshot.etag.clone(), v));
                self.current.store(Some(v.clone()));
                Some(v)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot build the admin token verifier");
                None
            }
        }
    }

    /// Checks `token` for `area`. Database errors propagate (the caller answers 503).
    pub async fn authorize(
        &self,
        ctx: &Context,
        token: &str,
        area: Area,
    ) -> Result<Result<Principal, Denied>> {
        let Some(verifier) = self.verifier(ctx) else {
            return Ok(Err(Denied::Unauthenticated));
        };
        // DPoP-bound admin tokens (RFC 9449): the binding — a proof for this request by the
        // `cnf.jkt` key, recorded once in the replay records shared by every instance, and
        // never a bound token as `Bearer` — is checked for every `/admin/` request by
        // `http::admin::dpop_binding` before any handler runs; here the token itself.
        let claims = match verifier.1.verify_ignoring_binding(token).await {
            Ok(c) => c,
            Err(why) => {
                tracing::info!(reason = %why, "admin token refused");
                return Ok(Err(Denied::Unauthenticated));
            }
        };
        // Only client tokens (client_credentials) administer; a user's token never does.
        if claims.sub() != claims.client_id() {
            tracing::info!("admin token refused: not a client token");
            return Ok(Err(Denied::Unauthenticated));
        }
        if ctx.revocations.is_jti_revoked(claims.jti()).await? {
            return Ok(Err(Denied::Unauthenticated));
        }
        // A deleted admin client's tokens stop working at once.
        let Some(client) = ctx.clients.get(claims.client_id()).await? else {
            return Ok(Err(Denied::Unauthenticated));
        };
        let scopes: Vec<String> = claims
            .scopes()
            .filter(|s| client.scopes.iter().any(|r| r == s))
            .map(str::to_string)
            .collect();
        let has = |s: &str| scopes.iter().any(|x| x == s);
        if !(has(SCOPE_ADMIN) || has(area.scope())) {
            tracing::info!(
                client_id = claims.client_id(),
                ?area,
                "admin token lacks the scope"
            );
            return Ok(Err(Denied::Forbidden));
        }
        Ok(Ok(Principal {
            client_id: claims.client_id().to_string(),
            scopes,
        }))
    }
}
