"""The recharge engine: an exactly-once double-entry ledger of charges and shared costs, period
close, per-partner statements and reconciliation."""
