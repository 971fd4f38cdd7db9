"""`python -m services.finance.ledger`: the recharge engine and the finance API on HPS_FINANCE_PORT."""

import uvicorn

from services.finance.ledger.app import create_app
from shared.logging import configure
from shared.settings import get_settings

settings = get_settings()
configure(settings.log_level)
uvicorn.run(create_app(settings), host=settings.gateway_host, port=settings.finance_port,
            log_level=settings.log_level.lower())
