"""The it service: its catalogue and its worker."""
