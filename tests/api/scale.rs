//! Cost that stays flat as the registry grows (`docs/scale.md`): discovery follows client
//! changes made anywhere while its periodic refresh reads only a change counter; the
//! revocation feed pages by `limit` and is gzipped for readers that accept it; a
//! `tessera-verify` verifier reads a long feed in one poll.

use std::io::Read;

use sea_orm::ConnectionTrait;
use tessera::clients::{ClientRegistry, ClientUpdate, NewClient, RegistrationLimits};

use crate::{
    on_both_backends,
    support::{Backend, ServerHttp, TestApp, spawn},
};

async fn advertised(app: &TestApp) -> Vec<String> {
    let d: serde_json::Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    d["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// "Another instance": a registry of its own on a connection of its own to the same
/// database (what a second `tessera serve` has).
async fn other_instance(app: &TestApp) -> (ClientRegistry, sea_orm::DatabaseConnection) {
    let db = tessera::storage::connect(&app.state.settings)
        .await
        .unwrap();
    let clock: tessera::clock::SharedClock = std::sync::Arc::new(tessera::clock::SystemClock);
    (
        ClientRegistry::new(db.clone(), clock, std::time::Duration::from_secs(1)),
        db,
    )
}

async fn discovery_follows_client_changes_made_on_another_instance(backend: Backend) {
    let app = spawn(backend).await;
    let (other, db) = other_instance(&app).await;
    let limits = RegistrationLimits {
        max_token_ttl: std::time::Duration::from_secs(3600),
    };
    app.state.refresh_discovery().await.unwrap();
    assert!(!advertised(&app).await.contains(&"ledger:read".to_string()));

    // A row written behind the registry's back (no change counted) is not picked up: the
    // periodic refresh did not read the clients, only the counter.
    db.execute_unprepared(
        "INSERT INTO clients (client_id, name, secret_hash, grant_types, scopes, audiences, \
         created_at, updated_at) VALUES ('ghost', 'ghost', '', 'client_credentials', \
         'ghost:read', 'https://ghost.example', 0, 0)",
    )
    .await
    .unwrap();
    app.state.refresh_discovery().await.unwrap();
    assert!(!advertised(&app).await.contains(&"ghost:read".to_string()));

    // A registration on the other instance counts as a change: the next refresh here
    // recomputes the whole set.
    let created = other
        .create(
            NewClient {
                name: "ledger".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["ledger:read".into()],
                audiences: vec!["https://ledger.example".into()],
                ..Default::default()
            },
            limits,
        )
        .await
        .unwrap();
    app.state.refresh_discovery().await.unwrap();
    let scopes = advertised(&app).await;
    assert!(scopes.contains(&"ledger:read".to_string()), "{scopes:?}");
    assert!(scopes.contains(&"ghost:read".to_string()), "{scopes:?}");

    // So do an update and a deletion.
    let id = created.client.client_id;
    other
        .update(
            &id,
            ClientUpdate {
                scopes: Some(vec!["ledger:write".into()]),
                ..Default::default()
            },
            limits,
        )
        .await
        .unwrap();
    app.state.refresh_discovery().await.unwrap();
    let scopes = advertised(&app).await;
    assert!(scopes.contains(&"ledger:write".to_string()), "{scopes:?}");
    assert!(!scopes.contains(&"ledger:read".to_string()), "{scopes:?}");
    assert!(other.delete(&id).await.unwrap());
    app.state.refresh_discovery().await.unwrap();
    assert!(!advertised(&app).await.contains(&"ledger:write".to_string()));
}
on_both_backends!(discovery_follows_client_changes_made_on_another_instance);

/// `n` live revoked jtis, written straight to the log (as `tessera dev seed` does).
async fn seed_revocations(app: &TestApp, n: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('jti', 'seeded-jti-{i:06}', {}, {now})", now + 3600))
            .collect();
        app.state
            .db
            .execute_unprepared(&format!(
                "INSERT INTO revocation_events (kind, subject, valid_until, created_at) VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();
    }
}

async fn feed_pages_by_limit_and_is_gzipped_when_accepted(backend: Backend) {
    let app = spawn(backend).await;
    let reader = app.client("", &["https://api.example"], None).await;
    seed_revocations(&app, 2500).await;
    // A client that neither asks for nor undoes compression by itself (reqwest's `gzip`
    // feature is on in this workspace for `tessera-verify`): the test sees the wire.
    let wire = reqwest::Client::builder().no_gzip().build().unwrap();
    let get = |query: &str, gzip: bool| {
        let mut req = wire
            .get(app.url(&format!("/oauth/revocations{query}")))
            .basic_auth(&reader.id, Some(&reader.secret));
        if gzip {
            req = req.header("Accept-Encoding", "br, gzip;q=0.8");
        }
        req.send()
    };

    // Default page: 1000 entries, more waiting.
    let first = app.feed(&reader, None).await;
    assert_eq!(first["revoked"].as_array().unwrap().len(), 1000);
    assert_eq!(first["more"], true);

    // `limit`: the whole log in one page.
    let r = get("?limit=10000", false).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    let plain = r.bytes().await.unwrap();
    let all: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(all["revoked"].as_array().unwrap().len(), 2500);
    assert_eq!(all["more"], false);

    // The same page gzipped: same JSON, fewer bytes, and caches told it varies.
    let r = get("?limit=10000", true).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.headers()["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    );
    let gz = r.bytes().await.unwrap();
    assert!(
        gz.len() * 2 < plain.len(),
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut json)
        .unwrap();
    let unzipped: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(unzipped["revoked"], all["revoked"]);

    // Bad limits are the client's error, in OAuth form.
    for bad in ["0", "10001", "-1", "many"] {
        let r = get(&format!("?limit={bad}"), false).await.unwrap();
        assert_eq!(r.status(), 400, "limit={bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "limit={bad}");
    }

    // Token responses are never compressed (they carry secrets: BREACH).
    let r = wire
        .post(app.url("/oauth/token"))
        .basic_auth(&reader.id, Some(&reader.secret))
        .header("Accept-Encoding", "gzip")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
}
on_both_backends!(feed_pages_by_limit_and_is_gzipped_when_accepted);

/// A verifier's first sync reads every page the feed has in one poll (12,000 entries:
/// two pages of 10,000 at most), not one page per poll interval.
async fn verifier_first_sync_follows_more(backend: Backend) {
    let app = spawn(backend).await;
    let reader = app.client("", &["https://api.example"], None).await;
    seed_revocations(&app, 12_000).await;
    let verifier = tessera_verify::Verifier::builder()
        .issuer(app.state.settings.issuer.as_str())
        .audience("https://api.example")
        .allow_http(true)
        .revocation(
            tessera_verify::RevocationFeed::new(&reader.id, &reader.secret)
                .interval(std::time::Duration::from_secs(3600)),
        )
        .build()
        .await
        .unwrap();
    let stats = verifier.stats();
    assert_eq!(stats.revoked_jtis, 12_000);
    assert_eq!(stats.revocation_polls, 1);
}
on_both_backends!(verifier_first_sync_follows_more);
