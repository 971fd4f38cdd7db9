"""Kafka plumbing: topic creation, acknowledged producers and dead letters (bus), and the one
consumer runner every process uses (consuming)."""
