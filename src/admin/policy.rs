//! Which admin client may change which client (security round 2, rows A1–A3).
//!
//! A client is *privileged* when it holds any `tessera:*` scope or the admin audience
//! `urn:tessera:admin` (compared without regard to ASCII case, so look-alike spellings are
//! privileged too). The rules:
//!
//! - only a `tessera:admin` principal registers a privileged client or makes one
//!   privileged (A1);
//! - only a `tessera:admin` principal patches, rotates the secret of, or deletes a
//!   privileged client (A2);
//! - no principal widens its own scopes or audiences, `tessera:admin` included: a client
//!   may narrow itself, but anything it gains must come from another `tessera:admin`
//!   client or from the command line (A3).

use super::{ADMIN_AUDIENCE, SCOPE_ADMIN, auth::Principal};
use crate::clients::Client;

/// A `tessera:*` scope (any case).
pub fn is_admin_scope(scope: &str) -> bool {
    scope
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("tessera:"))
}

/// The admin audience (any case).
pub fn is_admin_audience(audience: &str) -> bool {
    audience.eq_ignore_ascii_case(ADMIN_AUDIENCE)
}

/// Whether a client with these scopes and audiences has admin powers (or could get an
/// admin token). Entries are split on whitespace as registration does.
pub fn is_privileged(scopes: &[String], audiences: &[String]) -> bool {
    scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .any(is_admin_scope)
        || audiences
            .iter()
            .flat_map(|a| a.split_whitespace())
            .any(is_admin_audience)
}

/// Why a change to a client is refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The change would grant a `tessera:*` scope or the admin audience (A1).
    GrantsAdmin,
    /// The target holds a `tessera:*` scope or the admin audience (A2).
    TargetIsAdmin,
    /// A client widening its own scopes or audiences (A3).
    WidensItself,
}

impl Refusal {
    /// The public explanation.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::GrantsAdmin => {
                "only a tessera:admin token may grant tessera:* scopes or the audience urn:tessera:admin"
            }
            Refusal::TargetIsAdmin => {
                "only a tessera:admin token may change a client holding tessera:* scopes or the audience urn:tessera:admin"
            }
            Refusal::WidensItself => "a client may not widen its own scopes or audiences",
        }
    }

    /// The scope that would allow the change, if any scope would.
    pub fn scope_needed(self) -> Option<&'static str> {
        match self {
            Refusal::GrantsAdmin | Refusal::TargetIsAdmin => Some(SCOPE_ADMIN),
            Refusal::WidensItself => None,
        }
    }
}

impl Principal {
    /// Holds `tessera:admin`.
    pub fn is_full_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == SCOPE_ADMIN)
    }

    /// May this principal register a client with these scopes and audiences?
    pub fn may_register(&self, scopes: &[String], audiences: &[String]) -> Result<(), Refusal> {
        if !self.is_full_admin() && is_privileged(scopes, audiences) {
            return Err(Refusal::GrantsAdmin);
        }
        Ok(())
    }

    /// May this principal change `target` (as stored now)? `proposed` is the scopes and
    /// audiences it would have after an update; `None` for a secret rotation or a delete.
    pub fn may_change(
        &self,
        target: &Client,
        proposed: Option<(&[String], &[String])>,
    ) -> Result<(), Refusal> {
        if !self.is_full_admin() && is_privileged(&target.scopes, &target.audiences) {
            return Err(Refusal::TargetIsAdmin);
        }
        let Some((scopes, audiences)) = proposed else {
            return Ok(());
        };
        if !self.is_full_admin() && is_privileged(scopes, audiences) {
            return Err(Refusal::GrantsAdmin);
        }
        if target.client_id == self.client_id {
            let gains = |new: &[String], old: &[String]| {
                new.iter()
                    .flat_map(|s| s.split_whitespace())
                    .any(|n| !old.iter().any(|o| o == n))
            };
            if gains(scopes, &target.scopes) || gains(audiences, &target.audiences) {
                return Err(Refusal::WidensItself);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn admin_powers_are_recognised_in_any_case_and_inside_lists() {
        assert!(is_privileged(&v(&["orders:read TESSERA:keys"]), &v(&["a"])));
        assert!(is_privileged(&v(&[]), &v(&["https://x URN:Tessera:Admin"])));
        assert!(!is_privileged(
            &v(&["tessera"]),
            &v(&["urn:tessera:admins"])
        ));
        assert!(!is_admin_scope("tésséra:x"));
    }

    #[test]
    fn a_narrow_admin_may_not_register_admin_clients() {
        let p = Principal {
            client_id: "c".into(),
            scopes: v(&["tessera:clients"]),
        };
        assert_eq!(
            p.may_register(&v(&["tessera:users"]), &v(&["a"])),
            Err(Refusal::GrantsAdmin)
        );
        assert_eq!(p.may_register(&v(&["orders:read"]), &v(&["a"])), Ok(()));
        let full = Principal {
            client_id: "c".into(),
            scopes: v(&[SCOPE_ADMIN]),
        };
        assert_eq!(
            full.may_register(&v(&["tessera:users"]), &v(&[ADMIN_AUDIENCE])),
            Ok(())
        );
    }
}
