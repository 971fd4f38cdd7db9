"""`python -m services.finance`: the finance worker."""

from shared.request_worker import main

main("finance")
