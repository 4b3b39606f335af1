//! The command line: `serve`, `migrate`, `backup`, `keys …`, `clients …`, `users …`,
//! `verify`, `openapi`, `config` (and the hidden `dev` tools of `bench/scale.sh`).
//!
//! Only `serve` and `migrate` create a database; every other command that touches one
//! first checks that a Tessera database is there ([`database::existing`]), then migrates
//! it. Output goes through [`out!`], which ends quietly when stdout is a closed pipe.

use std::{path::PathBuf, time::Duration};

use clap::{ArgGroup, Args, Parser, Subcommand};

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
    config::{Loaded, Settings},
    context::Context,
    error::{Error, Field, Result},
    keys::{Alg, KeyManager, Keyring},
};

/// Prints a line on stdout; a closed pipe (`tessera openapi | head -1`) ends the process
/// quietly with exit 0.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

mod database;
mod dev;
mod verify;

/// Writes one line to stdout (see [`out!`]).
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let res = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(e) = res {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: an OAuth 2.0 token issuer with rotating JWT signing keys"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./tessera.toml when it exists.
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding `database_url` (file and environment), e.g.
    /// sqlite:///srv/tessera/data/tessera.db or postgres://tessera@db/tessera.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Print log lines (migrations, key creation...) on stderr. `serve` always logs.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The settings given as flags, as (key, value) to load on top of file and environment.
    pub fn setting_flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        if let Some(url) = &self.database_url {
            flags.push(("database_url", url.clone()));
        }
        if let Command::Serve { bind: Some(b) } = &self.command {
            flags.push(("bind", b.clone()));
        }
        flags
    }

    /// Whether this is `serve` (which logs as configured; other commands only with -v).
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve { .. })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the issuer (creates the database, the schema and the first keys when needed).
    Serve {
        /// Listen address, overriding `bind`; the issuer follows it unless `issuer` is set.
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Create the database if needed, apply migrations and exit.
    Migrate,
    /// Copy the SQLite database to FILE, consistently, while the server runs (VACUUM INTO).
    /// Never overwrites. The key-encryption key (keys/kek or `kek`) is NOT in the copy:
    /// keep it separately. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the copy (must not exist yet); created with mode 0600.
        file: PathBuf,
    },
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
    /// would, and print its header, claims and the verdict. Exit 0 valid, 1 invalid,
    /// 2 usage, 3 the issuer could not be reached (nothing was verified).
    Verify {
        /// The access token.
        token: String,
        /// The issuer URL (its discovery document and JWKS are fetched). Default: the
        /// configured `issuer`.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// The audience to require; without it the audience is not checked.
        #[arg(long)]
        audience: Option<String>,
        /// Also read the issuer's revocation feed (revoked tokens, logged-out, disabled or
        /// changed users) with a client's credentials; without it revocation is not checked.
        #[arg(long, requires_all = ["client_id", "client_secret"])]
        check_revocation: bool,
        /// Client id for the revocation feed (any confidential client, e.g. an admin client).
        #[arg(long, env = "TESSERA_VERIFY_CLIENT_ID", value_name = "ID")]
        client_id: Option<String>,
        /// Client secret for the revocation feed; prefer the environment variable (a flag
        /// is visible to other local users).
        #[arg(
            long,
            env = "TESSERA_VERIFY_CLIENT_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        client_secret: Option<String>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the configuration the server would run with (secrets masked, paths absolute)
    /// and where each value comes from: default, file (PATH), env (TESSERA_X) or flag.
    Config {
        /// Print JSON: {"key": {"value": ..., "source": "..."}}.
        #[arg(long)]
        json: bool,
    },
    /// Developer tools for `bench/scale.sh` (seeding, feed memory); not for production.
    #[command(subcommand, hide = true)]
    Dev(dev::DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys with their state (NEXT, ACTIVE, RETIRED, EXPIRED, REVOKED).
    List {
        /// Print JSON (an array of keys).
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
    /// Revoke a key: removed from the JWKS at once, never signs again.
    #[command(long_about = REVOKE_HELP)]
    Revoke {
        /// The key id (`kid`), as `keys list` shows it.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// `keys revoke --help`: what happens when the revoked key is the one signing.
const REVOKE_HELP: &str =
    "Revoke a key: removed from the JWKS at once (verifiers drop it at their next \
JWKS refresh), and it never signs again.

Revoking the ACTIVE key of an algorithm: a fresh key of that algorithm is created and signs \
at once. It was not pre-published, so a verifier with a cached JWKS meets an unknown kid and \
refetches the JWKS (tessera-verify does so at once, at most once per cooldown); verifiers \
that do not refetch on an unknown kid reject its tokens until their cache expires \
(jwks_max_age). A retired key is never made active again: it is as exposed as the revoked \
one (same database, same KEK). Revoking a RETIRED or NEXT key only unpublishes it.";

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its id and its secret (shown once).
    Create(Box<CreateClient>),
    /// Show one client: its method of authentication, keys, grants, scopes, audiences.
    Show {
        /// The client's id.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print JSON (the client; for private_key_jwt its JWK Set, public keys only).
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// Print JSON (an array of clients, no secrets).
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        /// The client's id.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Replace a client's secret; prints the new one (shown once).
    RotateSecret {
        /// The client's id.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print JSON (the client with its new `client_secret`).
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
        /// Print JSON (the user, with `password` when it was generated).
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print JSON (an array of users).
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: no login, no refresh, sessions and access tokens revoked.
    Disable {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
    },
    /// Re-enable a disabled user.
    Enable {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
    },
    /// Delete a user (sessions and access tokens revoked first).
    Delete {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
    },
    /// Set a user's password (from stdin with --password-stdin, else generated and printed).
    SetPassword {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace a user's roles (--role, repeatable; --clear for none); access tokens with
    /// the old roles become inactive and the user signs in again.
    #[command(group(ArgGroup::new("new_roles").required(true).args(["roles", "clear"])))]
    SetRoles {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
        /// A role the user will have (repeatable); the roles not given are removed.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Remove every role (a bare `set-roles NAME` is refused).
        #[arg(long, conflicts_with = "roles")]
        clear: bool,
    },
    /// Log a user out everywhere: all sessions and access tokens issued so far.
    Logout {
        /// Username or subject id.
        #[arg(allow_hyphen_values = true)]
        user: String,
    },
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
    /// Access-token lifetime: seconds (900) or 90s, 15m, 1h (default: the server's
    /// `access_token_ttl`).
    #[arg(long, value_parser = crate::config::parse_duration)]
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
    /// How the client authenticates: client_secret_basic (default; a generated secret, also
    /// accepted as client_secret_post), private_key_jwt (JWTs signed with its own key, given
    /// with --jwks-file or --jwks-uri; no secret exists) or none (same as --public).
    #[arg(long = "auth", value_parser = ["client_secret_basic", "private_key_jwt", "none"])]
    pub auth: Option<String>,
    /// private_key_jwt: a JWK Set file with the client's public key(s); each key names its
    /// alg (ES256, RS256, PS256, EdDSA) unless its type allows one only (EC P-256, Ed25519).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// private_key_jwt: the https URL where the client publishes its JWK Set.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// DPoP (RFC 9449 §5.2): the client must send a DPoP proof at the token endpoint, so
    /// all its access tokens are bound to its key (`dpop_bound_access_tokens`).
    #[arg(long)]
    pub dpop_bound: bool,
    /// DPoP (RFC 9449 §8): the client's proofs must carry a server nonce
    /// (`dpop_nonce_required`), also when the `dpop_nonce` setting is `off`.
    #[arg(long)]
    pub dpop_nonce_required: bool,
    /// Print JSON (the client with its `client_secret`).
    #[arg(long)]
    pub json: bool,
}

/// Runs a parsed command with loaded settings; returns the exit code, or the error to print.
pub async fn run(cli: Cli, loaded: Loaded) -> std::result::Result<u8, String> {
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    let mut settings = loaded.settings.clone();
    if !matches!(cli.command, Command::Serve { .. } | Command::Config { .. }) {
        // `database_acquire_timeout` is short so that requests fail fast (503) when the
        // database is down; an operator's command may wait for a busy or cold database.
        settings.database_acquire_timeout = settings
            .database_acquire_timeout
            .max(Duration::from_secs(5));
    }
    let s = &settings;
    let done = |r: Result<()>| -> std::result::Result<u8, String> {
        r.map(|()| 0).map_err(|e| e.to_string())
    };
    match cli.command {
        Command::Serve { .. } => done(serve(settings.clone(), &loaded, clock).await),
        Command::Migrate => {
            let db = crate::storage::connect_and_migrate(s)
                .await
                .map_err(|e| e.to_string())?;
            let _ = db.close().await;
            out!("database is up to date: {}", s.database_location());
            Ok(0)
        }
        Command::Backup { file } => {
            let report = database::backup(s, &file).await?;
            out!("{report}");
            Ok(0)
        }
        Command::Verify {
            token,
            issuer,
            audience,
            check_revocation,
            client_id,
            client_secret,
        } => {
            let issuer = issuer.unwrap_or_else(|| s.issuer.clone());
            let feed = match (check_revocation, client_id, client_secret) {
                (true, Some(id), Some(secret)) => Some((id, secret)),
                _ => None,
            };
            let v = verify::run(&token, &issuer, audience.as_deref(), feed).await;
            out!("{}", v.report.trim_end());
            match v.outcome {
                verify::Outcome::Valid => Ok(0),
                verify::Outcome::Invalid(reason) => {
                    eprintln!("error: invalid token ({reason})");
                    Ok(1)
                }
                verify::Outcome::Unverified(reason) => {
                    eprintln!("error: {reason}");
                    Ok(3)
                }
                verify::Outcome::Usage(reason) => {
                    eprintln!("error: {reason}");
                    Ok(2)
                }
            }
        }
        Command::Openapi => {
            out!("{}", crate::http::spec_json());
            Ok(0)
        }
        Command::Config { json } => {
            print_config(&loaded, json);
            Ok(0)
        }
        Command::Keys(cmd) => {
            database::existing(s).await?;
            done(keys(cmd, s, clock).await)
        }
        Command::Clients(cmd) => {
            database::existing(s).await?;
            done(clients(cmd, s, clock).await)
        }
        Command::Users(cmd) => {
            database::existing(s).await?;
            done(users(cmd, s, clock).await)
        }
        Command::Dev(cmd) => done(dev::run(cmd, s).await),
    }
}

/// `tessera serve`: the issuer follows `bind` unless set; a set issuer on a local host with
/// another port than `bind` gets a warning.
async fn serve(mut settings: Settings, loaded: &Loaded, clock: SharedClock) -> Result<()> {
    let shutdown = shutdown_signal();
    if !loaded.is_explicit("issuer") {
        if bind_port(&settings.bind) == Some(0) {
            // Port 0: the issuer is derived from the address actually bound (App::build).
            settings.issuer = String::new();
        } else if settings.bind.starts_with("0.0.0.0:") || settings.bind.starts_with("[::]:") {
            tracing::warn!(
                issuer = %settings.issuer,
                bind = %settings.bind,
                "issuer not set: using the loopback address for this wildcard bind; set `issuer` to the URL clients use"
            );
        }
    } else if let Some(w) = issuer_port_mismatch(&settings.issuer, &settings.bind) {
        tracing::warn!("{w}");
    }
    let database = settings.database_location();
    let app = App::build(settings, clock).await?;
    tracing::info!(port = app.port(), issuer = %app.state().settings.issuer, %database, "tessera listening");
    app.run(shutdown).await
}

/// The port of a `host:port` listen address.
fn bind_port(bind: &str) -> Option<u16> {
    bind.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// A warning when `issuer` names a local host (loopback, `localhost` or the bind host) with
/// another port than `bind`: discovery and `iss` then point where nothing listens. A public
/// host name is assumed to be a reverse proxy's and is not compared.
pub fn issuer_port_mismatch(issuer: &str, bind: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let issuer_port = url.port_or_known_default()?;
    let (bind_host, _) = bind.rsplit_once(':')?;
    let bind_port = bind_port(bind)?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let bind_host = bind_host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost"
        || host == bind_host
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (local && bind_port != 0 && issuer_port != bind_port).then(|| {
        format!(
            "issuer {issuer} names port {issuer_port} but the server listens on {bind}: \
             discovery and the `iss` of tokens point at port {issuer_port}; unset `issuer` \
             to follow `bind`, or set it to the URL clients use"
        )
    })
}

/// `tessera config`: every key, its effective value and its source.
fn print_config(loaded: &Loaded, json: bool) {
    let values = loaded.settings.masked_values();
    let source = |k: &str| {
        loaded
            .sources
            .get(k)
            .map(ToString::to_string)
            .unwrap_or_else(|| "default".into())
    };
    if json {
        let map: serde_json::Map<String, serde_json::Value> = values
            .into_iter()
            .map(|(k, v)| {
                let src = source(&k);
                (k, json!({"value": v, "source": src}))
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&map).unwrap_or_default());
    } else {
        for (k, v) in values {
            let src = source(&k);
            out!("{k} = {v}  # {src}");
        }
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
                out!(
                    "{}",
                    serde_json::to_string_pretty(&keys).unwrap_or_default()
                );
            } else {
                out!(
                    "{:<44} {:<6} {:<8} {:<20} {:<20}",
                    "KID",
                    "ALG",
                    "STATE",
                    "ACTIVATES",
                    "UNPUBLISHED"
                );
                for k in keys {
                    out!(
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
                out!("published {kid}{}", if now { " (active now)" } else { "" });
            }
        }
        KeysCommand::Revoke { kid } => {
            manager.revoke(&kid).await?;
            audit.record("key.revoke", &kid, json!({})).await;
            out!("revoked {kid}");
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
            let keyed = c.jwks_file.is_some() || c.jwks_uri.is_some();
            match c.auth.as_deref() {
                Some("private_key_jwt") if !keyed => {
                    return Err(Error::invalid(
                        Field::Jwks,
                        "--auth private_key_jwt needs the client's public keys: --jwks-file or --jwks-uri",
                    ));
                }
                Some("client_secret_basic" | "none") if keyed => {
                    return Err(Error::invalid(
                        Field::Jwks,
                        "keys are for --auth private_key_jwt",
                    ));
                }
                Some("none") => c.public = true,
                _ => {}
            }
            if let Some(uri) = &c.jwks_uri {
                crate::remote_jwks::Fetcher::from_settings(settings)?
                    .check_url(uri)
                    .map_err(|e| Error::invalid(Field::JwksUri, e.to_string()))?;
            }
            let jwks = match &c.jwks_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid(Field::Jwks, format!("cannot read {}: {e}", path.display()))
                })?),
                None => None,
            };
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
                        jwks,
                        jwks_uri: c.jwks_uri,
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
        ClientsCommand::Show { client_id, json } => {
            let Some(c) = registry.fetch(&client_id).await? else {
                return Err(Error::NotFound(format!("client {client_id}")));
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
            } else {
                print_client(&c);
            }
        }
        ClientsCommand::List { json } => {
            let list = registry.list().await?;
            if json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                out!(
                    "{:<24} {:<20} {:<22} {:<30} AUDIENCES",
                    "CLIENT_ID",
                    "NAME",
                    "GRANTS",
                    "SCOPES"
                );
                for c in list {
                    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                    out!(
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
                out!("deleted {client_id}");
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
                out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                out!("created user {} (sub {})", user.username, user.id);
                if generated {
                    out!("password: {password}\n(shown only now)");
                }
            }
        }
        UsersCommand::List { json } => {
            let list = store.list().await?;
            if json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                out!("{:<36} {:<24} {:<9} ROLES", "SUB", "USERNAME", "STATUS");
                for u in list {
                    let status = if u.disabled { "disabled" } else { "active" };
                    out!(
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
            out!("disabled {}", u.username);
        }
        UsersCommand::Enable { user } => {
            let u = store.lookup(&user).await?;
            accounts.set_disabled(&u.id, false).await?;
            audit
                .record("user.update", &u.id, json!({"disabled": false}))
                .await;
            out!("enabled {}", u.username);
        }
        UsersCommand::Delete { user } => {
            let u = store.lookup(&user).await?;
            accounts.delete(&u.id).await?;
            audit.record("user.delete", &u.id, json!({})).await;
            out!("deleted {}", u.username);
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
            out!("password set for {}", u.username);
            if generated {
                out!("password: {password}\n(shown only now)");
            }
        }
        UsersCommand::SetRoles { user, roles, clear } => {
            // Clap requires --role or --clear; --clear with roles is refused there too.
            debug_assert!(clear == roles.is_empty());
            let u = store.lookup(&user).await?;
            let u = accounts.change_roles(&u.id, &roles).await?;
            audit
                .record("user.update", &u.id, json!({"roles": u.roles}))
                .await;
            if u.roles.is_empty() {
                out!("{} now has no roles", u.username);
            } else {
                out!("{} now has roles: {}", u.username, u.roles.join(" "));
            }
        }
        UsersCommand::Logout { user } => {
            let u = store.lookup(&user).await?;
            accounts.logout_everywhere(&u.id).await?;
            audit
                .record("user.logout_everywhere", &u.id, json!({}))
                .await;
            out!("logged {} out everywhere", u.username);
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

/// `clients show`: one field per line.
fn print_client(c: &crate::clients::Client) {
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    out!("client_id:      {}", c.client_id);
    out!("name:           {}", c.name);
    out!("authentication: {}", c.token_endpoint_auth_method);
    print_keys(c);
    out!("grants:         {}", grants.join(" "));
    out!("scopes:         {}", c.scopes.join(" "));
    out!("audiences:      {}", c.audiences.join(" "));
    if !c.redirect_uris.is_empty() {
        out!("redirect_uris:  {}", c.redirect_uris.join(" "));
    }
    if let Some(alg) = c.alg {
        out!("alg:            {}", alg.as_str());
    }
    if let Some(ttl) = c.token_ttl {
        out!("token_ttl:      {ttl}s");
    }
    if c.dpop_bound_access_tokens || c.dpop_nonce_required {
        out!(
            "dpop:           bound={} nonce_required={}",
            c.dpop_bound_access_tokens,
            c.dpop_nonce_required
        );
    }
    out!("created:        {}", fmt_time(Some(c.created_at)));
}

/// The registered keys of a `private_key_jwt` client: kid, algorithm, RFC 7638 thumbprint.
fn print_keys(c: &crate::clients::Client) {
    if let Some(uri) = &c.jwks_uri {
        out!("jwks_uri:       {uri}");
    }
    if let Some(keys) = c.inline_keys() {
        for k in keys.keys() {
            out!(
                "key:            kid={} alg={} thumbprint={}",
                k.kid().unwrap_or("-"),
                k.alg().as_str(),
                k.thumbprint()
            );
        }
    }
}

fn print_secret(c: &crate::clients::ClientWithSecret, json: bool) {
    if json {
        out!("{}", serde_json::to_string_pretty(c).unwrap_or_default());
    } else {
        out!("client_id:     {}", c.client.client_id);
        if c.client.is_public() {
            out!("(a public client: no secret; it proves itself with PKCE)");
            return;
        }
        if c.client.token_endpoint_auth_method == crate::clients::AuthMethod::PrivateKeyJwt {
            print_keys(&c.client);
            out!("(private_key_jwt: no secret; the client signs assertions with its own key)");
            return;
        }
        out!("client_secret: {}", c.client_secret);
        out!("(the secret is shown only now; Tessera stores only its hash)");
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, KeysCommand, issuer_port_mismatch};

    #[test]
    fn ids_may_start_with_a_hyphen() {
        // Key ids, client ids and subject ids are base64url: one in 64 starts with '-'.
        let cli = Cli::try_parse_from(["tessera", "keys", "revoke", "-3npEBLeDaYxX"]).unwrap();
        match cli.command {
            Command::Keys(KeysCommand::Revoke { kid, .. }) => assert_eq!(kid, "-3npEBLeDaYxX"),
            other => panic!("{other:?}"),
        }
        for args in [
            &["tessera", "clients", "delete", "-abc"][..],
            &["tessera", "clients", "rotate-secret", "-abc"],
            &["tessera", "users", "disable", "-abc"],
            &["tessera", "users", "set-roles", "-abc", "--clear"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn a_local_issuer_on_another_port_than_bind_is_reported() {
        let warn = |i, b| issuer_port_mismatch(i, b).is_some();
        assert!(warn("http://127.0.0.1:8080", "127.0.0.1:9090"));
        assert!(warn("http://localhost:8080", "0.0.0.0:9090"));
        assert!(warn("http://[::1]:8080", "[::1]:9090"));
        assert!(!warn("http://127.0.0.1:9090", "127.0.0.1:9090"));
        // Behind a reverse proxy the public URL has its own port: not compared.
        assert!(!warn("https://auth.example.com", "127.0.0.1:8080"));
        // Port 0: the issuer is taken from the address bound.
        assert!(!warn("http://127.0.0.1:8080", "127.0.0.1:0"));
    }
}
