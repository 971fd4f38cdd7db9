"""The portal: web pages for partners, shared-service staff and finance, served by the gateway."""
