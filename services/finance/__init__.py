"""The finance service: its catalogue and its worker."""
