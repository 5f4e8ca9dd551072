"""Upstream HTTP: one pooled client per process, foreign errors mapped at this boundary."""
