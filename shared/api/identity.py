"""Who a bearer token names: a JWT from one of the partners' identity providers (OIDC), checked
against the issuer's published keys, or in development a static token from the tokens file.

HPS_IDENTITY_FILE lists the trusted issuers and how their claims map to a tenant and a role
(README "Identities"). Keys come from each issuer's JWKS, found by OIDC discovery and cached."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from shared.api.auth import Principal, Role, Unverified, development_tokens, load_tokens
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger("identity")
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class IdentityError(ValueError):
    """The identity configuration cannot be used; the process refuses to start."""


class Grant(BaseModel):
    """What one role claim value makes its holder, e.g. {role: staff, service: it}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    service: str | None = None
    budget_holder: bool = False

    @model_validator(mode="after")
    def _makes_a_principal(self) -> "Grant":
        Principal(role=self.role, name="check", service=self.service, budget_holder=self.budget_holder,
                  tenant="check" if self.role == "partner" else None)
        return self


class Issuer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str  # the `iss` its tokens carry, exactly
    audience: str  # the `aud` a token for this platform must carry
    jwks_uri: HttpUrl | None = None  # else from {issuer}/.well-known/openid-configuration
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: int = Field(60, ge=0, le=600)  # clock skew allowed on exp, nbf and iat
    # The tenant of this issuer's partners, when the issuer is one partner's own; else a claim that holds it.
    tenant: str | None = None
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"  # a string or a list of strings
    name_claim: str = "name"  # else `sub`
    # Role claim values to what they grant; the first of a token's values found here, in this order, decides.
    roles: dict[str, Grant]

    @model_validator(mode="after")
    def _known_algorithms(self) -> "Issuer":
        if unknown := set(self.algorithms) - set(ALGORITHMS):
            raise ValueError(f"{self.issuer}: algorithms {sorted(unknown)} are not accepted (use {ALGORITHMS})")
        return self

    def principal(self, claims: dict[str, Any], tenants: frozenset[str]) -> Principal:
        held = claims.get(self.roles_claim, [])
        held = [held] if isinstance(held, str) else held if isinstance(held, list) else []
        grant = next((self.roles[value] for value in self.roles if value in held), None)
        if grant is None:
            raise Unverified(f"the token's {self.roles_claim} grant no role here")
        tenant = (self.tenant or claims.get(self.tenant_claim)) if grant.role == "partner" else None
        if tenant is not None and tenant not in tenants:
            raise Unverified(f"the token's tenant {str(tenant)[:40]!r} is not a partner of this platform")
        name = claims.get(self.name_claim) or claims.get("sub") or "unnamed"
        try:
            return Principal(role=grant.role, name=str(name)[:200], tenant=tenant, service=grant.service,
                             budget_holder=grant.budget_holder)
        except ValidationError as exc:
            raise Unverified(f"the token's claims do not make a caller: {exc.errors()[0]['msg']}") from None


class IdentityFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuers: list[Issuer]


class Keys:
    """One issuer's signing keys: fetched on first use, again after `ttl_s`, and at most every
    `refetch_s` when a token names a key not yet seen (a rotation), so that tokens with made-up key
    ids cannot make us hammer the issuer."""

    def __init__(self, issuer: Issuer, http: httpx.AsyncClient, ttl_s: float = 300, refetch_s: float = 30):
        self.issuer, self.http, self.ttl_s, self.refetch_s = issuer, http, ttl_s, refetch_s
        self.keys: dict[str | None, jwt.PyJWK] = {}
        self.fetched_at = -float("inf")
        self.lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._stale(kid):
            async with self.lock:
                if self._stale(kid):  # unless another caller fetched them meanwhile
                    await self._fetch()
        if (found := self.keys.get(kid)) is None:
            raise Unverified(f"no key {kid!r} among {self.issuer.issuer}'s published keys")
        return found

    def _stale(self, kid: str | None) -> bool:
        age = time.monotonic() - self.fetched_at
        return age > self.ttl_s or (kid not in self.keys and age > self.refetch_s)

    async def _fetch(self) -> None:
        try:
            uri = str(self.issuer.jwks_uri or await self._discovered())
            answer = await self.http.get(uri)
            answer.raise_for_status()
            found = jwt.PyJWKSet.from_dict(answer.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            log.warning("jwks_unavailable", issuer=self.issuer.issuer, error=str(exc)[:200])
            if not self.keys:
                raise Unverified(f"the keys of {self.issuer.issuer} cannot be had") from None
            return  # keep the keys we had: the issuer's outage is not our partners'
        finally:
            self.fetched_at = time.monotonic()
        self.keys = {k.key_id: k for k in found}
        if len(found) == 1:  # a lone key also serves tokens that name none
            self.keys.setdefault(None, found[0])

    async def _discovered(self) -> str:
        answer = await self.http.get(f"{self.issuer.issuer.rstrip('/')}/.well-known/openid-configuration")
        answer.raise_for_status()
        return answer.json()["jwks_uri"]


class Identities:
    """The static tokens and the trusted issuers of one process."""

    def __init__(self, tokens: dict[str, Principal], issuers: list[Issuer], tenants: frozenset[str]):
        self.tokens, self.tenants = tokens, tenants
        self.http = httpx.AsyncClient(timeout=5, follow_redirects=False)
        self.issuers = {i.issuer: Keys(i, self.http) for i in issuers}

    @classmethod
    def load(cls, settings: Settings, tenants: frozenset[str]) -> "Identities":
        """From HPS_TOKENS_FILE and HPS_IDENTITY_FILE; in production, no development token passes."""
        tokens = {} if settings.environment == "production" and not settings.tokens_file \
            else load_tokens(settings.tokens_file)
        if settings.environment == "production":
            if public := sorted(set(tokens) & set(development_tokens())):
                raise IdentityError(f"{settings.tokens_file} holds development tokens published in README "
                                    f"({', '.join(public)}); they are refused in production")
            if not tokens and not settings.identity_file:
                raise IdentityError("production needs HPS_IDENTITY_FILE (the partners' identity providers) "
                                    "or HPS_TOKENS_FILE")
        return cls(tokens, cls.issuers_in(settings.identity_file) if settings.identity_file else [], tenants)

    @staticmethod
    def issuers_in(path: Path) -> list[Issuer]:
        try:
            return IdentityFile.model_validate(yaml.safe_load(path.read_text())).issuers
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise IdentityError(f"{path}: not an identity file ({exc})") from None

    async def who(self, token: str) -> Principal:
        if (static := self.tokens.get(token)) is not None:
            return static
        if token.count(".") != 2 or not self.issuers:
            raise Unverified("unknown or expired token")
        try:
            header, unverified = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unverified("not a well-formed JWT") from None
        keys = self.issuers.get(unverified.get("iss")) if isinstance(unverified.get("iss"), str) else None
        if keys is None:
            raise Unverified("the token's issuer is not one this platform trusts")
        issuer = keys.issuer
        if header.get("alg") not in issuer.algorithms:
            raise Unverified(f"the token is signed with {header.get('alg')!r}, not one of {list(issuer.algorithms)}")
        key = await keys.key(header.get("kid"))
        try:
            claims = jwt.decode(token, key, algorithms=list(issuer.algorithms), audience=issuer.audience,
                                issuer=issuer.issuer, leeway=issuer.leeway_s,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise Unverified("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unverified("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unverified("the token is for another audience") from None
        except jwt.PyJWTError as exc:
            raise Unverified(f"the token does not verify ({exc.__class__.__name__})") from None
        return issuer.principal(claims, self.tenants)

    async def close(self) -> None:
        await self.http.aclose()
