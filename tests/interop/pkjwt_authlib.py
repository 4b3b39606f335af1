"""private_key_jwt with stock Authlib: `PrivateKeyJWT(token_endpoint)` signs the client
assertion (RS256, aud = the token endpoint URL). With `ok`, prints the access token of a
client_credentials grant; with `refused`, checks the server answers 401 invalid_client
(its default refuses that aud). Usage: pkjwt_authlib.py ISSUER CLIENT_ID KEY.pem ok|refused
"""
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT

issuer, client_id, pem_path, expect = sys.argv[1:5]
token_endpoint = f"{issuer}/oauth/token"
with open(pem_path) as f:
    private_key = f.read()
session = OAuth2Session(
    client_id,
    private_key,
    token_endpoint_auth_method=PrivateKeyJWT(token_endpoint),
    scope="orders:read",
)
try:
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
except OAuthError as e:
    if expect == "refused" and e.error == "invalid_client":
        print("pkjwt_authlib: refused as expected (aud = token endpoint, setting off)", file=sys.stderr)
        sys.exit(0)
    sys.exit(f"pkjwt_authlib: {e.error}: {e.description}")
if expect != "ok":
    sys.exit("pkjwt_authlib: got a token, expected invalid_client")
print(token["access_token"])
