//! The command line: `serve`, `migrate`, `keys …`, `clients …`, `openapi`, `config`.
//! Every command that touches the database migrates it first.

mod dev;
mod verify;

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use serde_json::json;

use crate::{
    admin::{
        AuditLog,
        audit::{cli_actor, client_detail},
    },
    app::{App, open_storage},
    browser_cookies::Sealer,
    clients::{ClientRegistry, NewClient, RegistrationLimits},
    clock::{SharedClock, SystemClock},
    config::Settings,
    context::Context,
    error::{Error, Field, Result},
    keys::{Alg, KeyManager, Keyring},
};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: an OAuth 2.0 token issuer with rotating JWT signing keys"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./tessera.toml when it exists.
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the issuer (creates the schema and the first keys when needed).
    Serve {
        /// Listen address, overriding `bind`.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage users (password grant).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Verify an access token against an issuer's published keys, as a resource server
    /// would, and print its header, claims and the verdict (exit 1 when invalid).
    Verify {
        /// The access token.
        token: String,
        /// The issuer URL (its discovery document and JWKS are fetched).
        #[arg(long)]
        issuer: String,
        /// The audience to require; without it the audience is not checked.
        #[arg(long)]
        audience: Option<String>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the effective configuration (secrets masked).
    Config,
    /// Developer tools for `bench/scale.sh` (seeding, feed memory); not for production.
    #[command(subcommand, hide = true)]
    Dev(dev::DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys with their state (NEXT, ACTIVE, RETIRED, EXPIRED, REVOKED).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Publish a new key now; it signs after the pre-publication period (or at once with --now).
    Rotate {
        /// Algorithm to rotate; default both.
        #[arg(long)]
        alg: Option<Alg>,
        /// Activate immediately (emergencies, tests). Still published before it signs.
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key: removed from the JWKS at once; a replacement signs immediately.
    Revoke { kid: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its id and its secret (shown once).
    Create(CreateClient),
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete { client_id: String },
    /// Replace a client's secret; prints the new one (shown once).
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. Without --password-stdin a random password is generated and printed once.
    Create {
        /// Username (normalised: NFKC, lowercase, trimmed).
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Role (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Custom claim name=value (repeatable); numbers, booleans and arrays keep their JSON type.
        #[arg(long = "claim", value_parser = crate::accounts::parse_claim_arg)]
        claims: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: no login, no refresh, sessions and access tokens revoked.
    Disable { user: String },
    /// Re-enable a disabled user.
    Enable { user: String },
    /// Delete a user (sessions and access tokens revoked first).
    Delete { user: String },
    /// Set a user's password (from stdin with --password-stdin, else generated and printed).
    SetPassword {
        user: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace a user's roles; access tokens with the old roles become inactive.
    SetRoles {
        user: String,
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Log a user out everywhere: all sessions and access tokens issued so far.
    Logout { user: String },
}

#[derive(Debug, Args)]
pub struct CreateClient {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Allowed grant type (repeatable): client_credentials, password, refresh_token,
    /// authorization_code.
    #[arg(long = "grant", default_value = "client_credentials")]
    pub grants: Vec<String>,
    /// Allowed scopes, space-separated (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Audience of its tokens (repeatable; select one with RFC 8707 `resource`).
    #[arg(long = "audience")]
    pub audiences: Vec<String>,
    /// Signing algorithm of its tokens (default: the server's `default_alg`).
    #[arg(long)]
    pub alg: Option<Alg>,
    /// Access-token lifetime, e.g. 15m (default: the server's `access_token_ttl`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ttl: Option<Duration>,
    /// Bootstrap an admin client for the admin API: grant client_credentials, scopes
    /// tessera:admin tessera:clients tessera:users tessera:keys, audience urn:tessera:admin
    /// (added to whatever else is given).
    #[arg(long)]
    pub admin: bool,
    /// Redirect URI for the authorization code flow, matched exactly (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (SPA, mobile app): no secret, PKCE only
    /// (`token_endpoint_auth_method=none`); authorization_code and refresh_token grants only.
    #[arg(long)]
    pub public: bool,
    /// DPoP (RFC 9449 §5.2): the client must send a DPoP proof at the token endpoint, so
    /// all its access tokens are bound to its key (`dpop_bound_access_tokens`).
    #[arg(long)]
    pub dpop_bound: bool,
    /// DPoP (RFC 9449 §8): the client's proofs must carry a server nonce
    /// (`dpop_nonce_required`), also when the `dpop_nonce` setting is `off`.
    #[arg(long)]
    pub dpop_nonce_required: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a parsed command with loaded settings.
pub async fn run(cli: Cli, mut settings: Settings) -> Result<()> {
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    if !matches!(cli.command, Command::Serve { .. }) {
        // `database_acquire_timeout` is short so that requests fail fast (503) when the
        // database is down; an operator's command may wait for a busy or cold database.
        settings.database_acquire_timeout = settings
            .database_acquire_timeout
            .max(Duration::from_secs(5));
    }
    match cli.command {
        Command::Serve { bind } => {
            let shutdown = shutdown_signal();
            if let Some(b) = bind {
                settings.bind = b;
            }
            let app = App::build(settings, clock).await?;
            tracing::info!(port = app.port(), issuer = %app.state().settings.issuer, "tessera listening");
            app.run(shutdown).await
        }
        Command::Migrate => {
            crate::storage::connect_and_migrate(&settings).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Verify {
            token,
            issuer,
            audience,
        } => match verify::run(&token, &issuer, audience.as_deref()).await {
            Ok(report) => {
                println!("{report}");
                Ok(())
            }
            Err(report) => {
                println!("{report}");
                Err(Error::invalid(Field::Token, "the token is not valid"))
            }
        },
        Command::Openapi => {
            println!("{}", crate::http::spec_json());
            Ok(())
        }
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            Ok(())
        }
        Command::Keys(cmd) => keys(cmd, &settings, clock).await,
        Command::Clients(cmd) => clients(cmd, &settings, clock).await,
        Command::Users(cmd) => users(cmd, &settings, clock).await,
        Command::Dev(cmd) => dev::run(cmd, &settings).await,
    }
}

async fn keys(cmd: KeysCommand, settings: &Settings, clock: SharedClock) -> Result<()> {
    let (db, kek) = open_storage(settings).await?;
    let audit = CliAudit::new(&db, &clock);
    let manager = KeyManager::new(
        db,
        kek,
        std::sync::Arc::new(Keyring::new()),
        clock,
        settings.key_policy(),
        settings.rsa_bits,
    );
    match cmd {
        KeysCommand::List { json } => {
            let keys = manager.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&keys).unwrap_or_default()
                );
            } else {
                println!(
                    "{:<44} {:<6} {:<8} {:<20} {:<20}",
                    "KID", "ALG", "STATE", "ACTIVATES", "UNPUBLISHED"
                );
                for k in keys {
                    println!(
                        "{:<44} {:<6} {:<8} {:<20} {:<20}",
                        k.kid,
                        k.alg,
                        k.state,
                        fmt_time(Some(k.activates_at)),
                        fmt_time(k.unpublish_at.or(k.revoked_at))
                    );
                }
            }
        }
        KeysCommand::Rotate { alg, now } => {
            // Make sure the current keys exist first (fresh database).
            manager.tick(true).await?;
            let algs = alg.map(|a| vec![a]).unwrap_or_else(|| Alg::ALL.to_vec());
            for kid in manager.rotate(&algs, now).await? {
                audit.record("key.rotate", &kid, json!({"now": now})).await;
                println!("published {kid}{}", if now { " (active now)" } else { "" });
            }
        }
        KeysCommand::Revoke { kid } => {
            manager.revoke(&kid).await?;
            audit.record("key.revoke", &kid, json!({})).await;
            println!("revoked {kid}");
        }
    }
    Ok(())
}

async fn clients(cmd: ClientsCommand, settings: &Settings, clock: SharedClock) -> Result<()> {
    let db = crate::storage::connect_and_migrate(settings).await?;
    let audit = CliAudit::new(&db, &clock);
    let registry = ClientRegistry::new(db, clock, settings.client_cache_ttl);
    match cmd {
        ClientsCommand::Create(mut c) => {
            if c.admin {
                c.grants.push("client_credentials".into());
                c.scopes
                    .extend(crate::admin::ALL_SCOPES.iter().map(|s| s.to_string()));
                c.audiences.push(crate::admin::ADMIN_AUDIENCE.into());
            }
            let created = registry
                .create(
                    NewClient {
                        name: c.name,
                        grant_types: c.grants,
                        scopes: c.scopes,
                        audiences: c.audiences,
                        token_ttl: c.ttl,
                        alg: c.alg,
                        redirect_uris: c.redirect_uris,
                        post_logout_redirect_uris: c.post_logout_redirect_uris,
                        public: c.public,
                        dpop_bound_access_tokens: c.dpop_bound,
                        dpop_nonce_required: c.dpop_nonce_required,
                    },
                    RegistrationLimits {
                        max_token_ttl: settings.max_access_token_ttl,
                    },
                )
                .await?;
            audit
                .record(
                    "client.create",
                    &created.client.client_id,
                    client_detail(&created.client),
                )
                .await;
            print_secret(&created, c.json);
        }
        ClientsCommand::List { json } => {
            let list = registry.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                println!(
                    "{:<24} {:<20} {:<22} {:<30} AUDIENCES",
                    "CLIENT_ID", "NAME", "GRANTS", "SCOPES"
                );
                for c in list {
                    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    println!(
                        "{:<24} {:<20} {:<22} {:<30} {}",
                        c.client_id,
                        c.name,
                        grants.join(","),
                        c.scopes.join(" "),
                        c.audiences.join(" ")
                    );
                }
            }
        }
        ClientsCommand::Delete { client_id } => {
            if registry.delete(&client_id).await? {
                audit.record("client.delete", &client_id, json!({})).await;
                println!("deleted {client_id}");
            } else {
                return Err(Error::NotFound(format!("client {client_id}")));
            }
        }
        ClientsCommand::RotateSecret { client_id, json } => {
            let rotated = registry.rotate_secret(&client_id).await?;
            audit
                .record("client.rotate_secret", &client_id, json!({}))
                .await;
            print_secret(&rotated, json);
        }
    }
    Ok(())
}

async fn users(cmd: UsersCommand, settings: &Settings, clock: SharedClock) -> Result<()> {
    let db = crate::storage::connect_and_migrate(settings).await?;
    let audit = CliAudit::new(&db, &clock);
    // Database access only: no keys (nothing is signed) and no HTTP.
    let ctx = Context::new(
        std::sync::Arc::new(settings.clone()),
        db,
        clock,
        std::sync::Arc::new(Keyring::new()),
        Sealer::random()?,
        crate::dpop::NonceKeys::random(60)?,
    )?;
    let accounts = &ctx.accounts;
    let store = accounts.users();
    match cmd {
        UsersCommand::Create {
            username,
            password_stdin,
            roles,
            claims,
            json,
        } => {
            let (password, generated) = password_input(password_stdin)?;
            let user = store
                .create(crate::accounts::NewUser {
                    username,
                    password: password.clone(),
                    roles,
                    claims: crate::accounts::parse_claims(&claims)?,
                })
                .await?;
            audit
                .record(
                    "user.create",
                    &user.id,
                    json!({"username": user.username, "roles": user.roles,
                           "claims": user.claims.keys().collect::<Vec<_>>()}),
                )
                .await;
            if json {
                let mut v = serde_json::to_value(&user).unwrap_or_default();
                if generated {
                    v["password"] = password.into();
                }
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("created user {} (sub {})", user.username, user.id);
                if generated {
                    println!("password: {password}\n(shown only now)");
                }
            }
        }
        UsersCommand::List { json } => {
            let list = store.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                println!("{:<36} {:<24} {:<9} ROLES", "SUB", "USERNAME", "STATUS");
                for u in list {
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<36} {:<24} {:<9} {}",
                        u.id,
                        u.username,
                        status,
                        u.roles.join(" ")
                    );
                }
            }
        }
        UsersCommand::Disable { user } => {
            let u = store.lookup(&user).await?;
            accounts.set_disabled(&u.id, true).await?;
            audit
                .record("user.update", &u.id, json!({"disabled": true}))
                .await;
            println!("disabled {}", u.username);
        }
        UsersCommand::Enable { user } => {
            let u = store.lookup(&user).await?;
            accounts.set_disabled(&u.id, false).await?;
            audit
                .record("user.update", &u.id, json!({"disabled": false}))
                .await;
            println!("enabled {}", u.username);
        }
        UsersCommand::Delete { user } => {
            let u = store.lookup(&user).await?;
            accounts.delete(&u.id).await?;
            audit.record("user.delete", &u.id, json!({})).await;
            println!("deleted {}", u.username);
        }
        UsersCommand::SetPassword {
            user,
            password_stdin,
        } => {
            let u = store.lookup(&user).await?;
            let (password, generated) = password_input(password_stdin)?;
            accounts.set_password(&u.id, password.clone()).await?;
            audit
                .record("user.set_password", &u.id, json!({"generated": generated}))
                .await;
            println!("password set for {}", u.username);
            if generated {
                println!("password: {password}\n(shown only now)");
            }
        }
        UsersCommand::SetRoles { user, roles } => {
            let u = store.lookup(&user).await?;
            let u = accounts.change_roles(&u.id, &roles).await?;
            audit
                .record("user.update", &u.id, json!({"roles": u.roles}))
                .await;
            println!("{} now has roles: {}", u.username, u.roles.join(" "));
        }
        UsersCommand::Logout { user } => {
            let u = store.lookup(&user).await?;
            accounts.logout_everywhere(&u.id).await?;
            audit
                .record("user.logout_everywhere", &u.id, json!({}))
                .await;
            println!("logged {} out everywhere", u.username);
        }
    }
    Ok(())
}

/// The audit log as the command line writes it: every change with the actor
/// `cli:<os user>` (A4), the same actions and details as the admin API.
struct CliAudit {
    log: AuditLog,
    actor: String,
}

impl CliAudit {
    fn new(db: &sea_orm::DatabaseConnection, clock: &SharedClock) -> Self {
        Self {
            log: AuditLog::new(db.clone(), clock.clone()),
            actor: cli_actor(),
        }
    }

    /// Records a change that has happened. A failure to record it is reported on stderr
    /// (the change is not undone), as the admin API logs it.
    async fn record(&self, action: &str, target: &str, detail: serde_json::Value) {
        if let Err(e) = self.log.record(&self.actor, action, target, detail).await {
            eprintln!("warning: the change was made but the audit record failed: {e}");
        }
    }
}

/// The password from stdin, or a generated one (then `true`).
fn password_input(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Error::invalid(Field::Password, format!("cannot read it from stdin: {e}"))
        })?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        Ok((p, false))
    } else {
        Ok((crate::secrets::random_token(15)?, true))
    }
}

fn print_secret(c: &crate::clients::ClientWithSecret, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(c).unwrap_or_default());
    } else {
        println!("client_id:     {}", c.client.client_id);
        if c.client.is_public() {
            println!("(a public client: no secret; it proves itself with PKCE)");
            return;
        }
        println!("client_secret: {}", c.client_secret);
        println!("(the secret is shown only now; Tessera stores only its hash)");
    }
}

fn fmt_time(t: Option<i64>) -> String {
    match t {
        None => "-".into(),
        Some(t) => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64),
        )
        .to_string(),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (not
/// when first polled), so a signal that arrives during start-up is not lost to the default
/// disposition.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
