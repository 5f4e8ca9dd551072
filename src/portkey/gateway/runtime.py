"""The immutable runtime compiled from one portkey.yaml, and the holder a reload swaps."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from portkey.config.loader import ConfigError, format_loc, issues_from_validation, load_file
from portkey.config.models import PortkeyFile, ProviderEntry
from portkey.config.routing import RoutingConfig
from portkey.errors import InvalidRequest
from portkey.gateway.compiler import CompileError, compile_config
from portkey.gateway.plan import Plan

PLAN_CACHE_SIZE = 1024


class PlanCache:
    """A small LRU of compiled plans keyed by the config text (or header tuple)."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self._size = size
        self._plans: OrderedDict[object, Plan] = OrderedDict()

    def get(self, key: object) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None and len(self._plans) > self._size // 2:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: object, plan: Plan) -> None:
        self._plans[key] = plan
        if len(self._plans) > self._size:
            self._plans.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Overlay:
    """Virtual keys and configs from the control plane's store; they win over the file's."""

    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)
    configs: Mapping[str, RoutingConfig] = field(default_factory=dict)


@dataclass(slots=True)
class Runtime:
    """Everything a request needs from config, compiled once. Replaced whole on reload."""

    file: PortkeyFile
    source: str
    named: dict[str, Plan]
    default: Plan | None
    plans: PlanCache = field(default_factory=PlanCache)
    #: the file as loaded, before the store's overlay (a store change rebuilds from it)
    base: PortkeyFile | None = None

    @classmethod
    def build(
        cls, file: PortkeyFile, source: str = "<defaults>", overlay: Overlay | None = None
    ) -> Runtime:
        base = file
        if overlay is not None and (overlay.providers or overlay.configs):
            file = file.model_copy(
                update={
                    "providers": {**file.providers, **overlay.providers},
                    "configs": {**file.configs, **overlay.configs},
                }
            )
        named = {
            name: replace(compile_config(cfg, file), name=name)
            for name, cfg in file.configs.items()
        }
        default = named[file.default_config] if file.default_config else None
        return cls(file=file, source=source, named=named, default=default, base=base)

    @classmethod
    def from_path(cls, path: str | Path | None) -> Runtime:
        if path is None:
            return cls.build(PortkeyFile())
        return cls.build(load_file(path), str(path))

    def inline_plan(self, text: str) -> Plan:
        """The plan for an ``x-portkey-config`` header: a config id, or inline JSON."""
        plan = self.plans.get(text)
        if plan is not None:
            return plan
        stripped = text.strip()
        if not stripped.startswith(("{", "[")):  # a JSON array is a bad inline config, not an id
            named = self.named.get(stripped)
            if named is None:
                raise InvalidRequest(
                    f"x-portkey-config: no config named {stripped!r} in {self.source}",
                    param="x-portkey-config",
                )
            return named
        plan = self.compile_json(stripped)
        self.plans.put(text, plan)
        return plan

    def compile_json(self, text: str) -> Plan:
        from portkey.gateway.ingress import json_object

        return self.compile_data(json_object(text, "x-portkey-config", "x-portkey-config"))

    def compile_data(self, data: dict[str, object]) -> Plan:
        try:
            config = RoutingConfig.model_validate(data)
            return compile_config(config, self.file)
        except ValidationError as exc:
            issues = issues_from_validation(exc)
            first = issues[0]
            detail = "; ".join(
                f"config.{i.path}: {i.message}" if i.path else f"config: {i.message}"
                for i in issues
            )
            raise InvalidRequest(
                f"invalid config: {detail}",
                param=f"config.{first.path}" if first.path else "config",
            ) from exc
        except CompileError as exc:
            where = "config." + format_loc(exc.loc) if exc.loc else "config"
            raise InvalidRequest(f"invalid config: {where}: {exc.message}", param=where) from exc


class RuntimeHolder:
    """Holds the current runtime; a request reads ``current`` once and keeps that object."""

    def __init__(self, runtime: Runtime, path: str | Path | None = None) -> None:
        self.current = runtime
        self.path = Path(path) if path else None
        self.overlay: Overlay | None = None

    def reload(self) -> Runtime:
        """Load the file again; on any error keep the old runtime and raise ConfigError."""
        if self.path is None:
            return self.current
        runtime = Runtime.build(load_file(self.path), str(self.path), self.overlay)
        self.current = runtime
        return runtime

    def set_overlay(self, overlay: Overlay) -> Runtime:
        """Rebuild from the same file with the store's current state (raises CompileError)."""
        current = self.current
        runtime = Runtime.build(current.base or current.file, current.source, overlay)
        self.overlay = overlay
        self.current = runtime
        return runtime


__all__ = ["ConfigError", "Overlay", "PlanCache", "Runtime", "RuntimeHolder"]
