"""The control plane's records, as the admin API and CLI see them (pydantic at the boundary)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from portkey.providers import registry

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Scope = Literal["api_key", "virtual_key", "team"]
LimitScope = Literal["api_key", "virtual_key", "model", "team"]
Period = Literal["day", "month", "total"]
#: bounds that fit both databases' 64-bit integers and doubles with room to add
MAX_COUNT = 2**53
MAX_USD = 1e12


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VirtualKeyIn(Record):
    """A named provider credential: ``virtual_key: <name>`` in a config refers to it."""

    name: str = Field(pattern=NAME_PATTERN, examples=["prod-openai-primary"])
    provider: str = Field(examples=["openai"])
    api_key: SecretStr | None = Field(default=None, description="the provider credential")
    custom_host: str | None = None
    #: provider-specific fields (Azure resource_name/deployment_id, Bedrock aws_region...)
    options: dict[str, str] = Field(default_factory=dict)
    #: models callers may use through this key; empty = any
    models: list[str] = Field(default_factory=list)
    team: str | None = Field(default=None, pattern=NAME_PATTERN)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if registry.get(value) is None:
            raise ValueError(f"unknown provider {value!r}")
        return value


class VirtualKeyUpdate(Record):
    custom_host: str | None = None
    options: dict[str, str] | None = None
    models: list[str] | None = None
    team: str | None = Field(default=None, pattern=NAME_PATTERN)


class Rotation(Record):
    """Rotate a provider credential: the new secret serves at once; the old one stays as a
    fallback (tried on a 401) until ``finish`` drops it."""

    api_key: SecretStr | None = None
    finish: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Rotation:
        if (self.api_key is None) == (not self.finish):
            raise ValueError("give either 'api_key' (start a rotation) or 'finish: true'")
        return self


class VirtualKeyOut(Record):
    name: str
    provider: str
    secret_hint: str
    previous_secret_hint: str | None = None
    custom_host: str | None = None
    options: dict[str, str]
    models: list[str]
    team: str | None
    created_at: float
    updated_at: float


class ApiKeyScopes(Record):
    """What a caller key may use; ``None`` means anything."""

    configs: list[str] | None = None
    virtual_keys: list[str] | None = None
    models: list[str] | None = None


class ApiKeyIn(Record):
    name: str = Field(pattern=NAME_PATTERN)
    team: str | None = Field(default=None, pattern=NAME_PATTERN)
    scopes: ApiKeyScopes = ApiKeyScopes()
    #: merged under the request's x-portkey-metadata (the request wins)
    metadata: dict[str, str] = Field(default_factory=dict)
    expires_at: float | None = Field(default=None, ge=0, le=1e11, description="epoch seconds")


class ApiKeyOut(Record):
    id: str
    name: str
    key_hint: str
    team: str | None
    scopes: ApiKeyScopes
    metadata: dict[str, str]
    expires_at: float | None
    revoked_at: float | None
    created_at: float


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once; only its hash is stored")


class BudgetIn(Record):
    scope: Scope
    target: str = Field(min_length=1, max_length=128)
    period: Period = "month"
    limit_usd: float | None = Field(default=None, gt=0, le=MAX_USD)
    limit_tokens: int | None = Field(default=None, gt=0, le=MAX_COUNT)
    alert_at: float | None = Field(default=0.8, gt=0, le=1, description="soft alert, fraction")

    @model_validator(mode="after")
    def _has_a_limit(self) -> BudgetIn:
        if self.limit_usd is None and self.limit_tokens is None:
            raise ValueError("a budget needs limit_usd and/or limit_tokens")
        return self


class BudgetOut(BudgetIn):
    id: str
    created_at: float
    spent_usd: float = 0.0
    spent_tokens: int = 0
    window_start: float = 0.0


class RateLimitIn(Record):
    scope: LimitScope
    target: str = Field(min_length=1, max_length=128)
    rpm: int | None = Field(default=None, gt=0, le=MAX_COUNT)
    tpm: int | None = Field(default=None, gt=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _has_a_limit(self) -> RateLimitIn:
        if self.rpm is None and self.tpm is None:
            raise ValueError("a rate limit needs rpm and/or tpm")
        return self


class RateLimitOut(RateLimitIn):
    id: str
    created_at: float


class KeyUsage(Record):
    """Requests, tokens and cost of one caller API key on one UTC day."""

    api_key_id: str
    name: str | None
    day: str
    requests: int
    tokens: int
    cost_usd: float


class StoredConfig(Record):
    name: str = Field(pattern=NAME_PATTERN)
    config: dict[str, Any]


class AuditEntry(Record):
    id: str
    at: float
    actor: str
    action: str
    kind: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
