"""`python -m services.finance`: the finance worker."""

from shared.request_engine.worker import main

main("finance")
