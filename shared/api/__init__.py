"""What every HTTP API of the platform shares: who is calling, and how errors look."""
