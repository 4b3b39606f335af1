//! The dashboard microservice (poem): `GET /api/dashboard` greets the caller of a valid
//! Tessera access token: a bearer token, or a DPoP-bound token with a fresh proof
//! (RFC 9449). Configured from TESSERA_ISSUER, AUDIENCE, PORT, REQUIRED_SCOPE,
//! PUBLIC_URL (the URL clients use, checked against DPoP proofs' `htu`) and
//! DPOP_REQUIRED (`true`: refuse plain bearer tokens).

use poem::{Endpoint, EndpointExt, Route, Server, get, handler, listener::TcpListener};
use tessera_verify::{Claims, Verifier, poem::TesseraAuth};

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

#[handler]
fn dashboard(claims: &Claims) -> String {
    greeting(claims)
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

fn app(
    verifier: Verifier,
    required_scope: Option<String>,
    public_url: Option<String>,
) -> impl Endpoint {
    let mut auth = TesseraAuth::new(verifier).realm("dashboard");
    if let Some(base) = public_url {
        auth = auth.external_base_url(base);
    }
    if let Some(scope) = required_scope {
        auth = auth.require_scope(scope);
    }
    Route::new()
        .at("/api/dashboard", get(dashboard).with(auth))
        .at("/healthz", get(healthz))
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
    eprintln!("dashboard (poem) listening on 0.0.0.0:{port}");
    Server::new(TcpListener::bind(("0.0.0.0", port)))
        .run_with_graceful_shutdown(
            app(verifier, scope, public_url),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            None,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
#[path = "../../../verifier/tests/verify/forge.rs"]
mod forge;

#[cfg(test)]
mod tests {
    use poem::{http::StatusCode, test::TestClient};

    use super::*;
    use crate::forge;

    #[tokio::test]
    async fn greets_with_role_or_scopes() {
        let key = forge::Signer::es256("k1");
        let v = Verifier::from_jwks(&forge::jwks(&[&key]), forge::ISS, "dashboard").unwrap();
        let cli = TestClient::new(app(v, Some("orders:read".into()), None));
        let mut c = forge::claims(forge::now());
        c["aud"] = "dashboard".into();
        let r = cli
            .get("/api/dashboard")
            .header("authorization", format!("Bearer {}", key.token(&c)))
            .send()
            .await;
        r.assert_status_is_ok();
        r.assert_text("Welcome, alice (role: admin)").await;
        c.as_object_mut().unwrap().remove("roles");
        let r = cli
            .get("/api/dashboard")
            .header("authorization", format!("Bearer {}", key.token(&c)))
            .send()
            .await;
        r.assert_text("Welcome, alice (scopes: orders:read orders:write)")
            .await;
        cli.get("/api/dashboard")
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        c["scope"] = "other".into();
        let r = cli
            .get("/api/dashboard")
            .header("authorization", format!("Bearer {}", key.token(&c)))
            .send()
            .await;
        r.assert_status(StatusCode::FORBIDDEN);
        cli.get("/healthz").send().await.assert_status_is_ok();
    }

    #[tokio::test]
    async fn accepts_a_dpop_token_only_with_a_fresh_proof() {
        let key = forge::Signer::es256("k1");
        let v = Verifier::from_jwks(&forge::jwks(&[&key]), forge::ISS, "dashboard").unwrap();
        let public = "https://dashboard.example.com";
        let cli = TestClient::new(app(v, None, Some(public.into())));
        let client_key = forge::ProofKey::es256();
        let mut c = forge::bound_claims(forge::now(), &client_key.jkt());
        c["aud"] = "dashboard".into();
        let t = key.token(&c);
        let url = format!("{public}/api/dashboard");
        let proof = client_key.proof("GET", &url, forge::now(), Some(&t));
        let send = |auth: String, proof: Option<String>| {
            let mut r = cli.get("/api/dashboard").header("authorization", auth);
            if let Some(p) = proof {
                r = r.header("dpop", p);
            }
            r.send()
        };
        let r = send(format!("DPoP {t}"), Some(proof.clone())).await;
        r.assert_status_is_ok();
        r.assert_text("Welcome, alice (role: admin)").await;
        // Replayed proof, bearer downgrade, no proof: refused.
        send(format!("DPoP {t}"), Some(proof))
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let r = send(format!("Bearer {t}"), None).await;
        r.assert_status(StatusCode::UNAUTHORIZED);
        let challenge = r.0.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        send(format!("DPoP {t}"), None)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        // A fresh proof works again.
        let proof = client_key.proof("GET", &url, forge::now(), Some(&t));
        send(format!("DPoP {t}"), Some(proof))
            .await
            .assert_status_is_ok();
    }
}
