"""Portkey: self-hosted AI gateway and data orchestrator."""

__version__ = "0.1.0"
