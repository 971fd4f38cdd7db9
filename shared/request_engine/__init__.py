"""The request lifecycle engine every request service runs: the rules (lifecycle), what each
command does to a request (handlers), the worker that applies them in order (worker), and the
worker's own state (state)."""
