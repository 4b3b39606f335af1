// The account page in headless Chromium (run by pages.sh): a user without the console role
// signs in, gets the 403 page on /console, sees their sessions on /account (this browser
// and an application's refresh tokens), signs the application out (its refresh token is
// then refused), changes their password (this browser stays signed in) — every state of
// the page passes the axe-core scan and reports no CSP violation.
// Environment (pages.sh): ISSUER, BIN. Uses a user of its own (`dana`), so the other
// scripts' users keep their passwords.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
const cli = (args, input) =>
  execFileSync(BIN, args, { env: process.env, encoding: 'utf8', input });

const USER = 'dana';
const PASSWORD = `dana-${randomBytes(8).toString('hex')}`;
const NEW_PASSWORD = `quartz tundra ${randomBytes(6).toString('hex')} vole`;
cli(['users', 'create', '--username', USER, '--password-stdin'], `${PASSWORD}\n`);
// An application that keeps dana signed in with refresh tokens (the password grant, for
// brevity): one "application session" on the account page.
const app = JSON.parse(cli(['clients', 'create', '--name', 'Dana <Notes>', '--grant', 'password',
  '--grant', 'refresh_token', '--scope', 'openid', '--audience', 'https://notes.internal', '--json']));
const token = async (form) => {
  const r = await fetch(`${ISSUER}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form),
  });
  return { status: r.status, body: await r.json() };
};
const login = await token({ grant_type: 'password', username: USER, password: PASSWORD, scope: 'openid' });
assert.equal(login.status, 200, JSON.stringify(login.body));

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
});
const csp = [];
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watchCsp(page, csp);
  await page.goto(`${ISSUER}/account`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  // Not an admin: the console is closed to dana.
  const denied = await page.goto(`${ISSUER}/console`);
  assert.equal(denied.status(), 403);
  await page.goto(`${ISSUER}/account`);
  const table = page.getByRole('table', { name: 'Your active sessions' });
  await table.waitFor();
  assert.match(await table.innerText(), /this browser/);
  assert.match(await table.innerText(), /Dana <Notes>/);
  await checkA11y(page, '/account');
  // Phone width: no sideways scrolling of the page.
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the account page scrolls sideways on a phone by ${overflow}px`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // Sign the application out: its refresh token stops working.
  await page.getByRole('row', { name: /Dana <Notes>/ }).getByRole('button', { name: /^Sign out/ }).click();
  await page.getByText('The session was signed out.').waitFor();
  assert.doesNotMatch(await table.innerText(), /Dana <Notes>/);
  const refused = await token({ grant_type: 'refresh_token', refresh_token: login.body.refresh_token });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error, 'invalid_grant');

  // A wrong current password: the error at the field, scan clean.
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('The current password is incorrect.').waitFor();
  assert.equal(await page.getByLabel('Current password').getAttribute('aria-invalid'), 'true');
  await checkA11y(page, '/account (refused password change)');
  // The change: this browser stays signed in.
  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Your password was changed.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/account');
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  const after = await token({ grant_type: 'password', username: USER, password: NEW_PASSWORD, scope: 'openid' });
  assert.equal(after.status, 200, 'the new password works');
  assert.deepEqual(csp, [], 'no CSP violation');
  console.log('pages-account: sessions listed and ended, password changed');
} finally {
  await browser.close();
}
