"""Compile a validated config object into an immutable ``Plan`` (done once per distinct config).

Inheritance: a child inherits every option its parents set and wins where it sets its own.
``override_params`` merge key by key. Credentials (api_key, custom_host, provider options)
travel as one bundle: a child that names its own ``provider`` or ``virtual_key`` starts a
fresh bundle, so a parent's OpenAI key is never sent to another provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portkey.config.models import PortkeyFile, ServerSettings
from portkey.config.routing import Target
from portkey.gateway.plan import (
    DEFAULT_RETRY_STATUSES,
    Group,
    Leaf,
    Node,
    Plan,
    RetryPolicy,
    leaves,
)
from portkey.gateway.strategies import STRATEGIES, StrategyConfigError
from portkey.guardrails.compile import GUARD_FIELDS, compile_guard, named_hooks
from portkey.providers import registry
from portkey.providers.base import ProviderSpec

Loc = tuple[str | int, ...]
CREDENTIALS = ("provider", "api_key", "virtual_key", "custom_host", "options")
INHERITED = (
    "retry",
    "cache",
    "request_timeout",
    "first_token_timeout",
    "stream_idle_timeout",
    "forward_headers",
    *GUARD_FIELDS,
)


class CompileError(ValueError):
    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True, slots=True)
class Context:
    providers: Mapping[str, Target]
    server: ServerSettings
    guardrails: Mapping[str, Any]  # id -> compiled guardrails.spec.Hook


def compile_config(config: Target, file: PortkeyFile | None = None) -> Plan:
    ctx = Context(
        providers=file.providers if file else {},
        server=file.server if file else ServerSettings(),
        guardrails=named_hooks(file.guardrails) if file else {},
    )
    node = _compile(config, {}, "config", (), ctx)
    model_optional = all(leaf.sets_model for leaf in leaves(node))
    return Plan(root=node, model_optional=model_optional)


def _own_options(target: Target, loc: Loc, ctx: Context) -> dict[str, Any]:
    """The options a target sets itself, with its virtual key expanded underneath them."""
    own: dict[str, Any] = {}
    if target.virtual_key is not None:
        entry = ctx.providers.get(target.virtual_key)
        if entry is None:
            raise CompileError((*loc, "virtual_key"), f"unknown virtual key {target.virtual_key!r}")
        own.update(_set_fields(entry))
    own.update(_set_fields(target))
    return own


def _set_fields(target: Target) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (*CREDENTIALS[:4], *INHERITED, "override_params"):
        value = getattr(target, key)
        if value is not None:
            out[key] = value
    if target.model_extra:
        out["options"] = target.provider_options()
    return out


def _inherit(parent: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    merged = dict(parent)
    if "provider" in own or "virtual_key" in own:
        for key in CREDENTIALS:
            merged.pop(key, None)
    for key, value in own.items():
        if (key == "override_params" and "override_params" in merged) or (
            key == "options" and "options" in merged
        ):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _compile(target: Target, parent: dict[str, Any], path: str, loc: Loc, ctx: Context) -> Node:
    opts = _inherit(parent, _own_options(target, loc, ctx))
    weight = 1.0 if target.weight is None else target.weight
    if target.strategy is None:
        return _leaf(target, opts, weight, path, loc, ctx)
    children = tuple(
        _compile(child, opts, f"{path}.targets[{i}]", (*loc, "targets", i), ctx)
        for i, child in enumerate(target.targets or ())
    )
    names = {c.name: i for i, c in enumerate(target.targets or ()) if c.name is not None}
    try:
        strategy = STRATEGIES[target.strategy.mode].build(target.strategy, names, children)
    except StrategyConfigError as exc:
        raise CompileError((*loc, "strategy", *exc.loc), exc.message) from exc
    return Group(path=path, name=target.name, weight=weight, strategy=strategy, children=children)


def _leaf(
    target: Target, opts: dict[str, Any], weight: float, path: str, loc: Loc, ctx: Context
) -> Leaf:
    provider_id = opts.get("provider")
    if provider_id is None:
        raise CompileError(loc, "a target needs 'provider' or 'virtual_key' (here or in a parent)")
    spec = registry.get(provider_id)
    if spec is None:
        raise CompileError((*loc, "provider"), f"unknown provider {provider_id!r}")
    options = _provider_options(spec, opts.get("options", {}), opts.get("custom_host"), loc)
    base = opts.get("custom_host") or spec.base_url
    model_urls = _model_urls(spec, base, options, loc)
    try:
        urls = (
            {route: spec.build_url(base, p, options) for route, p in spec.routes.items()}
            if model_urls is None or spec.per_model_option[1] in options  # type: ignore[index]
            else {}
        )
    except (KeyError, IndexError) as exc:
        raise CompileError(loc, f"{provider_id}: missing option {exc}") from exc
    api_key = opts.get("api_key")
    if api_key is not None and not api_key.isprintable():  # never show the key itself
        raise CompileError((*loc, "api_key"), "api_key holds a control character (a newline?)")
    retry = opts.get("retry")
    server = ctx.server
    first_token = opts.get("first_token_timeout") or server.stream_first_token_timeout_ms
    return Leaf(
        path=path,
        name=target.name,
        weight=weight,
        spec=spec,
        api_key=api_key,
        urls=urls,
        base_url=base,
        options=options,
        headers=static_headers(spec, api_key),
        override_params=opts.get("override_params"),
        retry=_retry_policy(retry),
        timeout_s=(opts.get("request_timeout") or server.request_timeout_ms) / 1000,
        first_token_timeout_s=first_token / 1000 if first_token else None,
        idle_timeout_s=(opts.get("stream_idle_timeout") or server.stream_idle_timeout_ms) / 1000,
        forward_headers=tuple(h.lower() for h in opts.get("forward_headers") or ()),
        cache=opts["cache"].model_dump() if opts.get("cache") else None,
        virtual_key=opts.get("virtual_key"),
        model_urls=model_urls,
        guard=_guard(opts, loc, ctx),
    )


def _guard(opts: Mapping[str, Any], loc: Loc, ctx: Context) -> Any:
    try:
        return compile_guard(opts, ctx.guardrails)
    except (LookupError, ValueError) as exc:
        field, _, message = str(exc).partition(": ")
        raise CompileError((*loc, field), message.strip("'\"")) from exc


def _model_urls(
    spec: ProviderSpec, base: str, options: dict[str, str], loc: Loc
) -> dict[str, dict[str, str]] | None:
    """Per-model URLs when the target maps models to, e.g., Azure deployments."""
    if spec.per_model_option is None or spec.per_model_option[0] not in options:
        return None
    map_name, option = spec.per_model_option
    urls: dict[str, dict[str, str]] = {}
    for item in options[map_name].split(","):
        model, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not model or not value:
            raise CompileError((*loc, map_name), f"{item.strip()!r} is not model=value")
        chosen = {**options, option: value}
        urls[model] = {r: spec.build_url(base, p, chosen) for r, p in spec.routes.items()}
    return urls


def _provider_options(
    spec: ProviderSpec, given: Mapping[str, str], custom_host: str | None, loc: Loc
) -> dict[str, str]:
    declared = {opt.name: opt for opt in spec.options}
    for name in given:
        if name not in declared:
            raise CompileError((*loc, name), f"{spec.id} has no option {name!r}")
    options: dict[str, str] = {}
    for opt in spec.options:
        value = given.get(opt.name, opt.default)
        placeholder = "{" + opt.name + "}" in spec.base_url
        mapped = spec.per_model_option is not None and (
            spec.per_model_option[1] == opt.name and spec.per_model_option[0] in given
        )
        if value is None and not mapped and (opt.required or (placeholder and not custom_host)):
            raise CompileError((*loc, opt.name), f"{spec.id} needs '{opt.name}' ({opt.doc})")
        if value is not None:
            options[opt.name] = value
    return options


def _retry_policy(retry: Any) -> RetryPolicy:
    if retry is None:
        return RetryPolicy()
    codes = frozenset(retry.on_status_codes) if retry.on_status_codes else DEFAULT_RETRY_STATUSES
    return RetryPolicy(
        attempts=retry.attempts,
        on_status_codes=codes,
        use_retry_after=retry.use_retry_after_header or retry.use_retry_after_headers,
    )


def auth_header(spec: ProviderSpec, api_key: str) -> tuple[str, str] | None:
    if spec.auth is None or spec.sign is not None:
        return None
    return spec.auth.pair(api_key)


def static_headers(spec: ProviderSpec, api_key: str | None) -> tuple[tuple[str, str], ...]:
    headers = [("Content-Type", "application/json"), *spec.extra_headers.items()]
    if api_key:
        auth = auth_header(spec, api_key)
        if auth:
            headers.append(auth)
    return tuple(headers)
