//! A browser for the console and account pages, played by reqwest: no automatic
//! redirects, a cookie jar kept by hand (name → value; `Max-Age=0` deletes), so tests
//! assert every redirect and cookie. [`PageBrowser::sign_in`] runs the real sign-in: the
//! page sends the browser to the authorization endpoint, Tessera's login form is filled
//! in, and the callback starts the page session.

use std::collections::BTreeMap;

use crate::support::TestApp;

pub struct PageBrowser {
    pub http: reqwest::Client,
    pub base: String,
    pub jar: BTreeMap<String, String>,
}

/// The value of hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden field {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// The whole `Set-Cookie` header for cookie `name`, if the response sets it.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

impl PageBrowser {
    pub fn new(app: &TestApp) -> Self {
        PageBrowser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            jar: BTreeMap::new(),
        }
    }

    /// The `Cookie` header this browser sends.
    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the cookies a response sets.
    pub fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// GET with this browser's cookies (no redirect followed).
    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    /// POST a form with this browser's cookies and extra headers (no redirect followed).
    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        self.keep(&r);
        r
    }

    /// POST a page form as the browser does: same origin.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let origin = self.base.clone();
        self.post(
            path,
            form,
            &[
                ("origin", origin.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await
    }

    /// Follows `303`/`302` answers from `r` until a page; returns the last response.
    pub async fn follow(&mut self, mut r: reqwest::Response) -> reqwest::Response {
        for _ in 0..10 {
            if !r.status().is_redirection() {
                return r;
            }
            let to = r.headers()["location"].to_str().unwrap().to_string();
            r = self.get(&to).await;
        }
        panic!("too many redirects");
    }

    /// Opens `path` and signs in through Tessera's login page as `username`; returns the
    /// page `path` finally shows (after the callback's redirect back).
    pub async fn sign_in(
        &mut self,
        path: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let r = self.get(path).await;
        assert_eq!(r.status(), 303, "{path} without a session sends to sign in");
        let login = self.follow(r).await;
        assert_eq!(login.status(), 200, "the login page");
        let html = login.text().await.unwrap();
        let r = self
            .post(
                "/oauth/login",
                &[
                    ("request", &hidden(&html, "request")),
                    ("csrf", &hidden(&html, "csrf")),
                    ("username", username),
                    ("password", password),
                ],
                &[],
            )
            .await;
        assert_eq!(r.status(), 303, "the login form succeeds");
        self.follow(r).await
    }

    /// The CSRF token of the page session (from the sign-out form every page carries).
    pub async fn csrf(&mut self) -> String {
        let r = self.get("/console").await;
        let html = r.text().await.unwrap();
        hidden(&html, "csrf")
    }
}

/// The `href` of the link whose text is `text` (HTML-unescaped `&amp;`).
pub fn hidden_href(html: &str, text: &str) -> String {
    let end = html
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text:?}"));
    let start = html[..end].rfind("href=\"").unwrap() + 6;
    html[start..end]
        .trim_end_matches('"')
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}
