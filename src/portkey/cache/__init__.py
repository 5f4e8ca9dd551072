"""Exact and semantic response caching: keys, entries, backends (memory, Redis), semantic index."""
