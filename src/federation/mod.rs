//! Workload identity federation: trusted external issuers (a Kubernetes cluster, a SPIFFE
//! trust domain, GitHub Actions) and the federated identities clients are bound to.
//!
//! A [`Federation`] names an issuer, where its keys come from and the audience its tokens
//! must carry for Tessera. Keys come from, in this order: an inline JWK Set
//! (`--jwks-file`), a `jwks_uri` (a JWKS or a SPIFFE bundle endpoint: a JWKS with
//! `spiffe_refresh_hint` and `use: jwt-svid` keys), or the issuer's OIDC discovery document
//! (`{issuer}/.well-known/openid-configuration` → `jwks_uri`, its `issuer` checked). Remote
//! keys go through [`crate::remote_jwks`] (SSRF guards, cache bounds, stale-if-error bound).
//!
//! A [`Binding`] ties a client to tokens of one federation whose `sub` is exactly the bound
//! subject and whose claims meet its conditions ([`conditions`]). How a token is checked is
//! `client_auth::federated`.
//!
//! An issuer written `spiffe://TRUST-DOMAIN` is a SPIFFE trust domain: JWT-SVIDs need not
//! carry `iss` (the SPIFFE JWT-SVID specification leaves it optional), so such a federation
//! matches tokens by their `sub` being a SPIFFE ID in that trust domain instead.

pub mod conditions;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use serde_json::Value;
use tessera_verify::jws::{JwksPolicy, PublicKeySet, SigAlg};

use crate::{
    clock::SharedClock,
    entities::{
        client_federated_identity::{self, Entity as Bindings},
        federation::{self, Entity as Federations},
    },
    error::{Error, Field, Result},
    remote_jwks::{FetchError, Fetcher, Parsed, RemoteSet, RemoteSets, Unavailable},
};

/// How federated issuers' key sets are imported: keys for other uses (a SPIFFE bundle's
/// `x509-svid` keys, encryption keys) are skipped; `jwt-svid` counts as a signing use; an
/// RSA key without `alg` is RS256 (what Kubernetes, GitHub and SPIRE sign with).
pub const FEDERATION_KEYS: JwksPolicy = JwksPolicy {
    rsa_without_alg: Some(SigAlg::Rs256),
    extra_use: Some("jwt-svid"),
    max_keys: 100,
    skip_unusable: true,
};

/// Largest inline JWK Set (bytes).
const MAX_JWKS_LEN: usize = 64 * 1024;

/// A trusted external issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Federation {
    /// The name bindings refer to (`k8s-prod`).
    pub name: String,
    /// The exact `iss` of its tokens, or `spiffe://TRUST-DOMAIN`.
    pub issuer: String,
    /// Its JWKS or SPIFFE bundle endpoint; `None` with no inline `jwks`: OIDC discovery.
    pub jwks_uri: Option<String>,
    /// An inline JWK Set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// The audience its tokens must contain; `None`: Tessera's issuer identifier.
    pub audience: Option<String>,
    pub created_at: i64,
}

impl Federation {
    /// The SPIFFE trust domain, for an issuer written `spiffe://TRUST-DOMAIN`.
    pub fn spiffe_trust_domain(&self) -> Option<&str> {
        self.issuer.strip_prefix("spiffe://")
    }

    /// Whether a token with this (unverified, then verified) `iss` and `sub` comes from this
    /// federation: `iss` exactly, or for a SPIFFE trust domain a `sub` in that domain.
    pub fn issued(&self, iss: Option<&str>, sub: Option<&str>) -> bool {
        match self.spiffe_trust_domain() {
            Some(td) => sub.is_some_and(|s| {
                s.strip_prefix("spiffe://")
                    .and_then(|rest| rest.strip_prefix(td))
                    .is_some_and(|path| path.starts_with('/'))
            }),
            None => iss == Some(self.issuer.as_str()),
        }
    }

    /// Where its keys come from, as shown to operators.
    pub fn key_source(&self) -> String {
        match (&self.jwks, &self.jwks_uri) {
            (Some(_), _) => "inline JWKS".into(),
            (None, Some(u)) => u.clone(),
            (None, None) => format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ),
        }
    }

    fn from_row(m: federation::Model) -> Self {
        Federation {
            jwks: m.jwks.and_then(|j| serde_json::from_str(&j).ok()),
            name: m.name,
            issuer: m.issuer,
            jwks_uri: m.jwks_uri,
            audience: m.audience,
            created_at: m.created_at,
        }
    }
}

/// What an operator gives to register a federation.
#[derive(Debug, Clone, Default)]
pub struct NewFederation {
    pub name: String,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    /// A JWK Set document (JSON text).
    pub jwks: Option<String>,
    pub audience: Option<String>,
}

/// A federated identity a client is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub id: String,
    pub client_id: String,
    /// The federation's name.
    pub federation: String,
    /// The exact `sub` (no wildcards).
    pub subject: String,
    /// Claim path → exact value; all must hold.
    pub conditions: BTreeMap<String, String>,
}

/// What an operator gives to bind a client: `NAME:SUB` plus conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewBinding {
    pub federation: String,
    pub subject: String,
    pub conditions: BTreeMap<String, String>,
}

impl NewBinding {
    /// Parses `NAME:SUB` (the first `:` separates them: subjects such as
    /// `system:serviceaccount:payments:billing` keep theirs).
    pub fn parse(spec: &str, conditions: &[String]) -> Result<Self> {
        let (name, subject) = spec.split_once(':').ok_or_else(|| {
            Error::invalid(Field::Federated, format!("{spec:?} is not NAME:SUBJECT"))
        })?;
        let conditions = conditions
            .iter()
            .map(|c| conditions::parse(c).map_err(|e| Error::invalid(Field::Conditions, e)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(NewBinding {
            federation: name.to_owned(),
            subject: subject.to_owned(),
            conditions,
        })
    }
}

/// The federation registry and its key sets (one per process, in `Context`).
pub struct FederationRegistry {
    db: DatabaseConnection,
    clock: SharedClock,
    fetcher: Arc<Fetcher>,
    remote: RemoteSets<PublicKeySet>,
    /// Inline sets, imported once: name → (the JSON text, the keys).
    inline: Mutex<HashMap<String, (String, Arc<PublicKeySet>)>>,
}

impl FederationRegistry {
    pub fn new(db: DatabaseConnection, clock: SharedClock, fetcher: Arc<Fetcher>) -> Self {
        Self {
            db,
            clock,
            fetcher,
            remote: RemoteSets::default(),
            inline: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a federation; its issuer and key source are validated.
    pub async fn add(&self, new: NewFederation) -> Result<Federation> {
        let name = new.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::invalid(
                Field::Name,
                "a federation name is 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        let issuer = new.issuer.trim();
        let spiffe = issuer.strip_prefix("spiffe://");
        match spiffe {
            Some(td) => {
                if td.is_empty()
                    || !td
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
                {
                    return Err(Error::invalid(
                        Field::Issuer,
                        "spiffe://TRUST-DOMAIN: a trust domain name only (lowercase, no path)",
                    ));
                }
                if new.jwks.is_none() && new.jwks_uri.is_none() {
                    return Err(Error::invalid(
                        Field::JwksUri,
                        "a SPIFFE trust domain needs its bundle endpoint (--jwks-uri) or a JWKS file",
                    ));
                }
            }
            None => {
                let u = url::Url::parse(issuer).map_err(|_| {
                    Error::invalid(
                        Field::Issuer,
                        "not an absolute URL (or spiffe://TRUST-DOMAIN)",
                    )
                })?;
                if !matches!(u.scheme(), "https" | "http") || u.query().is_some() {
                    return Err(Error::invalid(
                        Field::Issuer,
                        "an issuer is an https URL without query (or spiffe://TRUST-DOMAIN)",
                    ));
                }
                if new.jwks.is_none() && new.jwks_uri.is_none() {
                    // Discovery will be fetched from it: the fetch rules apply now.
                    self.fetcher
                        .check_url(issuer)
                        .map_err(|e| Error::invalid(Field::Issuer, e.to_string()))?;
                }
            }
        }
        if issuer.chars().any(char::is_control) {
            return Err(Error::invalid(Field::Issuer, "control characters"));
        }
        let jwks = match (&new.jwks, &new.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    Field::Jwks,
                    "give either a JWKS file or a jwks_uri, not both",
                ));
            }
            (Some(text), None) => {
                if text.len() > MAX_JWKS_LEN {
                    return Err(Error::invalid(
                        Field::Jwks,
                        format!("larger than {MAX_JWKS_LEN} bytes"),
                    ));
                }
                PublicKeySet::from_jwks(text.as_bytes(), &FEDERATION_KEYS)
                    .map_err(|e| Error::invalid(Field::Jwks, e.to_string()))?;
                let v: Value = serde_json::from_str(text)
                    .map_err(|_| Error::invalid(Field::Jwks, "not JSON"))?;
                Some(v.to_string())
            }
            (None, Some(uri)) => {
                self.fetcher
                    .check_url(uri)
                    .map_err(|e| Error::invalid(Field::JwksUri, e.to_string()))?;
                None
            }
            (None, None) => None,
        };
        let audience = match new.audience.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(a) if a.chars().any(char::is_control) || a.len() > 512 => {
                return Err(Error::invalid(
                    Field::Audiences,
                    "an audience is at most 512 characters, without control characters",
                ));
            }
            Some(a) => Some(a.to_owned()),
        };
        if self.get(name).await?.is_some() {
            return Err(Error::Conflict(format!("federation {name} exists")));
        }
        if Federations::find()
            .filter(federation::Column::Issuer.eq(issuer))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(Error::Conflict(format!(
                "the issuer {issuer} is registered under another name"
            )));
        }
        let row = federation::ActiveModel {
            name: Set(name.to_owned()),
            issuer: Set(issuer.to_owned()),
            jwks_uri: Set(new.jwks_uri.clone()),
            jwks: Set(jwks),
            audience: Set(audience),
            created_at: Set(self.clock.now()),
        }
        .insert(&self.db)
        .await?;
        Ok(Federation::from_row(row))
    }

    pub async fn get(&self, name: &str) -> Result<Option<Federation>> {
        Ok(Federations::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .map(Federation::from_row))
    }

    pub async fn list(&self) -> Result<Vec<Federation>> {
        Ok(Federations::find()
            .order_by_asc(federation::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Federation::from_row)
            .collect())
    }

    /// Removes a federation that no client is bound to (else `Conflict`).
    pub async fn remove(&self, name: &str) -> Result<bool> {
        let bound = Bindings::find()
            .filter(client_federated_identity::Column::Federation.eq(name))
            .all(&self.db)
            .await?;
        if !bound.is_empty() {
            let mut clients: Vec<String> = bound.into_iter().map(|b| b.client_id).collect();
            clients.dedup();
            return Err(Error::Conflict(format!(
                "clients are bound to federation {name}: {}",
                clients.join(", ")
            )));
        }
        let gone = Federations::delete_by_id(name.to_owned())
            .exec(&self.db)
            .await?
            .rows_affected
            > 0;
        self.forget(name);
        Ok(gone)
    }

    fn forget(&self, name: &str) {
        self.inline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Binds `client_id` to a federated identity of a registered federation.
    pub async fn bind(&self, client_id: &str, b: NewBinding) -> Result<Binding> {
        let Some(fed) = self.get(&b.federation).await? else {
            return Err(Error::invalid(
                Field::Federated,
                format!("no federation named {:?}", b.federation),
            ));
        };
        if b.subject.is_empty() || b.subject.len() > 512 || b.subject.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                Field::Federated,
                "the subject is 1 to 512 characters without control characters",
            ));
        }
        if let Some(td) = fed.spiffe_trust_domain()
            && !fed.issued(None, Some(&b.subject))
        {
            return Err(Error::invalid(
                Field::Federated,
                format!("a subject of this federation is a SPIFFE ID spiffe://{td}/..."),
            ));
        }
        if b.conditions.len() > conditions::MAX_CONDITIONS {
            return Err(Error::invalid(
                Field::Conditions,
                format!("at most {} conditions", conditions::MAX_CONDITIONS),
            ));
        }
        for (k, v) in &b.conditions {
            conditions::check(k, v).map_err(|e| Error::invalid(Field::Conditions, e))?;
        }
        let row = client_federated_identity::ActiveModel {
            id: Set(crate::secrets::random_token(12)?),
            client_id: Set(client_id.to_owned()),
            federation: Set(fed.name),
            subject: Set(b.subject),
            conditions: Set(serde_json::to_string(&b.conditions).unwrap_or_else(|_| "{}".into())),
            created_at: Set(self.clock.now()),
        }
        .insert(&self.db)
        .await?;
        binding_from_row(row)
    }

    /// The identities `client_id` is bound to.
    pub async fn bindings_of(&self, client_id: &str) -> Result<Vec<Binding>> {
        Bindings::find()
            .filter(client_federated_identity::Column::ClientId.eq(client_id))
            .order_by_asc(client_federated_identity::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(binding_from_row)
            .collect()
    }

    /// Removes every binding of a client (the client is being deleted, or switched to
    /// another authentication method).
    pub async fn unbind_all(&self, client_id: &str) -> Result<u64> {
        Ok(Bindings::delete_many()
            .filter(client_federated_identity::Column::ClientId.eq(client_id))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// The key set of `fed` (inline, or fetched and cached); [`Unavailable`] when remote
    /// keys cannot be had and the cached ones are past `remote_jwks_max_stale`.
    pub async fn keys(
        &self,
        fed: &Federation,
    ) -> std::result::Result<Arc<PublicKeySet>, Unavailable> {
        if let Some(jwks) = &fed.jwks {
            return self.inline_keys(fed, jwks).ok_or(Unavailable);
        }
        self.remote_set(fed).current().await
    }

    /// An unknown `kid`: one refetch per cooldown (remote sets only).
    pub async fn refetch(&self, fed: &Federation) -> Option<Arc<PublicKeySet>> {
        if fed.jwks.is_some() {
            return None;
        }
        self.remote_set(fed).refetch_for_unknown_kid().await
    }

    fn inline_keys(&self, fed: &Federation, jwks: &Value) -> Option<Arc<PublicKeySet>> {
        let text = jwks.to_string();
        let mut cache = self.inline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, keys)) = cache.get(&fed.name)
            && *t == text
        {
            return Some(keys.clone());
        }
        let keys = match PublicKeySet::from_jwks(text.as_bytes(), &FEDERATION_KEYS) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                tracing::error!(federation = %fed.name, error = %e, "stored federation JWKS is unusable");
                return None;
            }
        };
        cache.insert(fed.name.clone(), (text, keys.clone()));
        Some(keys)
    }

    fn remote_set(&self, fed: &Federation) -> Arc<RemoteSet<PublicKeySet>> {
        // Keyed by the source too: a federation removed and added again with another
        // issuer or URL never sees the old keys.
        let key = format!("{}\n{}\n{}", fed.name, fed.issuer, fed.key_source());
        self.remote.get_or_insert(&key, || match &fed.jwks_uri {
            Some(uri) => RemoteSet::url(self.fetcher.clone(), uri.clone(), parse_key_set),
            None => discovered(self.fetcher.clone(), fed.issuer.clone()),
        })
    }
}

fn binding_from_row(r: client_federated_identity::Model) -> Result<Binding> {
    let conditions: BTreeMap<String, String> = serde_json::from_str(&r.conditions)
        .map_err(|_| Error::Corrupt(format!("binding {} has malformed conditions", r.id)))?;
    Ok(Binding {
        id: r.id,
        client_id: r.client_id,
        federation: r.federation,
        subject: r.subject,
        conditions,
    })
}

/// A JWKS or SPIFFE bundle: the usable signing keys, and the bundle's
/// `spiffe_refresh_hint` (seconds) as its freshness when present.
pub fn parse_key_set(body: &[u8]) -> std::result::Result<Parsed<PublicKeySet>, String> {
    let keys = PublicKeySet::from_jwks(body, &FEDERATION_KEYS).map_err(|e| e.to_string())?;
    let hint = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("spiffe_refresh_hint").and_then(Value::as_u64))
        .map(Duration::from_secs);
    Ok(Parsed {
        value: keys,
        refresh_hint: hint,
    })
}

/// Keys through OIDC discovery: `{issuer}/.well-known/openid-configuration`, whose
/// `issuer` must be exactly ours (RFC 8414 §3.3), then its `jwks_uri` (same fetch rules).
fn discovered(fetcher: Arc<Fetcher>, issuer: String) -> Arc<RemoteSet<PublicKeySet>> {
    let issuer = Arc::new(issuer);
    RemoteSet::new(
        fetcher,
        Arc::new(move |f: &Fetcher| {
            let issuer = issuer.clone();
            Box::pin(async move {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let doc = f.get(&url).await?;
                let invalid = |reason: String| FetchError::Invalid {
                    url: url.clone(),
                    reason,
                };
                let v: Value = serde_json::from_slice(&doc.body)
                    .map_err(|e| invalid(format!("not JSON: {e}")))?;
                if v.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
                    return Err(invalid("its issuer is not the federation's issuer".into()));
                }
                let jwks_uri = v
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("no jwks_uri".into()))?
                    .to_owned();
                let got = f.get(&jwks_uri).await?;
                let mut parsed =
                    parse_key_set(&got.body).map_err(|reason| FetchError::Invalid {
                        url: jwks_uri.clone(),
                        reason,
                    })?;
                if parsed.refresh_hint.is_none() {
                    parsed.refresh_hint = got.max_age;
                }
                Ok(parsed)
            })
        }),
    )
}
