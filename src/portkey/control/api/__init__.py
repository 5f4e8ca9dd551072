"""The admin API (FastAPI), mounted at /admin by portkey.server."""
