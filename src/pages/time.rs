//! Times on pages: Unix seconds shown as UTC (`2026-12-07 14:05 UTC`), and the
//! `datetime-local` form value (`2026-12-07T14:05`, read as UTC) parsed back.

use std::time::{Duration, UNIX_EPOCH};

/// `2026-12-07 14:05:09 UTC`.
pub fn format_utc(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    // `2026-12-07T14:05:09Z`
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} {} UTC", &s[..10], &s[11..19])
}

/// `2026-12-07T14:05:09Z`, for `<time datetime>`.
pub fn iso(unix: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64))
        .to_string()
}

/// The value of a `datetime-local` input for `unix` (`2026-12-07T14:05`).
pub fn form_value(unix: i64) -> String {
    iso(unix)[..16].to_string()
}

/// A form's `2026-12-07T14:05` (or with `:09` seconds, or a space for the `T`), as UTC
/// Unix seconds; `None` if it is not such a time.
pub fn parse_form(value: &str) -> Option<i64> {
    let v = value.trim();
    let with_seconds = match v.len() {
        16 => format!("{v}:00"),
        19 => v.to_string(),
        _ => return None,
    };
    let t = humantime::parse_rfc3339_weak(&with_seconds).ok()?;
    t.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// A short human duration: `3d 4h`, `5h 10m`, `12m`, `40s`.
pub fn span(seconds: i64) -> String {
    let s = seconds.abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(form_value(1_796_652_300), "2026-12-07T14:05");
        assert_eq!(parse_form("2026-12-07T14:05"), Some(1_796_652_300));
        assert_eq!(parse_form("2026-12-07T14:05:09"), Some(1_796_652_309));
        assert_eq!(parse_form("yesterday"), None);
        assert_eq!(parse_form("2026-13-07T14:05"), None);
        assert_eq!(span(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        assert_eq!(span(-125), "2m");
    }
}
