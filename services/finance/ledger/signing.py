"""Issued statements signed with Ed25519, each signature chained to the tenant's previous one.

A statement's signature covers, as the UTF-8 bytes of

    hps-statement-v1\\n{number}\\n{tenant}\\n{period}\\n{sha256 of the statement's JSON}\\n{previous}

its content (the exact JSON served as the statement) and `previous`, the signature of the tenant's
statement before it ("" for its first). Changing a statement breaks its signature; removing one
breaks the link of the next, and a gap in the statement numbers (one sequence across tenants)
shows too. Signatures and keys are base64url without padding; the public keys are published as
a JWK set (OKP, Ed25519) at /v1/finance/statement-keys. docs/verify_statement.py checks a
downloaded statement with nothing else.

Statements issued before signing existed carry no signature: they are accepted only ahead of the
first signed one, so one stripped of its signature later is reported."""

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.settings import Settings

VERSION = "hps-statement-v1"
DEVELOPMENT_KEY = "statement-signing-key.pem"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(body: str) -> str:
    """The SHA-256 of a statement's JSON as served."""
    return hashlib.sha256(body.encode()).hexdigest()


def message(number: str, tenant: str, period: str, body_sha256: str, previous: str) -> bytes:
    return "\n".join((VERSION, number, tenant, period, body_sha256, previous)).encode()


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def jwk(public: Ed25519PublicKey) -> dict:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(public.public_bytes_raw()), "kid": key_id(public),
            "use": "sig", "alg": "EdDSA"}


def public_keys(jwks: Mapping) -> dict[str, Ed25519PublicKey]:
    """A published JWK set's Ed25519 keys by key id."""
    return {k["kid"]: Ed25519PublicKey.from_public_bytes(unb64(k["x"]))
            for k in jwks.get("keys", []) if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"}


class Signer:
    def __init__(self, key: Ed25519PrivateKey):
        self.key, self.public = key, key.public_key()
        self.kid = key_id(self.public)

    def sign(self, number: str, tenant: str, period: str, body_sha256: str, previous: str) -> str:
        return b64(self.key.sign(message(number, tenant, period, body_sha256, previous)))

    @classmethod
    def generated(cls) -> "Signer":
        """A key of its own, kept nowhere: for a ledger in a test or the benchmark."""
        return cls(Ed25519PrivateKey.generate())

    def jwks(self) -> dict:
        return {"keys": [jwk(self.public)]}

    @classmethod
    def load(cls, settings: Settings) -> "Signer":
        """The key of HPS_STATEMENT_SIGNING_KEY; in development, one of the state dir's own, made once."""
        path = settings.statement_signing_key
        if path is None:
            if settings.environment == "production":
                raise RuntimeError("HPS_STATEMENT_SIGNING_KEY must name the Ed25519 key (PEM) statements are "
                                   "signed with in production")
            path = settings.state_dir / DEVELOPMENT_KEY
            _make_once(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{path}: statements are signed with an Ed25519 key, not {type(key).__name__}")
        return cls(key)


def _make_once(path: Path) -> None:
    """Instances starting together: the first to link its key in place wins, the others read it."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    mine = path.with_name(f".{path.name}.{os.getpid()}")
    with os.fdopen(os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(pem)
    try:
        os.link(mine, path)  # atomic, and never over another's key
    except FileExistsError:
        pass
    finally:
        os.unlink(mine)


@dataclass(frozen=True)
class Link:
    """What the chain of one statement is checked with: everything but its text."""

    number: str
    sequence: int
    tenant: str
    period: str
    body_sha256: str | None
    signature: str | None
    previous_signature: str | None
    key_id: str | None


def problems(links: Iterable[Link], keys: Mapping[str, Ed25519PublicKey], every_tenant: bool = True) -> dict[str, str]:
    """What is wrong with each statement whose signature or place in its tenant's chain does not hold
    (by number). `links`: every statement issued, or with `every_tenant` False every statement of the
    tenants given (a partner's own): then a gap in the numbers is other tenants' statements, not a
    removed one, and only the chains tell."""
    found, latest, expected, signed_yet = {}, {}, 1, False
    for link in sorted(links, key=lambda s: s.sequence):
        if every_tenant and link.sequence != expected:
            found[link.number] = f"statements {expected} to {link.sequence - 1} of the sequence are missing"
        expected = link.sequence + 1
        previous = latest.get(link.tenant, "")
        latest[link.tenant] = link.signature or ""
        if link.signature is None:
            if signed_yet:
                found.setdefault(link.number, "it is not signed, but statements before it are")
            continue
        signed_yet = True
        key = keys.get(link.key_id or "")
        if key is None:
            found.setdefault(link.number, f"signed with key {link.key_id}, which is not published")
        elif not _holds(key, link):
            found.setdefault(link.number, "its signature does not match its content")
        elif link.previous_signature != previous:
            found.setdefault(link.number, f"it does not follow {link.tenant}'s statement before it "
                                          "(one was removed or replaced)")
    return found


def _holds(key: Ed25519PublicKey, link: Link) -> bool:
    try:
        key.verify(unb64(link.signature), message(link.number, link.tenant, link.period, link.body_sha256 or "",
                                                  link.previous_signature or ""))
        return True
    except (InvalidSignature, ValueError):
        return False
