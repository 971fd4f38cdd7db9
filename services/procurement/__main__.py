"""`python -m services.procurement`: the procurement worker."""

from shared.request_agents import main

main("procurement")
