"""Whether issued statements are as they were issued: each one's JSON against the digest it was
signed with, and every signature and link of the tenants' chains (services/finance/ledger/signing.py)."""

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Row, select

from services.finance.ledger import closing_queries as q
from services.finance.ledger import signing
from services.finance.ledger import tables as t

CHANGED = "its content was changed after it was issued"


def _changed(body: str, body_sha256: str | None) -> bool:
    return body_sha256 is not None and signing.digest(body) != body_sha256


def problem(c: Connection, keys: Mapping[str, Ed25519PublicKey], statement: Row,
            every_tenant: bool = True) -> str | None:
    """What is wrong with one stored statement (a row of closing_queries.stored), if anything;
    `every_tenant`: whether `c` sees every tenant's statements (signing.problems)."""
    if _changed(statement.body, statement.body_sha256):
        return CHANGED
    return signing.problems(q.links(c), keys, every_tenant).get(statement.number)


def problems(c: Connection, keys: Mapping[str, Ed25519PublicKey], period: str | None = None) -> dict[str, str]:
    """What is wrong with each statement of `period` (or all) that does not verify, by number."""
    st = t.statements.c
    found = signing.problems(q.links(c), keys)
    query = select(st.number, st.body, st.body_sha256)
    numbers = set()
    for number, body, body_sha256 in c.execute(query.where(st.period == period) if period else query):
        numbers.add(number)
        if _changed(body, body_sha256):
            found[number] = CHANGED
    return {number: why for number, why in found.items() if number in numbers}
