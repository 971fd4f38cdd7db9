"""The caller of an API: a principal, from the bearer token the request presents."""

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import structlog
import yaml
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, model_validator

from shared.api.errors import ApiError
from shared.topics import SERVICES

Role = Literal["partner", "staff", "finance", "ops"]


class Principal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    name: str
    tenant: str | None = None
    service: str | None = None
    budget_holder: bool = False

    @model_validator(mode="after")
    def _scope_matches_role(self) -> "Principal":
        if (self.role == "partner") != (self.tenant is not None):
            raise ValueError("a partner token needs a tenant, and only a partner token has one")
        if (self.role == "staff") != (self.service is not None):
            raise ValueError("a staff token needs a service, and only a staff token has one")
        if self.service is not None and self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service}")
        return self

    @property
    def actor_role(self) -> str:
        """The role the request lifecycle knows this principal by."""
        return "budget-holder" if self.budget_holder else self.role


class TokenFile(BaseModel):
    tokens: dict[str, Principal]


def load_tokens(path: Path | None) -> dict[str, Principal]:
    text = path.read_text() if path else resources.files("shared").joinpath("tokens.yaml").read_text()
    return TokenFile.model_validate(yaml.safe_load(text)).tokens


def development_tokens() -> set[str]:
    """The tokens shipped with the platform and printed in README: anyone has them."""
    return set(load_tokens(None))


class Unverified(Exception):
    """The presented token is not one to trust; the message says why, in the 401."""


# Read by hand below (auto_error=False) so that every refusal is the API's own 401; declared as
# the security scheme of each operation that depends on `principal`.
bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`; the token names the caller's "
                                                  "role and its tenant or service")


async def principal(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The caller, as `app.state.identities` (shared/api/identity.py) knows the token."""
    if credentials is None:  # no Authorization header, another scheme, or no token after "Bearer"
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    try:
        who = await request.app.state.identities.who(credentials.credentials)
    except Unverified as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    request.state.principal = who  # for the audit trail
    # Every later line of this request's log says who asked (the tenant: a partner's only).
    structlog.contextvars.bind_contextvars(actor=who.name, **({"tenant": who.tenant} if who.tenant else {}))
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(who: Principal, *roles: str) -> None:
    if who.role not in roles:
        raise ApiError(403, "forbidden", f"role {who.role} cannot do this; needs {' or '.join(roles)}")
