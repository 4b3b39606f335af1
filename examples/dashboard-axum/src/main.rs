//! The dashboard microservice (axum): `GET /api/dashboard` greets the caller of a valid
//! Tessera access token. Configured from TESSERA_ISSUER, AUDIENCE, PORT, REQUIRED_SCOPE.

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

fn app(verifier: Verifier, required_scope: Option<String>) -> Router {
    let mut auth = TesseraLayer::new(verifier).realm("dashboard");
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
    let verifier = Verifier::builder()
        .issuer(issuer)
        .audience(audience)
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    eprintln!("dashboard (axum) listening on {}", listener.local_addr()?);
    axum::serve(listener, app(verifier, scope))
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
        let mut req = Request::builder().uri("/api/dashboard");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
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
        let app = app(v, Some("orders:read".into()));
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
}
