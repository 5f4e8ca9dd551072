"""portkey.yaml's ``logs:``, ``metrics:`` and ``prices:`` sections."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

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
    #: how often the analytics rollups are refreshed in the background (portkey.observe.rollup)
    rollup_interval_s: float = Field(default=30, gt=0)


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


class Probe(Strict):
    """An active health probe: list a ``providers:`` entry's models every ``interval_s``."""

    provider: str = Field(min_length=1, description="a name under providers:")
    interval_s: float = Field(default=60, ge=1)
    timeout_s: float = Field(default=10, gt=0, le=120)


class HealthSettings(Strict):
    """Provider health in ``/ready`` and ``portkey doctor``: passive (recent errors) + probes."""

    #: recent requests per provider are judged over this window
    window_s: float = Field(default=300, gt=0, le=86_400)
    #: a provider is ``unhealthy`` past this share of failed attempts (``degraded`` past half)
    max_error_rate: float = Field(default=0.5, gt=0, le=1)
    min_requests: int = Field(default=5, ge=1)
    probes: list[Probe] = Field(default_factory=list)


AlertMetric = Literal["error_rate", "latency_p95_ms", "cost_per_hour", "requests", "budget_used"]
ALERT_METRICS: tuple[str, ...] = get_args(AlertMetric)
RULE_TEXT = re.compile(
    r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op>>=|>|<=|<)\s*(?P<value>[0-9.]+)\s*(?P<pct>%)?"
    r"(?:\s+over\s+(?P<window>[0-9.]+)\s*(?P<unit>s|m|h))?"
    r"(?:\s+by\s+(?P<by>provider|model|virtual_key|api_key))?\s*$"
)
UNITS = {"s": 1, "m": 60, "h": 3600}


class Webhook(Strict):
    """Where alerts go: generic JSON, or Slack's incoming-webhook shape (``text``)."""

    url: str = Field(pattern=r"^https?://", repr=False)
    format: Literal["json", "slack"] = "json"
    timeout_s: float = Field(default=5, gt=0, le=60)


class AlertRule(Strict):
    """``when: "error_rate > 5% over 5m by provider"``, or the same as fields."""

    name: str = Field(min_length=1, max_length=100)
    when: str | None = None
    metric: AlertMetric | None = None
    op: Literal[">", ">=", "<", "<="] = ">"
    value: float | None = None
    window_s: float = Field(default=300, gt=0, le=30 * 86_400)
    by: Literal["provider", "model", "virtual_key", "api_key"] | None = None
    #: error_rate / latency rules wait for this many requests in the window
    min_requests: int = Field(default=10, ge=1)
    #: webhook names (alerts.webhooks); default: all of them
    notify: list[str] | None = None

    @model_validator(mode="after")
    def _parsed(self) -> AlertRule:
        if self.when is not None:
            match = RULE_TEXT.match(self.when)
            if match is None:
                raise ValueError(
                    f"when: {self.when!r} is not '<metric> > <value>[%] [over <n>s|m|h] "
                    "[by provider|model|virtual_key|api_key]'"
                )
            value = float(match["value"]) / (100 if match["pct"] else 1)
            fields: dict[str, Any] = {"metric": match["metric"], "op": match["op"], "value": value}
            if match["window"]:
                fields["window_s"] = float(match["window"]) * UNITS[match["unit"]]
            if match["by"]:
                fields["by"] = match["by"]
            for name, parsed in fields.items():
                object.__setattr__(self, name, parsed)
        if self.metric not in ALERT_METRICS:
            raise ValueError(f"metric must be one of {', '.join(ALERT_METRICS)}")
        if self.value is None:
            raise ValueError("a rule needs a value (or a 'when' text)")
        if self.metric == "budget_used" and self.by is not None:
            raise ValueError("budget_used rules are per budget already: no 'by'")
        return self


class AlertsSettings(Strict):
    """Alert rules over the request log, evaluated every ``interval_s``, sent to webhooks."""

    enabled: bool = True
    interval_s: float = Field(default=30, ge=0.05)
    webhooks: dict[str, Webhook] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_webhooks(self) -> AlertsSettings:
        for rule in self.rules:
            unknown = set(rule.notify or ()) - set(self.webhooks)
            if unknown:
                raise ValueError(f"rule {rule.name!r} notifies unknown webhooks {sorted(unknown)}")
        if self.rules and not self.webhooks:
            raise ValueError("alert rules need at least one webhook under alerts.webhooks")
        return self
