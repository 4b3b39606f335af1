// private_key_jwt with stock panva/openid-client v6: `client.PrivateKeyJwt({ key, kid })`
// builds and signs the client assertion itself (aud = the issuer identifier). Prints the
// access token of a client_credentials grant.
// Usage: node pkjwt_openid_client.mjs <issuer> <client_id> <pkcs8.pem> <kid>
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

const [issuer, clientId, pemPath, kid] = process.argv.slice(2);
const pem = readFileSync(pemPath, 'utf8');
const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' },
    false, ['sign']);
const config = await client.discovery(new URL(issuer), clientId, {},
    client.PrivateKeyJwt({ key, kid }), { execute: [client.allowInsecureRequests] });
const methods = config.serverMetadata().token_endpoint_auth_methods_supported ?? [];
if (!methods.includes('private_key_jwt')) {
    console.error(`pkjwt_openid_client: discovery lists ${JSON.stringify(methods)}`);
    process.exit(1);
}
const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
if (tokens.token_type !== 'bearer') {
    console.error(`pkjwt_openid_client: token_type ${tokens.token_type}`);
    process.exit(1);
}
console.log(tokens.access_token);
