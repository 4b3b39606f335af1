//! Failed-login throttling: counters per (username, IP), per username and per IP in a fixed
//! window. Only failures count; a success clears its (username, IP) counter. Limits are
//! set so that one attacker hammering a username cannot lock its owner out for long: the
//! per-username limit is far above the per-(username, IP) one, and every throttle ends
//! with its window.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Bound on remembered counters; beyond it, expired ones are dropped, then everything.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_user_ip: u32,
    pub per_user: u32,
    pub per_ip: u32,
    pub window: Duration,
}

/// Picks the limit that applies to a counter.
type LimitOf = fn(&Limits) -> u32;

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
enum Key {
    UserIp(String, IpAddr),
    User(String),
    Ip(IpAddr),
}

pub struct LoginThrottle {
    limits: Limits,
    counters: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            counters: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: Option<IpAddr>) -> Vec<(Key, LimitOf)> {
        let mut keys: Vec<(Key, LimitOf)> = vec![(Key::User(username.to_string()), |l| l.per_user)];
        if let Some(ip) = ip {
            keys.push((Key::UserIp(username.to_string(), ip), |l| l.per_user_ip));
            keys.push((Key::Ip(ip), |l| l.per_ip));
        }
        keys
    }

    /// `Err(seconds)` when this attempt must wait.
    pub fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let Ok(counters) = self.counters.lock() else {
            return Ok(());
        };
        let mut wait = 0u64;
        for (key, limit) in Self::keys(username, ip) {
            if let Some((count, start)) = counters.get(&key) {
                let elapsed = start.elapsed();
                if elapsed < self.limits.window && *count >= limit(&self.limits) {
                    wait = wait.max((self.limits.window - elapsed).as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn failure(&self, username: &str, ip: Option<IpAddr>) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        if counters.len() >= MAX_ENTRIES {
            let window = self.limits.window;
            counters.retain(|_, (_, start)| start.elapsed() < window);
            if counters.len() >= MAX_ENTRIES {
                counters.clear();
            }
        }
        for (key, _) in Self::keys(username, ip) {
            let entry = counters.entry(key).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= self.limits.window {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub fn success(&self, username: &str, ip: Option<IpAddr>) {
        if let (Ok(mut counters), Some(ip)) = (self.counters.lock(), ip) {
            counters.remove(&Key::UserIp(username.to_string(), ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_per_user_and_ip_but_not_the_owner_elsewhere() {
        let t = LoginThrottle::new(Limits {
            per_user_ip: 3,
            per_user: 10,
            per_ip: 5,
            window: Duration::from_secs(60),
        });
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let owner: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check("alice", Some(attacker)).is_ok());
            t.failure("alice", Some(attacker));
        }
        let wait = t.check("alice", Some(attacker)).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(
            t.check("alice", Some(owner)).is_ok(),
            "the owner from elsewhere is not locked out"
        );
        // Spraying other usernames from the attacker's IP hits the per-IP limit.
        t.failure("bob", Some(attacker));
        t.failure("carol", Some(attacker));
        assert!(t.check("dave", Some(attacker)).is_err());
    }
}
