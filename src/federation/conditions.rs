//! Claim conditions of a federated identity binding: `key=value` pairs, each naming a claim
//! by its path (dots between levels) and the exact string it must hold.
//!
//! Claim names may themselves contain dots (Kubernetes nests its claims under
//! `kubernetes.io`), so a path is resolved against the token, not split blindly:
//! `kubernetes.io.namespace` matches `{"kubernetes.io": {"namespace": "payments"}}` and
//! also `{"kubernetes": {"io": {"namespace": "payments"}}}`. Only strings, numbers and
//! booleans compare (a number or boolean by its JSON text); objects, arrays and nulls never
//! match. There are no wildcards: every value is compared exactly.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Longest condition key or value (characters).
pub const MAX_CONDITION_LEN: usize = 256;
/// Most conditions on one binding.
pub const MAX_CONDITIONS: usize = 16;

/// Parses `key=value` (the first `=` separates them).
pub fn parse(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("condition {s:?} is not key=value"))?;
    check(k, v)?;
    Ok((k.to_owned(), v.to_owned()))
}

/// Checks one condition as stored.
pub fn check(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.starts_with('.') || key.ends_with('.') || key.contains("..") {
        return Err(format!("condition key {key:?} is not a claim path (a.b.c)"));
    }
    if key.len() > MAX_CONDITION_LEN || value.len() > MAX_CONDITION_LEN {
        return Err(format!(
            "conditions are at most {MAX_CONDITION_LEN} characters"
        ));
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        return Err("conditions must not contain control characters".into());
    }
    if matches!(key, "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "jti") {
        return Err(format!(
            "{key} is checked by the federation itself, not by a condition"
        ));
    }
    Ok(())
}

/// Whether every condition holds for `claims`.
pub fn all_hold(conditions: &BTreeMap<String, String>, claims: &Map<String, Value>) -> bool {
    conditions.iter().all(|(k, v)| holds(claims, k, v))
}

fn holds(obj: &Map<String, Value>, path: &str, want: &str) -> bool {
    if let Some(v) = obj.get(path)
        && scalar_eq(v, want)
    {
        return true;
    }
    // Try every split point: "kubernetes.io" + "namespace", "kubernetes" + "io.namespace".
    path.match_indices('.').any(|(i, _)| {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        matches!(obj.get(head), Some(Value::Object(inner)) if holds(inner, rest, want))
    })
}

fn scalar_eq(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => n.to_string() == want,
        Value::Bool(b) => (if *b { "true" } else { "false" }) == want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn conds(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nested_claims_with_dotted_names() {
        let k8s = json!({"kubernetes.io": {"namespace": "payments",
            "serviceaccount": {"name": "billing", "uid": "u1"}}, "n": 3, "b": true});
        let c = k8s.as_object().unwrap();
        assert!(all_hold(
            &conds(&[("kubernetes.io.namespace", "payments")]),
            c
        ));
        assert!(all_hold(
            &conds(&[
                ("kubernetes.io.serviceaccount.name", "billing"),
                ("n", "3"),
                ("b", "true")
            ]),
            c
        ));
        assert!(!all_hold(
            &conds(&[("kubernetes.io.namespace", "other")]),
            c
        ));
        assert!(!all_hold(&conds(&[("kubernetes.io", "payments")]), c));
        assert!(!all_hold(&conds(&[("kubernetes.io.missing", "x")]), c));
        assert!(all_hold(&conds(&[]), c));
        let gh = json!({"repository": "acme/api", "ref": "refs/heads/main", "environment": "prod"});
        let g = gh.as_object().unwrap();
        assert!(all_hold(
            &conds(&[("repository", "acme/api"), ("ref", "refs/heads/main")]),
            g
        ));
        assert!(!all_hold(
            &conds(&[("repository", "acme/api"), ("environment", "staging")]),
            g
        ));
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse("ref=refs/heads/main").unwrap(),
            ("ref".into(), "refs/heads/main".into())
        );
        assert_eq!(parse("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        for bad in ["novalue", "=x", ".a=x", "a.=x", "a..b=x", "sub=x", "a=\n"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
