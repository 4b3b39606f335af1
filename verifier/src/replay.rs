//! The bounded in-memory `jti` replay cache of DPoP proofs (RFC 9449 §11.1), one per
//! [`Verifier`](crate::Verifier).
//!
//! An entry is `(proof key thumbprint, jti)` reduced to 128 bits of SHA-256, kept until the
//! proof could no longer pass the `iat` check (`iat + max_age + leeway`). The cache never
//! forgets an entry that is still live: when it is full, expired entries are evicted, and
//! if none has expired the request is **refused** (HTTP 503) rather than accepting a proof
//! that might be a replay. Size it for the peak DPoP request rate times the window
//! (`max_age + leeway` for fresh proofs, at most `max_age + 2 × leeway`); each entry costs
//! about 100 bytes (map and expiry heap).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::Mutex,
};

use aws_lc_rs::digest::{SHA256, digest};

/// The outcome of recording a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// First use: recorded.
    Fresh,
    /// Seen before, still within its window.
    Replayed,
    /// Full of live entries: refused without recording.
    Full,
}

#[derive(Default)]
struct State {
    /// Key -> expiry (unix seconds).
    live: HashMap<u128, i64>,
    /// Expiries in order, for eviction.
    order: BinaryHeap<Reverse<(i64, u128)>>,
}

pub(crate) struct ReplayCache {
    capacity: usize,
    state: Mutex<State>,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn key(jkt: &str, jti: &str) -> u128 {
        let mut input = Vec::with_capacity(jkt.len() + 1 + jti.len());
        input.extend_from_slice(jkt.as_bytes());
        input.push(0);
        input.extend_from_slice(jti.as_bytes());
        let d = digest(&SHA256, &input);
        let mut k = [0u8; 16];
        k.copy_from_slice(&d.as_ref()[..16]);
        u128::from_le_bytes(k)
    }

    /// Records a proof usable until `expires`; entries that expired before `now` are
    /// evicted first.
    pub fn record(&self, jkt: &str, jti: &str, expires: i64, now: i64) -> Record {
        let key = Self::key(jkt, jti);
        let Ok(mut s) = self.state.lock() else {
            return Record::Full;
        };
        let s = &mut *s;
        while let Some(Reverse((exp, k))) = s.order.peek().copied() {
            if exp >= now {
                break;
            }
            s.order.pop();
            if s.live.get(&k) == Some(&exp) {
                s.live.remove(&k);
            }
        }
        if s.live.contains_key(&key) {
            return Record::Replayed;
        }
        if s.live.len() >= self.capacity {
            return Record::Full;
        }
        s.live.insert(key, expires);
        s.order.push(Reverse((expires, key)));
        Record::Fresh
    }

    /// Live entries (for [`Stats`](crate::Stats)).
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.live.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_caught_until_expiry_and_a_full_cache_refuses() {
        let c = ReplayCache::new(2);
        assert_eq!(c.record("k", "a", 100, 0), Record::Fresh);
        assert_eq!(c.record("k", "a", 100, 50), Record::Replayed);
        // Same jti from another key is another proof.
        assert_eq!(c.record("k2", "a", 100, 50), Record::Fresh);
        // Full of live entries: refused, nothing forgotten.
        assert_eq!(c.record("k", "b", 120, 60), Record::Full);
        assert_eq!(c.record("k", "a", 100, 100), Record::Replayed);
        // Once expired, entries make room.
        assert_eq!(c.record("k", "b", 200, 101), Record::Fresh);
        assert_eq!(c.len(), 1);
        assert_eq!(c.record("k", "b", 200, 150), Record::Replayed);
    }
}
