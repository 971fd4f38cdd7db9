"""`python -m services.it`: the it worker."""

from shared.request_agents import main

main("it")
