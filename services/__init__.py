"""The back-office services: one package each, talking only through events."""
