//! The key timeline of the overview: every stored key as a bar, published → active →
//! retired → unpublished (or published → revoked), one lane per algorithm, a "now" line
//! and the next rotation of each algorithm marked. Computed here as plain geometry
//! (viewBox units) for the template to draw as inline SVG, with a text summary for the
//! SVG's `<desc>` and the rows of the table that says the same in text.

use crate::{
    keys::{Alg, manager::KeyInfo},
    pages::time,
};

/// viewBox width.
pub const WIDTH: f64 = 900.0;
/// Left margin (lane labels).
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
/// Space above the first lane (tick labels).
const TOP: f64 = 26.0;
const ROW: f64 = 22.0;
const BAR: f64 = 14.0;
const LANE_GAP: f64 = 14.0;

/// A segment of a key's bar.
#[derive(Debug, Clone)]
pub struct Segment {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// `seg-next`, `seg-active`, `seg-retired`, `seg-revoked` (and ` seg-open` when it
    /// runs past the picture without a known end).
    pub class: String,
    pub title: String,
}

/// An algorithm's lane.
#[derive(Debug, Clone)]
pub struct Lane {
    pub alg: &'static str,
    /// Baseline of the lane's label.
    pub label_y: f64,
}

/// A vertical marker: the next rotation of an algorithm.
#[derive(Debug, Clone)]
pub struct Marker {
    pub x: f64,
    pub y1: f64,
    pub y2: f64,
    pub label: String,
    pub label_y: f64,
    /// `start`, `end`: which side of the line the label goes.
    pub anchor: &'static str,
}

/// A time tick on the top axis.
#[derive(Debug, Clone)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

/// One key in the table alternative.
#[derive(Debug, Clone)]
pub struct Row {
    pub alg: String,
    pub kid: String,
    pub state: &'static str,
    pub published: String,
    pub active_from: String,
    pub retired: String,
    pub unpublished: String,
}

/// The whole picture.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub width: f64,
    pub height: f64,
    pub lanes: Vec<Lane>,
    pub segments: Vec<Segment>,
    pub ticks: Vec<Tick>,
    pub rotations: Vec<Marker>,
    pub now: Marker,
    /// The `<desc>`: what signs now and what comes next, per algorithm.
    pub summary: String,
    pub rows: Vec<Row>,
}

/// When the next key of `alg` starts signing: the earliest scheduled successor, or the
/// active key's start plus the rotation interval (when its successor is not created yet).
pub fn next_rotation(keys: &[KeyInfo], alg: &str, now: i64, rotation: i64) -> Option<i64> {
    let of_alg = || {
        keys.iter()
            .filter(move |k| k.alg == alg && k.revoked_at.is_none())
    };
    of_alg()
        .filter(|k| k.activates_at > now)
        .map(|k| k.activates_at)
        .min()
        .or_else(|| {
            of_alg()
                .filter(|k| k.state == "ACTIVE")
                .map(|k| k.activates_at + rotation)
                .max()
        })
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn short(kid: &str) -> String {
    kid.chars().take(10).collect::<String>() + "…"
}

/// Lays out `keys` (as `KeyManager::list` gives them) at `now`; `rotation` is the
/// rotation interval in seconds.
pub fn layout(keys: &[KeyInfo], now: i64, rotation: i64) -> Timeline {
    let algs: Vec<&'static str> = Alg::ALL
        .iter()
        .map(|a| a.as_str())
        .filter(|a| keys.iter().any(|k| k.alg == *a))
        .collect();
    let rotations: Vec<(&'static str, i64)> = algs
        .iter()
        .filter_map(|a| next_rotation(keys, a, now, rotation).map(|t| (*a, t)))
        .collect();
    // The window: from the oldest key (at least an hour back) to past the last known
    // moment (unpublication, next rotation), with a margin.
    let start = keys
        .iter()
        .map(|k| k.created_at)
        .min()
        .unwrap_or(now)
        .min(now - 3600);
    let last = keys
        .iter()
        .flat_map(|k| [k.unpublish_at, k.revoked_at, Some(k.activates_at)])
        .flatten()
        .chain(rotations.iter().map(|(_, t)| *t))
        .chain([now + 3600])
        .max()
        .unwrap_or(now);
    let end = last + (last - start) / 12;
    let span = (end - start).max(1) as f64;
    let x =
        |t: i64| round(LEFT + (t.clamp(start, end) - start) as f64 / span * (WIDTH - LEFT - RIGHT));

    let mut lanes = Vec::new();
    let mut segments = Vec::new();
    let mut markers = Vec::new();
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    let mut y = TOP;
    for &alg in &algs {
        let lane_top = y;
        let mut of_alg: Vec<&KeyInfo> = keys.iter().filter(|k| k.alg == alg).collect();
        of_alg.sort_by_key(|k| (k.activates_at, k.created_at));
        lanes.push(Lane {
            alg,
            label_y: round(lane_top + BAR),
        });
        for k in &of_alg {
            let title_of = |what: &str, from: i64, to: Option<i64>| {
                format!(
                    "{alg} key {} {what}: {} → {}",
                    short(&k.kid),
                    time::format_utc(from),
                    to.map_or_else(|| "(not yet scheduled)".into(), time::format_utc)
                )
            };
            let mut push = |from: i64, to: Option<i64>, class: &str, what: &str| {
                let (x1, x2) = (x(from), x(to.unwrap_or(end)));
                if x2 <= x1 && to.is_some() {
                    return;
                }
                segments.push(Segment {
                    x: x1,
                    y: round(y),
                    width: round((x2 - x1).max(2.0)),
                    height: BAR,
                    class: if to.is_some() {
                        class.to_string()
                    } else {
                        format!("{class} seg-open")
                    },
                    title: title_of(what, from, to),
                });
            };
            match k.revoked_at {
                Some(revoked) => push(
                    k.created_at,
                    Some(revoked),
                    "seg-revoked",
                    "published, then revoked",
                ),
                None => {
                    push(
                        k.created_at,
                        Some(k.activates_at),
                        "seg-next",
                        "published, not signing",
                    );
                    push(k.activates_at, k.retired_at, "seg-active", "signing");
                    if let Some(retired) = k.retired_at {
                        push(
                            retired,
                            k.unpublish_at,
                            "seg-retired",
                            "retired, still published",
                        );
                    }
                }
            }
            rows.push(Row {
                alg: alg.to_string(),
                kid: k.kid.clone(),
                state: k.state,
                published: time::format_utc(k.created_at),
                active_from: if k.revoked_at.is_some() && k.activates_at > k.revoked_at.unwrap_or(0)
                {
                    "never".into()
                } else {
                    time::format_utc(k.activates_at)
                },
                retired: k.retired_at.map_or_else(|| "—".into(), time::format_utc),
                unpublished: match (k.revoked_at, k.unpublish_at) {
                    (Some(r), _) => format!("revoked {}", time::format_utc(r)),
                    (None, Some(u)) => time::format_utc(u),
                    (None, None) => "—".into(),
                },
            });
            y += ROW;
        }
        let active = of_alg.iter().find(|k| k.state == "ACTIVE");
        let next = rotations.iter().find(|(a, _)| *a == alg).map(|(_, t)| *t);
        if let Some(t) = next {
            markers.push(Marker {
                x: x(t),
                y1: round(lane_top - 4.0),
                y2: round(y - ROW + BAR + 4.0),
                label: format!("next {alg} rotation"),
                label_y: round(lane_top - 6.0),
                anchor: if x(t) > WIDTH * 0.75 { "end" } else { "start" },
            });
        }
        summary.push(format!(
            "{alg}: {}{}.",
            active.map_or_else(
                || "no key signs now".to_string(),
                |k| format!(
                    "key {} signs since {}",
                    short(&k.kid),
                    time::format_utc(k.activates_at)
                )
            ),
            next.map_or_else(String::new, |t| format!(
                "; the next key signs from {}",
                time::format_utc(t)
            ))
        ));
        y += LANE_GAP;
    }
    let height = round(y.max(TOP + ROW) + 4.0);
    let now_marker = Marker {
        x: x(now),
        y1: TOP - 8.0,
        y2: height,
        label: "now".into(),
        label_y: TOP - 12.0,
        anchor: "middle",
    };
    Timeline {
        width: WIDTH,
        height,
        lanes,
        segments,
        ticks: ticks(start, end, &x),
        rotations: markers,
        now: now_marker,
        summary: if summary.is_empty() {
            "No signing keys yet.".into()
        } else {
            summary.join(" ")
        },
        rows,
    }
}

/// About six ticks at round UTC times.
fn ticks(start: i64, end: i64, x: &impl Fn(i64) -> f64) -> Vec<Tick> {
    const STEPS: [i64; 10] = [
        600,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        30 * 86_400,
    ];
    let span = end - start;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7)
        .unwrap_or(30 * 86_400);
    let mut t = (start / step + 1) * step;
    let mut out = Vec::new();
    while t < end {
        let full = time::format_utc(t);
        let label = if step >= 86_400 {
            full[5..10].to_string()
        } else {
            full[5..16].to_string()
        };
        out.push(Tick { x: x(t), label });
        t += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, alg: &str, state: &'static str, created: i64, active: i64) -> KeyInfo {
        KeyInfo {
            kid: kid.into(),
            alg: alg.into(),
            backend: "local".into(),
            state,
            created_at: created,
            activates_at: active,
            retired_at: None,
            unpublish_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn bars_follow_the_lifecycle_and_now_sits_between() {
        let now = 1_000_000;
        let mut old = key("old", "ES256", "ACTIVE", now - 7200, now - 7000);
        old.retired_at = Some(now + 600);
        old.unpublish_at = Some(now + 600 + 86_460);
        let next = key("new", "ES256", "NEXT", now - 10, now + 600);
        let mut revoked = key("bad", "RS256", "REVOKED", now - 5000, now - 4000);
        revoked.revoked_at = Some(now - 100);
        let t = layout(&[old, next, revoked], now, 7 * 86_400);
        assert_eq!(t.lanes.len(), 2);
        let classes: Vec<&str> = t.segments.iter().map(|s| s.class.as_str()).collect();
        assert_eq!(
            classes,
            [
                "seg-next",
                "seg-active",
                "seg-retired",
                "seg-next",
                "seg-active seg-open",
                "seg-revoked"
            ]
        );
        // Bars start left of "now" and the successor's activation is the next rotation.
        assert!(t.segments[0].x < t.now.x && t.now.x < t.rotations[0].x);
        assert_eq!(
            t.rotations.len(),
            1,
            "the revoked RS256 key has no successor"
        );
        assert!(t.summary.contains("ES256: key old… signs since"));
        assert!(t.summary.contains("RS256: no key signs now"));
        assert_eq!(t.rows.len(), 3);
        assert!(!t.ticks.is_empty());
        assert!(
            t.segments
                .iter()
                .all(|s| s.x >= LEFT && s.x + s.width <= WIDTH)
        );
    }

    #[test]
    fn next_rotation_without_a_successor_is_a_rotation_after_activation() {
        let k = key("a", "ES256", "ACTIVE", 0, 100);
        assert_eq!(next_rotation(&[k], "ES256", 200, 1000), Some(1100));
        assert_eq!(next_rotation(&[], "ES256", 200, 1000), None);
    }
}
