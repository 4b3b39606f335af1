//! Failed-login throttling: counters per (username, IP), per username and per IP in a fixed
//! window. Only failures count; a success clears its (username, IP) counter. Limits are
//! set so that one attacker hammering a username cannot lock its owner out for long: the
//! per-username limit is far above the per-(username, IP) one, and every throttle ends
//! with its window.
//!
//! `docs/security.md` P7: an IPv6 address counts as its /64 (one subscriber usually holds
//! a whole /64, so its 2^64 addresses are one source; an IPv4-mapped IPv6 address counts
//! as the IPv4 address). The table is bounded: when full, expired counters go first,
//! then the oldest counters that are not currently throttling anyone, and only then the
//! oldest throttling ones — so a flood of new sources cannot wipe a per-user lock.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Bound on remembered counters; beyond it, the oldest are evicted (module comment).
const MAX_ENTRIES: usize = 100_000;

/// The source an address counts as: IPv6 by its /64, IPv4-mapped IPv6 as IPv4.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

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
    max_entries: usize,
    counters: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, MAX_ENTRIES)
    }

    /// A throttle remembering at most `max_entries` counters.
    pub fn with_capacity(limits: Limits, max_entries: usize) -> Self {
        Self {
            limits,
            max_entries: max_entries.max(3),
            counters: Mutex::new(HashMap::new()),
        }
    }

    fn limit_of(key: &Key) -> LimitOf {
        match key {
            Key::UserIp(..) => |l| l.per_user_ip,
            Key::User(_) => |l| l.per_user,
            Key::Ip(_) => |l| l.per_ip,
        }
    }

    /// Makes room for one failure's counters (at most three new ones): expired counters
    /// go first, then the oldest ones not throttling anyone, then the oldest of the rest.
    /// Evicts a tenth of the table at once so the sort is rare.
    fn make_room(&self, counters: &mut HashMap<Key, (u32, Instant)>) {
        if counters.len() + 3 <= self.max_entries {
            return;
        }
        let window = self.limits.window;
        counters.retain(|_, (_, start)| start.elapsed() < window);
        if counters.len() + 3 <= self.max_entries {
            return;
        }
        let target = (self.max_entries - self.max_entries / 10).min(self.max_entries - 3);
        let excess = counters.len().saturating_sub(target);
        let mut by_age: Vec<(bool, Instant, Key)> = counters
            .iter()
            .map(|(k, (count, start))| {
                let locked = *count >= Self::limit_of(k)(&self.limits);
                (locked, *start, k.clone())
            })
            .collect();
        by_age.sort_by_key(|e| (e.0, e.1));
        for (_, _, key) in by_age.into_iter().take(excess) {
            counters.remove(&key);
        }
    }

    fn keys(username: &str, ip: Option<IpAddr>) -> Vec<(Key, LimitOf)> {
        let mut keys: Vec<(Key, LimitOf)> = vec![(Key::User(username.to_string()), |l| l.per_user)];
        if let Some(ip) = ip.map(source_of) {
            keys.push((Key::UserIp(username.to_string(), ip), |l| l.per_user_ip));
            keys.push((Key::Ip(ip), |l| l.per_ip));
        }
        keys
    }

    /// `Err(seconds)` when this attempt must wait.
    /// The counters a login attempt touches, as text keys with their limits (the keys of
    /// the shared counters on PostgreSQL; the same rule as the in-memory ones).
    pub fn shared_keys(limits: &Limits, username: &str, ip: Option<IpAddr>) -> Vec<(String, u32)> {
        Self::keys(username, ip)
            .into_iter()
            .map(|(key, limit)| {
                let text = match key {
                    Key::User(u) => format!("u:{u}"),
                    Key::UserIp(u, ip) => format!("ui:{ip} {u}"),
                    Key::Ip(ip) => format!("i:{ip}"),
                };
                (text, limit(limits))
            })
            .collect()
    }

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
        self.make_room(&mut counters);
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
            counters.remove(&Key::UserIp(username.to_string(), source_of(ip)));
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

    fn limits() -> Limits {
        Limits {
            per_user_ip: 3,
            per_user: 10,
            per_ip: 5,
            window: Duration::from_secs(60),
        }
    }

    /// P7: addresses inside one IPv6 /64 share counters; another /64 does not.
    #[test]
    fn p7_ipv6_counts_by_its_slash_64() {
        let t = LoginThrottle::new(limits());
        for i in 1..=3u16 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert!(t.check("alice", Some(ip)).is_ok());
            t.failure("alice", Some(ip));
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        assert!(
            t.check("alice", Some(same_64)).is_err(),
            "one /64, one source"
        );
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check("alice", Some(other_64)).is_ok());
        // Per-IP spraying from one /64 across usernames.
        for u in ["b", "c"] {
            t.failure(u, Some("2001:db8:1:2::99".parse().unwrap()));
        }
        assert!(t.check("zed", Some(same_64)).is_err());
        // IPv4-mapped IPv6 is the IPv4 address.
        assert_eq!(
            source_of("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            source_of("2001:db8::1:2:3:4".parse().unwrap()),
            "2001:db8::".parse::<IpAddr>().unwrap()
        );
    }

    /// P7: a full table evicts its oldest counters, never every counter: a per-user lock
    /// survives a flood of guesses from thousands of new sources.
    #[test]
    fn p7_full_table_evicts_oldest_and_keeps_per_user_locks() {
        let t = LoginThrottle::with_capacity(limits(), 100);
        // Lock alice per user: 10 failures from 10 addresses.
        for i in 0..10u8 {
            t.failure("alice", Some(IpAddr::from([10, 0, 0, i])));
        }
        let fresh: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(t.check("alice", Some(fresh)).is_err(), "alice is locked");
        // A per-(user, IP) lock, made before the flood.
        let owner_attacker: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            t.failure("bob", Some(owner_attacker));
        }
        // A flood: 2,000 other usernames from 2,000 other addresses.
        for i in 0..2000u32 {
            let ip = IpAddr::from([172, 16, (i / 256) as u8, (i % 256) as u8]);
            t.failure(&format!("user{i}"), Some(ip));
            assert!(t.counters.lock().unwrap().len() <= 100, "bounded");
        }
        assert!(
            t.check("alice", Some(fresh)).is_err(),
            "the per-user lock survived"
        );
        assert!(t.check("bob", Some(owner_attacker)).is_err());
        // The newest counters are kept, the oldest unlocked ones went.
        let c = t.counters.lock().unwrap();
        assert!(c.contains_key(&Key::User("user1999".into())));
        assert!(!c.contains_key(&Key::User("user0".into())));
    }
}
