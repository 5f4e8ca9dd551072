"""Check what the admin API and the CLI store against the running config, before storing it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from portkey.config.loader import format_loc, issues_from_validation
from portkey.config.models import PortkeyFile, ProviderEntry
from portkey.config.routing import RoutingConfig
from portkey.control.models import VirtualKeyIn
from portkey.errors import InvalidRequest
from portkey.gateway.compiler import CompileError, compile_config


def _invalid(exc: ValidationError, where: str) -> InvalidRequest:
    issues = issues_from_validation(exc)
    first = issues[0]
    path = f"{where}.{first.path}" if first.path else where
    detail = "; ".join(f"{where}.{i.path}: {i.message}" if i.path else i.message for i in issues)
    return InvalidRequest(f"invalid {where}: {detail}", param=path)


def virtual_key_entry(vk: VirtualKeyIn) -> ProviderEntry:
    """The provider entry a stored virtual key becomes; 400 naming the bad field."""
    data: dict[str, Any] = {"provider": vk.provider, **vk.options}
    if vk.api_key is not None:
        data["api_key"] = vk.api_key.get_secret_value()
    if vk.custom_host:
        data["custom_host"] = vk.custom_host
    try:
        entry = ProviderEntry.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "options") from exc
    try:
        compile_config(RoutingConfig(virtual_key=vk.name), PortkeyFile(providers={vk.name: entry}))
    except CompileError as exc:
        where = "options." + format_loc(exc.loc) if exc.loc else "options"
        raise InvalidRequest(f"virtual key {vk.name!r}: {exc.message}", param=where) from exc
    return entry


def routing_config(body: dict[str, Any], file: PortkeyFile) -> RoutingConfig:
    """A config to store: valid, and compiling against the running providers."""
    try:
        config = RoutingConfig.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc, "config") from exc
    try:
        compile_config(config, file)
    except CompileError as exc:
        where = "config." + format_loc(exc.loc) if exc.loc else "config"
        raise InvalidRequest(f"invalid config: {where}: {exc.message}", param=where) from exc
    return config
