"""Build the upstream request for one leaf: body bytes (untouched when possible) and headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from portkey.errors import AuthFailed, InvalidRequest
from portkey.gateway.capabilities import refuse_unsupported
from portkey.gateway.compiler import auth_header
from portkey.gateway.ingress import Call
from portkey.gateway.plan import Leaf
from portkey.providers.base import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    ModelProfile,
    ParamAction,
    ParamRule,
)

STREAMED_ROUTES = (CHAT, COMPLETIONS)


class Prepared:
    __slots__ = ("body", "canonical", "headers", "strip_usage", "url")

    def __init__(
        self,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        strip: bool,
        canonical: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.headers = headers
        self.body = body
        #: we asked for streamed usage the client did not ask for: drop that chunk on the way out
        self.strip_usage = strip
        #: the OpenAI-shaped request a translating format was given (its stream decoder needs it)
        self.canonical = canonical


def prepare(leaf: Leaf, call: Call, policy: str) -> Prepared:
    url = leaf.urls.get(call.route)
    if leaf.model_urls is not None:
        model = (leaf.override_params or {}).get("model") or call.body.get("model")
        mapped = leaf.model_urls.get(model) if isinstance(model, str) else None
        if mapped is None and not leaf.urls:
            raise InvalidRequest(
                f"{leaf.virtual_key or leaf.spec.id} maps no deployment for model {model!r} "
                f"(known: {', '.join(sorted(leaf.model_urls))})",
                param="model",
            )
        url = mapped.get(call.route) if mapped is not None else url
    if url is None:
        raise InvalidRequest(
            f"provider {leaf.spec.id} does not support {call.route}", param="provider"
        )
    body: dict[str, Any] | None = None  # a copy, made only when something changes
    if leaf.override_params:
        body = {**call.body, **leaf.override_params}
    profile = _profile(leaf, call, body if body is not None else call.body)
    rules = leaf.spec.embedding_rules if call.route == EMBEDDINGS else profile.params
    if rules:
        body = _apply_param_rules(
            leaf, call, body if body is not None else call.body, policy, rules
        )
    if not leaf.spec.format.passthrough:
        return _translated(leaf, call, body if body is not None else call.body)
    if b'"thinking_blocks"' in call.raw:  # cheap test first: rare, and only Anthropic's
        body = without_thinking_blocks(body if body is not None else call.body)
    strip = False
    if call.stream and call.route in STREAMED_ROUTES and profile.stream_usage:
        source = body if body is not None else call.body
        options = source.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage")):
            body = dict(source)
            body["stream_options"] = {**(options or {}), "include_usage": True}
            strip = True
    raw = call.raw if body is None else orjson.dumps(body)
    return Prepared(url, headers_for(leaf, call), raw, strip)


def without_thinking_blocks(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's signed thinking blocks, sent back in a tool loop, mean nothing to an
    OpenAI-shaped host (and a strict one refuses unknown message fields): leave them out."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    cleaned = [
        {k: v for k, v in m.items() if k != "thinking_blocks"}
        if isinstance(m, dict) and "thinking_blocks" in m
        else m
        for m in messages
    ]
    return {**body, "messages": cleaned}


def _translated(leaf: Leaf, call: Call, canonical: dict[str, Any]) -> Prepared:
    build = leaf.spec.format.build_request
    assert build is not None, f"{leaf.spec.format.name} has no build_request"
    try:
        path, wire = build(call.route, canonical, leaf.options)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"cannot translate the request for {leaf.spec.id}: {exc}", param="messages"
        ) from exc
    url = leaf.spec.build_url(leaf.base_url, path, leaf.options)
    return Prepared(url, headers_for(leaf, call), orjson.dumps(wire), False, canonical)


def _profile(leaf: Leaf, call: Call, body: dict[str, Any]) -> ModelProfile:
    """The model's profile (the model is final here); refuses capabilities it lacks."""
    model = body.get("model")
    profile = leaf.spec.profile(model)
    if profile.unsupported and call.route == CHAT:
        refuse_unsupported(profile, model, body)
    return profile


def _apply_param_rules(
    leaf: Leaf, call: Call, body: dict[str, Any], policy: str, rules: Mapping[str, ParamRule]
) -> dict[str, Any] | None:
    """Rename, drop or reject by ``rules``: the acting ones only (``PASS`` rules are left out)."""
    copied: dict[str, Any] | None = None
    for name, rule in rules.items():
        if name not in body:
            continue
        if rule.action is ParamAction.REJECT or (
            rule.action is ParamAction.DROP and policy == "raise"
        ):
            raise InvalidRequest(
                f"'{name}' is not supported by provider {leaf.spec.id}: {rule.reason}", param=name
            )
        if copied is None:
            copied = dict(body)
        value = copied.pop(name)
        if rule.action is ParamAction.RENAME and rule.target:
            copied[rule.target] = value
        elif policy == "warn":
            call.warnings.append(f"{name} dropped for {leaf.spec.id}: {rule.reason}")
    if copied is not None:
        return copied
    return body if body is not call.body else None


def headers_for(leaf: Leaf, call: Call) -> list[tuple[str, str]]:
    headers = list(leaf.headers)
    if leaf.api_key is None:
        if call.bearer:
            auth = auth_header(leaf.spec, call.bearer)
            if auth:
                headers.append(auth)
        elif leaf.spec.requires_api_key:
            raise AuthFailed(
                f"no API key for provider {leaf.spec.id}: send 'Authorization: Bearer <key>' "
                "or use a virtual key",
                param="authorization",
            )
    if call.span is not None:  # tracing: this request's span is the upstream's parent
        headers.append(("traceparent", call.span.traceparent()))
    elif "traceparent" in call.headers:  # not tracing: pass the caller's context on as is
        headers.append(("traceparent", call.headers["traceparent"]))
    if leaf.forward_headers or call.forward_names:
        own = {name.lower() for name, _ in headers}  # never a second copy of our own headers
        wanted = {*leaf.forward_headers, *call.forward_names} - own
        headers.extend(forwarded(call.raw_headers, {n.encode("latin-1") for n in wanted}))
    return headers


#: never forwarded, whatever the client asks: they belong to this hop or carry our secrets
NOT_FORWARDED = frozenset(
    {b"host", b"content-length", b"content-type", b"connection", b"transfer-encoding"}
)


def forwarded(raw: list[tuple[bytes, bytes]], wanted: set[bytes]) -> list[tuple[str, str]]:
    return [
        (n.decode("latin-1"), v.decode("latin-1"))
        for n, v in raw
        if n in wanted and n not in NOT_FORWARDED and not n.startswith(b"x-portkey-")
    ]
