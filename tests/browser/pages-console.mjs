// The admin console in headless Chromium (run by pages.sh): an admin signs in through the
// real login page and sees the overview; a user without the console role gets the 403
// page; a form posted with a wrong CSRF token is refused (403) and changes nothing; every
// console page passes the axe-core scan and reports no CSP violation.
// Environment (pages.sh): ISSUER, BIN, ADMIN_USER, ADMIN_PASSWORD, USER_NAME, USER_PASSWORD.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { checkA11y, watchCsp } from './axe.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('ISSUER');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
});
const cspViolations = [];

/** A fresh browser context signed in as `user` through the login page; returns the page. */
async function signIn(user, password, path = '/console') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchCsp(page, cspViolations);
  await page.goto(`${ISSUER}${path}`);
  // Sent to Tessera's own login page.
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.match(page.url(), /\/oauth\/authorize\?/);
  assert.match(await page.content(), /Tessera console/);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/oauth/') && !u.pathname.endsWith('/callback'));
  return page;
}

try {
  // ---- An admin signs in and sees the overview.
  const page = await signIn(env('ADMIN_USER'), env('ADMIN_PASSWORD'));
  assert.equal(new URL(page.url()).pathname, '/console');
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.ok(await page.getByText(`Signed in as ${env('ADMIN_USER')}`).isVisible());
  await page.getByRole('heading', { name: 'Instance health' }).waitFor();
  assert.match(await page.locator('dl.facts').innerText(), /Readiness\s+OK\s*Ready/);
  // Keyboard: the skip link is the first stop and leads to the main content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await checkA11y(page, '/console (overview)');
  // Narrow screen (phone): still usable, no horizontal scrolling of the page.
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page scrolls sideways on a phone by ${overflow}px`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // ---- The key timeline: one lane per algorithm, a "now" line, the next rotation.
  const timeline = page.locator('svg.timeline');
  await timeline.waitFor();
  assert.match(await timeline.locator('desc').textContent(), /ES256: key .* signs since/);
  const bars = async () => timeline.locator('rect').count();
  const barsBefore = await bars();
  assert.ok(barsBefore >= 2, 'a bar per key');
  assert.equal(await timeline.locator('line.now').count(), 1);
  assert.ok(await timeline.locator('line.rotation').count() >= 1, 'next rotation marked');
  const nextKeysBefore = await timeline.locator('rect.seg-next').count();

  // ---- Keys: rotate ES256, and the timeline shows the new key.
  await page.getByRole('link', { name: 'Keys' }).click();
  await page.getByRole('heading', { level: 1, name: 'Keys' }).waitFor();
  await checkA11y(page, '/console/keys');
  await page.getByLabel('Algorithm').first().selectOption('ES256');
  await page.getByRole('button', { name: 'Rotate', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'published' }).waitFor();
  await page.getByRole('link', { name: 'Overview' }).click();
  await timeline.waitFor();
  // The new key (published, then signing) and the old one's retirement.
  assert.ok((await bars()) >= barsBefore + 2, `bars ${barsBefore} -> ${await bars()}`);
  assert.equal(await timeline.locator('rect.seg-next').count(), nextKeysBefore + 1);

  // ---- Revoke: the kid must be typed; a wrong one is refused.
  await page.getByRole('link', { name: 'Keys' }).click();
  const revokeLink = page.getByRole('link', { name: /^Revoke key / }).first();
  const label = await revokeLink.getAttribute('aria-label');
  const kid = label.replace('Revoke key ', '');
  await revokeLink.click();
  await page.getByRole('heading', { name: 'Revoke key' }).waitFor();
  await checkA11y(page, '/console/keys/{kid}/revoke');
  await page.getByLabel('Type the key id to confirm').fill(kid.slice(0, -1));
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByText('That is not this key\'s id. Nothing was revoked.').waitFor();
  assert.equal(await page.getByLabel('Type the key id to confirm').getAttribute('aria-invalid'), 'true');
  await checkA11y(page, 'revoke refused');
  let jwks = await (await fetch(`${ISSUER}/.well-known/jwks.json`)).json();
  assert.ok(jwks.keys.some((k) => k.kid === kid), 'still published after a wrong kid');
  await page.getByLabel('Type the key id to confirm').fill(kid);
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByRole('status').filter({ hasText: 'revoked' }).waitFor();
  jwks = await (await fetch(`${ISSUER}/.well-known/jwks.json`)).json();
  assert.ok(!jwks.keys.some((k) => k.kid === kid), 'unpublished');
  await page.getByRole('link', { name: 'Overview' }).click();
  await timeline.waitFor();
  assert.ok(await timeline.locator('rect.seg-revoked').count() >= 1, 'the revoked key on the timeline');
  if (process.env.SCREENSHOT_DIR) {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/console-overview.png`, fullPage: true });
  }

  // ---- Audit log: the console's changes, with the user as actor; filter by action.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  await page.getByLabel('Action').fill('key.revoke');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/action=key.revoke/);
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), new RegExp(`user:${env('ADMIN_USER')}\\s+key.revoke\\s+${kid}`));
  await checkA11y(page, '/console/audit');

  // ---- CSRF: the sign-out form posted with a wrong token is refused, nothing changes.
  await page.evaluate(() => {
    document.querySelector('form.signout input[name=csrf]').value = 'forged';
  });
  const refused = page.waitForResponse((r) => r.url().endsWith('/console/signout'));
  await page.getByRole('button', { name: 'Sign out' }).click();
  assert.equal((await refused).status(), 403);
  await page.getByRole('heading', { name: 'Form refused' }).waitFor();
  await checkA11y(page, '403 form refused');
  await page.goto(`${ISSUER}/console`);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();

  // ---- Sign-out works with the real token.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.goto(`${ISSUER}/console`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.context().close();

  // ---- A user without the console role: 403 page.
  const bob = await signIn(env('USER_NAME'), env('USER_PASSWORD'));
  await bob.getByRole('heading', { name: 'Access denied' }).waitFor();
  const r = await bob.goto(`${ISSUER}/console`);
  assert.equal(r.status(), 403);
  assert.equal(await bob.getByRole('link', { name: 'Keys' }).count(), 0, 'no console navigation');
  await checkA11y(bob, '403 access denied');
  await bob.context().close();

  assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations');
  console.log('pages-console: ok');
} finally {
  await browser.close();
}
