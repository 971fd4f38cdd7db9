"""The tenant registry: which partners are active on a date, and each one's share of a cost."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Basis(StrEnum):
    STAFF = "staff"
    SITES = "sites"
    BUDGET = "budget"
    FIXED = "fixed"  # the agreed percentages in force


class RegistryError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Figures(_Strict):
    valid_from: date = Field(alias="from")
    staff: int = Field(ge=0)
    sites: int = Field(ge=0)
    budget: Decimal = Field(ge=0)
    assumed: bool = False


class Tenant(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str
    valid_from: date
    valid_to: date | None = None
    successor: str | None = None
    figures: tuple[Figures, ...] = Field(min_length=1)

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def figures_on(self, day: date) -> Figures:
        in_force = [f for f in self.figures if f.valid_from <= day]
        if not in_force:
            raise RegistryError(f"{self.code} has no figures in force on {day}")
        return max(in_force, key=lambda f: f.valid_from)


class Agreement(_Strict):
    valid_from: date = Field(alias="from")
    shares: dict[str, Decimal]


class Unit(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str


class RegistryFile(_Strict):
    unit: Unit = Unit(code="hps", name="Shared unit")
    tenants: tuple[Tenant, ...]
    agreements: tuple[Agreement, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> "RegistryFile":
        codes = [t.code for t in self.tenants]
        if len(set(codes)) != len(codes) or self.unit.code in codes:
            raise ValueError("tenant codes must be unique and differ from the unit's")
        for t in self.tenants:
            if t.successor and t.successor not in codes:
                raise ValueError(f"{t.code}: successor {t.successor} is not a tenant")
            if t.valid_to and t.valid_to < t.valid_from:
                raise ValueError(f"{t.code}: valid_to is before valid_from")
        for a in self.agreements:
            if unknown := set(a.shares) - set(codes):
                raise ValueError(f"agreement from {a.valid_from}: unknown tenants {sorted(unknown)}")
        return self


@dataclass(frozen=True)
class Registry:
    tenants: Mapping[str, Tenant]
    agreements: tuple[Agreement, ...] = field(default=())
    unit: Unit = Unit(code="hps", name="Shared unit")

    @classmethod
    def load(cls, path: Path | None = None) -> "Registry":
        """Load the registry from `path`, or the defaults shipped with the platform."""
        text = path.read_text() if path else resources.files("shared").joinpath("tenants.yaml").read_text()
        try:
            parsed = RegistryFile.model_validate(yaml.safe_load(text))
        except (ValidationError, yaml.YAMLError) as exc:
            raise RegistryError(f"tenant registry {path or 'defaults'} is invalid: {exc}") from exc
        return cls({t.code: t for t in parsed.tenants}, parsed.agreements, parsed.unit)

    def __contains__(self, code: object) -> bool:
        """A code events may be tagged with: a tenant's, or the shared unit's own."""
        return code in self.tenants or code == self.unit.code

    def get(self, code: str) -> Tenant:
        try:
            return self.tenants[code]
        except KeyError:
            raise RegistryError(f"unknown tenant {code!r}") from None

    def active(self, day: date) -> list[Tenant]:
        return [t for t in self.tenants.values() if t.active_on(day)]

    def accountable(self, code: str, day: date) -> Tenant:
        """The tenant that answers for `code` on `day`: itself, or its successor once it has ended."""
        tenant = self.get(code)
        seen = {code}
        while not tenant.active_on(day):
            if day < tenant.valid_from:
                raise RegistryError(f"{code} is not a tenant until {tenant.valid_from}")
            if not tenant.successor or tenant.successor in seen:
                raise RegistryError(f"{code} ended on {tenant.valid_to} and has no successor")
            seen.add(tenant.successor)
            tenant = self.get(tenant.successor)
        return tenant

    def weights(self, basis: Basis, day: date) -> dict[str, Decimal]:
        """Each active tenant's weight under `basis` on `day` (feed to `money.apportion`)."""
        active = self.active(day)
        if not active:
            raise RegistryError(f"no tenant is active on {day}")
        if basis is Basis.FIXED:
            in_force = [a for a in self.agreements if a.valid_from <= day]
            if not in_force:
                raise RegistryError(f"no agreed percentages in force on {day}")
            shares = max(in_force, key=lambda a: a.valid_from).shares
            if set(shares) != {t.code for t in active}:
                raise RegistryError(f"the agreement in force on {day} does not cover exactly the active tenants")
            return dict(shares)
        return {t.code: Decimal(getattr(t.figures_on(day), basis.value)) for t in active}

    def share(self, code: str, basis: Basis, day: date) -> Decimal:
        """`code`'s fraction (0..1) of a cost apportioned under `basis` on `day`."""
        weights = self.weights(basis, day)
        if code not in weights:
            raise RegistryError(f"{code} is not active on {day}")
        return weights[code] / sum(weights.values())
