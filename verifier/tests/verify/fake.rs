//! A fake issuer on 127.0.0.1: discovery, a swappable JWKS and a revocation feed, with
//! request counters. Stops when dropped.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use poem::{
    EndpointExt, Request, Response, Route, Server, get, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use serde_json::{Value, json};

#[derive(Default)]
pub struct State {
    pub issuer: Mutex<String>,
    pub jwks: Mutex<String>,
    pub cache_control: Mutex<String>,
    pub etag: Mutex<Option<String>>,
    pub up: AtomicBool,
    pub jwks_hits: AtomicUsize,
    pub not_modified: AtomicUsize,
    pub discovery_hits: AtomicUsize,
    /// Revocation feed: entries and the cursor each one was added at.
    pub revoked: Mutex<Vec<(usize, Value)>>,
    pub subjects: Mutex<Vec<(usize, Value)>>,
    pub feed_hits: AtomicUsize,
    pub feed_auth: Mutex<Vec<String>>,
    pub feed_since: Mutex<Vec<Option<String>>>,
}

pub struct Fake {
    pub state: Arc<State>,
    pub issuer: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub const FEED_AUTH: &str = "Basic c3ZjOnMlM0FjcmV0"; // svc : s:cret (form-urlencoded)

impl Fake {
    pub async fn start(jwks: &str) -> Fake {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let issuer = format!("http://{addr}");
        let state = Arc::new(State::default());
        *state.issuer.lock().unwrap() = issuer.clone();
        *state.jwks.lock().unwrap() = jwks.to_string();
        *state.cache_control.lock().unwrap() = "public, max-age=300".into();
        state.up.store(true, Ordering::SeqCst);
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/.well-known/jwks.json", get(jwks_ep))
            .at("/oauth/revocations", get(feed))
            .data(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = rx.await;
                    },
                    None,
                )
                .await;
        });
        Fake {
            state,
            issuer,
            stop: Some(tx),
        }
    }

    pub fn set_jwks(&self, jwks: &str) {
        *self.state.jwks.lock().unwrap() = jwks.to_string();
    }
    pub fn set_up(&self, up: bool) {
        self.state.up.store(up, Ordering::SeqCst);
    }
    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }
    pub fn revoke_jti(&self, jti: &str, exp: i64) {
        let mut r = self.state.revoked.lock().unwrap();
        let at = r.len() + self.state.subjects.lock().unwrap().len();
        r.push((at, json!({"jti": jti, "exp": exp})));
    }
    pub fn revoke_subject(&self, sub: &str, not_before: i64) {
        let mut s = self.state.subjects.lock().unwrap();
        let at = s.len() + self.state.revoked.lock().unwrap().len();
        s.push((at, json!({"sub": sub, "not_before": not_before})));
    }
}

fn down() -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .body("down")
}

#[handler]
fn discovery(state: Data<&Arc<State>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if !state.up.load(Ordering::SeqCst) {
        return down();
    }
    let issuer = state.issuer.lock().unwrap().clone();
    let doc = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                     "token_endpoint": format!("{issuer}/oauth/token")});
    Response::builder()
        .content_type("application/json")
        .body(doc.to_string())
}

#[handler]
fn jwks_ep(req: &Request, state: Data<&Arc<State>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if !state.up.load(Ordering::SeqCst) {
        return down();
    }
    let cc = state.cache_control.lock().unwrap().clone();
    let etag = state.etag.lock().unwrap().clone();
    if let Some(etag) = &etag
        && req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str())
    {
        state.not_modified.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("cache-control", cc)
            .header("etag", etag.clone())
            .finish();
    }
    let mut b = Response::builder()
        .content_type("application/json")
        .header("cache-control", cc);
    if let Some(etag) = etag {
        b = b.header("etag", etag);
    }
    b.body(state.jwks.lock().unwrap().clone())
}

#[handler]
fn feed(req: &Request, state: Data<&Arc<State>>) -> Response {
    state.feed_hits.fetch_add(1, Ordering::SeqCst);
    if !state.up.load(Ordering::SeqCst) {
        return down();
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    state.feed_auth.lock().unwrap().push(auth.clone());
    if auth != FEED_AUTH {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(r#"{"error":"invalid_client"}"#);
    }
    let since: Option<usize> = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
        .map(|c| c.trim_start_matches("c").parse().unwrap());
    state
        .feed_since
        .lock()
        .unwrap()
        .push(since.map(|s| format!("c{s}")));
    let from = since.unwrap_or(0);
    let revoked: Vec<Value> = state
        .revoked
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= from)
        .map(|(_, v)| v.clone())
        .collect();
    let subjects: Vec<Value> = state
        .subjects
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= from)
        .map(|(_, v)| v.clone())
        .collect();
    let total = state.revoked.lock().unwrap().len() + state.subjects.lock().unwrap().len();
    Response::builder().content_type("application/json").body(
        json!({"cursor": format!("c{total}"), "revoked": revoked, "subjects": subjects})
            .to_string(),
    )
}

/// Polls `cond` every 20 ms for up to 20 s (no timing is asserted, only eventual state).
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cond()
}
