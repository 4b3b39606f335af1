//! Prometheus metrics: tokens issued, OAuth errors, request latency per route, signing-key
//! ages and the time to the next rotation, database pool state. Counters live in one
//! process-wide registry ([`METRICS`]) so the one place that renders OAuth errors and the
//! grant dispatcher can count without carrying a handle; gauges that describe state are
//! computed when `/metrics` is scraped.

use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, LabelSetEncoder, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels of `tessera_tokens_issued_total`. `client_id` is present only with
/// `metrics_client_label = true` (one series per client: unbounded with many clients).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct IssuedLabels {
    pub grant: &'static str,
    pub client_id: Option<String>,
    pub alg: &'static str,
}

impl EncodeLabelSet for IssuedLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        // Absent, not `client_id=""`, when the label is off.
        let mut labels = vec![("grant", self.grant)];
        if let Some(c) = &self.client_id {
            labels.push(("client_id", c.as_str()));
        }
        labels.push(("alg", self.alg));
        labels.encode(encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlgLabels {
    pub alg: &'static str,
}

/// Everything Tessera exports.
pub struct Metrics {
    registry: Registry,
    issued: Family<IssuedLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    key_age: Family<AlgLabels, Gauge>,
    next_rotation: Family<AlgLabels, Gauge>,
    published_keys: Gauge,
    pool_size: Gauge,
    pool_idle: Gauge,
    /// Tokens issued per minute, last hour (the console's overview).
    recent_issued: MinuteRing,
    /// OAuth error responses per minute, last hour.
    recent_errors: MinuteRing,
}

/// Counts per minute over the last hour, in memory: 60 buckets, each one atomic word
/// holding the minute it counts (high 32 bits) and its count (low 32 bits). Counting is
/// one compare-and-swap on one word (O(1), no lock, no allocation); a bucket whose minute
/// is over an hour old starts again from 1. Per instance, lost at restart: a dashboard,
/// not an accounting (Prometheus keeps the durable counters).
pub struct MinuteRing {
    buckets: [AtomicU64; 60],
}

impl Default for MinuteRing {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl MinuteRing {
    /// Counts one event in `minute` (Unix minutes).
    pub fn count_at(&self, minute: i64) {
        let stamp = (minute as u64) & 0xffff_ffff;
        let bucket = &self.buckets[minute.rem_euclid(60) as usize];
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let next = if current >> 32 == stamp {
                // Saturates instead of carrying into the minute.
                current + u64::from(current & 0xffff_ffff < 0xffff_ffff)
            } else {
                (stamp << 32) | 1
            };
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// The counts of the 60 minutes ending with `minute` (included), oldest first.
    pub fn last_hour_at(&self, minute: i64) -> Vec<u64> {
        (minute - 59..=minute)
            .map(|m| {
                let v = self.buckets[m.rem_euclid(60) as usize].load(Ordering::Relaxed);
                if v >> 32 == (m as u64) & 0xffff_ffff {
                    v & 0xffff_ffff
                } else {
                    0
                }
            })
            .collect()
    }
}

/// The current Unix minute (wall clock: the counters are about this process's last hour).
pub fn current_minute() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 60) as i64)
}

/// Latency buckets: 100 µs to ~3.3 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let issued = Family::<IssuedLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued, by grant type, signing algorithm (and client, if configured)",
            issued.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "oauth_errors",
            "OAuth error responses (RFC 6749 §5.2), by error code",
            errors.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            latency.clone(),
        );
        let key_age = Family::<AlgLabels, Gauge>::default();
        registry.register(
            "signing_key_age_seconds",
            "Seconds since the signing key now in use started signing, by algorithm",
            key_age.clone(),
        );
        let next_rotation = Family::<AlgLabels, Gauge>::default();
        registry.register(
            "seconds_to_next_rotation",
            "Seconds until the next key starts signing, by algorithm (negative: overdue)",
            next_rotation.clone(),
        );
        let published_keys = Gauge::default();
        registry.register(
            "published_keys",
            "Public keys in the JWKS",
            published_keys.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_size.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        Self {
            registry,
            issued,
            errors,
            latency,
            key_age,
            next_rotation,
            published_keys,
            pool_size,
            pool_idle,
            recent_issued: MinuteRing::default(),
            recent_errors: MinuteRing::default(),
        }
    }

    /// Counts an issued token; `client_id` only when the per-client label is configured.
    pub fn token_issued(&self, grant: &'static str, client_id: Option<&str>, alg: &'static str) {
        self.issued
            .get_or_create(&IssuedLabels {
                grant,
                client_id: client_id.map(str::to_string),
                alg,
            })
            .inc();
        self.recent_issued.count_at(current_minute());
    }

    pub fn oauth_error(&self, code: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { error: code })
            .inc();
        self.recent_errors.count_at(current_minute());
    }

    /// Tokens issued per minute over the last hour, oldest first (60 values).
    pub fn recent_issued(&self) -> Vec<u64> {
        self.recent_issued.last_hour_at(current_minute())
    }

    /// OAuth error responses per minute over the last hour, oldest first (60 values).
    pub fn recent_errors(&self) -> Vec<u64> {
        self.recent_errors.last_hour_at(current_minute())
    }

    pub fn request(&self, route: &'static str, method: &'static str, status: u16, seconds: f64) {
        self.latency
            .get_or_create(&RouteLabels {
                route,
                method,
                status,
            })
            .observe(seconds);
    }

    /// Sets the state gauges and renders everything in the Prometheus text format.
    pub fn render(&self, state: &StateGauges) -> String {
        for k in &state.keys {
            let labels = AlgLabels { alg: k.alg };
            self.key_age.get_or_create(&labels).set(k.age_seconds);
            self.next_rotation
                .get_or_create(&labels)
                .set(k.seconds_to_next_rotation);
        }
        self.published_keys.set(state.published_keys);
        self.pool_size.set(state.pool_size);
        self.pool_idle.set(state.pool_idle);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// Per-algorithm key timing for the gauges.
#[derive(Debug, Clone)]
pub struct KeyGauges {
    pub alg: &'static str,
    pub age_seconds: i64,
    pub seconds_to_next_rotation: i64,
}

/// State read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct StateGauges {
    pub keys: Vec<KeyGauges>,
    pub published_keys: i64,
    pub pool_size: i64,
    pub pool_idle: i64,
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_ring_counts_the_last_hour_only() {
        let r = MinuteRing::default();
        r.count_at(1000);
        r.count_at(1000);
        r.count_at(1059);
        let hour = r.last_hour_at(1059);
        assert_eq!(hour.len(), 60);
        assert_eq!((hour[0], hour[59], hour.iter().sum::<u64>()), (2, 1, 3));
        // An hour later, minute 1000's bucket is reused by 1060 and starts again.
        r.count_at(1060);
        let hour = r.last_hour_at(1060);
        assert_eq!((hour[59], hour.iter().sum::<u64>()), (1, 2));
        // Long idle: nothing left.
        assert_eq!(r.last_hour_at(5000).iter().sum::<u64>(), 0);
    }

    #[test]
    fn renders_counters_and_gauges_in_prometheus_text() {
        let m = Metrics::new();
        m.token_issued("client_credentials", Some("abc"), "ES256");
        m.token_issued("password", None, "RS256");
        m.oauth_error("invalid_client");
        m.request("/oauth/token", "POST", 200, 0.002);
        let text = m.render(&StateGauges {
            keys: vec![KeyGauges {
                alg: "ES256",
                age_seconds: 60,
                seconds_to_next_rotation: 3600,
            }],
            published_keys: 2,
            pool_size: 3,
            pool_idle: 1,
        });
        assert!(text.contains(
            r#"tessera_tokens_issued_total{grant="client_credentials",client_id="abc",alg="ES256"} 1"#
        ));
        assert!(text.contains(r#"tessera_tokens_issued_total{grant="password",alg="RS256"} 1"#));
        assert!(text.contains(r#"tessera_oauth_errors_total{error="invalid_client"} 1"#));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"tessera_seconds_to_next_rotation{alg="ES256"} 3600"#));
        assert!(text.contains("tessera_db_pool_connections 3"));
        assert!(text.ends_with("# EOF\n"));
    }
}
