// The other direction of tessera-verify's DPoP interop: a resource server built on stock
// panva/oauth4webapi (`validateJwtAccessToken` with `requireDPoP`) accepts a request made
// with a Tessera DPoP-bound token and its proof (made by openid-client's DPoP handle), and
// refuses the same token presented as Bearer. (oauth4webapi keeps no jti replay cache:
// replays are tessera-verify's and the issuer's business, tested there.)
// Usage: node verify_dpop_o4w.mjs <issuer> <client_id> <client_secret> <audience>
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, audience] = process.argv.slice(2);
const fail = (msg) => {
  console.error(`verify_dpop_o4w: ${msg}`);
  process.exit(1);
};
const insecure = new URL(issuer).protocol === 'http:';
const config = await client.discovery(new URL(issuer), clientId, undefined,
  client.ClientSecretBasic(clientSecret), { execute: insecure ? [client.allowInsecureRequests] : [] });
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
const tokens = await client.clientCredentialsGrant(config, { resource: audience }, { DPoP });
if (tokens.token_type !== 'dpop') fail(`token_type ${tokens.token_type}`);

// Capture the request openid-client would send to the resource server.
const api = new URL('https://api.example.test/orders?page=1');
let sent;
config[client.customFetch] = async (url, init) => {
  sent = new Request(url, { method: init.method, headers: init.headers });
  return new Response('{}', { status: 200 });
};
await client.fetchProtectedResource(config, tokens.access_token, api, 'GET', undefined, undefined, { DPoP });

const as = config.serverMetadata();
const options = { requireDPoP: true, [oauth.allowInsecureRequests]: insecure };
const claims = await oauth.validateJwtAccessToken(as, sent, audience, options)
  .catch((e) => fail(`a Tessera token with its proof was refused: ${e.message} ${e.cause ? JSON.stringify(e.cause) : ''}`));
if (!claims.cnf?.jkt) fail('no cnf.jkt in the validated claims');

const asBearer = new Request(api, { headers: { authorization: `Bearer ${tokens.access_token}` } });
const refused = await oauth.validateJwtAccessToken(as, asBearer, audience, options).then(() => false, () => true);
if (!refused) fail('the DPoP-bound token was accepted as Bearer');
console.log('verify_dpop_o4w: oauth4webapi validateJwtAccessToken accepted a Tessera DPoP token with an openid-client proof, and refused it as Bearer');
