"""Declarative data sync between engines: typed, drift-aware, staged and exactly-once."""
