"""`python -m services.gateway`: the partner API on HPS_GATEWAY_HOST:HPS_GATEWAY_PORT."""

import uvicorn

from services.gateway.app import create_app
from shared.logging import configure
from shared.settings import get_settings

settings = get_settings()
configure(settings.log_level)
uvicorn.run(create_app(settings), host=settings.gateway_host, port=settings.gateway_port,
            log_level=settings.log_level.lower())
