//! The keys page (`/console/keys`): every stored key with its state, backend and dates;
//! "rotate" (publish a successor that signs after the pre-publication period), "rotate
//! now" (signs at once), and "revoke" behind a confirmation page where the admin types
//! the kid. The changes are `admin::keys::{rotate, revoke}`, the admin API's own code
//! path, audited as `user:<username>`.

use askama::Template;

use super::failed;
use crate::{
    admin,
    error::Error,
    keys::{Alg, KeyManager, manager::KeyInfo},
    pages::{
        Layout, Outcome, Services,
        session::{Viewer, done},
        time,
    },
    params::Params,
};

/// A key as the page shows it.
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: &'static str,
    pub backend: String,
    pub created: String,
    pub activates: String,
    pub retires: String,
    pub unpublishes: String,
    pub revoked: String,
    pub revocable: bool,
}

impl From<&KeyInfo> for KeyRow {
    fn from(k: &KeyInfo) -> Self {
        let or_dash = |t: Option<i64>| t.map_or_else(|| "—".to_string(), time::format_utc);
        KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: k.state,
            backend: k.backend.clone(),
            created: time::format_utc(k.created_at),
            activates: time::format_utc(k.activates_at),
            retires: or_dash(k.retired_at),
            unpublishes: or_dash(k.unpublish_at),
            revoked: or_dash(k.revoked_at),
            revocable: k.revoked_at.is_none() && k.state != "EXPIRED",
        }
    }
}

#[derive(Template)]
#[template(path = "console/keys.html")]
pub struct KeysPage {
    pub layout: Layout,
    pub keys: Vec<KeyRow>,
    /// The pre-publication period, for the explanation of "rotate".
    pub prepublish: String,
    /// An error of the rotate form.
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/key_revoke.html")]
pub struct RevokePage {
    pub layout: Layout,
    pub key: KeyRow,
    /// What was typed (on a refused attempt).
    pub typed: String,
    pub error: Option<String>,
}

fn manager<'a>(s: &Services<'a>) -> Result<&'a KeyManager, Error> {
    s.keys.ok_or(Error::NoSigningKey("console"))
}

async fn list(s: &Services<'_>) -> Result<Vec<KeyInfo>, Error> {
    manager(s)?.list().await
}

/// `GET /console/keys`.
pub async fn show(s: &Services<'_>, v: &Viewer) -> Outcome {
    page(s, v, 200, None).await
}

async fn page(s: &Services<'_>, v: &Viewer, status: u16, error: Option<String>) -> Outcome {
    let layout = v.layout("Keys", "/console/keys");
    match list(s).await {
        Ok(keys) => Outcome::page(
            status,
            &KeysPage {
                layout,
                keys: keys.iter().map(KeyRow::from).collect(),
                prepublish: time::span(s.ctx.settings.key_policy().prepublish),
                error,
            },
        ),
        Err(e) => failed(layout, &e, "key"),
    }
}

/// `POST /console/keys/rotate` (form checked by the caller): `alg` (`ES256`, `RS256`, or
/// empty for both) and `now` (`true` to sign at once).
pub async fn rotate(s: &Services<'_>, v: &Viewer, form: &Params) -> Outcome {
    let field = |name| form.single(name).ok().flatten().unwrap_or("");
    let algs = match field("alg") {
        "" | "both" => Alg::ALL.to_vec(),
        other => match other.parse::<Alg>() {
            Ok(a) => vec![a],
            Err(_) => {
                return page(s, v, 400, Some("Choose ES256, RS256 or both.".into())).await;
            }
        },
    };
    let immediately = field("now") == "true";
    let keys = match manager(s) {
        Ok(k) => k,
        Err(e) => return failed(v.layout("Keys", "/console/keys"), &e, "key"),
    };
    match admin::keys::rotate(keys, s.audit, &v.actor(), &algs, immediately).await {
        Ok(kids) => {
            let names: Vec<String> = kids.iter().map(|k| short(k)).collect();
            let message = if immediately {
                format!("New key {} signs from now on.", names.join(" and "))
            } else {
                format!(
                    "New key {} published; it signs after the pre-publication period.",
                    names.join(" and ")
                )
            };
            done(s.ctx, v, "/console/keys", &message)
        }
        Err(Error::Conflict(m)) => page(s, v, 409, Some(m)).await,
        Err(e) => failed(v.layout("Keys", "/console/keys"), &e, "key"),
    }
}

fn short(kid: &str) -> String {
    kid.chars().take(12).collect::<String>() + "…"
}

async fn find(s: &Services<'_>, kid: &str) -> Result<KeyInfo, Error> {
    list(s)
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| Error::NotFound(format!("key {kid}")))
}

/// `GET /console/keys/{kid}/revoke`: the confirmation page.
pub async fn confirm_revoke(s: &Services<'_>, v: &Viewer, kid: &str) -> Outcome {
    let layout = v.layout("Revoke key", "/console/keys");
    match find(s, kid).await {
        Ok(k) if k.revoked_at.is_some() => Outcome::page(
            409,
            &RevokePage {
                layout,
                key: KeyRow::from(&k),
                typed: String::new(),
                error: Some("This key is already revoked.".into()),
            },
        ),
        Ok(k) => Outcome::page(
            200,
            &RevokePage {
                layout,
                key: KeyRow::from(&k),
                typed: String::new(),
                error: None,
            },
        ),
        Err(e) => failed(layout, &e, "key"),
    }
}

/// `POST /console/keys/{kid}/revoke` (form checked by the caller): revokes only when
/// `confirm` is the kid, typed out (G7).
pub async fn revoke(s: &Services<'_>, v: &Viewer, kid: &str, form: &Params) -> Outcome {
    let layout = v.layout("Revoke key", "/console/keys");
    let key = match find(s, kid).await {
        Ok(k) => k,
        Err(e) => return failed(layout, &e, "key"),
    };
    let typed = form.single("confirm").ok().flatten().unwrap_or("").trim();
    if typed != key.kid {
        return Outcome::page(
            400,
            &RevokePage {
                layout,
                key: KeyRow::from(&key),
                typed: typed.to_string(),
                error: Some(if typed.is_empty() {
                    "Type the key id to confirm.".into()
                } else {
                    "That is not this key's id. Nothing was revoked.".into()
                }),
            },
        );
    }
    let keys = match manager(s) {
        Ok(k) => k,
        Err(e) => return failed(layout, &e, "key"),
    };
    match admin::keys::revoke(keys, s.audit, &v.actor(), &key.kid).await {
        Ok(_) => done(
            s.ctx,
            v,
            "/console/keys",
            &format!(
                "Key {} revoked: it is no longer published. If it was signing, a new key signs from now on.",
                short(&key.kid)
            ),
        ),
        Err(e) => failed(layout, &e, "key"),
    }
}
