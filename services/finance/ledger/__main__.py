"""`python -m services.finance.ledger`: the recharge engine and the finance API on HPS_FINANCE_PORT."""

from services.finance.ledger.app import create_app
from shared.api.app import serve

serve(create_app, lambda settings: settings.finance_port)
