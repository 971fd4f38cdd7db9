"""The constrained field types of every API body and every event payload.

One set, so a consumer refuses exactly what the edge refuses: a value that got past the API's
422 cannot then stop a consumer, and a message put on a topic by other means is judged the same.
"""

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

FIRST_PERIOD, LAST_PERIOD = "2000-01", "2099-12"


def _no_control(allowed: str):
    # Cc: NUL and the other control characters PostgreSQL, terminals and CSV choke on, exactly
    # U+0000-U+001F and U+007F-U+009F; Cs: lone surrogates, which no UTF-8 encoder accepts, exactly
    # U+D800-U+DFFF. Unicode's stability policy fixes both sets, so one regex search finds what a
    # category lookup per character did, at a fraction of the cost.
    banned = "".join(re.escape(chr(c)) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in allowed)
    search = re.compile(f"[{banned}\ud800-\udfff]").search

    def check(text: str) -> str:
        if found := search(text):
            raise ValueError(f"must not contain the control character U+{ord(found.group()):04X}")
        return text
    return check


def Prose(max_length: int, min_length: int = 1):  # noqa: N802 (a type, spelled as one)
    """Free text a person wrote: newlines and tabs allowed, no other control characters."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_control("\n\t"))]


def Line(max_length: int = 200, min_length: int = 1):  # noqa: N802
    """One line of text (a name, an identifier): no control characters at all."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_control(""))]


def _in_range(period: str) -> str:
    if not FIRST_PERIOD <= period <= LAST_PERIOD:
        raise ValueError(f"must be between {FIRST_PERIOD} and {LAST_PERIOD}")
    return period


Period = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="calendar month, YYYY-MM",
                              examples=["2026-10"]), AfterValidator(_in_range)]
# Names of things the platform declares (services, request types, tenants): lower-case slugs.
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
CostCentre = Annotated[str, Field(pattern=r"^[A-Z0-9-]{2,20}$", examples=["ASC-100"])]
# Amounts travel as strings so no JSON library turns them into floats.
Pounds = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]


def first_day(period: str) -> date:
    return date.fromisoformat(f"{period}-01")
