//! `/metrics`: Prometheus metrics in the OpenMetrics text format.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{ApiResponse, OpenApi, payload::PlainText};

use super::ApiTags;
use crate::{
    http::AppState,
    metrics::{KeyGauges, METRICS, StateGauges},
    secrets::strings_equal,
};

#[derive(ApiResponse)]
pub enum MetricsResponse {
    /// The metrics in the OpenMetrics text format.
    #[oai(
        status = 200,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )]
    Ok(PlainText<String>),
    /// `metrics_token` is set and the request does not carry it as a bearer token.
    #[oai(status = 401)]
    Unauthorized(
        PlainText<String>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Metrics are disabled (`metrics = false`).
    #[oai(status = 404)]
    Disabled(PlainText<String>),
}

pub struct MetricsApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl MetricsApi {
    /// Prometheus metrics
    ///
    /// `tessera_tokens_issued_total{grant,client_id,alg}`, `tessera_oauth_errors_total{error}`,
    /// `tessera_http_request_duration_seconds{route,method,status}` (histogram),
    /// `tessera_signing_key_age_seconds{alg}`, `tessera_seconds_to_next_rotation{alg}`,
    /// `tessera_published_keys`, `tessera_db_pool_connections`,
    /// `tessera_db_pool_idle_connections`. The `client_id` label only with
    /// `metrics_client_label = true`. With `metrics_token` set, requires
    /// `Authorization: Bearer <metrics_token>`.
    #[oai(
        path = "/metrics",
        method = "get",
        tag = "ApiTags::Health",
        operation_id = "metrics"
    )]
    async fn metrics(&self, req: &Request) -> MetricsResponse {
        let settings = &self.state.settings;
        if !settings.metrics {
            return MetricsResponse::Disabled(PlainText("metrics are disabled".into()));
        }
        if let Some(expected) = &settings.metrics_token {
            let presented = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .unwrap_or("");
            // Constant time; an empty configured token never matches an absent header.
            if expected.is_empty() || !strings_equal(presented, expected) {
                return MetricsResponse::Unauthorized(
                    PlainText("a bearer token is required".into()),
                    r#"Bearer realm="tessera-metrics""#.into(),
                );
            }
        }
        MetricsResponse::Ok(PlainText(METRICS.render(&self.state_gauges())))
    }
}

impl MetricsApi {
    /// Key timing from the keyring in memory (works while the database is down) and the
    /// connection pool's state.
    fn state_gauges(&self) -> StateGauges {
        let state = &self.state;
        let now = state.clock.now();
        let snapshot = state.keyring.snapshot();
        let rotation = state.settings.rotation_interval.as_secs() as i64;
        let keys = crate::keys::Alg::ALL
            .iter()
            .filter_map(|&alg| {
                let active = snapshot.signer(alg, now)?;
                // The next key: published, same algorithm, starts signing later.
                let next = snapshot
                    .keys()
                    .iter()
                    .filter(|k| k.alg == alg && k.activates_at > now)
                    .map(|k| k.activates_at)
                    .min()
                    .unwrap_or(active.activates_at + rotation);
                Some(KeyGauges {
                    alg: alg.as_str(),
                    age_seconds: now - active.activates_at,
                    seconds_to_next_rotation: next - now,
                })
            })
            .collect();
        let (pool_size, pool_idle) = pool_state(&state.db);
        StateGauges {
            keys,
            published_keys: snapshot.keys().len() as i64,
            pool_size,
            pool_idle,
        }
    }
}

fn pool_state(db: &sea_orm::DatabaseConnection) -> (i64, i64) {
    use sea_orm::DatabaseConnectionType as T;
    match &db.inner {
        T::SqlxSqlitePoolConnection(_) => {
            let p = db.get_sqlite_connection_pool();
            (p.size() as i64, p.num_idle() as i64)
        }
        T::SqlxPostgresPoolConnection(_) => {
            let p = db.get_postgres_connection_pool();
            (p.size() as i64, p.num_idle() as i64)
        }
        _ => (0, 0),
    }
}
