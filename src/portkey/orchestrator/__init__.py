"""Data orchestrator: one read-only SQL query over several engines, moving as little as possible.

``portkey.orchestrator.service.Orchestrator`` is the entry point: it validates, plans and runs
a query over the engines declared in ``portkey.yaml`` under ``data.engines``.
"""
