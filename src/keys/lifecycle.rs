//! The key lifecycle as pure functions of stored timestamps and "now".
//!
//! Nothing here touches the database or the clock: the manager feeds it rows and the
//! current time, which is what lets tests drive months of rotation in microseconds.

use serde::Serialize;

use super::Alg;

/// What the lifecycle needs to know about a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimes {
    pub kid: String,
    pub alg: Alg,
    pub created_at: i64,
    pub activates_at: i64,
    pub revoked_at: Option<i64>,
}

/// The state of a key at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyState {
    /// Published, not yet signing; signs from `activates_at`.
    Next,
    /// The one key of its algorithm that signs now.
    Active,
    /// Replaced at `since`; published until `until` so tokens it signed keep verifying.
    Retired { since: i64, until: i64 },
    /// Retired long enough that no token it signed is still valid: unpublished, to be deleted.
    Expired,
    /// Revoked: unpublished at once, never signs again.
    Revoked,
}

impl KeyState {
    pub fn is_published(self) -> bool {
        matches!(
            self,
            KeyState::Next | KeyState::Active | KeyState::Retired { .. }
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Next => "NEXT",
            KeyState::Active => "ACTIVE",
            KeyState::Retired { .. } => "RETIRED",
            KeyState::Expired => "EXPIRED",
            KeyState::Revoked => "REVOKED",
        }
    }
}

/// The timing rules of rotation.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Seconds a key signs before its successor takes over.
    pub rotation_interval: i64,
    /// Seconds a new key is published before it signs.
    pub prepublish: i64,
    /// Seconds a retired key stays published (max token lifetime + leeway).
    pub retention: i64,
}

/// States of every key of one algorithm at `now`.
pub fn states(keys: &[KeyTimes], now: i64, policy: &Policy) -> Vec<(String, KeyState)> {
    let mut live: Vec<&KeyTimes> = keys.iter().filter(|k| k.revoked_at.is_none()).collect();
    live.sort_by_key(|k| (k.activates_at, k.created_at));
    let started: Vec<&&KeyTimes> = live.iter().filter(|k| k.activates_at <= now).collect();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let state = if k.revoked_at.is_some() {
            KeyState::Revoked
        } else if k.activates_at > now {
            KeyState::Next
        } else {
            let pos = started.iter().position(|s| s.kid == k.kid).unwrap_or(0);
            match started.get(pos + 1) {
                None => KeyState::Active,
                Some(successor) => {
                    let since = successor.activates_at;
                    let until = since + policy.retention;
                    if now < until {
                        KeyState::Retired { since, until }
                    } else {
                        KeyState::Expired
                    }
                }
            }
        };
        out.push((k.kid.clone(), state));
    }
    out
}

/// If a new key of this algorithm must be created at `now`, the activation time it gets.
///
/// - no usable key at all (first start, or the active key was revoked): activate now;
/// - a key is already waiting (NEXT): nothing to do;
/// - the active key's interval ends within the pre-publication window: a NEXT key that
///   activates at the end of the interval, and never sooner than `prepublish` from now.
pub fn next_key_due(keys: &[KeyTimes], now: i64, policy: &Policy) -> Option<i64> {
    let live = keys.iter().filter(|k| k.revoked_at.is_none());
    let newest = live.clone().max_by_key(|k| (k.activates_at, k.created_at));
    let active = live
        .filter(|k| k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at));
    let active = match active {
        None => return Some(now),
        Some(a) => a,
    };
    if newest.is_some_and(|n| n.activates_at > now) {
        return None;
    }
    let end = active.activates_at + policy.rotation_interval;
    if now >= end - policy.prepublish {
        Some(end.max(now + policy.prepublish))
    } else {
        None
    }
}

/// Activation time for a key that must sign "now" (`rotate --now`, revocation
/// replacement): now, but strictly after every live key that already started, so the new
/// key is unambiguously the newest even when timestamps (whole seconds) collide. Keys
/// activating within the next minute count too (two `--now` rotations in one second);
/// scheduled NEXT keys are further ahead and keep their slot.
pub fn immediate_activation(keys: &[KeyTimes], now: i64) -> i64 {
    keys.iter()
        .filter(|k| k.revoked_at.is_none() && k.activates_at <= now + 60)
        .map(|k| k.activates_at + 1)
        .max()
        .unwrap_or(now)
        .max(now)
}

/// Activation time of the first key in a newly configured backend (`key_backend`
/// changed): a full pre-publication from now, and strictly after the newest live key, so
/// the switch is an ordinary rotation and every key already published keeps its slot.
pub fn backend_switch_activation(keys: &[KeyTimes], now: i64, policy: &Policy) -> i64 {
    keys.iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| k.activates_at + 1)
        .max()
        .unwrap_or(now)
        .max(now + policy.prepublish)
}

/// Helper for callers that group rows by algorithm.
pub fn of_alg(keys: &[KeyTimes], alg: Alg) -> Vec<KeyTimes> {
    keys.iter().filter(|k| k.alg == alg).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        rotation_interval: 7 * 86400,
        prepublish: 600,
        retention: 86400 + 60,
    };

    fn key(kid: &str, activates_at: i64) -> KeyTimes {
        KeyTimes {
            kid: kid.into(),
            alg: Alg::ES256,
            created_at: activates_at - 600,
            activates_at,
            revoked_at: None,
        }
    }

    #[test]
    fn first_key_activates_at_once() {
        assert_eq!(next_key_due(&[], 1000, &P), Some(1000));
    }

    #[test]
    fn next_key_is_prepublished_before_the_interval_ends() {
        let keys = vec![key("a", 0)];
        assert_eq!(next_key_due(&keys, 1000, &P), None);
        let due = P.rotation_interval - P.prepublish;
        assert_eq!(next_key_due(&keys, due, &P), Some(P.rotation_interval));
        // Late (server was down): still a full pre-publication from now.
        let late = P.rotation_interval + 5000;
        assert_eq!(next_key_due(&keys, late, &P), Some(late + P.prepublish));
    }

    #[test]
    fn states_follow_the_timestamps() {
        let keys = vec![key("a", 0), key("b", 100)];
        let s = states(&keys, 50, &P);
        assert_eq!(s[0].1, KeyState::Active);
        assert_eq!(s[1].1, KeyState::Next);
        let s = states(&keys, 150, &P);
        assert_eq!(
            s[0].1,
            KeyState::Retired {
                since: 100,
                until: 100 + P.retention
            }
        );
        assert_eq!(s[1].1, KeyState::Active);
        let s = states(&keys, 100 + P.retention, &P);
        assert_eq!(s[0].1, KeyState::Expired);
        assert!(
            next_key_due(&keys, 50, &P).is_none(),
            "a NEXT key is already waiting"
        );
    }

    #[test]
    fn immediate_keys_are_strictly_newest() {
        let keys = vec![key("a", 100)];
        assert_eq!(immediate_activation(&keys, 100), 101);
        assert_eq!(immediate_activation(&keys, 500), 500);
        assert_eq!(immediate_activation(&[], 7), 7);
    }

    #[test]
    fn a_backend_switch_is_prepublished_after_every_live_key() {
        let keys = vec![key("a", 0), key("b", 5000)];
        assert_eq!(backend_switch_activation(&keys, 100, &P), 5001);
        assert_eq!(
            backend_switch_activation(&keys, 4900, &P),
            4900 + P.prepublish
        );
    }

    #[test]
    fn revoking_the_active_key_demands_a_new_one_now() {
        let mut keys = vec![key("a", 0)];
        keys[0].revoked_at = Some(10);
        assert_eq!(states(&keys, 20, &P)[0].1, KeyState::Revoked);
        assert_eq!(next_key_due(&keys, 20, &P), Some(20));
    }
}
