//! Form (and query) parameters of the OAuth endpoints, parsed strictly: RFC 6749 §3.2 says
//! request parameters must not be repeated, so repetitions are detected rather than
//! silently resolved. Readers take the [`FormFields`] view, so a test can record which
//! parameters a parser reads (the token endpoint's documentation is checked against it).

use crate::error::OAuthError;

/// The most parameters a form may carry; more is an attack, not a client.
pub const MAX_PARAMS: usize = 64;

/// Reading parameters by name.
pub trait FormFields {
    /// A parameter that may appear at most once; empty values count as absent
    /// (RFC 6749 §3.1). Repeated: `invalid_request`.
    fn single(&self, name: &'static str) -> Result<Option<&str>, OAuthError>;

    /// Every value of a parameter that may repeat (RFC 8707 `resource`).
    fn all(&self, name: &'static str) -> Vec<&str>;

    /// A parameter that must be present once: `invalid_request` naming it otherwise.
    fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.single(name)?
            .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing").into()))
    }

    /// [`FormFields::single`] as an owned value.
    fn single_owned(&self, name: &'static str) -> Result<Option<String>, OAuthError> {
        Ok(self.single(name)?.map(str::to_string))
    }

    /// [`FormFields::all`] as owned values.
    fn all_owned(&self, name: &'static str) -> Vec<String> {
        self.all(name).into_iter().map(str::to_string).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self { pairs })
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// A parameter that may appear at most once; empty values count as absent
    /// (RFC 6749 §3.1).
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(OAuthError::InvalidRequest(
                        format!("{name} is repeated").into(),
                    ));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// Every value of a parameter that may repeat (RFC 8707 `resource`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl FormFields for Params {
    fn single(&self, name: &'static str) -> Result<Option<&str>, OAuthError> {
        Params::single(self, name)
    }

    fn all(&self, name: &'static str) -> Vec<&str> {
        Params::all(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let p = Params::parse(b"grant_type=a&grant_type=b").unwrap();
        assert!(p.single("grant_type").is_err());
        let p = Params::parse(b"grant_type=client_credentials&scope=a+b").unwrap();
        assert_eq!(p.single("scope").unwrap(), Some("a b"));
        assert_eq!(p.single("missing").unwrap(), None);
        assert!(matches!(
            FormFields::required(&p, "missing"),
            Err(OAuthError::InvalidRequest(m)) if m == "missing is missing"
        ));
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let body = "a=1&".repeat(MAX_PARAMS + 1);
        assert!(Params::parse(body.as_bytes()).is_err());
    }
}
