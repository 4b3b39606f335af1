//! Keyset paging for the admin listings: a page of items and an opaque cursor that
//! resumes after the last one (stable under concurrent inserts, unlike offsets).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::Serialize;

use crate::error::{Error, Field, Result};

/// Largest page a listing returns.
pub const MAX_LIMIT: u64 = 200;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows fetched in order: the extra row only says that a
    /// next page exists, whose cursor is `cursor_of` the last row kept.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: u64,
        cursor_of: impl Fn(&R) -> String,
        item: impl FnMut(R) -> Result<T>,
    ) -> Result<Self> {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = more.then(|| rows.last().map(&cursor_of)).flatten();
        Ok(Page {
            items: rows.into_iter().map(item).collect::<Result<_>>()?,
            next_cursor,
        })
    }
}

/// The page size to use: `DEFAULT_LIMIT` when absent, 1..=`MAX_LIMIT` otherwise.
pub fn limit(asked: Option<u64>) -> Result<u64> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            Field::Limit,
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Encodes the sort key of the last item of a page.
pub fn encode_cursor(key: &str) -> String {
    B64.encode(key.as_bytes())
}

/// Decodes a cursor given back by a client.
pub fn decode_cursor(cursor: &str) -> Result<String> {
    B64.decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::invalid(Field::Cursor, "not a cursor returned by this listing"))
}

/// The least string greater than every string that starts with `prefix` (`None` when there
/// is none: an empty prefix, or one made only of `char::MAX`). A prefix search is then the
/// index range `prefix <= key < successor`, exact under a bytewise (code point) order: the
/// order of SQLite's `BINARY` and of the `COLLATE "C"` columns the console searches on
/// PostgreSQL (migration `m20261210_021101`).
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors_bound_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor(""), None);
        let succ = prefix_successor("al").unwrap();
        for s in ["al", "alice", "al\u{10FFFF}x", "al-1"] {
            assert!(s >= "al" && s < succ.as_str(), "{s}");
        }
        for s in ["am", "ak", "b", "a"] {
            assert!(!(s >= "al" && s < succ.as_str()), "{s}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("1700000000:abc");
        assert_eq!(decode_cursor(&c).unwrap(), "1700000000:abc");
        assert!(decode_cursor("%%%").is_err());
        assert!(decode_cursor(&B64.encode([0xff, 0xfe])).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(MAX_LIMIT + 1)).is_err());
    }
}
