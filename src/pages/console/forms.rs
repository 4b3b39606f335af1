//! What the console's Clients and Users forms share: reading a
//! posted form, errors shown next to their field, and the
//! one-shot form ids that keep a reloaded result page from repeating its change.

use crate::{
    admin::Refusal,
    error::{Error, Field},
    params::Params,
    replay::{Purpose, Recorded},
};

/// A posted form (read and bounded by the HTTP layer, CSRF checked by `pages::session`).
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Params);

impl FormData {
    /// The first non-empty value of `name` ("" when absent).
    pub fn get(&self, name: &str) -> String {
        self.0
            .all(name)
            .first()
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    /// Every non-empty value of `name` (checkbox groups).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.all(name).into_iter().map(str::to_string).collect()
    }
}

/// The error of a form: one field's message (shown next to it, `aria-invalid`), or one
/// for the whole form (shown above it).
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub field: Option<&'static str>,
    pub message: Option<String>,
}

impl FormErrors {
    pub fn none() -> Self {
        Self::default()
    }

    /// A message for the input named `field`.
    pub fn on(field: &'static str, message: impl Into<String>) -> Self {
        FormErrors {
            field: Some(field),
            message: Some(message.into()),
        }
    }

    /// A message for the whole form.
    pub fn form(message: impl Into<String>) -> Self {
        FormErrors {
            field: None,
            message: Some(message.into()),
        }
    }

    /// The message for the input `name`, if it is the one at fault.
    pub fn get(&self, name: &str) -> Option<&str> {
        match (self.field, &self.message) {
            (Some(f), Some(m)) if f == name => Some(m),
            _ => None,
        }
    }

    /// The message for the whole form, if it is not about one field.
    pub fn general(&self) -> Option<&str> {
        match (self.field, &self.message) {
            (None, Some(m)) => Some(m),
            _ => None,
        }
    }

    pub fn any(&self) -> bool {
        self.message.is_some()
    }

    /// The domain's validation error as a form error: its own message, next to the input
    /// named as the admin API names the field (`Field::api_name`), except where one input
    /// stands for several fields (`input_of`). Anything but a validation error is not for
    /// the form: `Err` gives it back.
    pub fn from_domain(e: Error, input_of: impl Fn(Field) -> &'static str) -> Result<Self, Error> {
        match e {
            Error::Invalid { field, reason } => Ok(FormErrors::on(input_of(field), reason)),
            Error::Conflict(msg) => Ok(FormErrors::form(msg)),
            e => Err(e),
        }
    }

    /// A change the admin policy refuses.
    pub fn refused(why: Refusal) -> Self {
        FormErrors::form(why.message())
    }
}

/// A fresh one-shot form id, put in a hidden input of a form whose result is shown once
/// (a new client's secret, a rotated secret).
pub fn new_form_id() -> String {
    crate::secrets::random_token(16).unwrap_or_default()
}

/// How long a form id is remembered: longer than anyone keeps a form open.
const FORM_ID_TTL: i64 = 24 * 3600;

/// Whether the form with this id is submitted for the first time. A reload of the result
/// page re-sends the form: the change must not happen twice (a second client, a second
/// rotation that would replace the secret just shown). Recorded in the replay records every
/// instance shares; an empty or oversized id counts as seen.
pub async fn first_submission(
    ctx: &crate::context::Context,
    user: &str,
    form_id: &str,
) -> crate::error::Result<bool> {
    if form_id.is_empty() || form_id.len() > 64 {
        return Ok(false);
    }
    let until = ctx.clock.now() + FORM_ID_TTL;
    Ok(ctx
        .replay
        .record_once(Purpose::ConsoleForm, user, form_id, until)
        .await?
        == Recorded::Fresh)
}
