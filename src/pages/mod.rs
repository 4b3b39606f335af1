//! Pages for people: the admin console (`/console`) and the account page (`/account`),
//! rendered on the server with askama templates (`templates/`, compiled into the binary,
//! every value HTML-escaped). This module is the domain side: the page session and CSRF
//! rule ([`session`]), view models and page operations; `http::pages` only parses the
//! request and turns an [`Outcome`] into a response (no poem here, `tests/api/layout.rs`).
//!
//! Every change a page makes goes through the same domain function as the admin API's
//! (`admin::keys`, ...) and is audited with the actor `user:<username>`.

pub mod account;
pub mod console;
pub mod session;
pub mod time;

use askama::Template;

use sea_orm::DatabaseConnection;

use crate::{admin::AuditLog, context::Context, keys::KeyManager};

/// Content-Security-Policy of every console and account page: the one stylesheet and
/// script of this origin, inline SVG only through markup and classes, forms post here.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
                       img-src 'self' data:; form-action 'self'; base-uri 'none'; \
                       frame-ancestors 'none'";

/// The pages' one stylesheet, served from memory at [`css_url`].
pub const CSS: &str = include_str!("../../templates/pages/pages.css");

/// Path of the stylesheet.
pub const CSS_PATH: &str = "/pages/assets/pages.css";

/// The stylesheet's URL with its content hash: a new build's stylesheet is a new URL, so
/// browsers may cache each for a year.
pub fn css_url() -> &'static str {
    use std::sync::LazyLock;
    static URL: LazyLock<String> = LazyLock::new(|| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS.as_bytes());
        let hex: String = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{CSS_PATH}?v={hex}")
    });
    &URL
}

/// What the pages need beyond the domain [`Context`]: the key manager and the audit log
/// live with the server state (the HTTP layer hands them in).
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub ctx: &'a Context,
    pub db: &'a DatabaseConnection,
    /// `None` only where no keys are managed (the OpenAPI placeholder state).
    pub keys: Option<&'a KeyManager>,
    pub audit: &'a AuditLog,
}

impl<'a> Services<'a> {
    /// The admin operations the console's changes go through (the admin API's own).
    pub fn admin_ops(&self) -> crate::admin::AdminOps<'a> {
        crate::admin::AdminOps::new(self.ctx, self.audit)
    }
}

/// What a page request ends in; `http::pages` renders it.
#[derive(Debug)]
pub enum Outcome {
    /// An HTML page with this status.
    Page {
        status: u16,
        html: String,
        set_cookies: Vec<String>,
    },
    /// `303 See Other` to `location` (after a form, or to sign in).
    Redirect {
        location: String,
        set_cookies: Vec<String>,
    },
}

impl Outcome {
    /// A page, or the generic error page if the template fails (it cannot for these
    /// templates: they only format values).
    pub fn page(status: u16, template: &impl Template) -> Self {
        match template.render() {
            Ok(html) => Outcome::Page {
                status,
                html,
                set_cookies: Vec::new(),
            },
            Err(e) => {
                tracing::error!(error = %e, "page template failed");
                Outcome::Page {
                    status: 500,
                    html: "<!doctype html><title>Error</title><p>The page could not be shown.</p>"
                        .into(),
                    set_cookies: Vec::new(),
                }
            }
        }
    }

    /// A redirect (`303`).
    pub fn redirect(location: impl Into<String>) -> Self {
        Outcome::Redirect {
            location: location.into(),
            set_cookies: Vec::new(),
        }
    }

    /// The same outcome, also setting `cookie`.
    pub fn with_cookie(mut self, cookie: String) -> Self {
        match &mut self {
            Outcome::Page { set_cookies, .. } | Outcome::Redirect { set_cookies, .. } => {
                set_cookies.push(cookie)
            }
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Page { status, .. } => *status,
            Outcome::Redirect { .. } => 303,
        }
    }
}

/// A link of the navigation bar.
#[derive(Debug, Clone, Copy)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// Only for console admins.
    pub admin: bool,
}

/// The navigation bar, in order. A page module adds its entry here.
pub const NAV: &[NavItem] = &[
    NavItem {
        href: "/console",
        label: "Overview",
        admin: true,
    },
    NavItem {
        href: "/console/clients",
        label: "Clients",
        admin: true,
    },
    NavItem {
        href: "/console/users",
        label: "Users",
        admin: true,
    },
    NavItem {
        href: "/console/keys",
        label: "Keys",
        admin: true,
    },
    NavItem {
        href: "/console/audit",
        label: "Audit log",
        admin: true,
    },
    NavItem {
        href: "/account",
        label: "Your account",
        admin: false,
    },
];

/// What the shared layout (`templates/pages/base.html`) shows around every page: the
/// title, the navigation (the current entry marked), who is signed in, the sign-out form
/// (with its CSRF token) and the flash message of the previous form.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    /// `href` of the current navigation entry.
    pub current: &'static str,
    /// The signed-in user's name; `None` on pages shown before sign-in.
    pub username: Option<String>,
    /// Whether the navigation shows the console's entries.
    pub admin: bool,
    /// The session's CSRF token, for the sign-out form (and every other form).
    pub csrf: String,
    /// A one-shot message from the previous form (already HTML-escaped by the template).
    pub flash: Option<String>,
}

impl Layout {
    /// The stylesheet's URL.
    pub fn css(&self) -> &'static str {
        css_url()
    }

    /// The navigation entries this user sees.
    pub fn nav(&self) -> Vec<&'static NavItem> {
        NAV.iter().filter(|n| self.admin || !n.admin).collect()
    }

    /// Where the header's brand link leads: the console for its admins, the account page
    /// for everyone else (who may not open the console).
    pub fn home(&self) -> &'static str {
        if self.admin { "/console" } else { "/account" }
    }

    /// Whether `href` is the current page (`aria-current`).
    pub fn is_current(&self, href: &str) -> bool {
        self.current == href
    }

    /// Tessera's version, for the footer.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

/// A page with only a heading and a message (403, 404, errors, "signed out").
#[derive(Template)]
#[template(path = "pages/message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    /// A link to offer.
    pub link: Option<Link>,
}

/// A link a page offers.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    pub label: String,
}

impl Link {
    pub fn new(href: &str, label: &str) -> Self {
        Link {
            href: href.into(),
            label: label.into(),
        }
    }
}

impl MessagePage {
    /// The outcome for `status` with `heading` and `message`.
    pub fn outcome(status: u16, layout: Layout, heading: &str, message: &str) -> Outcome {
        Outcome::page(
            status,
            &MessagePage {
                layout: Layout {
                    title: heading.to_string(),
                    ..layout
                },
                heading: heading.to_string(),
                message: message.to_string(),
                link: None,
            },
        )
    }
}

/// The generic "could not complete" page (503): internal details stay in the log.
pub fn unavailable(layout: Layout) -> Outcome {
    MessagePage::outcome(
        503,
        layout,
        "Temporarily unavailable",
        "The server could not complete the request. Try again in a moment.",
    )
}

/// The "not found" page.
pub fn not_found(layout: Layout, what: &str) -> Outcome {
    MessagePage::outcome(
        404,
        layout,
        "Not found",
        &format!("There is no such {what}."),
    )
}
