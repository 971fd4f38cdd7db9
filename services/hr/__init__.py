"""The hr service: its catalogue and its worker."""
