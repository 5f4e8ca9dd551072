"""What a provider is: frozen data (host, auth, routes, params, model families) plus a format.

A provider module exports ``SPEC: ProviderSpec``. OpenAI-compatible hosts are data only and use
the passthrough ``OPENAI_FORMAT``; translating providers (Anthropic, Gemini, Bedrock...) supply
their own ``WireFormat`` with pure request/response/stream functions. Shared code never
branches on a provider's name: every quirk is a field here.
"""

from __future__ import annotations

import re
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
#: hosts with OpenAI's chat API and model list only (no embeddings, no legacy completions)
CHAT_AND_MODELS: Mapping[str, str] = {CHAT: OPENAI_ROUTES[CHAT], MODELS: OPENAI_ROUTES[MODELS]}


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


def acting(table: Mapping[str, ParamRule]) -> dict[str, ParamRule]:
    """The rules of ``table`` that change a request; ``PASS`` rules only document a field."""
    return {name: rule for name, rule in table.items() if rule.action is not ParamAction.PASS}


#: Capabilities a provider or model family may lack (``unsupported`` on either). A request that
#: uses one the chosen model lacks is refused with a 400 naming the parameter, except
#: ``streamed_usage``, which only stops the gateway asking for usage in the last chunk.
TOOLS = "tools"
VISION = "vision"
JSON_SCHEMA = "json_schema"
STREAMED_USAGE = "streamed_usage"
PREFILL = "prefill"  # a trailing assistant message the model continues
REASONING = "reasoning"  # reasoning_effort, or a thinking object that turns it on
CAPABILITIES = frozenset({TOOLS, VISION, JSON_SCHEMA, STREAMED_USAGE, PREFILL, REASONING})


@dataclass(frozen=True, slots=True)
class ModelFamily:
    """Models of one provider that differ from its defaults, matched by name.

    A model belongs to the family when its name starts with one of ``prefixes`` or
    ``pattern`` matches at its start. ``params`` overrides the provider's rule of the same
    name; ``unsupported`` adds to the provider's missing capabilities and ``supported`` takes
    some away; ``stream_usage`` replaces the provider's when set.
    """

    name: str
    prefixes: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    params: Mapping[str, ParamRule] = field(default_factory=dict)
    unsupported: frozenset[str] = frozenset()
    supported: frozenset[str] = frozenset()
    stream_usage: bool | None = None
    docs: str = ""

    def matches(self, model: str) -> bool:
        if model.startswith(self.prefixes):
            return True
        return self.pattern is not None and self.pattern.match(model) is not None


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What the gateway does for one model of one provider: parameter rules and capability gaps."""

    provider: str
    family: str | None  # None: the provider's defaults
    params: Mapping[str, ParamRule]  # the chat rules that change a request (no PASS rules)
    unsupported: frozenset[str]
    stream_usage: bool


#: models remembered per provider; past this the oldest is forgotten (model names come from
#: clients, so the memo must not grow without bound)
PROFILE_MEMO_SIZE = 1024


def resolve_profile(spec: ProviderSpec, model: str) -> ModelProfile:
    """The first family of ``spec`` that ``model`` belongs to, over the provider's defaults."""
    for family in spec.families:
        if family.matches(model):
            unsupported = (spec.unsupported - family.supported) | family.unsupported
            usage = spec.stream_usage if family.stream_usage is None else family.stream_usage
            params = acting({**spec.params, **family.params})
            return ModelProfile(
                spec.id,
                family.name,
                params,
                unsupported,
                usage and STREAMED_USAGE not in unsupported,
            )
    usage = spec.stream_usage and STREAMED_USAGE not in spec.unsupported
    return ModelProfile(spec.id, None, acting(spec.params), spec.unsupported, usage)


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

    A format whose provider has a ``MODELS`` route that is not OpenAI's gives
    ``parse_models(wire_page) -> {"object": "list", "data": [...]}`` and, when the list is
    paged, ``models_next_page(wire_page) -> query parameters of the next page`` (None: last).
    """

    name: str
    passthrough: bool
    build_request: Callable[[str, Json, Mapping[str, str]], tuple[str, Json]] | None = None
    parse_response: Callable[[str, Json], Json] | None = None
    stream_decoder: Callable[[str, Json], StreamDecoder] | None = None
    parse_models: Callable[[Json], Json] | None = None
    models_next_page: Callable[[Json], Mapping[str, str] | None] | None = None


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
    #: a rule for every chat request field (``_params.OPENAI_CHAT_FIELDS``); every route but
    #: embeddings applies it
    params: Mapping[str, ParamRule] = field(default_factory=dict)
    #: a rule for every embeddings request field, when the provider serves embeddings
    embedding_params: Mapping[str, ParamRule] = field(default_factory=dict)
    options: tuple[ProviderOption, ...] = ()
    #: ``base_url`` may hold ``{option}`` placeholders, filled from target options.
    build_url: UrlBuilder = join_url
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    #: The upstream honours ``stream_options.include_usage`` (usage in the last chunk).
    stream_usage: bool = True
    requires_api_key: bool = True
    #: capabilities (``CAPABILITIES``) this provider lacks for every model, e.g. ``VISION``;
    #: the conformance suite skips the checks that need them
    unsupported: frozenset[str] = frozenset()
    #: models that differ from the defaults above; the first family a model matches wins
    families: tuple[ModelFamily, ...] = ()
    classify_error: Callable[[int, Json | None, float | None], GatewayError] = classify_openai_error
    #: ``(map option, option)``: the map option (``"model=value,..."``) sets ``option`` per
    #: request model, e.g. Azure's deployments map sets ``deployment_id``
    per_model_option: tuple[str, str] | None = None
    #: a response header naming the error's class (Bedrock: ``x-amzn-ErrorType``); when the
    #: upstream sends it, ``classify_error`` finds its value in the body's ``__type``
    error_type_header: str | None = None
    docs: str = ""

    _profiles: dict[str, ModelProfile] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: the rules of ``embedding_params`` that change a request, computed once
    embedding_rules: Mapping[str, ParamRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "embedding_rules", acting(self.embedding_params))

    def supports(self, route: str) -> bool:
        return route in self.routes

    def profile(self, model: object) -> ModelProfile:
        """The profile for ``model`` (a dict lookup once seen; families are scanned once)."""
        key = model if self.families and isinstance(model, str) else ""
        found = self._profiles.get(key)
        if found is None:
            found = resolve_profile(self, key)
            if len(self._profiles) >= PROFILE_MEMO_SIZE:
                self._profiles.pop(next(iter(self._profiles)), None)
            self._profiles[key] = found
        return found
