"""API fuzzing: generated requests against the gateway, the finance ledger and ops, on a real broker
and a real database; no 5xx, no hang, and nothing published for a request the API refused."""
