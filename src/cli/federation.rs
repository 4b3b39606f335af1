//! `tessera federation add|list|show|remove`: trusted external issuers for workload
//! identity federation (`src/federation`). Every change is audited.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::{CliAudit, fmt_time};
use crate::{
    clock::SharedClock,
    config::Settings,
    error::{Error, Field, Result},
    federation::{Binding, Federation, FederationRegistry, NewFederation},
    remote_jwks::Fetcher,
};

#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Trust an external issuer: its tokens, with `aud` containing the audience, may
    /// authenticate clients bound to one of its identities (`clients create --federated`).
    /// Keys: --jwks-file, else --jwks-uri (a JWKS or a SPIFFE bundle endpoint), else the
    /// issuer's OIDC discovery document.
    Add {
        /// The name clients are bound by, e.g. `k8s-prod`, `github`, `spiffe-prod`.
        name: String,
        /// The exact `iss` of its tokens (`https://token.actions.githubusercontent.com`,
        /// a cluster's service-account issuer), or `spiffe://TRUST-DOMAIN`.
        #[arg(long)]
        issuer: String,
        /// Where its keys are published (https; a SPIFFE bundle endpoint works too).
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// Its keys as a JWK Set file (e.g. `kubectl get --raw /openid/v1/jwks`), for
        /// issuers Tessera cannot reach.
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<PathBuf>,
        /// The audience its tokens must contain for Tessera. Default: Tessera's issuer.
        #[arg(long)]
        audience: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the trusted issuers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one trusted issuer.
    Show {
        /// The federation's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting an issuer (refused while clients are bound to it).
    Remove {
        /// The federation's name.
        name: String,
    },
}

/// The registry over the CLI's database connection.
pub(super) fn registry(
    db: &sea_orm::DatabaseConnection,
    clock: &SharedClock,
    settings: &Settings,
) -> Result<FederationRegistry> {
    Ok(FederationRegistry::new(
        db.clone(),
        clock.clone(),
        std::sync::Arc::new(Fetcher::from_settings(settings)?),
    ))
}

pub(super) async fn run(
    cmd: FederationCommand,
    settings: &Settings,
    clock: SharedClock,
) -> Result<()> {
    let db = crate::storage::connect_and_migrate(settings).await?;
    let audit = CliAudit::new(&db, &clock);
    let reg = registry(&db, &clock, settings)?;
    match cmd {
        FederationCommand::Add {
            name,
            issuer,
            jwks_uri,
            jwks_file,
            audience,
            json,
        } => {
            let jwks = match &jwks_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid(Field::Jwks, format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
            let f = reg
                .add(NewFederation {
                    name,
                    issuer,
                    jwks_uri,
                    jwks,
                    audience,
                })
                .await?;
            audit.record("federation.add", &f.name, detail(&f)).await;
            print(&f, json, settings);
        }
        FederationCommand::List { json } => {
            let list = reg.list().await?;
            if json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                out!("{:<20} {:<50} KEYS", "NAME", "ISSUER");
                for f in list {
                    out!("{:<20} {:<50} {}", f.name, f.issuer, f.key_source());
                }
            }
        }
        FederationCommand::Show { name, json } => {
            let f = reg
                .get(&name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("federation {name}")))?;
            print(&f, json, settings);
        }
        FederationCommand::Remove { name } => {
            if reg.remove(&name).await? {
                audit.record("federation.remove", &name, json!({})).await;
                out!("removed {name}");
            } else {
                return Err(Error::NotFound(format!("federation {name}")));
            }
        }
    }
    Ok(())
}

/// The non-secret registration, as the audit log records it.
pub(crate) fn detail(f: &Federation) -> serde_json::Value {
    json!({"issuer": f.issuer, "jwks_uri": f.jwks_uri, "inline_jwks": f.jwks.is_some(),
           "audience": f.audience})
}

fn print(f: &Federation, json: bool, settings: &Settings) {
    if json {
        out!("{}", serde_json::to_string_pretty(f).unwrap_or_default());
        return;
    }
    out!("name:     {}", f.name);
    out!("issuer:   {}", f.issuer);
    out!("keys:     {}", f.key_source());
    out!(
        "audience: {}",
        f.audience.as_deref().unwrap_or(settings.issuer.as_str())
    );
    out!("created:  {}", fmt_time(Some(f.created_at)));
}

/// One line of `clients show` per bound identity.
pub(super) fn print_binding(b: &Binding) {
    let conds: Vec<String> = b
        .conditions
        .iter()
        .map(|(k, v)| format!(" {k}={v}"))
        .collect();
    out!(
        "federated:      {}:{}{}",
        b.federation,
        b.subject,
        conds.concat()
    );
}
