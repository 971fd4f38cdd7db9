"""`python -m services.it`: the it worker."""

from shared.request_engine.worker import main

main("it")
