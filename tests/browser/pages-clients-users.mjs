// The console's Clients and Users pages in headless Chromium (run by pages.sh): an admin
// registers a client and sees its secret exactly once (a reload or going back does not show
// it again nor register a second client), the secret works at /oauth/token; the admin
// disables a user whose access token (password grant through a client the CLI registered)
// then fails introspection; a form posted with a broken CSRF token is refused (403) and
// changes nothing; the axe-core scan is clean on the clients list, a client's page, the
// registration form, the users list and a user's page, with no CSP violation.
// Environment (pages.sh): ISSUER, BIN, ADMIN_USER, ADMIN_PASSWORD.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { checkA11y, watchCsp } from './axe.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('ISSUER');
const cli = (...args) => execFileSync(env('BIN'), args, { env: process.env, encoding: 'utf8' });
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POST a form to the token or introspection endpoint with client_secret_basic. */
async function post(path, id, secret, form) {
  const r = await fetch(`${ISSUER}${path}`, {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: r.status, body: await r.json() };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
});
const cspViolations = [];

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchCsp(page, cspViolations);
  await page.goto(`${ISSUER}/console/clients`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill(env('ADMIN_USER'));
  await page.getByLabel('Password').fill(env('ADMIN_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Clients' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/console/clients', 'back where sign-in started');
  await checkA11y(page, '/console/clients');

  // ---- Register a client: the secret is shown once.
  const name = `Browser billing ${Date.now()}`;
  await page.getByRole('link', { name: 'Register a client' }).click();
  await page.getByRole('heading', { level: 1, name: 'Register a client' }).waitFor();
  await checkA11y(page, '/console/clients/new');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Scopes', { exact: true }).fill('billing:read');
  await page.getByLabel('Audiences', { exact: true }).fill('https://billing.internal');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#client-secret').waitFor();
  const resultUrl = page.url();
  const clientId = (await page.locator('#client-id').innerText()).trim();
  const secret = (await page.locator('#client-secret').innerText()).trim();
  assert.ok(secret.length >= 43, `a full secret: ${secret}`);
  assert.match(await page.locator('#curl').innerText(), new RegExp(`grant_type=client_credentials`));

  // The secret works at the token endpoint.
  const tok = await post('/oauth/token', clientId, secret, { grant_type: 'client_credentials', scope: 'billing:read' });
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  assert.ok(tok.body.access_token);

  // A reload re-sends the form: no secret, no second client.
  page.once('dialog', (d) => d.accept());
  await page.reload();
  await page.waitForLoadState('load');
  assert.equal(page.url(), resultUrl);
  let html = await page.content();
  assert.ok(!html.includes(secret), 'a reload shows the secret again');
  assert.equal(await page.locator('#client-secret').count(), 0);
  // Back to the form and forward: never the secret.
  await page.goBack();
  await page.waitForLoadState('load');
  assert.ok(!(await page.content()).includes(secret), 'back shows the secret');
  await page.goto(`${ISSUER}/console/clients?q=${encodeURIComponent('Browser billing')}`);
  html = await page.content();
  assert.ok(!html.includes(secret), 'the list shows the secret');
  assert.equal(await page.getByRole('link', { name, exact: true }).count(), 1, 'one client registered, not two');
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  assert.ok(!(await page.content()).includes(secret), "the client's page shows the secret");
  await checkA11y(page, '/console/clients/{id}');
  const list = JSON.parse(cli('clients', 'list', '--json'));
  assert.equal(list.filter((c) => c.name === name).length, 1, 'the store holds one such client');

  // ---- A CSRF-broken form post: 403, nothing changes.
  const csrf = page.locator('form[action$="' + clientId + '"] input[name="csrf"]');
  await csrf.evaluate((el) => { el.value = 'broken'; });
  await page.getByLabel('Name', { exact: true }).fill('renamed by a forged form');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Save changes' }).click(),
  ]);
  assert.equal(refused.status(), 403);
  await page.getByText('Form refused').first().waitFor();
  const shown = JSON.parse(cli('clients', 'show', clientId, '--json'));
  assert.equal(shown.name, name, 'nothing renamed');

  // ---- Users: disable a user; their access token stops being active.
  const userPw = `pw-${Math.random().toString(36).slice(2)}-browser`;
  execFileSync(env('BIN'), ['users', 'create', '--username', 'dora', '--password-stdin'], {
    env: process.env, input: `${userPw}\n`,
  });
  const app = JSON.parse(cli('clients', 'create', '--name', 'Browser first-party app', '--grant', 'password',
    '--scope', 'orders:read', '--audience', 'https://orders.internal', '--json'));
  const appSecret = app.client_secret ?? app.secret;
  assert.ok(appSecret, `the CLI printed a secret: ${JSON.stringify(app)}`);
  const pw = await post('/oauth/token', app.client_id, appSecret,
    { grant_type: 'password', username: 'dora', password: userPw, scope: 'orders:read' });
  assert.equal(pw.status, 200, JSON.stringify(pw.body));
  const at = pw.body.access_token;
  let intro = await post('/oauth/introspect', app.client_id, appSecret, { token: at });
  assert.equal(intro.body.active, true);

  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  await checkA11y(page, '/console/users');
  await page.getByLabel('Username starts with').fill('dor');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'dora', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'dora' }).waitFor();
  await checkA11y(page, '/console/users/{id}');
  await page.getByRole('link', { name: 'Disable…' }).click();
  await page.getByRole('heading', { name: 'Disable dora?' }).waitFor();
  await page.getByRole('button', { name: 'Disable the user' }).click();
  await page.getByRole('heading', { level: 1, name: 'dora' }).waitFor();
  assert.ok(await page.locator('.badge.bad', { hasText: 'Disabled' }).isVisible());
  intro = await post('/oauth/introspect', app.client_id, appSecret, { token: at });
  assert.equal(intro.body.active, false, 'the disabled user\'s token is inactive');

  // The audit log names the admin as actor.
  const audit = await page.request.get(`${ISSUER}/console/audit?action=user.update`);
  assert.match(await audit.text(), new RegExp(`user:${env('ADMIN_USER')}`));

  assert.deepEqual(cspViolations, [], 'no CSP violation');
  console.log('pages-clients-users: ok');
} finally {
  await browser.close();
}
