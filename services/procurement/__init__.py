"""The procurement service: its catalogue and its worker."""
