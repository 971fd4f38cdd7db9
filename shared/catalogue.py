"""Service catalogues: request types, their price models and SLA targets (data, one file per service)."""

import re
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.contracts import Measures, Priority
from shared.money import round_pence
from shared.topics import SERVICES

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class CatalogueError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fixed(_Strict):
    model: Literal["fixed"]
    unit_price: Decimal = Field(gt=0, decimal_places=2)
    measure: Literal["quantity"] = "quantity"

    def price(self, m: Measures) -> tuple[Decimal, Decimal, Decimal]:
        return Decimal(m.quantity), self.unit_price, self.unit_price * m.quantity


class TimeAndMaterials(_Strict):
    model: Literal["time_and_materials"]
    hourly_rate: Decimal = Field(gt=0, decimal_places=2)
    measure: Literal["hours"] = "hours"

    def price(self, m: Measures) -> tuple[Decimal, Decimal, Decimal]:
        return m.hours, self.hourly_rate, round_pence(self.hourly_rate * m.hours)


class FeeOnValue(_Strict):
    model: Literal["fee_on_value"]
    rate_percent: Decimal = Field(gt=0, le=100)
    floor: Decimal = Field(ge=0, decimal_places=2)
    cap: Decimal = Field(gt=0, decimal_places=2)
    measure: Literal["value"] = "value"

    def price(self, m: Measures) -> tuple[Decimal, Decimal, Decimal]:
        fee = min(self.cap, max(self.floor, round_pence(m.value * self.rate_percent / 100)))
        return Decimal(1), fee, fee


PriceModel = Annotated[Fixed | TimeAndMaterials | FeeOnValue, Field(discriminator="model")]


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30m, 4h or 3d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class SlaTargets(_Strict):
    P1: timedelta
    P2: timedelta
    P3: timedelta
    P4: timedelta

    @field_validator("*", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value) if isinstance(value, str) else value

    def for_priority(self, priority: Priority) -> timedelta:
        return getattr(self, Priority(priority).value)


class RequestType(_Strict):
    name: str
    price: PriceModel
    sla: SlaTargets | None = None
    approval_above: Decimal | None = Field(default=None, gt=0)
    recurring: bool = False

    def check(self, m: Measures) -> None:
        """The measure the price model needs, and no other; raises CatalogueError naming the field."""
        needed = self.price.measure
        if getattr(m, needed) is None:
            raise CatalogueError(f"{needed}: required by the {self.price.model} price of this type")
        for other in ("quantity", "hours", "value"):
            if other != needed and getattr(m, other) is not None:
                raise CatalogueError(f"{other}: not used by the {self.price.model} price of this type")

    def needs_approval(self, m: Measures) -> bool:
        return self.approval_above is not None and m.value is not None and m.value > self.approval_above


class Catalogue(_Strict):
    service: str
    name: str
    sla: SlaTargets
    request_types: dict[str, RequestType]

    def type(self, code: str) -> RequestType:
        try:
            return self.request_types[code]
        except KeyError:
            raise CatalogueError(f"unknown request type {code!r} for {self.service}; "
                                 f"known: {', '.join(sorted(self.requestable()))}") from None

    def requestable(self) -> list[str]:
        return [code for code, t in self.request_types.items() if not t.recurring]

    def sla_for(self, code: str, priority: Priority) -> timedelta:
        return (self.type(code).sla or self.sla).for_priority(priority)


def load(service: str, override_dir: Path | None = None) -> Catalogue:
    """`override_dir/<service>.yaml` if there is one, else the catalogue shipped with the service."""
    override = override_dir / f"{service}.yaml" if override_dir else None
    if override and override.exists():
        text, origin = override.read_text(), str(override)
    else:
        text = resources.files(f"services.{service}").joinpath("catalogue.yaml").read_text()
        origin = f"services/{service}/catalogue.yaml"
    try:
        catalogue = Catalogue.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise CatalogueError(f"catalogue {origin} is invalid: {exc}") from exc
    if catalogue.service != service:
        raise CatalogueError(f"catalogue {origin} says it is for {catalogue.service}, not {service}")
    return catalogue


def load_all(override_dir: Path | None = None) -> dict[str, Catalogue]:
    return {service: load(service, override_dir) for service in SERVICES}
