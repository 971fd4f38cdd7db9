"""`python -m services.it`: the it worker."""

from shared.request_worker import main

main("it")
