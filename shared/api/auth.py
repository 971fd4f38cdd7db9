"""Bearer tokens to principals. One function decides who is calling; production swaps it for OIDC."""

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from fastapi import Depends, Header, Request
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


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The caller, from `app.state.tokens`; the one place to swap for OIDC/JWT validation."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    who = request.app.state.tokens.get(token.strip())
    if who is None:
        raise ApiError(401, "unauthorized", "unknown or expired token")
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(who: Principal, *roles: str) -> None:
    if who.role not in roles:
        raise ApiError(403, "forbidden", f"role {who.role} cannot do this; needs {' or '.join(roles)}")
