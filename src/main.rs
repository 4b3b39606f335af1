// The server's endpoint is a stack of middleware around the route table (app::routes); the
// layout of its nested future type exceeds rustc's default query depth (128) in release builds
// ("queries overflow the depth limit"). Raising the limit costs nothing at run time, unlike
// boxing a layer of the stack (an allocation per request).
#![recursion_limit = "256"]

use std::io::IsTerminal;

use clap::Parser;
use tessera::{
    cli::{self, Cli},
    config::{LogFormat, Settings},
};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let loaded = match Settings::load_with(cli.config.as_deref(), &cli.setting_flags()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let serving = cli.is_serve();
    // The server logs as configured; other commands only with -v (their output is the
    // result, and scripts read it).
    if serving || cli.verbose {
        init_logging(&loaded.settings);
    }
    for w in &loaded.warnings {
        if serving {
            tracing::warn!("{w}");
        } else {
            eprintln!("warning: {w}");
        }
    }
    let settings = loaded.settings.clone();
    // One worker: a current-thread runtime. It runs the same tasks without the multi-thread
    // scheduler's cross-thread wake-ups and work-stealing queues, which on one core are pure
    // overhead (bench/analysis.md). Blocking work (argon2, RSA key generation) has its own
    // threads either way.
    let mut rt = if settings.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    rt.enable_all();
    if settings.workers > 1 {
        rt.worker_threads(settings.workers);
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::run(cli, loaded)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Keeps the resident set close to what is in use (bench/analysis.md: peak RSS 124 MiB
/// → 47 MiB under a login storm). glibc raises its mmap threshold to the size of the
/// largest block freed, so after the first argon2 hash (a 19 MiB block) every later hash
/// block came from the heap and stayed resident when freed. A fixed threshold (which also
/// fixes the trim threshold) keeps such blocks in mmap, returned to the OS on free.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Logs to stderr, filtered by `RUST_LOG` or `log`, in `log_format`; colour only when
/// stderr is a terminal and `NO_COLOR` is unset or empty (https://no-color.org).
fn init_logging(settings: &Settings) {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&settings.log));
    // aws-sigv4 traces the canonical request it signs, which carries AWS_SESSION_TOKEN:
    // never logged, whatever the level asked for (`aws-kms` backend, docs/kms.md).
    #[cfg(feature = "aws-kms")]
    let filter = filter.add_directive("aws_sigv4=off".parse().expect("a valid directive"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
