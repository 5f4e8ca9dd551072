"""What a provider is: a frozen spec of data (host, auth, routes, parameter table) plus a format.

A provider module exports ``SPEC: ProviderSpec``. OpenAI-compatible hosts are data only and use
the passthrough ``OPENAI_FORMAT``; translating providers (Anthropic, Gemini, Bedrock...) supply
their own ``WireFormat`` with pure request/response/stream functions. Shared code never
branches on a provider's name: every quirk is a field here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


class AuthScheme(Enum):
    BEARER = "bearer"  # Authorization: Bearer <key>
    API_KEY_HEADER = "api-key"  # api-key: <key> (Azure)
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ProviderOption:
    """A provider-specific target field (e.g. Azure's ``resource_name``)."""

    name: str
    required: bool = False
    default: str | None = None
    doc: str = ""


class StreamTranslator(Protocol):
    """Turns upstream SSE events into OpenAI chat.completion.chunk events (bytes in, bytes out)."""

    def feed(self, event: bytes) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class WireFormat:
    """How requests and responses look on the wire for one API family.

    ``passthrough`` formats forward the client's bytes untouched when nothing was changed.
    """

    name: str
    passthrough: bool
    build_request: Callable[[str, Json], Json] | None = None  # (route, canonical) -> wire
    parse_response: Callable[[str, Json], Json] | None = None  # (route, wire) -> canonical
    stream_translator: Callable[[], StreamTranslator] | None = None


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
    auth: AuthScheme = AuthScheme.BEARER
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
    classify_error: Callable[[int, Json | None, float | None], GatewayError] = classify_openai_error
    docs: str = ""

    def supports(self, route: str) -> bool:
        return route in self.routes
