// Interop fixtures for tessera-verify's DPoP check (RFC 9449), made by independent
// libraries: proofs from openid-client's DPoP handle (fetchProtectedResource) and from
// oauth4webapi's (protectedResourceRequest), captured through their customFetch hook (no
// network), plus hand-rolled panva/jose proofs for every algorithm; access tokens
// (at+jwt with cnf.jkt computed by jose's calculateJwkThumbprint) signed by a local ES256
// key. Prints one JSON document read by verifier/tests/verify/dpop_interop.rs.
// Usage: node verify_dpop_fixtures.mjs > verifier/tests/data/dpop_interop.json
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const ISS = 'https://auth.example.test';
const AUD = 'https://api.example.test';
const NOW = Math.floor(Date.now() / 1000);
const URL_ = 'https://api.example.test/orders/42';

const issuerKey = await jose.generateKeyPair('ES256', { extractable: true });
const issuerJwk = { ...(await jose.exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };

async function accessToken(jkt, jti) {
  const claims = { iss: ISS, sub: 'alice', aud: AUD, client_id: 'app', scope: 'orders:read', jti };
  if (jkt) claims.cnf = { jkt };
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuedAt(NOW)
    .setExpirationTime(NOW + 3600)
    .sign(issuerKey.privateKey);
}

// WebCrypto key pairs (what oauth4webapi and openid-client require).
async function keyPair(alg) {
  const rsa = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const params = {
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    RS256: { name: 'RSASSA-PKCS1-v1_5', ...rsa },
    PS256: { name: 'RSA-PSS', ...rsa },
    EdDSA: { name: 'Ed25519' },
  }[alg];
  return crypto.subtle.generateKey(params, true, ['sign', 'verify']);
}

async function jktOf(kp) {
  return jose.calculateJwkThumbprint(await jose.exportJWK(kp.publicKey), 'sha256');
}

// Captures the headers a library would send instead of sending them.
function capture() {
  const seen = {};
  const fetch = async (url, init) => {
    const h = new Headers(init.headers);
    seen.url = String(url);
    seen.method = init.method;
    seen.authorization = h.get('authorization');
    seen.dpop = h.get('dpop');
    return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return { seen, fetch };
}

const cases = [];
let n = 0;

// openid-client: its DPoP handle, as a resource-server caller would use it.
for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
  const kp = await keyPair(alg);
  const token = await accessToken(await jktOf(kp), `at-oc-${alg}`);
  const config = new client.Configuration({ issuer: ISS }, 'app');
  const cap = capture();
  config[client.customFetch] = cap.fetch;
  const dpop = client.getDPoPHandle(config, kp);
  await client.fetchProtectedResource(config, token, new URL(URL_ + '?page=2'), 'GET', undefined, undefined, { DPoP: dpop });
  cases.push({ name: `openid-client ${alg}`, method: cap.seen.method, url: cap.seen.url, authorization: cap.seen.authorization, dpop: cap.seen.dpop, expect: 'ok' });
}

// oauth4webapi: POST with a body.
{
  const kp = await keyPair('ES256');
  const token = await accessToken(await jktOf(kp), 'at-o4w');
  const cap = capture();
  const dpop = oauth.DPoP({}, kp);
  await oauth.protectedResourceRequest(token, 'POST', new URL(URL_), new Headers(), '{"a":1}', { DPoP: dpop, [oauth.customFetch]: cap.fetch });
  cases.push({ name: 'oauth4webapi ES256 POST', method: cap.seen.method, url: cap.seen.url, authorization: cap.seen.authorization, dpop: cap.seen.dpop, expect: 'ok' });
  // The same proof replayed (D1), and the token sent as Bearer (D4).
  cases.push({ name: 'oauth4webapi proof replayed', method: cap.seen.method, url: cap.seen.url, authorization: cap.seen.authorization, dpop: cap.seen.dpop, expect: 'invalid_dpop_proof' });
  cases.push({ name: 'bound token as Bearer', method: 'POST', url: URL_, authorization: `Bearer ${token}`, dpop: null, expect: 'invalid_token' });
  // Another method than signed (D2).
  cases.push({ name: 'oauth4webapi proof for POST used with GET', method: 'GET', url: URL_, authorization: cap.seen.authorization, dpop: cap.seen.dpop, expect: 'invalid_dpop_proof' });
}

// panva/jose proofs, hand-rolled per RFC 9449 §4.2.
for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
  const kp = await keyPair(alg);
  const jwk = await jose.exportJWK(kp.publicKey);
  const token = await accessToken(await jktOf(kp), `at-jose-${alg}`);
  const ath = jose.base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
  const proof = await new jose.SignJWT({ htm: 'GET', htu: URL_, ath, jti: `jose-${alg}-${n++}` })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk })
    .setIssuedAt(NOW)
    .sign(kp.privateKey);
  cases.push({ name: `jose ${alg}`, method: 'GET', url: URL_, authorization: `DPoP ${token}`, dpop: proof, expect: 'ok' });
  if (alg === 'ES256') {
    // A proof by another key than cnf.jkt (D5).
    const other = await keyPair('ES256');
    const p2 = await new jose.SignJWT({ htm: 'GET', htu: URL_, ath, jti: `jose-other-${n++}` })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: await jose.exportJWK(other.publicKey) })
      .setIssuedAt(NOW)
      .sign(other.privateKey);
    cases.push({ name: 'jose proof by another key', method: 'GET', url: URL_, authorization: `DPoP ${token}`, dpop: p2, expect: 'invalid_dpop_proof' });
    // Without ath (D5).
    const p3 = await new jose.SignJWT({ htm: 'GET', htu: URL_, jti: `jose-noath-${n++}` })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk })
      .setIssuedAt(NOW)
      .sign(kp.privateKey);
    cases.push({ name: 'jose proof without ath', method: 'GET', url: URL_, authorization: `DPoP ${token}`, dpop: p3, expect: 'invalid_dpop_proof' });
    // A private jwk in the header (D3).
    const priv = await jose.exportJWK(kp.privateKey);
    const p4 = await new jose.SignJWT({ htm: 'GET', htu: URL_, ath, jti: `jose-priv-${n++}` })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: priv })
      .setIssuedAt(NOW)
      .sign(kp.privateKey);
    cases.push({ name: 'jose proof with a private jwk', method: 'GET', url: URL_, authorization: `DPoP ${token}`, dpop: p4, expect: 'invalid_dpop_proof' });
  }
}

// A plain bearer token (no cnf) still works.
cases.push({ name: 'unbound bearer token', method: 'GET', url: URL_, authorization: `Bearer ${await accessToken(null, 'at-plain')}`, dpop: null, expect: 'ok' });

const versions = {};
for (const p of ['jose', 'oauth4webapi', 'openid-client']) {
  const { createRequire } = await import('node:module');
  const req = createRequire(import.meta.url);
  versions[p] = req(`${p}/package.json`).version;
}

process.stdout.write(JSON.stringify({
  generated_by: 'tests/interop/verify_dpop_fixtures.sh',
  versions,
  issuer: ISS,
  audience: AUD,
  now: NOW,
  jwks: { keys: [issuerJwk] },
  cases,
}, null, 1) + '\n');
