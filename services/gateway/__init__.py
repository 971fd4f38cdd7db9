"""The partner API: authenticated HTTP in front of the services' request topics."""
