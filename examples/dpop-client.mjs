// A DPoP client for the example dashboards, with stock panva/openid-client (no curl):
// gets a DPoP-bound token from Tessera (client_credentials; server nonces are retried
// on their own) and calls the dashboard with a fresh proof per request. Then shows that
// the same token without its key is useless: as a bearer token it is refused.
//
// npm install openid-client@6
// node dpop-client.mjs <issuer> <client_id> <client_secret> <dashboard_url>
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, dashboard] = process.argv.slice(2);
if (!dashboard) {
  console.error('usage: node dpop-client.mjs <issuer> <client_id> <client_secret> <dashboard_url>');
  process.exit(2);
}
const insecure = new URL(issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [];
const config = await client.discovery(new URL(issuer), clientId, undefined,
  client.ClientSecretBasic(clientSecret), { execute: insecure });
if (insecure.length) client.allowInsecureRequests(config);

// The client's DPoP key never leaves this process; the token is bound to it (cnf.jkt).
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
const tokens = await client.clientCredentialsGrant(config, {}, { DPoP });
console.log(`token_type: ${tokens.token_type}`);

const res = await client.fetchProtectedResource(config, tokens.access_token,
  new URL(dashboard), 'GET', undefined, undefined, { DPoP });
console.log(`with a proof: ${res.status} ${await res.text()}`);

const stolen = await fetch(dashboard, { headers: { authorization: `Bearer ${tokens.access_token}` } });
console.log(`as a bearer token: ${stolen.status} ${stolen.headers.get('www-authenticate')}`);
process.exit(res.status === 200 && stolen.status === 401 ? 0 : 1);
