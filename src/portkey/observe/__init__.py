"""Observability off the hot path: what a request cost, and (later) metrics and traces."""
