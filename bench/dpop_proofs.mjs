// Pre-generates DPoP proofs for the bench (wrk's Lua cannot sign): COUNT proofs for
// `POST <htu>`, one ES256 key, each with its own random `jti` and `iat` = now, one per line.
// They stay valid for `dpop_proof_max_age` (+ leeway) after generation: make them just
// before the run. Usage: node bench/dpop_proofs.mjs COUNT HTU > proofs.txt
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const [count, htu] = [Number(process.argv[2]), process.argv[3]];
if (!(count > 0) || !htu) {
    console.error('usage: node dpop_proofs.mjs COUNT HTU');
    process.exit(2);
}
const b64 = (b) => Buffer.from(b).toString('base64url');
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
const header = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }));
const iat = Math.floor(Date.now() / 1000);
const out = [];
for (let i = 0; i < count; i++) {
    const claims = b64(JSON.stringify({ jti: b64(randomBytes(16)), htm: 'POST', htu, iat }));
    const input = `${header}.${claims}`;
    const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    out.push(`${input}.${b64(sig)}`);
    if (out.length === 10000) {
        process.stdout.write(out.join('\n') + '\n');
        out.length = 0;
    }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
