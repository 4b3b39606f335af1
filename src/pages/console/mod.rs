//! The admin console (`/console`): for users holding `console_admin_role`. One module per
//! page: the overview (key timeline, activity, health), keys, the audit log. Each builds
//! its view model from the domain and renders its template; changes go through the same
//! domain functions as the admin API (`admin::keys`, ...), audited as `user:<username>`.

pub mod audit;
pub mod clients;
pub mod forms;
pub mod keys;
pub mod overview;
pub mod timeline;
pub mod users;

use super::{Layout, Outcome, unavailable};

/// The outcome when a domain call failed: a 404 page for an unknown id, otherwise the
/// generic 503 page (the detail goes to the log, never to the page).
pub fn failed(layout: Layout, e: &crate::error::Error, what: &str) -> Outcome {
    match e {
        crate::error::Error::NotFound(_) => super::not_found(layout, what),
        e => {
            tracing::warn!(error = %e, "console page failed");
            unavailable(layout)
        }
    }
}
