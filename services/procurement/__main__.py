"""`python -m services.procurement`: the procurement worker."""

from shared.request_engine.worker import main

main("procurement")
