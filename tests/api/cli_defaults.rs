//! Safe command-line defaults (issue #16), each run with the real binary: only `serve` and
//! `migrate` create a database; no log lines without `-v` and no colour off a terminal;
//! `backup` copies a serving SQLite database that restores and serves; `set-roles` needs
//! `--role` or `--clear`; bare seconds are durations; unknown `TESSERA_*` variables get a
//! suggestion; `config` shows the server's values and their sources; the issuer follows
//! `bind`; `verify` tells "cannot reach" from "invalid" and says whether revocation was
//! checked; a closed stdout pipe ends quietly; every flag has help text.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use clap::CommandFactory;
use serde_json::Value;
use tessera::keys::Kek;

use crate::{
    cli::{Env, cli_json, empty_env, env, id_and_secret, log, serve, stop, tessera},
    on_both_backends,
    support::Backend,
};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The binary in `dir` with no `TESSERA_*` setting from the test environment.
fn bare(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("TESSERA_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client-credentials token from `base`.
async fn token(base: &str, id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn access_token(base: &str, id: &str, secret: &str) -> String {
    let r = token(base, id, secret).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn create_client(env: &Env) -> (String, String) {
    id_and_secret(&cli_json(
        env,
        &[
            "clients",
            "create",
            "--name",
            "svc",
            "--audience",
            "https://api.test",
            "--json",
        ],
    ))
}

/// A command run from a directory without the server's database refuses, naming the
/// absolute path it looked at and how to point it elsewhere, and creates nothing; `migrate`
/// creates it, after which the same command works.
#[test]
fn commands_other_than_serve_and_migrate_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("data/tessera.db");
    for args in [
        &["clients", "list"][..],
        &["users", "list"],
        &["keys", "list"],
        &["backup", "copy.db"],
        &["clients", "create", "--name", "x", "--audience", "a"],
    ] {
        let out = bare(dir.path(), args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("no Tessera database at {}", expected.display())),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("--database-url") && err.contains("TESSERA_DATABASE_URL"),
            "{err}"
        );
        assert!(!dir.path().join("data").exists(), "{args:?} created data/");
        assert!(!dir.path().join("copy.db").exists());
    }
    let out = bare(dir.path(), &["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&expected.display().to_string()));
    let out = bare(dir.path(), &["clients", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // --database-url points elsewhere (from another directory) and is checked the same way.
    let elsewhere = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", expected.display());
    let out = bare(
        elsewhere.path(),
        &["--database-url", &url, "clients", "list"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bare(
        elsewhere.path(),
        &[
            "--database-url",
            "sqlite://nowhere.db?mode=rwc",
            "users",
            "list",
        ],
    )
    .output()
    .unwrap();
    assert!(
        stderr(&out).contains(&format!(
            "no Tessera database at {}",
            elsewhere.path().join("nowhere.db").display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!elsewhere.path().join("nowhere.db").exists());
}

/// On PostgreSQL too: an empty schema is not a Tessera database.
async fn an_empty_schema_is_refused_until_migrated(backend: Backend) {
    let env = empty_env(&backend).await;
    let out = tessera(&env, &["clients", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no Tessera database at"),
        "{}",
        stderr(&out)
    );
    let out = tessera(&env, &["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tessera(&env, &["clients", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
on_both_backends!(an_empty_schema_is_refused_until_migrated);

/// `-v` shows the log lines (migrations); without it a command prints only its result.
/// Neither the CLI nor the server writes colour codes to a file, and NO_COLOR is honoured.
#[tokio::test]
async fn logs_only_with_verbose_and_never_coloured_off_a_terminal() {
    let quiet = empty_env(&Backend::Sqlite).await;
    let out = tessera(&quiet, &["migrate"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "no log lines without -v");
    let out = tessera(&quiet, &["clients", "list"]).output().unwrap();
    assert_eq!(stderr(&out), "");
    let verbose = empty_env(&Backend::Sqlite).await;
    let out = tessera(&verbose, &["-v", "migrate"]).output().unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("INFO"), "-v shows log lines: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI colour into a pipe: {err:?}"
    );
    // The server writing to a file: no colour either.
    let (child, _) = serve(&quiet, Some(&Kek::generate_encoded().unwrap()), "info").await;
    stop(child);
    let logs = log(&quiet);
    assert!(logs.contains("tessera listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no ANSI colour in a log file");
}

/// On a terminal (util-linux `script` provides one) log lines are coloured, unless
/// NO_COLOR is set.
#[test]
fn colour_only_on_a_terminal_and_not_with_no_color() {
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &format!("'{}' -v migrate", env!("CARGO_BIN_EXE_tessera")),
            "/dev/null",
        ])
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("util-linux `script`");
        let text = stdout(&out);
        assert!(text.contains("INFO"), "{text}");
        assert_eq!(
            text.contains('\u{1b}'),
            coloured,
            "NO_COLOR={no_color:?}: {text:?}"
        );
    }
}

/// A consistent copy taken while the server serves (and issues tokens) restores into a
/// fresh directory, where a server on the copy issues tokens to the client created before.
/// The copy is 0600 and never overwrites.
#[tokio::test]
async fn backup_while_serving_restores_into_a_working_server() {
    let env = env(&Backend::Sqlite).await;
    let kek = Kek::generate_encoded().unwrap();
    let (id, secret) = create_client(&env);
    let (child, base) = serve(&env, Some(&kek), "info").await;
    let first = access_token(&base, &id, &secret).await;
    // Token requests keep the server writing (denylist rows, stats) during the copy.
    let load = {
        let (base, id, secret) = (base.clone(), id.clone(), secret.clone());
        tokio::spawn(async move {
            for _ in 0..50 {
                assert_eq!(token(&base, &id, &secret).await.status(), 200);
            }
        })
    };
    let target = env.dir.path().join("backup.db");
    let out = tessera(&env, &["backup", "backup.db"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&target.display().to_string()));
    assert!(stdout(&out).contains("key-encryption key is not in the backup"));
    load.await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let size = std::fs::metadata(&target).unwrap().len();
    // Never overwrites.
    let out = tessera(&env, &["backup", "backup.db"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&target).unwrap().len(), size);
    stop(child);

    // Restore: the file in place of data/tessera.db of a fresh directory, same KEK.
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored.path().join("data")).unwrap();
    std::fs::copy(&target, restored.path().join("data/tessera.db")).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = bare(
        restored.path(),
        &["serve", "--bind", &format!("127.0.0.1:{port}")],
    );
    cmd.env("TESSERA_KEK", &kek)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "a server on the restored copy starts");
    let again = access_token(&base, &id, &secret).await;
    // Same signing keys: the first token's kid is still published.
    let kid = |t: &str| tessera_verify::decode_unverified(t).unwrap().0["kid"].clone();
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid(&first))
    );
    assert_eq!(kid(&again), kid(&first));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

/// PostgreSQL is backed up with pg_dump: `tessera backup` says so and writes nothing.
async fn backup_of_postgresql_points_at_pg_dump(backend: Backend) {
    let env = env(&backend).await;
    let out = tessera(&env, &["backup", "copy.db"]).output().unwrap();
    if matches!(backend, Backend::Sqlite) {
        assert!(out.status.success(), "{}", stderr(&out));
        return;
    }
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pg_dump"), "{}", stderr(&out));
    assert!(!env.dir.path().join("copy.db").exists());
}
on_both_backends!(backup_of_postgresql_points_at_pg_dump);

/// `users set-roles NAME` alone would wipe the roles (and log the user out): refused
/// unless `--clear` says so.
#[tokio::test]
async fn set_roles_without_roles_needs_clear() {
    let env = env(&Backend::Sqlite).await;
    let out = tessera(
        &env,
        &["users", "create", "--username", "alice", "--role", "admin"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let roles = || {
        let list = cli_json(&env, &["users", "list", "--json"]);
        list[0]["roles"].clone()
    };
    let out = tessera(&env, &["users", "set-roles", "alice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "refused as a usage error");
    assert!(stderr(&out).contains("--clear"), "{}", stderr(&out));
    assert_eq!(roles(), serde_json::json!(["admin"]), "roles untouched");
    let out = tessera(
        &env,
        &["users", "set-roles", "alice", "--role", "x", "--clear"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = tessera(&env, &["users", "set-roles", "alice", "--clear"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "alice now has no roles");
    assert_eq!(roles(), serde_json::json!([]));
    let out = tessera(&env, &["users", "set-roles", "alice", "--role", "ops"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(roles(), serde_json::json!(["ops"]));
}

/// Bare seconds are a duration on the command line, in the file and in the environment.
#[tokio::test]
async fn bare_seconds_are_accepted_wherever_a_duration_is() {
    let env = env(&Backend::Sqlite).await;
    let created = cli_json(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "short",
            "--audience",
            "a",
            "--ttl",
            "15",
            "--json",
        ],
    );
    assert_eq!(created["token_ttl"], 15);
    let out = tessera(
        &env,
        &[
            "clients",
            "create",
            "--name",
            "x",
            "--audience",
            "a",
            "--ttl",
            "soon",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("15s, 10m, 1h, 7d"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "access_token_ttl = \"90\"\nclock_leeway = 30\n",
    )
    .unwrap();
    let config = |extra: &[(&str, &str)]| {
        let mut cmd = bare(dir.path(), &["config", "--json"]);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let c = config(&[]);
    assert_eq!(c["access_token_ttl"]["value"], "1m 30s");
    assert_eq!(c["clock_leeway"]["value"], "30s");
    let c = config(&[("TESSERA_ACCESS_TOKEN_TTL", "120")]);
    assert_eq!(c["access_token_ttl"]["value"], "2m");
}

/// A misspelled variable is not silently ignored: a warning names the closest setting.
#[test]
fn unknown_tessera_variables_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let out = bare(dir.path(), &["config"])
        .env("TESSERA_ACESS_TOKEN_TTL", "5m")
        .env("TESSERA_ZZZZZZZZZZZZZZZZZZ", "1")
        .env("TESSERA_TEST_POSTGRES_URL", "not a setting, known")
        .output()
        .unwrap();
    assert!(out.status.success(), "a warning, not an error");
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: TESSERA_ACESS_TOKEN_TTL is not a setting; did you mean TESSERA_ACCESS_TOKEN_TTL?"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: TESSERA_ZZZZZZZZZZZZZZZZZZ is not a setting"),
        "{err}"
    );
    assert!(!err.contains("TEST_POSTGRES_URL"), "{err}");
    // The default stays: the typo did not set anything.
    assert!(stdout(&out).contains("access_token_ttl = \"15m\"  # default"));
}

/// `tessera config` shows what the server would run with (its 500 ms database timeout, not
/// the CLI's own), each value's source, and the database file as an absolute path.
#[test]
fn config_shows_the_servers_values_and_their_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "rotation_interval = \"1d\"\n",
    )
    .unwrap();
    let out = bare(
        dir.path(),
        &["config", "--database-url", "sqlite://db/t.db"],
    )
    .env("TESSERA_ACCESS_TOKEN_TTL", "10m")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let file = dir.path().join("tessera.toml");
    for line in [
        "database_acquire_timeout = \"500ms\"  # default".to_string(),
        format!("rotation_interval = \"1day\"  # file ({})", file.display()),
        "access_token_ttl = \"10m\"  # env (TESSERA_ACCESS_TOKEN_TTL)".to_string(),
        format!(
            "database_url = \"sqlite://{}\"  # flag",
            dir.path().join("db/t.db").display()
        ),
        format!(
            "kek_file = \"{}\"  # default",
            dir.path().join("keys/kek").display()
        ),
        "issuer = \"http://127.0.0.1:8080\"  # default".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    let out = bare(dir.path(), &["config", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["rotation_interval"]["source"],
        format!("file ({})", file.display())
    );
    assert_eq!(json["database_acquire_timeout"]["value"], "500ms");
    assert_eq!(json["bind"]["source"], "default");
    // The issuer follows bind when not set.
    let out = bare(dir.path(), &["config", "--json"])
        .env("TESSERA_BIND", "0.0.0.0:9000")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["issuer"]["value"], "http://127.0.0.1:9000");
}

/// `serve --bind` alone moves the issuer with it; an issuer set on a local host with
/// another port than `bind` gets a warning at start.
#[tokio::test]
async fn the_issuer_follows_bind_and_a_disagreement_is_warned_about() {
    let env = env(&Backend::Sqlite).await;
    let kek = Kek::generate_encoded().unwrap();
    let start = |issuer: Option<String>| {
        let port = free_port();
        let mut cmd = tessera(&env, &["serve", "--bind", &format!("127.0.0.1:{port}")]);
        cmd.env("TESSERA_KEK", &kek)
            .env("TESSERA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(env.dir.path().join("serve.log")).unwrap(),
            ));
        if let Some(i) = issuer {
            cmd.env("TESSERA_ISSUER", i);
        } else {
            // A misspelled issuer is not silently ignored by the server either.
            cmd.env("TESSERA_ISUER", "http://typo.test");
        }
        (cmd.spawn().unwrap(), format!("http://127.0.0.1:{port}"))
    };
    let wait = |base: String| async move {
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(format!("{base}/.well-known/openid-configuration")).await
                && r.status() == 200
            {
                return r.json::<Value>().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not start");
    };
    let (child, base) = start(None);
    let discovery = wait(base.clone()).await;
    assert_eq!(discovery["issuer"], base.as_str());
    stop(child);
    let logs = log(&env);
    assert!(!logs.contains("names port"), "{logs}");
    assert!(
        logs.contains("TESSERA_ISUER is not a setting; did you mean TESSERA_ISSUER?"),
        "{logs}"
    );
    // The server names its database file, absolute.
    assert!(
        logs.contains(&env.dir.path().join("tessera.db").display().to_string()),
        "{logs}"
    );

    let other = format!("http://127.0.0.1:{}", free_port());
    let (child, base) = start(Some(other.clone()));
    let discovery = wait(base).await;
    assert_eq!(
        discovery["issuer"],
        other.as_str(),
        "an explicit issuer wins"
    );
    stop(child);
    let logs = log(&env);
    assert!(
        logs.contains(&format!("issuer {other} names port")),
        "{logs}"
    );
}

/// `verify`: exit 0 valid (saying revocation was not checked), 1 invalid, 3 when the issuer
/// cannot be reached; `--check-revocation` reads the feed and rejects a revoked token.
#[tokio::test]
async fn verify_tells_unreachable_from_invalid_and_checks_revocation_when_asked() {
    let env = env(&Backend::Sqlite).await;
    let (id, secret) = create_client(&env);
    let (child, base) = serve(&env, Some(&Kek::generate_encoded().unwrap()), "info").await;
    let at = access_token(&base, &id, &secret).await;
    let verify = |args: &[&str]| {
        let mut all = vec!["verify", at.as_str(), "--issuer", base.as_str()];
        all.extend_from_slice(args);
        tessera(&env, &all).output().unwrap()
    };
    let out = verify(&["--audience", "https://api.test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Verdict: VALID"));
    assert!(stdout(&out).contains("Revocation: NOT checked"));
    // Without --issuer: the configured issuer.
    let out = tessera(&env, &["verify", &at])
        .env("TESSERA_ISSUER", &base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Revoked (RFC 7009): still VALID without the feed, INVALID with it.
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Revocation: NOT checked"));
    let with_feed = |client_secret: &str| {
        let mut cmd = tessera(
            &env,
            &["verify", &at, "--issuer", &base, "--check-revocation"],
        );
        cmd.env("TESSERA_VERIFY_CLIENT_ID", &id)
            .env("TESSERA_VERIFY_CLIENT_SECRET", client_secret);
        cmd.output().unwrap()
    };
    let out = with_feed(&secret);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error: invalid token (token has been revoked"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("Revocation: checked"));
    // A wrong feed secret: nothing verified.
    let out = with_feed("wrong-secret");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot read the revocation feed"));
    // --check-revocation without credentials: a usage error.
    let out = verify(&["--check-revocation"]);
    assert_eq!(out.status.code(), Some(2));
    // A tampered token: invalid.
    let mut bad = at.clone();
    bad.replace_range(bad.len() - 4.., "AAAA");
    let out = tessera(&env, &["verify", &bad, "--issuer", &base])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: invalid token (signature is invalid"));
    stop(child);
    // The issuer is down: exit 3, naming the URL.
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!(
            "error: cannot reach the issuer ({base}/.well-known/openid-configuration: "
        )),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("Verdict: NOT VERIFIED"));
}

/// `tessera openapi | head -1`: the reader goes away, the writer ends quietly with 0.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    for args in [&["openapi"][..], &["config"], &["--help"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the child writes: every write fails with EPIPE.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{args:?}: {status}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Every subcommand and every argument (flags and positionals) has help text, and the
/// binary shows it; `keys revoke --help` states what happens to the signing key.
#[test]
fn every_flag_and_subcommand_has_help_text() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            if sub.get_name() != "help" && sub.get_about().is_none() {
                missing.push(p.clone());
            }
            walk(sub, &p, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&tessera::cli::Cli::command(), "tessera", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:?}");

    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        stdout(&out)
    };
    let list = help(&["clients", "list", "--help"]);
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with("--json") && l.contains("Print JSON")),
        "{list}"
    );
    let revoke = help(&["keys", "revoke", "--help"]);
    assert!(
        revoke.contains("a fresh key of that algorithm is created and signs at once"),
        "{revoke}"
    );
    assert!(help(&["--help"]).contains("-v, --verbose"));
}

/// As `keys revoke --help` says: revoking the ACTIVE key activates a fresh key at once; the
/// retired predecessor stays retired (never signs again).
#[tokio::test]
async fn revoking_the_active_key_activates_a_fresh_key_not_the_retired_one() {
    let mut env = env(&Backend::Sqlite).await;
    env.vars
        .push(("TESSERA_KEK".into(), Kek::generate_encoded().unwrap()));
    let keys = || -> Vec<(String, String)> {
        cli_json(&env, &["keys", "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == "ES256")
            .map(|k| {
                (
                    k["kid"].as_str().unwrap().to_string(),
                    k["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let out = tessera(&env, &["keys", "rotate", "--alg", "ES256", "--now"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let of = |list: &[(String, String)], state: &str| -> Vec<String> {
        list.iter()
            .filter(|(_, s)| s == state)
            .map(|(k, _)| k.clone())
            .collect()
    };
    // An immediate key signs from the next second when timestamps collide: wait for it.
    let mut before = keys();
    for _ in 0..40 {
        if of(&before, "NEXT").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        before = keys();
    }
    let (active, retired) = (of(&before, "ACTIVE"), of(&before, "RETIRED"));
    assert_eq!((active.len(), retired.len()), (1, 1), "{before:?}");
    let out = tessera(&env, &["keys", "revoke", &active[0]])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut after = keys();
    for _ in 0..40 {
        if of(&after, "NEXT").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = keys();
    }
    assert_eq!(of(&after, "REVOKED"), active);
    assert_eq!(
        of(&after, "RETIRED"),
        retired,
        "the predecessor stays retired"
    );
    let now_active = of(&after, "ACTIVE");
    assert_eq!(now_active.len(), 1);
    assert!(
        !before.iter().any(|(k, _)| *k == now_active[0]),
        "a fresh key"
    );
}
