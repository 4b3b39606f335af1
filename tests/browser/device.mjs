// Device authorization (RFC 8628) end to end against a real `tessera serve`: a CLI-style
// public client runs openid-client's initiateDeviceAuthorization and
// pollDeviceAuthorizationGrant while headless Debian Chromium (playwright-core) opens
// verification_uri_complete, signs in, checks the client and scopes on the confirmation page
// and allows. The tokens are verified with panva/jose.
// Environment: ISSUER, DEVICE_ID (public client, device_code grant), PASSWORD (alice's).
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

const config = await oidc.discovery(new URL(ISSUER), env('DEVICE_ID'), undefined, oidc.None(), {
  execute: [oidc.allowInsecureRequests], // the test issuer is http://127.0.0.1
});
const meta = config.serverMetadata();
assert.equal(meta.device_authorization_endpoint, `${ISSUER}/oauth/device_authorization`);
const response = await oidc.initiateDeviceAuthorization(config, { scope: 'openid orders:read' });
assert.match(response.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
const polling = oidc.pollDeviceAuthorizationGrant(config, response);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(response.verification_uri_complete);
  await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
  assert.equal(await page.getByLabel('Code').inputValue(), response.user_code, 'prefilled');
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(env('PASSWORD'));
  await page.getByRole('button', { name: 'Continue' }).click();
  // X6: the link led to a confirmation, not an approval.
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
  const text = await page.locator('main').innerText();
  assert.ok(text.includes('Orders CLI') && text.includes('orders:read'), text);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: 'Device connected' }).waitFor();
} finally {
  await browser.close();
}

const tokens = await polling;
const JWKS = createRemoteJWKSet(new URL(meta.jwks_uri));
const { payload: at } = await jwtVerify(tokens.access_token, JWKS, {
  issuer: ISSUER,
  audience: 'https://orders.internal',
  typ: 'at+jwt',
});
const { payload: id } = await jwtVerify(tokens.id_token, JWKS, { issuer: ISSUER, audience: env('DEVICE_ID') });
assert.equal(at.sub, id.sub);
assert.equal(at.scope, 'openid orders:read');
console.log('device flow: openid-client + Chromium on the verification page + jose: ok');
