"""Verifies Tessera tokens with PyJWT's PyJWKClient, exactly as a Python service would:
discovery -> jwks_uri -> key by kid -> signature, issuer, audience, expiry."""
import json
import sys
import urllib.request

import jwt

issuer, audience = sys.argv[1], sys.argv[2]
tokens = sys.argv[3:]
with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as r:
    discovery = json.load(r)
assert discovery["issuer"] == issuer, discovery["issuer"]
client = jwt.PyJWKClient(discovery["jwks_uri"])
for token in tokens:
    key = client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt", header
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256", "RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    print(f"PyJWT {jwt.__version__}: {header['alg']} token for {claims['sub']} verified")
    try:
        jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience="https://wrong", issuer=issuer)
    except jwt.InvalidAudienceError:
        pass
    else:
        sys.exit("a wrong audience was accepted")
