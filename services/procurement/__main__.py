"""`python -m services.procurement`: the procurement worker."""

from shared.request_worker import main

main("procurement")
