"""What a provider is: a frozen spec of data (host, auth, routes, parameter table) plus a format.

A provider module exports ``SPEC: ProviderSpec``. OpenAI-compatible hosts are data only and use
the passthrough ``OPENAI_FORMAT``; translating providers (Anthropic, Gemini, Bedrock...) supply
their own ``WireFormat`` with pure request/response/stream functions. Shared code never
branches on a provider's name: every quirk is a field here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)

Json = dict[str, Any]

#: Route kinds the ingress knows; a provider maps each one it supports to a path.
CHAT = "chat"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"
MODELS = "models"

OPENAI_ROUTES: Mapping[str, str] = {
    CHAT: "/chat/completions",
    COMPLETIONS: "/completions",
    EMBEDDINGS: "/embeddings",
    MODELS: "/models",
}


class ParamAction(Enum):
    PASS = "pass"
    RENAME = "rename"
    DROP = "drop"  # removed, reported in x-portkey-warnings
    REJECT = "reject"  # 400 naming the parameter and provider


@dataclass(frozen=True, slots=True)
class ParamRule:
    action: ParamAction
    target: str | None = None
    reason: str = ""


def rename(target: str) -> ParamRule:
    return ParamRule(ParamAction.RENAME, target)


def drop(reason: str = "not supported") -> ParamRule:
    return ParamRule(ParamAction.DROP, reason=reason)


def reject(reason: str = "not supported") -> ParamRule:
    return ParamRule(ParamAction.REJECT, reason=reason)


@dataclass(frozen=True, slots=True)
class Auth:
    """How a provider key travels: ``<header>: <prefix><key>``."""

    header: str
    prefix: str = ""

    def pair(self, api_key: str) -> tuple[str, str]:
        return (self.header, self.prefix + api_key)


class AuthScheme:
    BEARER = Auth("Authorization", "Bearer ")
    API_KEY_HEADER = Auth("api-key")  # Azure OpenAI
    X_API_KEY = Auth("x-api-key")  # Anthropic
    NONE: Auth | None = None


@dataclass(frozen=True, slots=True)
class ProviderOption:
    """A provider-specific target field (e.g. Azure's ``resource_name``)."""

    name: str
    required: bool = False
    default: str | None = None
    doc: str = ""


class StreamDecoder(Protocol):
    """Turns an upstream's streamed bytes into OpenAI SSE events (``data: {chunk}\n\n``).

    ``feed`` takes raw bytes as they arrive (any framing: SSE, AWS event-stream, JSON lines)
    and returns whole OpenAI events, possibly none. It emits ``data: [DONE]`` only when the
    upstream said the answer is complete; ``close`` flushes at the end of the body, so a
    stream cut short never ends in ``[DONE]`` and the gateway reports it honestly.
    """

    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class WireFormat:
    """How requests and responses look on the wire for one API family.

    ``passthrough`` formats (OpenAI's) forward the client's bytes untouched when nothing
    changed. Translating formats give three pure functions over plain dicts:

    * ``build_request(route, canonical, options) -> (path, wire_body)``: the path (with any
      query) is joined to the provider's base URL; it may depend on model and ``stream``.
    * ``parse_response(route, wire_body) -> canonical``: an OpenAI-shaped answer.
    * ``stream_decoder(route, canonical) -> StreamDecoder``: one per streamed request.
    """

    name: str
    passthrough: bool
    build_request: Callable[[str, Json, Mapping[str, str]], tuple[str, Json]] | None = None
    parse_response: Callable[[str, Json], Json] | None = None
    stream_decoder: Callable[[str, Json], StreamDecoder] | None = None


@dataclass(frozen=True, slots=True)
class SignRequest:
    """What a signing hook sees (SigV4, OAuth tokens, key-pair JWTs)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    api_key: str | None
    options: Mapping[str, str]


#: async hook returning the auth headers for one upstream request
Signer = Callable[[SignRequest], Awaitable[list[tuple[str, str]]]]


OPENAI_FORMAT = WireFormat(name="openai", passthrough=True)


def classify_openai_error(
    status: int, body: Json | None, retry_after: float | None
) -> GatewayError:
    """Map an OpenAI-shaped error answer onto the taxonomy; the default classifier."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or f"upstream answered {status}")
        code = str(err.get("code") or err.get("type") or "")
    else:
        message, code = f"upstream answered {status}", ""
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=429, code=code or None)
    if status in (401, 403):
        return AuthFailed(message, status=status, code=code or None)
    if status == 408:
        return UpstreamTimeout(message, status=408)
    if code == "context_length_exceeded":
        return ContextWindowExceeded(message, status=status, code=code)
    if code == "content_filter":
        return ContentFiltered(message, status=status, code=code)
    return UpstreamError(message, status=status, code=code or None)


UrlBuilder = Callable[[str, str, Mapping[str, str]], str]  # (base, route path, options) -> url


def join_url(base: str, path: str, options: Mapping[str, str]) -> str:
    return base.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Everything the gateway needs to call one host. Pure data; build once, share freely."""

    id: str
    base_url: str
    auth: Auth | None = AuthScheme.BEARER
    #: replaces ``auth`` when set: computes auth headers per request (may cache tokens)
    sign: Signer | None = None
    routes: Mapping[str, str] = field(default_factory=lambda: OPENAI_ROUTES)
    format: WireFormat = OPENAI_FORMAT
    params: Mapping[str, ParamRule] = field(default_factory=dict)
    options: tuple[ProviderOption, ...] = ()
    #: ``base_url`` may hold ``{option}`` placeholders, filled from target options.
    build_url: UrlBuilder = join_url
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    #: The upstream honours ``stream_options.include_usage`` (usage in the last chunk).
    stream_usage: bool = True
    requires_api_key: bool = True
    #: capabilities this provider explicitly lacks (conformance suite opt-outs), e.g. "vision"
    unsupported: frozenset[str] = frozenset()
    classify_error: Callable[[int, Json | None, float | None], GatewayError] = classify_openai_error
    docs: str = ""

    def supports(self, route: str) -> bool:
        return route in self.routes
