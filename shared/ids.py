"""Ids derived from what they stand for, so a retry or a replay names the same thing."""

from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://hps.example/back-office")


def derived(name: str) -> UUID:
    """The id of `name` (e.g. "request/council/<key>"): the same wherever and however often asked."""
    return uuid5(NAMESPACE, name)
