"""The Portkey config object (strategy tree) as strict, frozen pydantic models.

This is the shape of the ``x-portkey-config`` header and of ``configs:`` in portkey.yaml,
kept compatible with Portkey's public gateway: ``strategy {mode, on_status_codes, conditions,
default}``, recursive ``targets``, ``weight``, ``retry``, ``request_timeout`` (ms),
``override_params``, ``custom_host``, ``cache`` ... Unknown keys are errors, except the
provider-specific fields that some registered provider declares (e.g. Azure's
``deployment_id``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portkey.providers import registry

OPERATORS = frozenset(
    {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$regex", "$and", "$or"}
)
QUERY_ROOTS = ("metadata.", "params.", "url.")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(Strict):
    attempts: int = Field(default=0, ge=0, le=10)
    on_status_codes: list[int] | None = None
    use_retry_after_header: bool = False
    use_retry_after_headers: bool = False  # Portkey accepts both spellings

    @field_validator("on_status_codes")
    @classmethod
    def _valid_statuses(cls, v: list[int] | None) -> list[int] | None:
        for code in v or ():
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code")
        return v


class Cache(Strict):
    mode: str = Field(default="simple", pattern="^(simple|semantic)$")
    max_age: int | None = Field(default=None, ge=0)


class Condition(Strict):
    query: dict[str, Any]
    then: str

    @field_validator("query")
    @classmethod
    def _valid_query(cls, q: dict[str, Any]) -> dict[str, Any]:
        check_query(q)
        return q


def check_query(query: Any, where: str = "query") -> None:
    """Reject unknown operators, fields outside metadata/params/url, and bad regexes."""
    if not isinstance(query, dict):
        raise ValueError(f"{where} must be an object")
    for key, value in query.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{where}.{key} must be a non-empty list of queries")
            for i, sub in enumerate(value):
                check_query(sub, f"{where}.{key}[{i}]")
        elif key.startswith("$"):
            raise ValueError(f"{where}: unknown operator {key!r} at top level")
        elif not key.startswith(QUERY_ROOTS):
            raise ValueError(f"{where}: field {key!r} must start with metadata., params. or url.")
        elif isinstance(value, dict):
            _check_operators(value, f"{where}.{key}")


def _check_operators(ops: dict[str, Any], where: str) -> None:
    for op, operand in ops.items():
        if op not in OPERATORS or op in ("$and", "$or"):
            raise ValueError(f"{where}: unknown operator {op!r}")
        if op in ("$in", "$nin") and not isinstance(operand, list):
            raise ValueError(f"{where}.{op} needs a list")
        if op == "$regex":
            if not isinstance(operand, str):
                raise ValueError(f"{where}.$regex needs a string")
            try:
                re.compile(operand)
            except re.error as exc:
                raise ValueError(f"{where}.$regex is not a valid regex: {exc}") from exc


class Strategy(Strict):
    mode: str
    on_status_codes: list[int] | None = None
    conditions: list[Condition] | None = None
    default: str | None = None

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        from portkey.gateway.strategies import STRATEGIES

        if mode not in STRATEGIES:
            raise ValueError(
                f"unknown strategy mode {mode!r}; expected one of {sorted(STRATEGIES)}"
            )
        return mode


class Target(BaseModel):
    """One node of the tree: a provider call (leaf) or a group with its own strategy.

    Every field a parent sets is inherited by its children; the child wins.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | None = None
    provider: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    virtual_key: str | None = None
    custom_host: str | None = None
    weight: float | None = Field(default=None, ge=0)
    override_params: dict[str, Any] | None = None
    retry: Retry | None = None
    cache: Cache | None = None
    request_timeout: int | None = Field(default=None, gt=0, description="milliseconds")
    first_token_timeout: int | None = Field(default=None, gt=0, description="ms, streams")
    stream_idle_timeout: int | None = Field(default=None, gt=0, description="ms, streams")
    forward_headers: list[str] | None = None
    #: guardrails (Portkey hooks): ids of ``guardrails:`` entries or inline definitions
    input_guardrails: list[str | dict[str, Any]] | None = None
    output_guardrails: list[str | dict[str, Any]] | None = None
    before_request_hooks: list[str | dict[str, Any]] | None = None
    after_request_hooks: list[str | dict[str, Any]] | None = None
    strategy: Strategy | None = None
    targets: list[Target] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Target:
        extra = set(self.model_extra or ())
        unknown = extra - registry.option_names()
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        for key in extra:
            if not isinstance((self.model_extra or {})[key], str):
                raise ValueError(f"{key} must be a string")
        if self.targets is not None and self.strategy is None:
            raise ValueError("'targets' needs a 'strategy' (mode: single|fallback|loadbalance|...)")
        if self.strategy is not None and not self.targets:
            raise ValueError("'strategy' needs a non-empty 'targets' list")
        return self

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str | None) -> str | None:
        if provider is not None and registry.get(provider) is None:
            known = ", ".join(registry.provider_ids())
            raise ValueError(f"unknown provider {provider!r}; known: {known}")
        return provider

    @field_validator("custom_host")
    @classmethod
    def _http_url(cls, host: str | None) -> str | None:
        """Refuse at load time what the transport would only refuse per request (as a 502)."""
        if host is None:
            return host
        try:
            parts = urlsplit(host)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            ok = ok and (parts.port is None or parts.port > 0)
        except ValueError:  # a port out of range, a broken IPv6 literal
            ok = False
        if not ok or not host.isprintable() or " " in host:
            shown = re.sub(r"//[^/@]*@", "//***@", host)  # never echo credentials in a URL
            raise ValueError(f"custom_host must be an http(s) URL, got {shown!r}")
        return host

    @field_validator("forward_headers")
    @classmethod
    def _header_names(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return names

    @field_validator(
        "input_guardrails", "output_guardrails", "before_request_hooks", "after_request_hooks"
    )
    @classmethod
    def _inline_guardrails(
        cls, refs: list[str | dict[str, Any]] | None
    ) -> list[str | dict[str, Any]] | None:
        from portkey.guardrails.spec import parse_hook

        for i, ref in enumerate(refs or ()):
            if isinstance(ref, dict):
                try:
                    parse_hook(ref, "inline")
                except ValueError as exc:
                    raise ValueError(f"[{i}]: {exc}") from exc
        return refs

    def provider_options(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class RoutingConfig(Target):
    """The top of the tree; same fields as a target."""
