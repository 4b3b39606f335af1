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
        let state = &self.state;
        let readiness =
            crate::readiness::Readiness::check(&state.db, &state.keyring, state.keys.as_deref())
                .await;
        let Some(problem) = readiness.problem() else {
            return ProbeResponse::Ok(PlainText("ready".into()));
        };
        ProbeResponse::NotReady(PlainText(problem.reason().into()))
    }
}
