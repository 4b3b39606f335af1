// DPoP interop (RFC 9449) with stock panva/openid-client (its DPoP handle), against a
// running `tessera serve` started with `dpop_nonce = "required"`:
//  1. the password grant with a DPoP proof: openid-client meets `use_dpop_nonce`, retries
//     with the server's `DPoP-Nonce` on its own, and gets `token_type: DPoP`;
//  2. the access token carries `cnf.jkt` = the thumbprint of the client's key;
//  3. /userinfo with that token and a fresh proof (nonce, `ath`) answers;
//  4. the same token as `Bearer` is refused with a `DPoP` challenge (no downgrade, D4);
//  5. the proof openid-client sent to /userinfo, replayed, is refused (D1);
//  6. a refresh with the same handle works and stays DPoP-bound.
// Usage: node dpop_check.mjs <issuer> <client_id> <client_secret> <username> <password>
import * as client from 'openid-client';
import * as jose from 'jose';

const [issuer, clientId, clientSecret, username, password] = process.argv.slice(2);
const fail = (msg) => {
    console.error(`dpop_check: ${msg}`);
    process.exit(1);
};

// Remember what openid-client sends to /userinfo, to replay its proof afterwards.
let lastUserinfo;
const recordingFetch = async (url, options) => {
    if (String(url).endsWith('/userinfo')) {
        lastUserinfo = { url: String(url), headers: new Headers(options.headers) };
    }
    return fetch(url, options);
};

const config = await client.discovery(new URL(issuer), clientId, undefined,
    client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
config[client.customFetch] = recordingFetch;
const algs = config.serverMetadata().dpop_signing_alg_values_supported ?? [];
if (!algs.includes('ES256')) fail(`discovery lists no ES256 DPoP: ${JSON.stringify(algs)}`);

const keyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, keyPair);

// 1, 2
const tokens = await client.genericGrantRequest(config, 'password',
    { username, password, scope: 'openid' }, { DPoP });
if (tokens.token_type !== 'dpop') fail(`token_type ${tokens.token_type}, expected DPoP`);
const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey));
const claims = jose.decodeJwt(tokens.access_token);
if (claims.cnf?.jkt !== jkt) fail(`cnf.jkt ${claims.cnf?.jkt}, expected ${jkt}`);

// 3
const info = await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck, { DPoP });
if (info.preferred_username !== username) fail(`userinfo: ${JSON.stringify(info)}`);
const userinfoUrl = config.serverMetadata().userinfo_endpoint;

// 4
const asBearer = await fetch(userinfoUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } });
const challenge = asBearer.headers.get('www-authenticate') ?? '';
if (asBearer.status !== 401 || !challenge.startsWith('DPoP ') || !challenge.includes('invalid_token')) {
    fail(`the DPoP token as Bearer: ${asBearer.status} ${challenge}`);
}

// 5
if (!lastUserinfo?.headers.get('dpop')) fail('no proof seen on the way to /userinfo');
const replay = await fetch(lastUserinfo.url, { headers: lastUserinfo.headers });
const replayChallenge = replay.headers.get('www-authenticate') ?? '';
if (replay.status !== 401 || !replayChallenge.includes('invalid_dpop_proof')) {
    fail(`a replayed proof: ${replay.status} ${replayChallenge}`);
}

// 6
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
if (refreshed.token_type !== 'dpop' || jose.decodeJwt(refreshed.access_token).cnf?.jkt !== jkt) {
    fail(`refresh: ${refreshed.token_type}`);
}
console.log('dpop_check: openid-client got a DPoP token (with a server nonce), used it at /userinfo; as Bearer and with a replayed proof it was refused');
