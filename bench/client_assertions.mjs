// Pre-generates private_key_jwt client assertions for the bench (wrk's Lua cannot sign):
// COUNT ES256 assertions for CLIENT_ID with `aud` = AUD (the issuer), signed with the
// PKCS#8 P-256 key in KEY.pem under `kid` KID, each with its own random `jti`, `iat` = now
// and `exp` = now + 300 s (the default client_assertion_max_lifetime): make them just
// before the run. One per line.
// Usage: node bench/client_assertions.mjs COUNT CLIENT_ID AUD KEY.pem KID > assertions.txt
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [count, clientId, aud, keyPath, kid] = process.argv.slice(2);
if (!(Number(count) > 0) || !kid) {
    console.error('usage: node client_assertions.mjs COUNT CLIENT_ID AUD KEY.pem KID');
    process.exit(2);
}
const b64 = (b) => Buffer.from(b).toString('base64url');
const key = createPrivateKey(readFileSync(keyPath));
const header = b64(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
const iat = Math.floor(Date.now() / 1000);
const out = [];
for (let i = 0; i < Number(count); i++) {
    const claims = b64(JSON.stringify({
        iss: clientId, sub: clientId, aud, iat, exp: iat + 300, jti: b64(randomBytes(16)),
    }));
    const input = `${header}.${claims}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    // base64url needs no form encoding.
    out.push(`${input}.${b64(sig)}`);
    if (out.length === 10000) {
        process.stdout.write(out.join('\n') + '\n');
        out.length = 0;
    }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
