//! `tessera verify <TOKEN> --issuer URL [--audience A]`: decodes an access token, verifies
//! it against the issuer's published keys with `tessera-verify` (exactly what a resource
//! server does) and prints the header, the claims and the verdict.
//!
//! Without `--audience` everything but the audience is checked (the token's own first
//! audience is used), and the report says so.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tessera_verify::{Verifier, decode_unverified};

/// Verifies `token` and returns the printable report: `Ok` when the token is valid, `Err`
/// (with the same report, ending in the reason) otherwise.
pub async fn run(token: &str, issuer: &str, audience: Option<&str>) -> Result<String, String> {
    let token = token.trim();
    let mut out = String::new();
    let (header, claims) = match decode_unverified(token) {
        Ok(parts) => parts,
        Err(e) => {
            out.push_str(&format!(
                "Verdict: INVALID: the token cannot be decoded: {e}\n"
            ));
            return Err(out);
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
                    out.push_str("\nVerdict: INVALID: the token has no usable aud claim\n");
                    return Err(out);
                }
            }
        }
    };
    let verifier = match Verifier::builder()
        .issuer(issuer)
        .audience(aud)
        .build()
        .await
    {
        Ok(v) => v,
        Err(e) => {
            out.push_str(&format!(
                "\nVerdict: NOT VERIFIED: cannot load the keys of {issuer}: {e}\n"
            ));
            return Err(out);
        }
    };
    match verifier.verify(token).await {
        Ok(_) => {
            out.push_str(&format!(
                "\nVerdict: VALID (signature {} with kid {}, typ, issuer {issuer:?}, {aud_note}, time, required claims)\n",
                header["alg"].as_str().unwrap_or("?"),
                header["kid"].as_str().unwrap_or("?"),
            ));
            Ok(out)
        }
        Err(e) => {
            out.push_str(&format!("\nVerdict: INVALID: {e}\n"));
            if audience.is_none() {
                out.push_str("(the audience was not checked)\n");
            }
            Err(out)
        }
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
