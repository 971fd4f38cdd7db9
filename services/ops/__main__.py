"""`python -m services.ops`: the operations dashboard on HPS_OPS_PORT."""

from services.ops.app import create_app
from shared.api.app import serve

serve(create_app, lambda settings: settings.ops_port)
