//! The console's Clients pages: search and list, register, edit, rotate the secret of and
//! delete clients. Every change is an `admin::ops` operation, the same the admin API runs,
//! audited with the actor `user:<username>`. A secret is shown once, on the page that
//! answers the form which made it (POST → page, never a redirect or a cookie carrying it);
//! the form's one-shot id keeps a reload of that page from making another.

use std::time::Duration;

use askama::Template;

use super::forms::{FormData, FormErrors, first_submission, new_form_id};
use crate::{
    clients::{AuthMethod, Client, ClientUpdate, ClientWithSecret, GrantType, NewClient},
    error::{Error, Field, Result},
    keys::Alg,
    pages::{
        Layout, MessagePage, Outcome, Services,
        session::{Viewer, done},
    },
};

/// The grant types the forms offer, as registered (`GrantType::parse_registered`), with
/// their labels.
pub const GRANTS: &[(&str, &str)] = &[
    (
        "client_credentials",
        "Client credentials (service to service)",
    ),
    (
        "authorization_code",
        "Authorization code (browser sign-in with PKCE)",
    ),
    ("refresh_token", "Refresh token"),
    ("device_code", "Device code (devices without a browser)"),
    ("password", "Password (first-party apps only)"),
    ("token_exchange", "Token exchange (RFC 8693)"),
];

/// The authentication methods the register and edit forms offer.
pub const METHODS: &[(&str, &str)] = &[
    ("client_secret_basic", "Client secret (client_secret_basic)"),
    ("none", "Public: no secret, PKCE only (none)"),
    (
        "private_key_jwt",
        "Private key JWT, keys at a JWKS URI (private_key_jwt)",
    ),
    (
        "federated",
        "Workload identity federation: identities bound with the admin API or CLI (federated)",
    ),
];

/// The navigation entry of these pages.
const CURRENT: &str = "/console/clients";

/// Page size of the list.
const PAGE: u64 = 50;

/// The register and edit forms' values, as typed (re-shown with an error).
#[derive(Debug, Clone, Default)]
pub struct ClientForm {
    pub name: String,
    pub grant_types: Vec<String>,
    /// Space-separated.
    pub scopes: String,
    /// One per line (or space-separated).
    pub audiences: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub exchange_audiences: String,
    /// Seconds; empty: the server default.
    pub token_ttl: String,
    /// `ES256`, `RS256` or empty (the server default).
    pub alg: String,
    /// `client_secret_basic`, `none`, `private_key_jwt` or `federated`.
    pub auth_method: String,
    pub jwks_uri: String,
    /// The edit form's "yes, replace the credentials" box, required to switch methods.
    pub confirm_method: bool,
}

/// Lines or spaces, as the domain splits them.
fn list(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

impl ClientForm {
    pub fn from_data(d: &FormData) -> Self {
        ClientForm {
            name: d.get("name"),
            grant_types: d.all("grant_types"),
            scopes: d.get("scopes"),
            audiences: d.get("audiences"),
            redirect_uris: d.get("redirect_uris"),
            post_logout_redirect_uris: d.get("post_logout_redirect_uris"),
            exchange_audiences: d.get("exchange_audiences"),
            token_ttl: d.get("token_ttl").trim().to_string(),
            alg: d.get("alg"),
            auth_method: d.get("auth_method"),
            jwks_uri: d.get("jwks_uri").trim().to_string(),
            confirm_method: d.get("confirm_method") == "yes",
        }
    }

    /// The form filled with a client's registration (the edit page).
    pub fn from_client(c: &Client) -> Self {
        let short = |g: &GrantType| match g {
            GrantType::TokenExchange => "token_exchange".to_string(),
            GrantType::DeviceCode => "device_code".to_string(),
            g => g.as_str().to_string(),
        };
        ClientForm {
            name: c.name.clone(),
            grant_types: c.grant_types.iter().map(short).collect(),
            scopes: c.scopes.join(" "),
            audiences: c.audiences.join("\n"),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            exchange_audiences: c.exchange_audiences.join("\n"),
            token_ttl: c.token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            alg: c.alg.map(|a| a.as_str().to_string()).unwrap_or_default(),
            auth_method: c.token_endpoint_auth_method.as_str().to_string(),
            jwks_uri: c.jwks_uri.clone().unwrap_or_default(),
            confirm_method: false,
        }
    }

    pub fn has_grant(&self, g: &str) -> bool {
        self.grant_types.iter().any(|x| x == g)
    }

    pub fn alg_is(&self, a: &str) -> bool {
        self.alg == a
    }

    pub fn method_is(&self, m: &str) -> bool {
        self.auth_method == m
    }

    fn ttl(&self) -> Result<Option<Duration>> {
        if self.token_ttl.is_empty() {
            return Ok(None);
        }
        self.token_ttl
            .parse::<u64>()
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|_| Error::invalid(Field::TokenTtl, "must be a whole number of seconds"))
    }

    fn alg(&self) -> Result<Option<Alg>> {
        match self.alg.as_str() {
            "" => Ok(None),
            a => a
                .parse::<Alg>()
                .map(Some)
                .map_err(|_| Error::invalid(Field::Alg, "must be ES256 or RS256")),
        }
    }

    fn jwks_uri(&self) -> Option<String> {
        Some(self.jwks_uri.clone()).filter(|u| !u.is_empty())
    }

    /// The method chosen, or `unset` when none is.
    fn method(&self, unset: AuthMethod) -> Result<AuthMethod> {
        match self.auth_method.as_str() {
            "" => Ok(unset),
            m => AuthMethod::parse(m).ok_or_else(|| {
                Error::invalid(
                    Field::Public,
                    "choose one of the authentication methods offered",
                )
            }),
        }
    }

    /// The registration this form asks for.
    fn to_new(&self) -> Result<NewClient> {
        let method = self.method(AuthMethod::ClientSecret)?;
        // The URI field counts for private_key_jwt only (its hint says so).
        let jwks_uri = match (method, self.jwks_uri()) {
            (AuthMethod::PrivateKeyJwt, None) => {
                return Err(Error::invalid(
                    Field::JwksUri,
                    "a private_key_jwt client needs the URL of its JWK Set",
                ));
            }
            (AuthMethod::PrivateKeyJwt, uri) => uri,
            _ => None,
        };
        Ok(NewClient {
            name: self.name.clone(),
            grant_types: self.grant_types.clone(),
            scopes: list(&self.scopes),
            audiences: list(&self.audiences),
            token_ttl: self.ttl()?,
            alg: self.alg()?,
            redirect_uris: list(&self.redirect_uris),
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris),
            public: method == AuthMethod::None,
            federated: method == AuthMethod::Federated,
            exchange_audiences: list(&self.exchange_audiences),
            jwks_uri,
            ..Default::default()
        })
    }

    /// The changes this form asks of `current` (every field the form shows). A new
    /// method must be confirmed with the form's box; the JWKS URI counts only for
    /// `private_key_jwt` (left empty, a client with inline keys keeps them).
    fn to_update(&self, current: &Client) -> Result<ClientUpdate> {
        let was = current.token_endpoint_auth_method;
        let method = self.method(was)?;
        let switched = method != was;
        if switched && !self.confirm_method {
            return Err(Error::invalid(
                Field::Public,
                format!(
                    "changing from {was} to {method} ends the client's current credentials and refresh tokens: tick the box to confirm"
                ),
            ));
        }
        let jwks_uri = match (method, self.jwks_uri()) {
            (AuthMethod::PrivateKeyJwt, Some(u))
                if switched || current.jwks_uri.as_ref() != Some(&u) =>
            {
                Some(u)
            }
            (AuthMethod::PrivateKeyJwt, None) if switched || current.jwks.is_none() => {
                return Err(Error::invalid(
                    Field::JwksUri,
                    "a private_key_jwt client needs the URL of its JWK Set",
                ));
            }
            _ => None,
        };
        Ok(ClientUpdate {
            name: Some(self.name.clone()),
            grant_types: Some(self.grant_types.clone()),
            scopes: Some(list(&self.scopes)),
            audiences: Some(list(&self.audiences)),
            token_ttl: Some(self.ttl()?),
            alg: Some(self.alg()?),
            redirect_uris: Some(list(&self.redirect_uris)),
            post_logout_redirect_uris: Some(list(&self.post_logout_redirect_uris)),
            exchange_audiences: Some(list(&self.exchange_audiences)),
            jwks_uri,
            token_endpoint_auth_method: switched.then_some(method),
            ..Default::default()
        })
    }
}

/// The input that shows a domain field's error.
fn input_of(f: Field) -> &'static str {
    match f {
        Field::Public | Field::Jwks | Field::Federated | Field::TokenEndpointAuthMethod => {
            "auth_method"
        }
        f => f.api_name(),
    }
}

#[derive(Template)]
#[template(path = "console/clients.html")]
pub struct ClientsPage {
    pub layout: Layout,
    pub q: String,
    pub by_id: Option<Client>,
    pub items: Vec<Client>,
    /// The link to the next page, when there is one.
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/client_form.html")]
pub struct ClientFormPage {
    pub layout: Layout,
    /// `None`: the register form; `Some`: editing this client.
    pub client: Option<Client>,
    pub form: ClientForm,
    pub errors: FormErrors,
    pub form_id: String,
    pub grants: &'static [(&'static str, &'static str)],
    pub methods: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "console/client.html")]
pub struct ClientPage {
    pub layout: Layout,
    pub client: Client,
    pub form: ClientForm,
    pub errors: FormErrors,
    pub grants: &'static [(&'static str, &'static str)],
    pub methods: &'static [(&'static str, &'static str)],
}

/// The one page that shows a secret.
#[derive(Template)]
#[template(path = "console/client_secret.html")]
pub struct SecretPage {
    pub layout: Layout,
    pub client: Client,
    pub secret: String,
    pub heading: &'static str,
    pub token_endpoint: String,
    /// A `curl` command for the token endpoint, when the client may use client
    /// credentials.
    pub curl: Option<String>,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub action: String,
    pub button: String,
    pub cancel: String,
    pub form_id: String,
}

impl ClientsPage {
    /// A client id as a path segment.
    pub fn path(&self, id: &str) -> String {
        url_path(id)
    }
}

impl ClientPage {
    /// This client's page.
    pub fn url(&self) -> String {
        client_url(&self.client.client_id)
    }

    /// Whether this is the console's own client, which every start re-registers as the
    /// code says (an edit here lasts until the next start; deleting it signs everyone out
    /// of the pages until then).
    pub fn builtin(&self) -> bool {
        self.client.client_id == crate::pages::session::CONSOLE_CLIENT_ID
    }
}

impl SecretPage {
    pub fn id_path(&self) -> String {
        url_path(&self.client.client_id)
    }
}

/// Single-quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A ready `curl` for the client's first token (client credentials), or `None` when the
/// client may not use that grant or has no secret.
pub fn curl_command(token_endpoint: &str, c: &Client, secret: &str) -> Option<String> {
    (c.allows(GrantType::ClientCredentials) && !secret.is_empty())
        .then(|| curl_for(token_endpoint, &c.client_id, secret, &c.scopes))
}

fn curl_for(token_endpoint: &str, client_id: &str, secret: &str, scopes: &[String]) -> String {
    let mut cmd = format!(
        "curl -s -u {} -d grant_type=client_credentials",
        sh_quote(&format!("{client_id}:{secret}"))
    );
    if !scopes.is_empty() {
        cmd.push_str(" --data-urlencode ");
        cmd.push_str(&sh_quote(&format!("scope={}", scopes.join(" "))));
    }
    cmd.push(' ');
    cmd.push_str(&sh_quote(token_endpoint));
    cmd
}

/// A page with only a heading and a message.
fn message(v: &Viewer, status: u16, heading: &str, text: &str) -> Outcome {
    MessagePage::outcome(status, v.layout(heading, CURRENT), heading, text)
}

fn unavailable(v: &Viewer, e: Error) -> Outcome {
    tracing::warn!(error = %e, "console clients page failed");
    message(
        v,
        503,
        "Temporarily unavailable",
        "The request could not be completed; nothing was changed if it was a change. Try again.",
    )
}

fn not_found(v: &Viewer) -> Outcome {
    message(v, 404, "No such client", "There is no client with this id.")
}

fn client_url(id: &str) -> String {
    format!("/console/clients/{}", url_path(id))
}

/// Percent-encodes a path segment (client ids are base64url, but an id typed into a URL
/// could be anything).
pub fn url_path(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /console/clients?q=&cursor=`: search by name prefix or exact client id, or the
/// whole registry in creation order; 50 a page.
pub async fn list_page(
    s: &Services<'_>,
    v: &Viewer,
    q: Option<String>,
    cursor: Option<String>,
) -> Outcome {
    let layout = v.layout("Clients", CURRENT);
    let q = q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect::<String>();
    let cursor = cursor.filter(|c| !c.is_empty());
    let result = if q.is_empty() {
        s.ctx
            .clients
            .page(cursor.as_deref(), PAGE)
            .await
            .map(|p| (None, p))
    } else {
        s.admin_ops()
            .search_clients(&q, cursor.as_deref(), PAGE)
            .await
            .map(|r| (r.by_id, r.by_name))
    };
    match result {
        Ok((by_id, page)) => {
            let next = page.next_cursor.map(|c| {
                format!(
                    "/console/clients?q={}&cursor={}",
                    url_path(&q),
                    url_path(&c)
                )
            });
            Outcome::page(
                200,
                &ClientsPage {
                    layout,
                    q,
                    by_id,
                    items: page.items,
                    next,
                },
            )
        }
        Err(Error::Invalid { .. }) => message(
            v,
            400,
            "Clients",
            "That page link is not valid; start again from the first page.",
        ),
        Err(e) => unavailable(v, e),
    }
}

/// `GET /console/clients/new`.
pub fn new_page(v: &Viewer) -> Outcome {
    let layout = v.layout("Register a client", CURRENT);
    Outcome::page(
        200,
        &ClientFormPage {
            layout,
            client: None,
            form: ClientForm {
                grant_types: vec!["client_credentials".into()],
                auth_method: "client_secret_basic".into(),
                ..Default::default()
            },
            errors: FormErrors::none(),
            form_id: new_form_id(),
            grants: GRANTS,
            methods: METHODS,
        },
    )
}

fn secret_page(
    s: &Services<'_>,
    layout: Layout,
    created: ClientWithSecret,
    heading: &'static str,
) -> Outcome {
    let token_endpoint = format!("{}/oauth/token", s.ctx.issuer.issuer());
    let curl = curl_command(&token_endpoint, &created.client, &created.client_secret);
    Outcome::page(
        200,
        &SecretPage {
            layout,
            curl,
            token_endpoint,
            secret: created.client_secret,
            client: created.client,
            heading,
        },
    )
}

/// `POST /console/clients`: registers the client and answers with its secret (shown this
/// once), or the form again with the error next to its field.
pub async fn create(s: &Services<'_>, v: &Viewer, data: FormData) -> Outcome {
    let layout = v.layout("Register a client", CURRENT);
    let form = ClientForm::from_data(&data);
    let form_id = data.get("form_id");
    let again = |layout: Layout, form: ClientForm, errors: FormErrors, status: u16| {
        Outcome::page(
            status,
            &ClientFormPage {
                layout,
                client: None,
                form,
                errors,
                form_id: new_form_id(),
                grants: GRANTS,
                methods: METHODS,
            },
        )
    };
    let new = match form.to_new() {
        Ok(n) => n,
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => return again(layout, form, errors, 400),
            Err(e) => return unavailable(v, e),
        },
    };
    let who = v.admin_actor();
    match first_submission(s.ctx, &who.audit_name(), &form_id).await {
        Ok(true) => {}
        Ok(false) => {
            return message(
                v,
                409,
                "Already registered",
                "This form was already sent and the client registered. Its secret is not shown again: rotate it from the client's page if it was not kept.",
            );
        }
        Err(e) => return unavailable(v, e),
    }
    match s.admin_ops().create_client(&who, new).await {
        Ok(Ok(created)) => {
            let layout = v.layout("Client registered", CURRENT);
            secret_page(s, layout, created, "Client registered")
        }
        Ok(Err(refused)) => again(layout, form, FormErrors::refused(refused), 403),
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => again(layout, form, errors, 400),
            Err(e) => unavailable(v, e),
        },
    }
}

/// `GET /console/clients/{id}`: the registration and the edit form.
pub async fn show(s: &Services<'_>, v: &Viewer, id: &str) -> Outcome {
    match s.ctx.clients.fetch(id).await {
        Ok(Some(client)) => {
            let layout = v.layout(&format!("Client {}", client.name), CURRENT);
            let form = ClientForm::from_client(&client);
            Outcome::page(
                200,
                &ClientPage {
                    layout,
                    client,
                    form,
                    errors: FormErrors::none(),
                    grants: GRANTS,
                    methods: METHODS,
                },
            )
        }
        Ok(None) => not_found(v),
        Err(e) => unavailable(v, e),
    }
}

/// `POST /console/clients/{id}`: applies the edit form; back to the client's page.
pub async fn update(s: &Services<'_>, v: &Viewer, id: &str, data: FormData) -> Outcome {
    let current = match s.ctx.clients.fetch(id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(v),
        Err(e) => return unavailable(v, e),
    };
    let layout = v.layout(&format!("Client {}", current.name), CURRENT);
    let form = ClientForm::from_data(&data);
    let again = |layout: Layout, form: ClientForm, errors: FormErrors, status: u16| {
        Outcome::page(
            status,
            &ClientPage {
                layout,
                client: current.clone(),
                form,
                errors,
                grants: GRANTS,
                methods: METHODS,
            },
        )
    };
    let changes = match form.to_update(&current) {
        Ok(c) => c,
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => return again(layout, form, errors, 400),
            Err(e) => return unavailable(v, e),
        },
    };
    match s
        .admin_ops()
        .update_client(&v.admin_actor(), id, changes)
        .await
    {
        Ok(Ok(updated)) if !updated.client_secret.is_empty() => {
            let layout = v.layout("Authentication method changed", CURRENT);
            secret_page(s, layout, updated, "Authentication method changed")
        }
        Ok(Ok(updated))
            if updated.client.token_endpoint_auth_method != current.token_endpoint_auth_method =>
        {
            done(
                s.ctx,
                v,
                &client_url(id),
                "Client updated: it authenticates with its new method, and its refresh tokens were revoked.",
            )
        }
        Ok(Ok(_)) => done(s.ctx, v, &client_url(id), "Client updated."),
        Ok(Err(refused)) => again(layout, form, FormErrors::refused(refused), 403),
        Err(Error::NotFound(_)) => not_found(v),
        Err(e) => match FormErrors::from_domain(e, input_of) {
            Ok(errors) => again(layout, form, errors, 400),
            Err(e) => unavailable(v, e),
        },
    }
}

/// `GET /console/clients/{id}/rotate` and `/delete`: the confirmation step.
pub async fn confirm(s: &Services<'_>, v: &Viewer, id: &str, what: Destructive) -> Outcome {
    let client = match s.ctx.clients.fetch(id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(v),
        Err(e) => return unavailable(v, e),
    };
    let (heading, message, button, path) = match what {
        Destructive::Rotate => (
            format!("Rotate the secret of {}?", client.name),
            "A new secret is generated and shown once. The current secret stops working at once on this instance and within the client cache lifetime on others.".to_string(),
            "Rotate the secret",
            "rotate",
        ),
        Destructive::Delete => (
            format!("Delete {}?", client.name),
            "The client can no longer get tokens, and its tokens stop being accepted by introspection. This cannot be undone.".to_string(),
            "Delete the client",
            "delete",
        ),
    };
    let layout = v.layout(&heading, CURRENT);
    Outcome::page(
        200,
        &ConfirmPage {
            layout,
            heading,
            message,
            action: format!("{}/{path}", client_url(id)),
            button: button.into(),
            cancel: client_url(id),
            form_id: new_form_id(),
        },
    )
}

/// The confirmed destructive actions on a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destructive {
    Rotate,
    Delete,
}

/// `POST /console/clients/{id}/rotate`: the new secret, shown this once.
pub async fn rotate(s: &Services<'_>, v: &Viewer, id: &str, data: FormData) -> Outcome {
    let who = v.admin_actor();
    match first_submission(s.ctx, &who.audit_name(), &data.get("form_id")).await {
        Ok(true) => {}
        Ok(false) => {
            return message(
                v,
                409,
                "Already rotated",
                "This confirmation was already sent and the secret rotated. The new secret is not shown again: rotate once more if it was not kept.",
            );
        }
        Err(e) => return unavailable(v, e),
    }
    match s.admin_ops().rotate_client_secret(&who, id).await {
        Ok(Ok(rotated)) => {
            let layout = v.layout("Secret rotated", CURRENT);
            secret_page(s, layout, rotated, "Secret rotated")
        }
        Ok(Err(refused)) => message(v, 403, "Refused", refused.message()),
        Err(Error::NotFound(_)) => not_found(v),
        Err(Error::Invalid { reason, .. }) => message(v, 400, "No secret to rotate", &reason),
        Err(e) => unavailable(v, e),
    }
}

/// `POST /console/clients/{id}/delete`: back to the list.
pub async fn delete(s: &Services<'_>, v: &Viewer, id: &str) -> Outcome {
    match s.admin_ops().delete_client(&v.admin_actor(), id).await {
        Ok(Ok(true)) => done(s.ctx, v, "/console/clients", "Client deleted."),
        Ok(Ok(false)) => not_found(v),
        Ok(Err(refused)) => message(v, 403, "Refused", refused.message()),
        Err(e) => unavailable(v, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_commands_quote_what_they_carry() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(
            curl_for(
                "https://id.example/oauth/token",
                "cid",
                "s3cr3t",
                &["orders:read".into(), "x'y".into()]
            ),
            "curl -s -u 'cid:s3cr3t' -d grant_type=client_credentials --data-urlencode 'scope=orders:read x'\\''y' 'https://id.example/oauth/token'"
        );
    }
}
