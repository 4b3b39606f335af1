//! Discovery (OIDC, RFC 8414) and the JWKS (rows K1–K3).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use crate::{
    on_both_backends,
    support::{Backend, spawn},
};

async fn discovery_documents_name_this_issuer(backend: Backend) {
    let app = spawn(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=300")
        );
        let d: serde_json::Value = r.json().await.unwrap();
        assert_eq!(d["issuer"], app.base.as_str(), "issuer must be exact");
        assert_eq!(d["token_endpoint"], app.url("/oauth/token"));
        assert_eq!(d["jwks_uri"], app.url("/.well-known/jwks.json"));
        assert_eq!(
            d["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "client_credentials",
                "password",
                "refresh_token"
            ])
        );
        for (k, p) in [
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
            ("userinfo_endpoint", "/userinfo"),
            ("revocation_feed_endpoint", "/oauth/revocations"),
        ] {
            assert_eq!(d[k], app.url(p), "{k}");
        }
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        // private_key_jwt everywhere a client authenticates, with the algorithms a
        // registered key can have; never client_secret_jwt (a shared-secret HMAC).
        for endpoint in ["token", "revocation", "introspection"] {
            let methods = &d[format!("{endpoint}_endpoint_auth_methods_supported")];
            assert!(
                methods
                    .as_array()
                    .unwrap()
                    .contains(&"private_key_jwt".into())
            );
            assert!(
                !methods
                    .as_array()
                    .unwrap()
                    .contains(&"client_secret_jwt".into())
            );
            assert_eq!(
                d[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                serde_json::json!(["ES256", "RS256", "PS256", "EdDSA", "Ed25519"]),
                "{endpoint}"
            );
        }
        let algs = d["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&"RS256".into()) && algs.contains(&"ES256".into()));
        assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
    }
}
on_both_backends!(discovery_documents_name_this_issuer);

async fn jwks_has_public_members_only_and_thumbprint_kids(backend: Backend) {
    let app = spawn(backend).await;
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let jwks: serde_json::Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "one ES256 and one RS256 key at start");
    let mut kids = std::collections::HashSet::new();
    for k in keys {
        let obj = k.as_object().unwrap();
        // K1: only public members.
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(
                !obj.contains_key(private),
                "private member {private} published"
            );
        }
        assert_eq!(k["use"], "sig");
        match k["kty"].as_str().unwrap() {
            "RSA" => {
                assert_eq!(k["alg"], "RS256");
                // K2: at least 2048 bits.
                let n = B64.decode(k["n"].as_str().unwrap()).unwrap();
                assert!(n.len() * 8 >= 2048, "RSA key of {} bits", n.len() * 8);
                let allowed = ["kty", "kid", "use", "alg", "n", "e"];
                assert!(obj.keys().all(|m| allowed.contains(&m.as_str())), "{obj:?}");
            }
            "EC" => {
                assert_eq!(k["alg"], "ES256");
                assert_eq!(k["crv"], "P-256");
                let allowed = ["kty", "kid", "use", "alg", "crv", "x", "y"];
                assert!(obj.keys().all(|m| allowed.contains(&m.as_str())), "{obj:?}");
            }
            other => panic!("unexpected kty {other}"),
        }
        // K3: kid is the RFC 7638 thumbprint, computed by an independent implementation.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone()).unwrap();
        let expected = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256);
        assert_eq!(k["kid"].as_str().unwrap(), expected);
        assert!(kids.insert(expected), "duplicate kid");
    }
}
on_both_backends!(jwks_has_public_members_only_and_thumbprint_kids);

async fn jwks_etag_answers_304(backend: Backend) {
    let app = spawn(backend).await;
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    let r = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("If-None-Match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
on_both_backends!(jwks_etag_answers_304);

#[tokio::test]
async fn landing_page_links_docs_discovery_and_jwks() {
    let app = spawn(Backend::Sqlite).await;
    let body = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for link in [
        "/docs",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        assert!(body.contains(&format!("href=\"{link}\"")), "{link} missing");
    }
    let r = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    let spec: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/oauth/token"]["post"].is_object());
}
