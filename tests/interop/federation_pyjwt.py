"""Workload identity federation, end to end with independent libraries: a fake Kubernetes
service-account issuer (OIDC discovery + JWKS on 127.0.0.1, RSA key from `cryptography`)
mints a projected-token-shaped JWT with PyJWT; Tessera trusts the issuer
(`tessera federation add`), a client is bound to the service account
(`clients create --federated ... --condition kubernetes.io.namespace=payments`), the token is
traded for an access token, and PyJWT (PyJWKClient on Tessera's discovery) verifies it. A
token for another namespace is refused with invalid_client.

Usage: federation_pyjwt.py TESSERA_BIN TESSERA_ISSUER
"""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

BIN, TESSERA = sys.argv[1], sys.argv[2]
SUB = "system:serviceaccount:payments:billing"

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": "k8s-interop", "alg": "RS256", "use": "sig"})


class Issuer(BaseHTTPRequestHandler):
    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_port}"
        docs = {
            "/.well-known/openid-configuration": {"issuer": base, "jwks_uri": base + "/openid/v1/jwks"},
            "/openid/v1/jwks": {"keys": [jwk]},
        }
        body = json.dumps(docs.get(self.path, {})).encode()
        self.send_response(200 if self.path in docs else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
threading.Thread(target=server.serve_forever, daemon=True).start()
k8s = f"http://127.0.0.1:{server.server_port}"


def cli(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


cli("federation", "add", "k8s-interop", "--issuer", k8s)
client = json.loads(cli("clients", "create", "--name", "billing", "--scope", "orders:read",
                        "--audience", "https://orders.internal",
                        "--federated", f"k8s-interop:{SUB}",
                        "--condition", "kubernetes.io.namespace=payments", "--json"))
client_id = client["client_id"]


def projected_token(namespace):
    now = int(time.time())
    claims = {"iss": k8s, "sub": SUB, "aud": [TESSERA], "iat": now, "nbf": now, "exp": now + 600,
              "jti": str(uuid.uuid4()),
              "kubernetes.io": {"namespace": namespace,
                                "serviceaccount": {"name": "billing", "uid": str(uuid.uuid4())}}}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k8s-interop"})


def trade(token):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token}).encode()
    try:
        with urllib.request.urlopen(TESSERA + "/oauth/token", form) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


status, body = trade(projected_token("payments"))
assert status == 200, body
at = body["access_token"]
jwks_uri = json.load(urllib.request.urlopen(TESSERA + "/.well-known/openid-configuration"))["jwks_uri"]
signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(at)
claims = jwt.decode(at, signing_key.key, algorithms=["ES256", "RS256"], issuer=TESSERA,
                    audience="https://orders.internal",
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]})
assert claims["client_id"] == client_id, claims

status, body = trade(projected_token("dev"))
assert (status, body.get("error")) == (401, "invalid_client"), (status, body)
server.shutdown()
print("federation (PyJWT-minted Kubernetes token -> Tessera -> PyJWT-verified access token): OK")
