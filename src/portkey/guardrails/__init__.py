"""Guardrails: checks on request and response text, run as Portkey-compatible hooks."""
