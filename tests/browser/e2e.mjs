// Browser sign-in end to end against a real `tessera serve`:
//  1. headless Debian Chromium (driven by playwright-core) visits a tiny relying party,
//     is sent to Tessera's login page, types the password, comes back with a code; the RP
//     exchanges it and validates the ID token (panva/jose). Then single sign-on, the
//     cookie's attributes, RP-initiated logout, and the sign-out confirmation page.
//  2. openid-client (a stock OIDC relying-party library) runs the flow with PKCE for a
//     public client from discovery, submitting the login form with fetch.
// Environment: ISSUER, RP_PORT, CLIENT_ID, CLIENT_SECRET, PUBLIC_ID, PASSWORD, SCREENSHOT.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('ISSUER');
const RP = `http://127.0.0.1:${env('RP_PORT')}`;
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const PUBLIC_ID = env('PUBLIC_ID');
const PASSWORD = env('PASSWORD');
const b64url = (b) => Buffer.from(b).toString('base64url');

// ---------- 1. A tiny relying party, written by hand (no OIDC library) ----------
const discovery = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
const JWKS = createRemoteJWKSet(new URL(discovery.jwks_uri));
const pending = new Map(); // state -> { verifier, nonce }
let lastIdToken = null;

const rp = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, RP);
    if (url.pathname === '/') {
      const verifier = b64url(randomBytes(32));
      const state = b64url(randomBytes(16));
      const nonce = b64url(randomBytes(16));
      pending.set(state, { verifier, nonce });
      const auth = new URL(discovery.authorization_endpoint);
      auth.search = new URLSearchParams({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: `${RP}/callback`,
        scope: 'openid orders:read',
        state,
        nonce,
        code_challenge: b64url(createHash('sha256').update(verifier).digest()),
        code_challenge_method: 'S256',
      }).toString();
      res.writeHead(302, { location: auth.href }).end();
    } else if (url.pathname === '/callback') {
      const state = url.searchParams.get('state');
      const p = pending.get(state);
      assert.ok(p, 'state round-trips');
      pending.delete(state);
      assert.equal(url.searchParams.get('iss'), ISSUER, 'RFC 9207 iss');
      const r = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: 'Basic ' + Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: url.searchParams.get('code'),
          redirect_uri: `${RP}/callback`,
          code_verifier: p.verifier,
        }),
      });
      const tokens = await r.json();
      assert.equal(r.status, 200, JSON.stringify(tokens));
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token, JWKS, {
        issuer: ISSUER,
        audience: CLIENT_ID,
        typ: 'JWT',
      });
      assert.equal(payload.nonce, p.nonce, 'nonce');
      const atHash = b64url(createHash('sha256').update(tokens.access_token).digest().subarray(0, 16));
      assert.equal(payload.at_hash, atHash, 'at_hash');
      lastIdToken = tokens.id_token;
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><title>RP</title><h1>Signed in</h1><pre id="result">${JSON.stringify({ alg: protectedHeader.alg, ...payload })}</pre>`,
      );
    } else if (url.pathname === '/logout') {
      const end = new URL(discovery.end_session_endpoint);
      end.search = new URLSearchParams({
        id_token_hint: lastIdToken,
        post_logout_redirect_uri: `${RP}/bye`,
        state: 'bye-state',
      }).toString();
      res.writeHead(302, { location: end.href }).end();
    } else if (url.pathname === '/bye') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><title>Bye</title><p id="bye">${url.searchParams.get('state')}</p>`,
      );
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    console.error('relying party:', e);
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
  }
});
await new Promise((ok) => rp.listen(Number(env('RP_PORT')), '127.0.0.1', ok));

const profile = mkdtempSync(join(tmpdir(), 'tessera-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 900, height: 640 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${RP}/`);
  assert.ok(page.url().startsWith(`${ISSUER}/oauth/authorize`), `at the login page: ${page.url()}`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.ok((await page.content()).includes('Orders Web'), 'client name shown');
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  // Accessible form: fields found by their labels, the button by its role and name.
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /incorrect/);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${RP}/callback**`);
  const claims = JSON.parse(await page.locator('#result').innerText());
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, CLIENT_ID);
  assert.equal(claims.preferred_username, 'alice');
  console.log(`chromium: signed in as ${claims.preferred_username} (sub ${claims.sub}), ID token ${claims.alg} verified`);

  const session = (await context.cookies(ISSUER)).find((c) => c.name === 'tessera_session');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');

  // Single sign-on: the second visit never shows the login page.
  const seen = [];
  page.on('framenavigated', (f) => f === page.mainFrame() && seen.push(f.url()));
  await page.goto(`${RP}/`);
  await page.waitForURL(`${RP}/callback**`);
  // Redirects are not committed navigations: a login page would have been.
  assert.ok(!seen.some((u) => u.startsWith(ISSUER)), `no Tessera page shown: ${seen}`);
  assert.equal(JSON.parse(await page.locator('#result').innerText()).sub, claims.sub);
  console.log('chromium: single sign-on skipped the login page');

  // RP-initiated logout: back at the registered URI with state; the next visit logs in again.
  await page.goto(`${RP}/logout`);
  await page.waitForURL(`${RP}/bye**`);
  assert.equal(await page.locator('#bye').innerText(), 'bye-state');
  assert.ok(!(await context.cookies(ISSUER)).some((c) => c.name === 'tessera_session'));
  await page.goto(`${RP}/`);
  await page.getByLabel('Password').waitFor();
  console.log('chromium: logged out; the next visit shows the login page');

  // Logout CSRF (B4): a bare end_session link only asks; the "Sign out" button ends it.
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${RP}/callback**`);
  await page.goto(`${ISSUER}/oauth/end_session`);
  await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
  assert.ok((await context.cookies(ISSUER)).some((c) => c.name === 'tessera_session'), 'not signed out yet');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  assert.ok(!(await context.cookies(ISSUER)).some((c) => c.name === 'tessera_session'));
  await page.goto(`${RP}/`);
  await page.getByLabel('Password').waitFor();
  console.log('chromium: a bare end_session link asked first; the confirmed form signed out');
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

// ---------- 2. openid-client, a stock OIDC library, with PKCE for a public client ----------
const config = await oidc.discovery(new URL(ISSUER), PUBLIC_ID, undefined, oidc.None(), {
  execute: [oidc.allowInsecureRequests], // the test issuer is http://127.0.0.1
});
const verifier = oidc.randomPKCECodeVerifier();
const state = oidc.randomState();
const nonce = oidc.randomNonce();
const authUrl = oidc.buildAuthorizationUrl(config, {
  redirect_uri: `${RP}/spa-callback`,
  scope: 'openid orders:read',
  code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
// The user's part, done with fetch: load the login page, keep its cookie, post the form.
const loginPage = await fetch(authUrl, { redirect: 'manual' });
assert.equal(loginPage.status, 200);
const cookie = loginPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const html = await loginPage.text();
const hidden = (name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const posted = await fetch(`${ISSUER}/oauth/login`, {
  method: 'POST',
  redirect: 'manual',
  headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({
    request: hidden('request'),
    csrf: hidden('csrf'),
    username: 'alice',
    password: PASSWORD,
  }),
});
assert.equal(posted.status, 303);
const tokens = await oidc.authorizationCodeGrant(config, new URL(posted.headers.get('location')), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const idClaims = tokens.claims();
assert.equal(idClaims.aud, PUBLIC_ID);
const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
assert.equal(info.preferred_username, 'alice');
const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
assert.ok(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token);
const endUrl = oidc.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token,
  post_logout_redirect_uri: `${RP}/bye`,
  state: 'spa-bye',
});
const ended = await fetch(endUrl, { redirect: 'manual' });
assert.equal(ended.status, 302);
assert.equal(ended.headers.get('location'), `${RP}/bye?state=spa-bye`);
console.log(`openid-client: PKCE flow, ID token, UserInfo, refresh and logout OK (sub ${idClaims.sub})`);

rp.close();
console.log('browser e2e: OK');
