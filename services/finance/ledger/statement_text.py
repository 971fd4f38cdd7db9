"""An issued statement as text: the canonical JSON its seal is the SHA-256 of, and what is stored.

`sealed_text` writes it from the lines' texts and the sums the database made, as `canonical` would write
the whole statement, without decoding a line: a month of a million lines is a few hundred megabytes
of text, never a million dicts. `Issued` reads it back: what is not a line at once, the lines one at
a time as they are used (or a whole section when it is asked for).
"""

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from services.finance.ledger.statements import canonical, pounds, quoted, totalled

# The sections that are plain lists.
LISTED = ("shared_costs", "corrections", "prior_period_adjustments", "credit_notes")
CHUNK = 1 << 20  # characters per piece when the text is sent


@dataclass
class Group:
    """Direct charges of one service and request type: their count and sum, from the database, and the
    lines' texts in posting order."""

    count: int
    amount: Decimal
    texts: list[str]


def sealed_text(tenant: Mapping[str, str], period: str, number: str, issued_at: str,
                groups: Mapping[tuple[str, str], Group], listed: Mapping[str, list[str]],
                sums: Mapping[str, Decimal]) -> tuple[str, str]:
    """The sealed statement's text and its seal: the SHA-256 of the statement without the seal."""
    members = {"tenant": [canonical(dict(tenant))], "period": [canonical(period)],
               "statement_number": [canonical(number)], "issued_at": [canonical(issued_at)],
               "totals": [canonical(totalled(sums))],
               "direct_charges": _array(_object({"service": [quoted(service)], "request_type": [quoted(request_type)],
                                                 "count": [str(g.count)], "amount": [quoted(pounds(g.amount))],
                                                 "lines": _list(g.texts)})
                                        for (service, request_type), g in sorted(groups.items())),
               **{name: _list(listed.get(name, [])) for name in LISTED}}
    seal = hashlib.sha256()
    for piece in _object(members):
        seal.update(piece.encode())
    digest = seal.hexdigest()
    return "".join(_object({**members, "content_sha256": [quoted(digest)]})), digest


# A JSON value as pieces of text, joined once when the statement is whole: a section of a million
# lines is one piece, copied as few times as can be.
Text = list[str]


def _object(members: Mapping[str, Text]) -> Text:
    """An object from its members' texts, as `canonical` writes one: keys sorted, no spaces."""
    pieces = ["{"]
    for n, key in enumerate(sorted(members)):
        pieces += [f"{',' if n else ''}{quoted(key)}:", *members[key]]
    return [*pieces, "}"]


def _array(items: Iterable[Text]) -> Text:
    pieces = ["["]
    for n, item in enumerate(items):
        pieces += [",", *item] if n else item
    return [*pieces, "]"]


def _list(texts: list[str]) -> Text:
    """An array of lines' texts."""
    return ["[", ",".join(texts), "]"]


def pieces(text: str) -> Iterator[bytes]:
    """The text to send, a megabyte at a time (it is ASCII: `canonical` escapes everything else)."""
    for start in range(0, len(text), CHUNK):
        yield text[start:start + CHUNK].encode()


# Where each member starts: the only place its name can stand followed by these (inside a string a
# quote is escaped, and no line or total has an array or object of these names).
OPENERS = {"content_sha256": '"', "corrections": "[", "credit_notes": "[", "direct_charges": "[", "issued_at": '"',
           "period": '"', "prior_period_adjustments": "[", "shared_costs": "[", "statement_number": '"',
           "tenant": "{", "totals": "{"}
_decode = json.JSONDecoder().raw_decode
_GROUP_END = re.compile(r'\],"request_type":("(?:[^"\\]|\\.)*"),"service":("(?:[^"\\]|\\.)*")\}')


class Issued(Mapping):
    """An issued statement over its stored text: `statement[name]` decodes one member (a whole section
    too); `lines(section)` decodes a section's lines one at a time, direct charges across their groups."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def spans(self) -> dict[str, list[int]]:
        """Where each member's value starts and ends: found once, when first read."""
        text, spans, at = self.text, {}, 0
        for name in sorted(OPENERS):  # the order `canonical` wrote them in; a statement may lack a section
            head = f"{quoted(name)}:{OPENERS[name]}"
            start = text.find(head, at)
            if start >= 0:
                spans[name] = [start + len(head) - 1, None]
                at = start + len(head)
        names = list(spans)
        for name, following in zip(names, names[1:] + [None]):  # a member ends at the comma before the next
            spans[name][1] = text.rfind(",", 0, spans[following][0]) if following else len(text) - 1
        return spans

    def __getitem__(self, name: str):
        if name not in self.spans:
            raise KeyError(name)
        start, end = self.spans[name]
        return json.loads(self.text[start:end])

    def __iter__(self) -> Iterator[str]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def lines(self, section: str) -> Iterator[dict]:
        if section not in self.spans:
            return
        start, end = self.spans[section]
        if section != "direct_charges":
            yield from self._items(start, end)
            return
        at = start + 1
        while at < end - 1:  # each group: {"amount":…,"count":…,"lines":[…],"request_type":…,"service":…}
            opened = self.text.index('"lines":[', at) + len('"lines":')
            group_end = _GROUP_END.search(self.text, opened)
            yield from self._items(opened, group_end.start() + 1)
            at = group_end.end() + 1

    def _items(self, start: int, end: int) -> Iterator[dict]:
        """The objects of the array text[start:end] (brackets included), decoded one at a time."""
        at = start + 1
        while at < end - 1:
            item, at = _decode(self.text, at)
            yield item
            at += 1  # the comma, or the closing bracket


def lines_of(statement: Mapping, section: str) -> Iterable[dict]:
    """A statement's lines in `section`, in order (direct charges across their groups): an issued one's
    decoded as they are read, a draft's from its lists."""
    if isinstance(statement, Issued):
        return statement.lines(section)
    if section == "direct_charges":
        return (x for group in statement["direct_charges"] for x in group["lines"])
    return statement.get(section, [])

