//! Rate limits of the token, introspection and revocation endpoints (GCRA via `governor`):
//! per client IP before any work, and per authenticated client, each endpoint with its own
//! quotas at the same configured rates (a resource server introspecting hard does not eat
//! its own token quota). A refused request is `429` with `Retry-After`, and costs the
//! server next to nothing — no hashing, no database.

use std::{hash::Hash, net::IpAddr, num::NonZeroU32};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::error::OAuthError;

/// A keyed limiter, or none when its rate is 0 (disabled).
struct Keyed<K: Hash + Eq + Clone>(Option<DefaultKeyedRateLimiter<K>>);

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_second: u32, burst: u32) -> Self {
        Self(NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        }))
    }

    fn check(&self, key: &K) -> Result<(), OAuthError> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            OAuthError::SlowDown {
                retry_after: wait.as_secs().max(1),
            }
        })
    }

    fn forget_idle(&self) {
        if let Some(l) = &self.0 {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The rate-limited endpoints; each has its own quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
}

/// One endpoint's limits.
struct Limits {
    per_ip: Keyed<IpAddr>,
    per_client: Keyed<String>,
}

/// The limits of the token, introspection and revocation endpoints.
pub struct TokenRateLimits {
    endpoints: [Limits; 3],
}

impl TokenRateLimits {
    /// Rates in requests per second (0 = no limit); bursts of up to `burst` requests.
    pub fn new(per_ip: u32, per_ip_burst: u32, per_client: u32, per_client_burst: u32) -> Self {
        let limits = || Limits {
            per_ip: Keyed::new(per_ip, per_ip_burst),
            per_client: Keyed::new(per_client, per_client_burst),
        };
        Self {
            endpoints: [limits(), limits(), limits()],
        }
    }

    fn of(&self, endpoint: Endpoint) -> &Limits {
        &self.endpoints[endpoint as usize]
    }

    /// The per-IP limit of `endpoint`, checked before any other work.
    pub fn check_ip(&self, endpoint: Endpoint, ip: Option<IpAddr>) -> Result<(), OAuthError> {
        match ip {
            Some(ip) => self.of(endpoint).per_ip.check(&ip),
            None => Ok(()),
        }
    }

    /// The per-client limit of `endpoint`, checked once the client is authenticated.
    pub fn check_client(&self, endpoint: Endpoint, client_id: &str) -> Result<(), OAuthError> {
        let per_client = &self.of(endpoint).per_client;
        // Allocates only when a limit is configured.
        if per_client.0.is_none() {
            return Ok(());
        }
        per_client.check(&client_id.to_string())
    }

    /// Drops the state of keys that are back to full quota (bounded memory under scans).
    pub fn forget_idle(&self) {
        for l in &self.endpoints {
            l.per_ip.forget_idle();
            l.per_client.forget_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_past_the_burst_and_zero_disables() {
        let limits = TokenRateLimits::new(1, 3, 0, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_ip(Endpoint::Token, Some(ip)).is_ok());
        }
        assert!(matches!(
            limits.check_ip(Endpoint::Token, Some(ip)),
            Err(OAuthError::SlowDown { retry_after: 1 })
        ));
        // Another IP has its own quota; the per-client limit is off.
        assert!(
            limits
                .check_ip(Endpoint::Token, Some("192.0.2.2".parse().unwrap()))
                .is_ok()
        );
        for _ in 0..100 {
            assert!(limits.check_client(Endpoint::Token, "any").is_ok());
        }
        // Introspection has its own quota: the token endpoint's is spent, its is not.
        assert!(limits.check_ip(Endpoint::Introspection, Some(ip)).is_ok());
    }
}
