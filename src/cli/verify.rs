//! `tessera verify <TOKEN> [--issuer URL] [--audience A] [--check-revocation]`: decodes an
//! access token, verifies it against the issuer's published keys with `tessera-verify`
//! (exactly what a resource server does) and prints the header, the claims and the verdict.
//!
//! Without `--audience` everything but the audience is checked (the token's own first
//! audience is used), and the report says so. Without `--check-revocation` the revocation
//! feed is not read, and the report says that too: a revoked token, or one of a user logged
//! out since, still verifies. "Cannot reach the issuer" (nothing verified) and "invalid"
//! are distinct outcomes with distinct exit codes.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tessera_verify::{Error as VerifierError, RevocationFeed, Verifier, decode_unverified};

/// The verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed (exit 0).
    Valid,
    /// The token failed a check; the reason (exit 1).
    Invalid(String),
    /// Nothing could be verified: the issuer or its revocation feed could not be read
    /// (exit 3).
    Unverified(String),
    /// The issuer URL is not acceptable (exit 2).
    Usage(String),
}

/// The printable report and the verdict.
pub struct Verdict {
    pub report: String,
    pub outcome: Outcome,
}

/// Verifies `token`; `feed` = (client id, secret) for the revocation feed.
pub async fn run(
    token: &str,
    issuer: &str,
    audience: Option<&str>,
    feed: Option<(String, String)>,
) -> Verdict {
    let token = token.trim();
    let mut out = String::new();
    let done = |mut out: String, outcome: Outcome| {
        out.push_str(&match &outcome {
            Outcome::Valid => String::new(),
            Outcome::Invalid(r) => format!("\nVerdict: INVALID: {r}\n"),
            Outcome::Unverified(r) | Outcome::Usage(r) => format!("\nVerdict: NOT VERIFIED: {r}\n"),
        });
        Verdict {
            report: out,
            outcome,
        }
    };
    let (header, claims) = match decode_unverified(token) {
        Ok(parts) => parts,
        Err(e) => {
            return done(
                out,
                Outcome::Invalid(format!("the token cannot be decoded: {e}")),
            );
        }
    };
    out.push_str("Header:\n");
    out.push_str(&pretty(&header));
    out.push_str("\nClaims:\n");
    out.push_str(&pretty(&claims));
    out.push('\n');
    if let Some(note) = times(&claims) {
        out.push_str(&note);
    }
    let (aud, aud_note) = match audience {
        Some(a) => (a.to_string(), format!("audience {a:?}")),
        None => {
            let first = match &claims["aud"] {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            };
            match first {
                Some(a) if !a.is_empty() => (
                    a,
                    "audience NOT checked (pass --audience to check it)".to_string(),
                ),
                _ => {
                    return done(
                        out,
                        Outcome::Invalid("the token has no usable aud claim".into()),
                    );
                }
            }
        }
    };
    let checks_revocation = feed.is_some();
    let mut builder = Verifier::builder().issuer(issuer).audience(aud);
    if let Some((id, secret)) = feed {
        builder = builder.revocation(RevocationFeed::new(id, secret));
    }
    let verifier = match builder.build().await {
        Ok(v) => v,
        Err(e) => return done(out, unverified(issuer, e)),
    };
    let revocation_note = if checks_revocation {
        "Revocation: checked (the issuer's revocation feed was read just now)\n"
    } else {
        "Revocation: NOT checked (a revoked token, or one of a user logged out or disabled \
         since, still shows VALID; pass --check-revocation with --client-id and --client-secret)\n"
    };
    // A DPoP-bound token is verified like any other here; the proof of possession belongs to
    // a request, which the command line does not have, so the report says what is left.
    match verifier.verify_ignoring_binding(token).await {
        Ok(claims) => {
            out.push_str(&format!(
                "\nVerdict: VALID (signature {} with kid {}, typ, issuer {issuer:?}, {aud_note}, time, required claims)\n",
                header["alg"].as_str().unwrap_or("?"),
                header["kid"].as_str().unwrap_or("?"),
            ));
            out.push_str(revocation_note);
            if let Some(jkt) = claims.confirmation_jkt() {
                out.push_str(&format!(
                    "DPoP: bound to the key with thumbprint {jkt}; a service accepts it only with \
                     `Authorization: DPoP` and a fresh proof made with that key (not checked here)\n"
                ));
            }
            done(out, Outcome::Valid)
        }
        Err(e) => {
            let mut reason = e.to_string();
            if audience.is_none() {
                reason.push_str("; the audience was not checked");
            }
            let mut verdict = done(out, Outcome::Invalid(reason));
            verdict.report.push_str(revocation_note);
            verdict
        }
    }
}

/// Why nothing could be verified, from a verifier that could not be built.
fn unverified(issuer: &str, e: VerifierError) -> Outcome {
    match e {
        VerifierError::Fetch { url, detail } if url.contains("/oauth/revocations") => {
            Outcome::Unverified(format!(
                "cannot read the revocation feed ({url}: {detail}; check --client-id and --client-secret)"
            ))
        }
        VerifierError::Fetch { url, detail } => {
            Outcome::Unverified(format!("cannot reach the issuer ({url}: {detail})"))
        }
        VerifierError::Config(c) => Outcome::Usage(format!("cannot verify against {issuer}: {c}")),
        other => Outcome::Unverified(format!(
            "cannot use the issuer's published keys ({issuer}: {other})"
        )),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

/// "Expires in 14m 57s" / "Expired 3m ago", from `exp`.
fn times(claims: &Value) -> Option<String> {
    let exp = claims["exp"].as_i64()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    let d = exp.saturating_sub(now);
    let span = |s: i64| {
        let s = s.unsigned_abs();
        if s >= 3600 {
            format!("{}h {}m", s / 3600, s % 3600 / 60)
        } else if s >= 60 {
            format!("{}m {}s", s / 60, s % 60)
        } else {
            format!("{s}s")
        }
    };
    Some(if d > 0 {
        format!("Expires in {}\n", span(d))
    } else {
        format!("Expired {} ago\n", span(d))
    })
}
