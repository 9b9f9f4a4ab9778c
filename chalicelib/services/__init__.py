"""Domain logic. Nothing here imports chalice."""
