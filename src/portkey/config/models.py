"""The portkey.yaml file: server settings, named providers (virtual keys) and named configs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from portkey.cache.settings import CacheSettings
from portkey.config.routing import RoutingConfig, Strict, Target
from portkey.control.models import BudgetIn, RateLimitIn
from portkey.observe.settings import (
    AlertsSettings,
    HealthSettings,
    LogsSettings,
    MetricsSettings,
    ModelPrice,
)
from portkey.orchestrator.settings import DataSettings
from portkey.prompts.settings import PromptDef


class UpstreamPool(Strict):
    """The one pooled HTTP client each process uses for every upstream call."""

    limit: int = Field(default=1024, ge=1, description="max open connections in total")
    limit_per_host: int = Field(default=0, ge=0, description="0 = no per-host limit")
    keepalive_timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_ms: int = Field(default=10_000, gt=0)


class Reload(Strict):
    watch: bool = True
    interval_s: float = Field(default=1.0, gt=0)


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    #: Defaults for targets that set none (milliseconds).
    request_timeout_ms: int = Field(default=600_000, gt=0)
    stream_first_token_timeout_ms: int | None = Field(default=None, gt=0)
    stream_idle_timeout_ms: int = Field(default=120_000, gt=0)
    #: What to do with a request parameter the chosen provider lacks.
    unsupported_params: Literal["ignore", "warn", "raise"] = "warn"
    upstream: UpstreamPool = UpstreamPool()
    reload: Reload = Reload()


class StoreSettings(Strict):
    """Where the control plane keeps keys, budgets and audit (``PORTKEY_DATABASE_URL`` wins)."""

    url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://...; default: portkey.db in the data dir",
    )
    #: how often each replica checks the store for changes (keys revoked, secrets rotated)
    refresh_interval_s: float = Field(default=0.5, gt=0, le=60)


class AuthSettings(Strict):
    #: require a caller API key on /v1 even before any key exists
    required: bool = False


class LimitsSettings(Strict):
    """Where rate-limit and budget counters live: this process, or Redis shared by replicas."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: prefix of every Redis key the counters use (one per deployment sharing a Redis)
    key_prefix: str = Field(default="portkey:", max_length=64)
    #: Redis unreachable: let requests through ("open") or refuse them with 503 ("closed")
    on_backend_error: Literal["open", "closed"] = "open"
    timeout_ms: int = Field(default=250, gt=0)


class AdminSettings(Strict):
    """The admin API's key (``PORTKEY_ADMIN_KEY`` wins); without one, /admin is closed."""

    api_key: str | None = Field(default=None, min_length=16, repr=False)


class ProviderEntry(Target):
    """A named provider credential; ``virtual_key: <name>`` in a target refers to it."""

    #: the models this provider offers, listed by ``GET /v1/models`` when no route is sent
    models: list[str] | None = None

    @field_validator("models")
    @classmethod
    def _model_names(cls, models: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        for name in models or ():
            if not name.strip():
                raise ValueError("a model name must not be empty")
            if name in seen:
                raise ValueError(f"model {name!r} is listed twice")
            seen.add(name)
        return models

    @model_validator(mode="after")
    def _is_a_leaf(self) -> ProviderEntry:
        if self.provider is None:
            raise ValueError("a provider entry needs 'provider'")
        if self.targets is not None or self.strategy is not None:
            raise ValueError("a provider entry cannot hold 'strategy' or 'targets'")
        return self


class GuardrailDef(Strict):
    """A named guardrail: checks, ``deny`` (block 446) or not (flag 246), optional mask action."""

    model_config = ConfigDict(extra="allow", frozen=True)  # check ids as keys (shorthand)

    deny: bool = False
    action: Literal["block", "flag", "mask", "fallback"] | None = None
    restore: bool = False
    checks: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _compiles(self) -> GuardrailDef:
        from portkey.guardrails.spec import parse_hook

        parse_hook(self.definition("check"), "check")
        return self

    def definition(self, hook_id: str) -> dict[str, Any]:
        return {"id": hook_id, **self.model_dump(exclude_none=True), **(self.model_extra or {})}


class PortkeyFile(Strict):
    """The root of portkey.yaml."""

    version: Literal[1] = 1
    server: ServerSettings = ServerSettings()
    providers: dict[str, ProviderEntry] = Field(default_factory=dict)
    configs: dict[str, RoutingConfig] = Field(default_factory=dict)
    #: Config used when a request names neither a config nor a provider.
    default_config: str | None = None
    store: StoreSettings = StoreSettings()
    auth: AuthSettings = AuthSettings()
    admin: AdminSettings = AdminSettings()
    limits: LimitsSettings = LimitsSettings()
    #: where cached answers live; which requests cache is the config's ``cache`` option
    cache: CacheSettings = CacheSettings()
    #: request logs (store, bodies policy, retention), Prometheus metrics, per-model prices
    logs: LogsSettings = LogsSettings()
    metrics: MetricsSettings = MetricsSettings()
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    #: alert rules and their webhooks; provider health (window, active probes)
    alerts: AlertsSettings = AlertsSettings()
    health: HealthSettings = HealthSettings()
    #: named guardrails (Portkey hooks); configs refer to them by id
    guardrails: dict[str, GuardrailDef] = Field(default_factory=dict)
    #: prompts as code (versioned in the store on start); partials they include by name
    prompts: dict[str, PromptDef] = Field(default_factory=dict)
    prompt_partials: dict[str, str] = Field(default_factory=dict)
    #: budgets and rate limits as code: `portkey config apply` makes the store match
    budgets: list[BudgetIn] = Field(default_factory=list)
    rate_limits: list[RateLimitIn] = Field(default_factory=list)
    #: the data orchestrator's engines (``/query``, ``/catalog``, ``portkey query``)
    data: DataSettings = DataSettings()

    @model_validator(mode="after")
    def _probes_name_providers(self) -> PortkeyFile:
        for i, probe in enumerate(self.health.probes):
            if probe.provider not in self.providers:
                raise ValueError(
                    f"health.probes[{i}].provider: {probe.provider!r} is not under providers: "
                    f"(known: {', '.join(sorted(self.providers)) or 'none'})"
                )
        return self

    @model_validator(mode="after")
    def _prompts_compile(self) -> PortkeyFile:
        from portkey.prompts.settings import check_prompts

        check_prompts(self.prompts, self.prompt_partials, set(self.configs))
        return self

    @field_validator("default_config")
    @classmethod
    def _known_config(cls, name: str | None, info: ValidationInfo) -> str | None:
        configs = info.data.get("configs")
        if name is not None and configs is not None and name not in configs:
            raise ValueError(f"default_config {name!r} is not in 'configs'")
        return name
