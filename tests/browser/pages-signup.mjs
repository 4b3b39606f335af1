// Self-service sign-up in headless Chromium (run by pages.sh, which starts the server with
// TESSERA_REGISTRATION_ENABLED=true): a relying party registered for the authorization
// code flow sends the browser to Tessera; the login page links to the sign-up page (axe
// scan clean, with and without an error); the new person creates an account, gets the
// neutral "sign in with the username and password you chose" page, signs in there and the
// RP receives tokens for the new user (no roles).
// Environment (pages.sh): ISSUER, BIN.
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { checkA11y, watchCsp } from './axe.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('ISSUER');
const BIN = env('BIN');
const b64url = (b) => Buffer.from(b).toString('base64url');
const cli = (...args) => execFileSync(BIN, args, { env: process.env, encoding: 'utf8' });

// ---------- A tiny relying party: code flow with PKCE, confidential client ----------
const pending = new Map();
let received = null;
const rp = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, RP);
    if (url.pathname === '/') {
      const verifier = b64url(randomBytes(32));
      const state = b64url(randomBytes(16));
      pending.set(state, verifier);
      const auth = new URL(`${ISSUER}/oauth/authorize`);
      auth.search = new URLSearchParams({
        response_type: 'code', client_id: client.client_id, redirect_uri: `${RP}/callback`,
        scope: 'openid', state, nonce: b64url(randomBytes(8)),
        code_challenge: b64url(createHash('sha256').update(verifier).digest()),
        code_challenge_method: 'S256',
      }).toString();
      res.writeHead(302, { location: auth.href }).end();
    } else if (url.pathname === '/callback') {
      const verifier = pending.get(url.searchParams.get('state'));
      assert.ok(verifier, 'state round-trips');
      const r = await fetch(`${ISSUER}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64'),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code: url.searchParams.get('code'),
          redirect_uri: `${RP}/callback`, code_verifier: verifier,
        }),
      });
      received = { status: r.status, body: await r.json() };
      res.writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><html lang="en"><title>RP</title><main><h1>Signed in at the RP</h1></main></html>');
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    console.error(e);
    res.writeHead(500).end(String(e));
  }
});
await new Promise((ok) => rp.listen(0, '127.0.0.1', ok));
const RP = `http://127.0.0.1:${rp.address().port}`;
const client = JSON.parse(cli('clients', 'create', '--name', 'Sign-up RP', '--grant', 'authorization_code',
  '--scope', 'openid', '--audience', 'https://rp.internal', '--redirect-uri', `${RP}/callback`, '--json'));

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
});
const csp = [];
const username = `newbie-${randomBytes(4).toString('hex')}`;
const password = `tundra vole ${randomBytes(6).toString('hex')} lantern`;
try {
  const page = await (await browser.newContext()).newPage();
  watchCsp(page, csp);
  await page.goto(`${RP}/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.match(await page.content(), /Sign-up RP/);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByRole('heading', { name: 'Create an account' }).waitFor();
  await checkA11y(page, '/oauth/signup');
  // A weak password: the form again, the error at the field.
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill('passwordpassword');
  await page.getByLabel('Repeat the password').fill('passwordpassword');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('This password is too easy to guess').waitFor();
  assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
  await checkA11y(page, '/oauth/signup (refused password)');
  // The real sign-up.
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Sign in with the username and password you chose').waitFor();
  assert.equal(await page.getByLabel('Username').inputValue(), username);
  await checkA11y(page, 'login page after sign-up');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Signed in at the RP' }).waitFor();
  assert.ok(received, 'the RP got the callback');
  assert.equal(received.status, 200, JSON.stringify(received.body));
  const idClaims = JSON.parse(Buffer.from(received.body.id_token.split('.')[1], 'base64url'));
  const users = JSON.parse(cli('users', 'list', '--json'));
  const created = users.find((u) => u.username === username);
  assert.ok(created, 'the user exists');
  assert.equal(idClaims.sub, created.id, 'the tokens are the new user\'s');
  assert.deepEqual(created.roles, [], 'a new user has no roles');
  assert.deepEqual(csp, [], 'no CSP violation');
  console.log(`pages-signup: ${username} signed up and the RP received their tokens`);
} finally {
  await browser.close();
  rp.close();
}
