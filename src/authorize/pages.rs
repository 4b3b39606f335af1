//! The server-rendered pages of browser sign-in: small template functions, every dynamic
//! value HTML-escaped, no script, inline CSS only (the CSP forbids everything else).

/// Content-Security-Policy of every page: no scripts, no external resources, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{width:100%;max-width:24rem;margin:1rem;padding:2rem;background:#fff;border-radius:.75rem;\
box-shadow:0 1px 3px rgba(0,0,0,.12),0 8px 24px rgba(0,0,0,.06)}\
h1{font-size:1.375rem;margin:0 0 .25rem}\
p.lead{margin:0 0 1.5rem;color:#4b5563}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input[type=text],input[type=password]{width:100%;padding:.625rem .75rem;font:inherit;\
border:1px solid #9ca3af;border-radius:.375rem;background:#fff;color:inherit}\
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}\
button{width:100%;margin-top:1.5rem;padding:.7rem;font:inherit;font-weight:600;color:#fff;\
background:#1d4ed8;border:0;border-radius:.375rem;cursor:pointer}\
button:hover{background:#1e40af}\
.error{margin:0 0 1rem;padding:.75rem;border-radius:.375rem;background:#fef2f2;color:#991b1b;\
border:1px solid #fecaca}\
.notice{margin:0 0 1rem;padding:.75rem;border-radius:.375rem;background:#eff6ff;color:#1e3a8a;\
border:1px solid #bfdbfe}\
.hint{margin:.25rem 0 0;font-size:.875rem;color:#4b5563}\
p.alt{margin:1.25rem 0 0;text-align:center}\
a{color:#1d4ed8}a:focus{outline:3px solid #2563eb;outline-offset:1px}\
footer{margin-top:1.5rem;font-size:.8125rem;color:#6b7280;text-align:center}";

pub(crate) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}\
         <footer>Secured by Tessera</footer></main></body></html>",
        escape(title)
    )
}

/// What the login page shows.
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub action: &'a str,
    /// The sealed pending authorization request.
    pub request: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// A neutral message above the form (after a sign-up).
    pub notice: Option<&'a str>,
    /// The sign-up page's address when sign-up is enabled (a link under the form).
    pub signup: Option<&'a str>,
}

pub fn login(p: &LoginPage<'_>) -> String {
    let error = p
        .error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let notice = p
        .notice
        .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", escape(n)))
        .unwrap_or_default();
    let signup = p
        .signup
        .map(|href| {
            format!(
                "<p class=\"alt\">New here? <a href=\"{}\">Create an account</a></p>",
                escape(href)
            )
        })
        .unwrap_or_default();
    let described = if p.error.is_some() {
        " aria-describedby=\"login-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let autofocus_user = if p.username.is_empty() {
        " autofocus"
    } else {
        ""
    };
    let autofocus_pw = if p.username.is_empty() {
        ""
    } else {
        " autofocus"
    };
    let body = format!(
        "<h1>Sign in</h1><p class=\"lead\">to continue to <strong>{client}</strong></p>{notice}{error}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required{described}{autofocus_user}>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required{described}{autofocus_pw}>\
         <button type=\"submit\">Sign in</button></form>{signup}",
        client = escape(p.client_name),
        action = escape(p.action),
        request = escape(p.request),
        csrf = escape(p.csrf),
        username = escape(p.username),
    );
    layout(&format!("Sign in to {}", p.client_name), &body)
}

/// What the sign-up page shows.
pub struct SignupPage<'a> {
    pub client_name: &'a str,
    pub action: &'a str,
    /// The sealed pending authorization request.
    pub request: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    /// The policy, in words, under the password field.
    pub policy: &'a str,
    /// An error about the username field.
    pub username_error: Option<&'a str>,
    /// An error about the password fields, or about the attempt as a whole.
    pub password_error: Option<&'a str>,
}

/// The sign-up form of the login family: same look, same hidden request and CSRF token.
pub fn signup(p: &SignupPage<'_>) -> String {
    let alert = |id: &str, e: Option<&str>| {
        e.map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"{id}\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default()
    };
    let user_attrs = if p.username_error.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"username-error\""
    } else {
        ""
    };
    let pw_attrs = if p.password_error.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"password-error password-hint\""
    } else {
        " aria-describedby=\"password-hint\""
    };
    let body = format!(
        "<h1>Create an account</h1><p class=\"lead\">to continue to <strong>{client}</strong></p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>{user_error}\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required{user_attrs}>\
         <label for=\"password\">Password</label>{pw_error}\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" \
         required{pw_attrs}>\
         <p class=\"hint\" id=\"password-hint\">{policy}</p>\
         <label for=\"password_confirm\">Repeat the password</label>\
         <input type=\"password\" id=\"password_confirm\" name=\"password_confirm\" \
         autocomplete=\"new-password\" required>\
         <button type=\"submit\">Create account</button></form>",
        client = escape(p.client_name),
        action = escape(p.action),
        request = escape(p.request),
        csrf = escape(p.csrf),
        username = escape(p.username),
        policy = escape(p.policy),
        user_error = alert("username-error", p.username_error),
        pw_error = alert("password-error", p.password_error),
    );
    layout(&format!("Create an account for {}", p.client_name), &body)
}

/// An error the user must see (never redirected).
pub fn error(message: &str) -> String {
    layout(
        "Sign-in error",
        &format!(
            "<h1>Something went wrong</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p>Go back to the application and try again.</p>",
            escape(message)
        ),
    )
}

/// "Sign out?": RP-initiated logout without a hint for this session's user (logout CSRF,
/// B4). `fields` are the hidden inputs (name, value) posted back to `action`.
pub fn confirm_sign_out(action: &str, fields: &[(&str, &str)]) -> String {
    let hidden: String = fields
        .iter()
        .map(|(n, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(n),
                escape(v)
            )
        })
        .collect();
    layout(
        "Sign out?",
        &format!(
            "<h1>Sign out?</h1><p class=\"lead\">An application asked to sign you out of \
             Tessera. If you did not ask for this, close this window.</p>\
             <form method=\"post\" action=\"{}\">{hidden}\
             <button type=\"submit\">Sign out</button></form>",
            escape(action)
        ),
    )
}

/// After RP-initiated logout without a return address.
pub fn signed_out() -> String {
    layout(
        "Signed out",
        "<h1>You are signed out</h1><p class=\"lead\">You can close this window.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_dynamic_is_escaped() {
        let html = login(&LoginPage {
            client_name: "<script>alert(1)</script>",
            action: "/oauth/login",
            request: "a\"b",
            csrf: "c'd",
            username: "\"><img src=x>",
            error: Some("<b>"),
            notice: Some("<i>"),
            signup: Some("/oauth/signup?request=\"><x>"),
        });
        assert!(!html.contains("<i>") && !html.contains("<x>"));
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img src=x>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("value=\"a&quot;b\""));
    }

    #[test]
    fn form_fields_are_labelled() {
        let html = login(&LoginPage {
            client_name: "App",
            action: "/oauth/login",
            request: "r",
            csrf: "c",
            username: "",
            error: None,
            notice: None,
            signup: None,
        });
        assert!(!html.contains("Create an account"));
        assert!(html.contains("<label for=\"username\">") && html.contains("id=\"username\""));
        assert!(html.contains("<label for=\"password\">") && html.contains("id=\"password\""));
        assert!(html.contains("lang=\"en\""));
    }

    #[test]
    fn signup_page_escapes_and_labels() {
        let html = signup(&SignupPage {
            client_name: "<script>x</script>",
            action: "/oauth/signup",
            request: "r",
            csrf: "c",
            username: "\"><img src=x>",
            policy: "At least 12 characters.",
            username_error: Some("<b>bad</b>"),
            password_error: None,
        });
        assert!(!html.contains("<script>x") && !html.contains("<img src=x>"));
        assert!(!html.contains("<b>bad"));
        for id in ["username", "password", "password_confirm"] {
            assert!(html.contains(&format!("<label for=\"{id}\">")));
            assert!(html.contains(&format!("id=\"{id}\"")));
        }
        assert!(html.contains("aria-describedby=\"username-error\""));
    }
}
