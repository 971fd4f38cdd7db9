"""Check a downloaded HPS recharge statement offline, with the platform's published key.

    python verify_statement.py STATEMENT.json SIGNATURE.json KEYS.json

STATEMENT.json  the statement as downloaded: GET /v1/finance/statements/{number} (JSON), unchanged
SIGNATURE.json  its entry of GET /v1/finance/statements (or {"signature", "previous_signature",
                "key_id"} from the download's HPS-Statement-* headers)
KEYS.json       the published keys: GET /.well-known/hps-statement-keys.json

It needs Python 3.9+ and the `cryptography` package, nothing of the platform. Exit 0: the
statement is the one the shared unit signed; 1: it is not. Checking `previous_signature` against
the signature of your statement before it (keep each month's SIGNATURE.json) proves that none was
removed or replaced between them.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(statement_path, signature_path, keys_path):
    raw = open(statement_path, "rb").read()
    statement, signed = json.loads(raw), json.load(open(signature_path))
    keys = {k["kid"]: k for k in json.load(open(keys_path))["keys"] if k.get("crv") == "Ed25519"}
    key = keys.get(signed["key_id"])
    if key is None:
        print(f"NOT verified: key {signed['key_id']} is not among the published keys")
        return 1
    # What was signed: the scheme, the statement's number, tenant and period, the SHA-256 of its JSON
    # exactly as served, and the signature of the tenant's statement before it.
    message = "\n".join(["hps-statement-v1", statement["statement_number"], statement["tenant"]["code"],
                         statement["period"], hashlib.sha256(raw).hexdigest(), signed["previous_signature"] or ""])
    try:
        Ed25519PublicKey.from_public_bytes(unb64(key["x"])).verify(unb64(signed["signature"]), message.encode())
    except (InvalidSignature, ValueError):
        print(f"NOT verified: statement {statement['statement_number']} is not as the shared unit signed it")
        return 1
    print(f"verified: statement {statement['statement_number']} for {statement['tenant']['code']} "
          f"{statement['period']}, total {statement['totals']['total']}, signed with key {signed['key_id']}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
