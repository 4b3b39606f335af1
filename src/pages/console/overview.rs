//! The overview page (`GET /console`): the key timeline, tokens issued and OAuth errors
//! per minute over the last hour (in-memory counters, no database), and the instance's
//! health.

use std::{sync::OnceLock, time::Instant};

use askama::Template;

use super::timeline::{self, Timeline};
use crate::{
    metrics::METRICS,
    pages::{Layout, Outcome, Services, session::Viewer, time},
    readiness::Readiness,
};

/// When this process started serving (for the uptime).
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes the start of the server (called once at start-up).
pub fn mark_started() {
    STARTED.get_or_init(Instant::now);
}

/// One fact of the health panel.
pub struct HealthRow {
    pub label: &'static str,
    pub value: String,
    /// `Some(true)`: good, `Some(false)`: a problem, `None`: just a fact.
    pub ok: Option<bool>,
}

/// A bar of an activity chart (SVG coordinates).
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub height: f64,
    /// `12 tokens at 14:05 UTC`.
    pub title: String,
}

/// Per-minute counts over the last hour, as a bar chart with a text summary.
pub struct Activity {
    pub id: &'static str,
    pub heading: &'static str,
    pub class: &'static str,
    pub total: u64,
    pub peak: u64,
    pub last_minute: u64,
    pub bars: Vec<Bar>,
    pub summary: String,
}

/// Chart geometry (viewBox units).
pub const CHART_W: f64 = 600.0;
pub const CHART_H: f64 = 120.0;
const BAR_W: f64 = CHART_W / 60.0;

impl Activity {
    fn new(
        id: &'static str,
        heading: &'static str,
        class: &'static str,
        noun: &str,
        counts: &[u64],
        now: i64,
    ) -> Self {
        let peak = counts.iter().copied().max().unwrap_or(0);
        let total = counts.iter().sum();
        let scale = if peak == 0 {
            0.0
        } else {
            (CHART_H - 4.0) / peak as f64
        };
        let first_minute = now / 60 - (counts.len() as i64 - 1);
        let bars = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let height = (*c as f64 * scale).max(1.0);
                let at = (first_minute + i as i64) * 60;
                Bar {
                    x: i as f64 * BAR_W + 0.5,
                    y: CHART_H - height,
                    height,
                    title: format!("{c} {noun} at {}", &time::format_utc(at)[11..16]),
                }
            })
            .collect();
        let summary = format!(
            "{total} {noun} in the last hour; at most {peak} in one minute; {} in the last minute.",
            counts.last().copied().unwrap_or(0)
        );
        Activity {
            id,
            heading,
            class,
            total,
            peak,
            last_minute: counts.last().copied().unwrap_or(0),
            bars,
            summary,
        }
    }

    pub fn bar_width(&self) -> f64 {
        BAR_W - 1.0
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// `None` when the keys cannot be read now (the rest of the page still shows).
    pub timeline: Option<Timeline>,
    pub health: Vec<HealthRow>,
    pub activity: Vec<Activity>,
    pub chart_w: f64,
    pub chart_h: f64,
}

/// `GET /console`.
pub async fn show(s: &Services<'_>, v: &Viewer) -> Outcome {
    let ctx = s.ctx;
    let now = ctx.clock.now();
    let readiness = Readiness::check(s.db, &ctx.keyring, s.keys).await;
    let activity = vec![
        Activity::new(
            "issued",
            "Tokens issued",
            "bar-issued",
            "tokens",
            &METRICS.recent_issued(),
            now,
        ),
        Activity::new(
            "errors",
            "OAuth errors",
            "bar-errors",
            "errors",
            &METRICS.recent_errors(),
            now,
        ),
    ];
    let timeline = match s.keys {
        Some(keys) => match keys.list().await {
            Ok(list) => Some(timeline::layout(
                &list,
                now,
                ctx.settings.rotation_interval.as_secs() as i64,
            )),
            Err(e) => {
                tracing::warn!(error = %e, "overview: cannot list the keys");
                None
            }
        },
        None => None,
    };
    let page = OverviewPage {
        layout: v.layout("Overview", "/console"),
        timeline,
        health: health_rows(s, &readiness),
        activity,
        chart_w: CHART_W,
        chart_h: CHART_H,
    };
    Outcome::page(200, &page)
}

fn health_rows(s: &Services<'_>, r: &Readiness) -> Vec<HealthRow> {
    let settings = &s.ctx.settings;
    let database = if settings.uses_sqlite() {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let uptime = STARTED
        .get()
        .map(|t| time::span(t.elapsed().as_secs() as i64))
        .unwrap_or_else(|| "unknown".into());
    vec![
        HealthRow {
            label: "Readiness",
            value: match r.problem() {
                None => "Ready".into(),
                Some(p) => format!("Not ready: {}", p.reason()),
            },
            ok: Some(r.problem().is_none()),
        },
        HealthRow {
            label: "Database",
            value: format!(
                "{database}, {}",
                if r.database {
                    "answering"
                } else {
                    "unreachable"
                }
            ),
            ok: Some(r.database),
        },
        HealthRow {
            label: "Key backend",
            value: format!(
                "{}, {}",
                settings.key_backend.as_str(),
                if r.key_backend {
                    "answering"
                } else {
                    "unavailable"
                }
            ),
            ok: Some(r.key_backend),
        },
        HealthRow {
            label: "Signing keys loaded",
            value: s.ctx.keyring.snapshot().keys().len().to_string(),
            ok: Some(r.keys_loaded),
        },
        HealthRow {
            label: "Version",
            value: env!("CARGO_PKG_VERSION").into(),
            ok: None,
        },
        HealthRow {
            label: "Uptime",
            value: uptime,
            ok: None,
        },
    ]
}
