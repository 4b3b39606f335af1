//! What the admin API refuses in any JSON body before a handler parses it (A5): a key
//! that appears twice in one object (at any depth; serde would silently keep the last
//! value), and control characters (NUL, newlines, escapes…) in any string or key.
//!
//! A body that is not JSON at all is left to the handler's parser, which answers with its
//! own 400.

use std::{cell::RefCell, collections::HashSet, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A refused body: the field at fault (object keys joined with `.`, arrays transparent;
/// `body` at the top level) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub field: String,
    pub message: &'static str,
}

/// Checks a JSON body. `None`: nothing to refuse (or not JSON: the parser will say so).
pub fn check(bytes: &[u8]) -> Option<Finding> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Walk {
        path: "",
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

struct Walk<'a> {
    path: &'a str,
    found: &'a RefCell<Option<Finding>>,
}

impl Walk<'_> {
    fn refuse<E: de::Error>(&self, field: String, message: &'static str) -> E {
        *self.found.borrow_mut() = Some(Finding { field, message });
        E::custom("refused")
    }

    fn field(&self) -> String {
        if self.path.is_empty() {
            "body".into()
        } else {
            self.path.to_string()
        }
    }

    fn string<E: de::Error>(&self, v: &str) -> Result<(), E> {
        if v.chars().any(char::is_control) {
            return Err(self.refuse(self.field(), "must not contain control characters"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                path: self.path,
                found: self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if key.chars().any(char::is_control) {
                return Err(self.refuse(self.field(), "keys must not contain control characters"));
            }
            if !seen.insert(key) {
                return Err(self.refuse(path, "appears more than once"));
            }
            map.next_value_seed(Walk {
                path: &path,
                found: self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn field(body: &str) -> Option<String> {
        check(body.as_bytes()).map(|f| f.field)
    }

    #[test]
    fn duplicates_and_control_characters_are_found_with_their_field() {
        assert_eq!(field(r#"{"name":"a","scopes":["x"]}"#), None);
        assert_eq!(field(r#"{"name":"a","name":"b"}"#).as_deref(), Some("name"));
        assert_eq!(
            field(r#"{"claims":{"team":1,"x":[{"a":1,"a":2}]}}"#).as_deref(),
            Some("claims.x.a")
        );
        assert_eq!(
            field(r#"{"n\u0061me":1,"name":2}"#).as_deref(),
            Some("name")
        );
        assert_eq!(field(r#"{"name":"a\u0000b"}"#).as_deref(), Some("name"));
        assert_eq!(
            field(r#"{"redirect_uris":["https://a/cb","https://a/\ncb"]}"#).as_deref(),
            Some("redirect_uris")
        );
        assert_eq!(
            field(r#"{"claims":{"k\u0007":1}}"#).as_deref(),
            Some("claims")
        );
        assert_eq!(field("not json"), None);
        assert_eq!(field(""), None);
    }
}
