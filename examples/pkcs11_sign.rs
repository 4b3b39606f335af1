//! Micro-measurement of PKCS#11 signing against a throw-away SoftHSM2 token (issue #20's
//! speed goal, `docs/hsm.md` "Speed"): what one `C_SignInit` + `C_Sign` costs with
//!
//! - the key's token object (`CKA_TOKEN=true`, what `generate` creates), and
//! - a session-object copy of it (`C_CopyObject` with `CKA_TOKEN=false`; still sensitive and
//!   non-extractable, inside the token: this program checks that `CKA_VALUE` is refused),
//!
//! on one thread and on two threads each with its own session, next to aws-lc-rs signing the
//! same message in-process. The token is made as `tests/api/hsm.rs` makes it (`SOFTHSM2_CONF`
//! in a temporary directory, `softhsm2-util --init-token --free`), with the key templates of
//! `src/keys/custody/pkcs11.rs`.
//!
//! ```text
//! cargo run --example pkcs11_sign                       # every case, ES256 and RS256
//! cargo run --example pkcs11_sign -- es256-token 20000  # one case (for strace -c / perf)
//! ```
//!
//! Cases: `es256-token`, `es256-copy`, `rs256-token`, `rs256-copy`, `aws-lc-es256`, or `all`
//! (the default). `PKCS11_MODULE` overrides the SoftHSM2 path; `SOFTHSM2_BACKEND=db` asks for
//! SoftHSM2's SQLite object store (builds without it refuse to initialise the token). Numbers
//! are wall-clock per call on a possibly shared machine: run it pinned (`taskset -c 1`) on a
//! quiet box and compare cases of the same run only.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Pkcs11},
    mechanism::Mechanism,
    object::{Attribute, AttributeInfo, AttributeType, ObjectHandle},
    session::{Session, UserType},
    slot::Slot,
    types::AuthPin,
};

const PIN: &str = "1234";
/// DER of the OID of P-256, as in `src/keys/custody/pkcs11.rs`.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// A JWS signing input of the size Tessera signs for a client_credentials token.
const MSG: &[u8; 420] = &[b'a'; 420];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let case = args.first().map(String::as_str).unwrap_or("all");
    let n_es: u32 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let n_rs: u32 = (n_es / 40).max(50);
    let module =
        std::env::var("PKCS11_MODULE").unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    let backend = std::env::var("SOFTHSM2_BACKEND").unwrap_or_else(|_| "file".into());

    if case == "aws-lc-es256" || case == "all" {
        aws_lc(n_es)?;
        if case != "all" {
            return Ok(());
        }
    }

    let dir = tempfile::tempdir()?;
    let conf = init_token(dir.path(), &backend)?;
    // SAFETY: single-threaded here, before the module is loaded (it reads this at C_Initialize).
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    let ctx = Pkcs11::new(&module)?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = *ctx
        .get_slots_with_initialized_token()?
        .first()
        .ok_or("no token")?;
    // The owner session: logs in, makes the keys and the copies, and stays open (session
    // objects die with the session that made them).
    let owner = ctx.open_rw_session(slot)?;
    owner.login(UserType::User, Some(&AuthPin::from(PIN)))?;
    println!(
        "SoftHSM2 {} objectstore.backend={backend} module={module}",
        version()
    );

    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MSG);
    let digest = digest.as_ref().to_vec();
    let es = generate(&owner, true)?;
    let es_copy = copy(&owner, es)?;
    check_copy(&owner, es_copy)?;
    if case == "es256-token" || case == "all" {
        measure(&ctx, slot, "ES256 token object ", es, true, &digest, n_es)?;
    }
    if case == "es256-copy" || case == "all" {
        measure(
            &ctx,
            slot,
            "ES256 session copy ",
            es_copy,
            true,
            &digest,
            n_es,
        )?;
    }
    if case.starts_with("rs256") || case == "all" {
        let rs = generate(&owner, false)?;
        let rs_copy = copy(&owner, rs)?;
        check_copy(&owner, rs_copy)?;
        if case == "rs256-token" || case == "all" {
            measure(&ctx, slot, "RS256 token object ", rs, false, MSG, n_rs)?;
        }
        if case == "rs256-copy" || case == "all" {
            measure(&ctx, slot, "RS256 session copy ", rs_copy, false, MSG, n_rs)?;
        }
    }
    drop(owner);
    ctx.finalize()?;
    Ok(())
}

fn version() -> String {
    Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A SoftHSM2 configuration and an initialised token in `dir`; the path of the configuration.
fn init_token(dir: &Path, backend: &str) -> Res<std::path::PathBuf> {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = {backend}\nlog.level = ERROR\n",
            tokens.display()
        ),
    )?;
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "micro", "--pin", PIN])
        .args(["--so-pin", "12345678"])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "softhsm2-util --init-token (objectstore.backend = {backend}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(conf)
}

/// A key pair generated inside the token with Tessera's templates; the private handle.
fn generate(s: &Session, ec: bool) -> Res<ObjectHandle> {
    let id = if ec {
        b"micro-ec".to_vec()
    } else {
        b"micro-rsa".to_vec()
    };
    let mut pub_t = vec![
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::Id(id.clone()),
    ];
    let priv_t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Id(id),
    ];
    let mech = if ec {
        pub_t.push(Attribute::EcParams(P256_PARAMS.to_vec()));
        Mechanism::EccKeyPairGen
    } else {
        pub_t.push(Attribute::ModulusBits(2048u64.into()));
        pub_t.push(Attribute::PublicExponent(vec![1, 0, 1]));
        Mechanism::RsaPkcsKeyPairGen
    };
    Ok(s.generate_key_pair(&mech, &pub_t, &priv_t)?.1)
}

/// A session-object copy of a private key, made on `owner`.
fn copy(owner: &Session, key: ObjectHandle) -> Res<ObjectHandle> {
    let t = Instant::now();
    let h = owner.copy_object(key, &[Attribute::Token(false)])?;
    println!("C_CopyObject (CKA_TOKEN=false): {:?}", t.elapsed());
    Ok(h)
}

/// The copy is a session object, sensitive and not extractable, and refuses its value.
fn check_copy(s: &Session, h: ObjectHandle) -> Res<()> {
    let flags = s.get_attributes(
        h,
        &[
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::Sensitive,
            AttributeType::Extractable,
        ],
    )?;
    let want = [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    for w in &want {
        if !flags.contains(w) {
            return Err(format!("copy has {flags:?}, want {w:?}").into());
        }
    }
    let info = s.get_attribute_info(
        h,
        &[
            AttributeType::Value,
            AttributeType::PrivateExponent,
            AttributeType::Prime1,
        ],
    )?;
    if !info
        .iter()
        .all(|i| matches!(i, AttributeInfo::Sensitive | AttributeInfo::TypeInvalid))
    {
        return Err(format!("copy reveals a private value: {info:?}").into());
    }
    println!("copy checked: {flags:?}; private values: {info:?}");
    Ok(())
}

/// `n` signatures on a fresh session of its own, after a warm-up; the time they took.
fn sign_loop(
    ctx: &Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    ec: bool,
    data: &[u8],
    n: u32,
) -> Res<Duration> {
    let mech = if ec {
        Mechanism::Ecdsa
    } else {
        Mechanism::Sha256RsaPkcs
    };
    let s = ctx.open_rw_session(slot)?;
    // Warm-up: caches, the module's lazily built state.
    for _ in 0..(n / 10).max(5) {
        s.sign(&mech, key, data)?;
    }
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(s.sign(&mech, key, data)?);
    }
    Ok(t.elapsed())
}

/// Signs `n` times on one thread (best of three batches: the least disturbed by other
/// processes), then `n` times per thread on two threads started together.
fn measure(
    ctx: &Pkcs11,
    slot: Slot,
    label: &str,
    key: ObjectHandle,
    ec: bool,
    data: &[u8],
    n: u32,
) -> Res<()> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(sign_loop(ctx, slot, key, ec, data, n)?);
    }
    let per = best.as_secs_f64() * 1e6 / f64::from(n);
    let t = Instant::now();
    std::thread::scope(|scope| -> Res<()> {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| sign_loop(ctx, slot, key, ec, data, n).map_err(|e| e.to_string()))
            })
            .collect();
        for th in threads {
            th.join().map_err(|_| "thread panicked")??;
        }
        Ok(())
    })?;
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{label} 1 thread: {per:7.1} us/sign ({:6.0}/s)   2 threads: {:7.0} sign/s in total ({:5.1} us of wall time per sign)",
        1e6 / per,
        f64::from(2 * n) / wall,
        wall * 1e6 / f64::from(2 * n)
    );
    Ok(())
}

/// aws-lc-rs signing the same message (what the `local` backend does per token).
fn aws_lc(n: u32) -> Res<()> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "aws-lc key generation")?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "aws-lc key")?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(key.sign(&rng, MSG).map_err(|_| "aws-lc sign")?);
        }
        best = best.min(t.elapsed());
    }
    let per = best.as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "ES256 aws-lc-rs      1 thread: {per:7.1} us/sign ({:6.0}/s)   (this build's profile: see Cargo.toml)",
        1e6 / per
    );
    Ok(())
}
