"""`python -m services.finance`: the finance worker."""

from shared.request_agents import main

main("finance")
