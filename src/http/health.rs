//! Liveness and readiness probes.

use std::sync::Arc;

use poem_openapi::{ApiResponse, OpenApi, payload::PlainText};

use super::ApiTags;
use crate::http::AppState;

#[derive(ApiResponse)]
pub enum ProbeResponse {
    /// Healthy / ready.
    #[oai(status = 200)]
    Ok(PlainText<String>),
    /// Not ready: the database is unreachable, no signing key is loaded, or the HSM
    /// holding the signing keys does not answer.
    #[oai(status = 503)]
    NotReady(PlainText<String>),
}

pub struct HealthApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl HealthApi {
    /// Liveness
    ///
    /// 200 as long as the process serves HTTP (JWKS and discovery work from memory even
    /// when the database is down).
    #[oai(
        path = "/healthz",
        method = "get",
        tag = "ApiTags::Health",
        operation_id = "healthz"
    )]
    async fn healthz(&self) -> ProbeResponse {
        ProbeResponse::Ok(PlainText("ok".into()))
    }

    /// Readiness
    ///
    /// 200 when the database answers, signing keys are loaded and the HSM holding them (if
    /// any) answers; 503 otherwise.
    #[oai(
        path = "/readyz",
        method = "get",
        tag = "ApiTags::Health",
        operation_id = "readyz"
    )]
    async fn readyz(&self) -> ProbeResponse {
        let db_ok = self.state.db.ping().await.is_ok();
        let keys_ok = !self.state.keyring.snapshot().keys().is_empty();
        let custody_ok = self
            .state
            .keys
            .as_ref()
            .is_none_or(|k| k.custody().is_ready());
        let problem = if !db_ok {
            "database unreachable"
        } else if !keys_ok {
            "no signing key loaded"
        } else if !custody_ok {
            "signing-key HSM unavailable"
        } else {
            return ProbeResponse::Ok(PlainText("ready".into()));
        };
        ProbeResponse::NotReady(PlainText(problem.into()))
    }
}
