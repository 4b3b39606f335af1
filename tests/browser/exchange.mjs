// Token exchange (RFC 8693) with stock libraries against a real `tessera serve`:
// openid-client's genericGrantRequest signs alice in at the gateway (password grant), then
// the gateway exchanges her token for orders and orders exchanges that for billing; every
// token is verified with panva/jose against the JWKS from discovery, and the nested `act`
// claim, the narrowing scope and the lifetime are checked.
// Environment: ISSUER, PASSWORD, GW_ID, GW_SECRET, ORD_ID, ORD_SECRET.
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('ISSUER');
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const ORDERS = 'https://orders.internal';
const BILLING = 'https://billing.internal';

const client = (id, secret) =>
  oidc.discovery(new URL(ISSUER), id, undefined, oidc.ClientSecretBasic(secret), {
    execute: [oidc.allowInsecureRequests], // the test issuer is http://127.0.0.1
  });
const gateway = await client(env('GW_ID'), env('GW_SECRET'));
const orders = await client(env('ORD_ID'), env('ORD_SECRET'));
const meta = gateway.serverMetadata();
assert.ok(meta.grant_types_supported.includes(TE), 'discovery advertises token exchange');
const JWKS = createRemoteJWKSet(new URL(meta.jwks_uri));
const verify = async (token, audience) =>
  (await jwtVerify(token, JWKS, { issuer: ISSUER, audience, typ: 'at+jwt' })).payload;

const login = await oidc.genericGrantRequest(gateway, 'password', {
  username: 'alice',
  password: env('PASSWORD'),
  scope: 'orders:read billing:read',
});
const t0 = await verify(login.access_token, 'https://gateway.internal');

const hop1 = await oidc.genericGrantRequest(gateway, TE, {
  subject_token: login.access_token,
  subject_token_type: AT,
  audience: ORDERS,
});
assert.equal(hop1.issued_token_type, AT);
assert.equal(hop1.token_type.toLowerCase(), 'bearer');
const t1 = await verify(hop1.access_token, ORDERS);
assert.equal(t1.sub, t0.sub);
assert.deepEqual(t1.act, { sub: env('GW_ID'), client_id: env('GW_ID') });

const hop2 = await oidc.genericGrantRequest(orders, TE, {
  subject_token: hop1.access_token,
  subject_token_type: AT,
  resource: BILLING,
  scope: 'billing:read',
});
const t2 = await verify(hop2.access_token, BILLING);
assert.equal(t2.sub, t0.sub);
assert.equal(t2.scope, 'billing:read');
assert.deepEqual(t2.act, {
  sub: env('ORD_ID'),
  client_id: env('ORD_ID'),
  act: { sub: env('GW_ID'), client_id: env('GW_ID') },
});
assert.ok(t2.exp <= t1.exp && t1.exp <= t0.exp, 'never outlives the token it came from');

// An audience outside the policy: the library surfaces the RFC 8693 error.
await assert.rejects(
  oidc.genericGrantRequest(gateway, TE, {
    subject_token: login.access_token,
    subject_token_type: AT,
    audience: BILLING,
  }),
  (e) => e.error === 'invalid_target',
);
console.log('token exchange: openid-client genericGrantRequest + jose: ok (act chain of 2)');
