"""`python -m services.gateway`: the partner API on HPS_GATEWAY_HOST:HPS_GATEWAY_PORT, in
HPS_GATEWAY_WORKERS processes."""

from services.gateway.app import create_app
from shared.api.app import serve

serve(create_app, lambda settings: settings.gateway_port, lambda settings: settings.gateway_workers,
      "services.gateway.app:worker_app", lambda settings: settings.gateway_host)
