"""A partner's identity provider for the tests: an RSA signing key, OIDC discovery and the JWKS
served over HTTP on this machine, and tokens issued as the real one would."""

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "hps-back-office"
# The role claim values this provider gives, as the identity file maps them: the stronger grant first.
ROLES = {
    "hps-budget-holder": {"role": "partner", "budget_holder": True},
    "hps-partner": {"role": "partner"},
    "hps-it-desk": {"role": "staff", "service": "it"},
    "hps-finance": {"role": "finance"},
    "hps-ops": {"role": "ops"},
}


def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalIssuer:
    def __init__(self):
        self.key, self.kid = signing_key(), uuid.uuid4().hex[:8]
        self.served = Counter()  # path -> times asked
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/realms/partners"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.served[self.path] += 1
                documents = {"/realms/partners/.well-known/openid-configuration":
                             {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/protocol/openid-connect/certs"},
                             "/realms/partners/protocol/openid-connect/certs": issuer.jwks()}
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def rotate(self) -> None:
        self.key, self.kid = signing_key(), uuid.uuid4().hex[:8]

    def token(self, roles=("hps-partner",), tenant: str | None = "council", key=None, kid=None,
              lifetime_s: float = 300, **claims) -> str:
        now = time.time()
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": uuid.uuid4().hex, "iat": int(now), "nbf": int(now),
                   "exp": int(now + lifetime_s), "name": "Jo Bloggs", "roles": list(roles),
                   **({"tenant": tenant} if tenant else {}), **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def identity_file(self, folder: Path, **overrides) -> Path:
        path = folder / "identity.yaml"
        path.write_text(yaml.safe_dump({"issuers": [{"issuer": self.url, "audience": AUDIENCE, "roles": ROLES,
                                                     "leeway_s": 30, **overrides}]}, sort_keys=False))
        return path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
