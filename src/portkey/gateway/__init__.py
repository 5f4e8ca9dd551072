"""The AI gateway: ASGI app, ingress, router (strategy tree), retries, streaming."""
