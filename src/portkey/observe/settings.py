"""portkey.yaml's ``logs:``, ``metrics:`` and ``prices:`` sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portkey.config.routing import Strict


class Retention(Strict):
    """How long request logs are kept: both limits apply; the job runs every ``interval_s``."""

    max_age_days: float = Field(default=30, gt=0)
    max_rows: int = Field(default=1_000_000, ge=1)
    interval_s: float = Field(default=60, gt=0)


class LogsSettings(Strict):
    """Request logs, written in batches off the hot path to the store (or ``url``)."""

    enabled: bool = True
    #: another database for the logs (sqlite:///path or postgresql://...); default: the store
    url: str | None = Field(default=None, repr=False)
    #: records waiting to be written; past this, records are dropped (and counted)
    queue_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.5, gt=0)
    #: request and response bodies: not stored, stored as a SHA-256, or stored whole
    bodies: Literal["off", "hashed", "full"] = "off"
    #: stored bodies are cut at this many bytes
    max_body_bytes: int = Field(default=32 * 1024, ge=64)
    retention: Retention = Retention()


class MetricsSettings(Strict):
    """Prometheus metrics at ``GET /metrics``."""

    enabled: bool = True


class ModelPrice(Strict):
    """A model's own price, USD per million tokens (for private deployments)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    #: cached input reads; default: ``input``
    cached_input: float | None = Field(default=None, ge=0)
    #: cache writes; default: ``input``
    cache_write: float | None = Field(default=None, ge=0)

    def as_override(self) -> dict[str, float]:
        """The shape ``portkey.observe.cost.cost_usd`` takes."""
        out = {"input": self.input, "output": self.output}
        if self.cached_input is not None:
            out["cached_input"] = self.cached_input
        if self.cache_write is not None:
            out["cache_write"] = self.cache_write
        return out
