// Verifies Tessera tokens with panva/jose, as a Node service would: remote JWKS from
// discovery, RFC 9068 type, issuer and audience.
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";

const [issuer, audience, ...tokens] = process.argv.slice(2);
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
if (discovery.issuer !== issuer) throw new Error(`issuer mismatch: ${discovery.issuer}`);
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
for (const token of tokens) {
  const { payload } = await jwtVerify(token, jwks, { issuer, audience, typ: "at+jwt", algorithms: ["ES256", "RS256"] });
  console.log(`jose: ${decodeProtectedHeader(token).alg} token for ${payload.sub} verified`);
  let rejected = false;
  try {
    await jwtVerify(token, jwks, { issuer, audience: "https://wrong" });
  } catch {
    rejected = true;
  }
  if (!rejected) throw new Error("a wrong audience was accepted");
}
