//! The audit log page (`GET /console/audit`): every change made through the admin API,
//! the CLI or the pages, newest first, filtered by actor, action and time range (UTC),
//! 50 per page with a keyset cursor (`AuditLog::search`, one index range scan each).

use askama::Template;

use super::failed;
use crate::{
    admin::audit::{AuditFilter, KNOWN_ACTIONS},
    error::Error,
    pages::{Layout, Outcome, Services, session::Viewer, time},
    params::Params,
};

/// Entries per page.
pub const PAGE_SIZE: u64 = 50;

/// An entry as the page shows it.
pub struct EntryRow {
    pub at: String,
    pub at_iso: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The filter form as typed (shown again as typed).
#[derive(Debug, Clone, Default)]
pub struct FilterForm {
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub from_error: Option<&'static str>,
    pub to_error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub form: FilterForm,
    pub actions: &'static [&'static str],
    pub entries: Vec<EntryRow>,
    /// Query string of the next (older) page.
    pub older: Option<String>,
    /// Whether this is a later page (offer "newest").
    pub paged: bool,
    pub error: Option<String>,
}

/// Reads the filters of the query string; the form again with errors if a time is not one.
fn read(query: &Params) -> (FilterForm, AuditFilter) {
    let field = |name| {
        query
            .single(name)
            .ok()
            .flatten()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let mut form = FilterForm {
        actor: field("actor"),
        action: field("action"),
        from: field("from"),
        to: field("to"),
        ..Default::default()
    };
    let time_of = |v: &str, error: &mut Option<&'static str>| {
        if v.is_empty() {
            return None;
        }
        let t = time::parse_form(v);
        if t.is_none() {
            *error = Some("Enter a date and time such as 2026-12-07T14:05 (UTC).");
        }
        t
    };
    let from = time_of(&form.from.clone(), &mut form.from_error);
    let to = time_of(&form.to.clone(), &mut form.to_error);
    let filter = AuditFilter {
        actor: (!form.actor.is_empty()).then(|| form.actor.clone()),
        action: (!form.action.is_empty()).then(|| form.action.clone()),
        from,
        to,
    };
    (form, filter)
}

/// `GET /console/audit`.
pub async fn show(s: &Services<'_>, v: &Viewer, query: &Params) -> Outcome {
    let layout = v.layout("Audit log", "/console/audit");
    let (form, filter) = read(query);
    let cursor = query.single("cursor").ok().flatten();
    let mut page = AuditPage {
        layout,
        form,
        actions: KNOWN_ACTIONS,
        entries: Vec::new(),
        older: None,
        paged: cursor.is_some(),
        error: None,
    };
    if page.form.from_error.is_some() || page.form.to_error.is_some() {
        page.error = Some("Some filters are not valid; see below.".into());
        return Outcome::page(400, &page);
    }
    match s.audit.search(&filter, cursor, PAGE_SIZE).await {
        Ok(found) => {
            page.entries = found
                .items
                .into_iter()
                .map(|e| EntryRow {
                    at: time::format_utc(e.at),
                    at_iso: time::iso(e.at),
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                        String::new()
                    } else {
                        e.detail.to_string()
                    },
                })
                .collect();
            page.older = found.next_cursor.map(|c| {
                let mut q = form_urlencoded::Serializer::new(String::new());
                for (k, v) in [
                    ("actor", &page.form.actor),
                    ("action", &page.form.action),
                    ("from", &page.form.from),
                    ("to", &page.form.to),
                ] {
                    if !v.is_empty() {
                        q.append_pair(k, v);
                    }
                }
                q.append_pair("cursor", &c);
                q.finish()
            });
            Outcome::page(200, &page)
        }
        Err(Error::Invalid { .. }) => {
            page.error = Some(
                "That page link is not valid; showing the newest entries is one click away.".into(),
            );
            Outcome::page(400, &page)
        }
        Err(e) => failed(page.layout, &e, "page"),
    }
}
