//! The dashboard microservice (axum): `GET /api/dashboard` greets the caller of a valid
//! Tessera access token: a bearer token, or a DPoP-bound token with a fresh proof
//! (RFC 9449). Configured from TESSERA_ISSUER, AUDIENCE, PORT, REQUIRED_SCOPE,
//! PUBLIC_URL (the URL clients use, checked against DPoP proofs' `htu`) and
//! DPOP_REQUIRED (`true`: refuse plain bearer tokens).

use axum::{Extension, Router, routing::get};
use tessera_verify::{Claims, Verifier, tower::TesseraLayer};

/// `Welcome, <sub> (role: a, b)`, or the scopes when the token carries no role.
fn greeting(claims: &Claims) -> String {
    if claims.roles().is_empty() {
        let scopes: Vec<&str> = claims.scopes().collect();
        let scopes = if scopes.is_empty() {
            "none".to_string()
        } else {
            scopes.join(" ")
        };
        format!("Welcome, {} (scopes: {scopes})", claims.sub())
    } else {
        format!(
            "Welcome, {} (role: {})",
            claims.sub(),
            claims.roles().join(", ")
        )
    }
}

async fn dashboard(Extension(claims): Extension<Claims>) -> String {
    greeting(&claims)
}

fn app(verifier: Verifier, required_scope: Option<String>, public_url: Option<String>) -> Router {
    let mut auth = TesseraLayer::new(verifier).realm("dashboard");
    if let Some(base) = public_url {
        auth = auth.external_base_url(base);
    }
    if let Some(scope) = required_scope {
        auth = auth.require_scope(scope);
    }
    Router::new()
        // Only the routes added before `layer` are protected.
        .route("/api/dashboard", get(dashboard))
        .layer(auth)
        .route("/healthz", get(|| async { "ok" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("TESSERA_ISSUER").map_err(|_| "set TESSERA_ISSUER")?;
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| "dashboard".into());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let scope = std::env::var("REQUIRED_SCOPE")
        .ok()
        .filter(|s| !s.is_empty());
    let public_url = std::env::var("PUBLIC_URL").ok().filter(|s| !s.is_empty());
    let dpop_required = std::env::var("DPOP_REQUIRED").is_ok_and(|v| v == "true");
    let verifier = Verifier::builder()
        .issuer(issuer)
        .audience(audience)
        .dpop_required(dpop_required)
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    eprintln!("dashboard (axum) listening on {}", listener.local_addr()?);
    axum::serve(listener, app(verifier, scope, public_url))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
#[path = "../../../verifier/tests/verify/forge.rs"]
mod forge;

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;
    use crate::forge;

    async fn get(app: &Router, token: Option<&str>) -> (u16, String, String) {
        send(app, token.map(|t| format!("Bearer {t}")), None).await
    }

    async fn send(
        app: &Router,
        authorization: Option<String>,
        dpop: Option<&str>,
    ) -> (u16, String, String) {
        let mut req = Request::builder()
            .uri("/api/dashboard")
            .header("host", "10.0.0.7:8080");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(p) = dpop {
            req = req.header("dpop", p);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
    }

    #[tokio::test]
    async fn greets_with_role_or_scopes() {
        let key = forge::Signer::es256("k1");
        let v = Verifier::from_jwks(&forge::jwks(&[&key]), forge::ISS, "dashboard").unwrap();
        let app = app(v, Some("orders:read".into()), None);
        let mut c = forge::claims(forge::now());
        c["aud"] = "dashboard".into();
        assert_eq!(
            get(&app, Some(&key.token(&c))).await.1,
            "Welcome, alice (role: admin)"
        );
        c.as_object_mut().unwrap().remove("roles");
        assert_eq!(
            get(&app, Some(&key.token(&c))).await.1,
            "Welcome, alice (scopes: orders:read orders:write)"
        );
        let (status, _, challenge) = get(&app, None).await;
        assert_eq!(
            (status, challenge.as_str()),
            (401, r#"Bearer realm="dashboard""#)
        );
        c["scope"] = "other".into();
        let (status, _, challenge) = get(&app, Some(&key.token(&c))).await;
        assert_eq!(status, 403);
        assert!(challenge.contains("insufficient_scope"));
        let (status, _, _) = get(&app, Some("not.a.token")).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn accepts_a_dpop_token_only_with_a_fresh_proof() {
        let key = forge::Signer::es256("k1");
        let v = Verifier::from_jwks(&forge::jwks(&[&key]), forge::ISS, "dashboard").unwrap();
        let public = "https://dashboard.example.com";
        let app = app(v, None, Some(public.into()));
        let client_key = forge::ProofKey::es256();
        let mut c = forge::bound_claims(forge::now(), &client_key.jkt());
        c["aud"] = "dashboard".into();
        let t = key.token(&c);
        let url = format!("{public}/api/dashboard");
        let auth = || Some(format!("DPoP {t}"));
        let proof = client_key.proof("GET", &url, forge::now(), Some(&t));
        assert_eq!(
            send(&app, auth(), Some(&proof)).await.1,
            "Welcome, alice (role: admin)"
        );
        // Replayed proof, bearer downgrade, no proof, a proof for the internal URL.
        assert_eq!(send(&app, auth(), Some(&proof)).await.0, 401);
        let (status, _, challenge) = get(&app, Some(&t)).await;
        assert_eq!(status, 401);
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert_eq!(send(&app, auth(), None).await.0, 401);
        let internal = client_key.proof(
            "GET",
            "http://10.0.0.7:8080/api/dashboard",
            forge::now(),
            Some(&t),
        );
        assert_eq!(send(&app, auth(), Some(&internal)).await.0, 401);
        let proof = client_key.proof("GET", &url, forge::now(), Some(&t));
        assert_eq!(send(&app, auth(), Some(&proof)).await.0, 200);
    }
}
