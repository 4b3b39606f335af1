//! The pages of the device verification flow, in the sign-in pages' layout: every dynamic
//! value HTML-escaped, no script.

use crate::authorize::pages::{escape, layout};

/// The code entry page (with the sign-in fields when the browser has no session).
pub struct Entry<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub user_code: &'a str,
    pub signed_in: bool,
    pub error: Option<&'a str>,
}

pub fn entry(p: &Entry<'_>) -> String {
    let error = p
        .error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let sign_in = if p.signed_in {
        String::new()
    } else {
        "<label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required>"
            .to_string()
    };
    let body = format!(
        "<h1>Connect a device</h1><p class=\"lead\">Enter the code shown on your device.</p>{error}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"action\" value=\"continue\">\
         <label for=\"user_code\">Code</label>\
         <input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{code}\" \
         autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" \
         placeholder=\"BCDF-GHJK\" required autofocus>{sign_in}\
         <button type=\"submit\">Continue</button></form>",
        action = escape(p.action),
        csrf = escape(p.csrf),
        code = escape(p.user_code),
    );
    layout("Connect a device", &body)
}

/// The confirmation page: who asks, for what; approve or deny.
pub struct Confirm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub user_code: &'a str,
    pub client_name: &'a str,
    pub scopes: &'a [&'a str],
}

pub fn confirm(p: &Confirm<'_>) -> String {
    let scopes: String = if p.scopes.is_empty() {
        "<li>no scopes (sign-in only)</li>".into()
    } else {
        p.scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect()
    };
    let form = |action: &str, label: &str, style: &str| {
        format!(
            "<form method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"user_code\" value=\"{}\">\
             <input type=\"hidden\" name=\"action\" value=\"{action}\">\
             <button type=\"submit\" id=\"{action}\"{style}>{label}</button></form>",
            escape(p.action),
            escape(p.csrf),
            escape(p.user_code),
        )
    };
    let body = format!(
        "<h1>Allow access?</h1><p class=\"lead\"><strong>{client}</strong> on the device \
         showing <strong>{code}</strong> asks for:</p><ul>{scopes}</ul>\
         <p>Only allow this if you started the sign-in on that device.</p>{approve}{deny}",
        client = escape(p.client_name),
        code = escape(p.user_code),
        approve = form("approve", "Allow", ""),
        deny = form("deny", "Deny", " style=\"background:#6b7280\""),
    );
    layout("Allow access?", &body)
}

/// After the answer.
pub fn done(approved: bool) -> String {
    let (title, text) = if approved {
        ("Device connected", "You can return to your device.")
    } else {
        (
            "Request denied",
            "The device was not given access. You can close this window.",
        )
    };
    layout(
        title,
        &format!("<h1>{title}</h1><p class=\"lead\">{text}</p>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_dynamic_is_escaped() {
        let html = confirm(&Confirm {
            action: "/device",
            csrf: "c\"",
            user_code: "<b>",
            client_name: "<script>x</script>",
            scopes: &["a<b"],
        });
        assert!(!html.contains("<script>x") && !html.contains("<b>") && !html.contains("a<b"));
        let html = entry(&Entry {
            action: "/device",
            csrf: "c",
            user_code: "\"><img src=x>",
            signed_in: false,
            error: Some("<i>"),
        });
        assert!(!html.contains("<img src=x>") && !html.contains("<i>"));
        assert!(html.contains("id=\"password\""));
    }
}
