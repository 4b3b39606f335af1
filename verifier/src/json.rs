//! JSON helpers: duplicate-member rejection at every nesting level.
//!
//! serde_json keeps the last of duplicate members when parsing into a map, while derived
//! structs error: different layers could disagree on which `alg` or `sub` counts
//! (RFC 8725 §2.6). Everything the verifier reads goes through these visitors, which
//! reject any object with a repeated member name (compared after unescaping, so
//! `"alg"` and `"\u0061lg"` are the same name). Nesting depth is bounded by serde_json's
//! recursion limit (128).

use std::{borrow::Cow, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A member name, borrowed from the input when it contains no escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Seen member names of one object (objects are small: a linear scan beats hashing).
#[derive(Default)]
pub(crate) struct Seen<'de>(Vec<Cow<'de, str>>);

impl<'de> Seen<'de> {
    /// Records `name`; an error if it was already there.
    pub fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.0.contains(&name) {
            return Err(E::custom("duplicate member"));
        }
        self.0.push(name);
        Ok(())
    }
}

/// Any JSON value, discarded, but rejecting duplicate members inside it.
pub(crate) struct AnyNoDup;

impl<'de> de::Deserialize<'de> for AnyNoDup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for AnyNoDup {
    type Value = AnyNoDup;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = AnyNoDup;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_i64<E>(self, _: i64) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_u64<E>(self, _: u64) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_f64<E>(self, _: f64) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_str<E>(self, _: &str) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_unit<E>(self) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_none<E>(self) -> Result<AnyNoDup, E> {
        Ok(AnyNoDup)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyNoDup, A::Error> {
        while seq.next_element::<AnyNoDup>()?.is_some() {}
        Ok(AnyNoDup)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyNoDup, A::Error> {
        let mut seen = Seen::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            seen.insert(k)?;
            map.next_value::<AnyNoDup>()?;
        }
        Ok(AnyNoDup)
    }
}

/// Checks that `bytes` is one JSON value without duplicate members at any level.
pub(crate) fn check_no_duplicates(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<AnyNoDup>(bytes).map(|_| ())
}

/// A serde_json error as a short log string (no input echoed: serde_json reports only
/// positions and our own messages).
pub(crate) fn describe(e: &serde_json::Error) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert!(check_no_duplicates(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        assert!(check_no_duplicates(br#"{"a":1,"a":1}"#).is_err());
        assert!(check_no_duplicates(br#"{"a":1,"\u0061":2}"#).is_err());
        assert!(check_no_duplicates(br#"{"x":{"c":1,"c":2}}"#).is_err());
        assert!(check_no_duplicates(br#"[{"c":1},{"c":[{"e":1,"e":2}]}]"#).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(check_no_duplicates(deep.as_bytes()).is_err());
        let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(check_no_duplicates(deep.as_bytes()).is_err());
    }
}
