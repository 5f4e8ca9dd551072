"""Config as code: the difference between portkey.yaml (in git) and the store, and applying it.

Desired state is the file's ``providers`` (stored as virtual keys; secrets from ``${ENV}``),
``configs``, ``budgets`` and ``rate_limits``; actual state is the store. Budgets and rate
limits have no names: a budget is known by (scope, target, period), a limit by (scope,
target). Secrets are compared in memory and never printed: a change shows as "secret".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from portkey.config.models import PortkeyFile, ProviderEntry
from portkey.control.models import (
    BudgetIn,
    RateLimitIn,
    Rotation,
    StoredConfig,
    VirtualKeyIn,
    VirtualKeyUpdate,
)
from portkey.control.store import ControlStore
from portkey.errors import InvalidRequest

ACTOR = "config-apply"
#: provider-entry fields a stored virtual key can hold (others belong in configs)
STORABLE = frozenset({"provider", "api_key", "custom_host", "models"})


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # virtual_key | config | budget | rate_limit
    name: str
    action: str  # create | update | delete
    fields: tuple[str, ...] = ()
    desired: Any = field(default=None, repr=False, compare=False)
    current_id: str | None = None

    def describe(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{sign} {self.kind} {self.name}{detail}"


def virtual_key_of(name: str, entry: ProviderEntry) -> VirtualKeyIn:
    extra = [
        k for k in entry.model_fields_set if k not in STORABLE and getattr(entry, k) is not None
    ]
    if extra:
        raise InvalidRequest(
            f"providers.{name}: {', '.join(sorted(extra))} cannot be stored in a virtual key "
            "(put routing options in a config)",
            param=f"providers.{name}",
        )
    return VirtualKeyIn(
        name=name,
        provider=str(entry.provider),
        api_key=SecretStr(entry.api_key) if entry.api_key else None,
        custom_host=entry.custom_host,
        options=entry.provider_options(),
        models=list(entry.models or []),
    )


def config_body(file: PortkeyFile, name: str) -> dict[str, Any]:
    return file.configs[name].model_dump(mode="json", exclude_none=True, exclude_unset=True)


def plan(file: PortkeyFile, store: ControlStore) -> list[Change]:
    """What ``apply`` would change, in order: creates and updates first, deletes last."""
    return [
        *_vk_changes(file, store),
        *_config_changes(file, store),
        *_budget_changes(file, store),
        *_limit_changes(file, store),
    ]


def _vk_changes(file: PortkeyFile, store: ControlStore) -> list[Change]:
    current = {vk.name: vk for vk in store.list_virtual_keys()}
    secrets = {c.name: c.api_key for c in store.credentials()}
    changes = []
    for name, entry in file.providers.items():
        want = virtual_key_of(name, entry)
        have = current.get(name)
        if have is None:
            changes.append(Change("virtual_key", name, "create", desired=want))
            continue
        fields = [
            f
            for f, a, b in (
                ("provider", want.provider, have.provider),
                ("custom_host", want.custom_host, have.custom_host),
                ("options", want.options, have.options),
                ("models", want.models, have.models),
            )
            if a != b
        ]
        wanted_secret = want.api_key.get_secret_value() if want.api_key else None
        if wanted_secret != secrets.get(name):
            fields.append("secret")
        if fields:
            changes.append(Change("virtual_key", name, "update", tuple(fields), want))
    changes += [Change("virtual_key", n, "delete") for n in current if n not in file.providers]
    return changes


def _config_changes(file: PortkeyFile, store: ControlStore) -> list[Change]:
    current = {c.name: c.config for c in store.list_configs()}
    changes = []
    for name in file.configs:
        body = config_body(file, name)
        if name not in current:
            changes.append(Change("config", name, "create", desired=body))
        elif current[name] != body:
            changes.append(Change("config", name, "update", ("body",), body))
    changes += [Change("config", n, "delete") for n in current if n not in file.configs]
    return changes


def _budget_changes(file: PortkeyFile, store: ControlStore) -> list[Change]:
    current = {(b.scope, b.target, b.period): b for b in store.list_budgets()}
    wanted = {(b.scope, b.target, b.period): b for b in file.budgets}
    changes = []
    for ident, want in wanted.items():
        name = "/".join(ident)
        have = current.get(ident)
        if have is None:
            changes.append(Change("budget", name, "create", desired=want))
            continue
        fields = tuple(
            f
            for f in ("limit_usd", "limit_tokens", "alert_at")
            if getattr(want, f) != getattr(have, f)
        )
        if fields:
            changes.append(Change("budget", name, "update", fields, want, have.id))
    changes += [
        Change("budget", "/".join(i), "delete", current_id=b.id)
        for i, b in current.items()
        if i not in wanted
    ]
    return changes


def _limit_changes(file: PortkeyFile, store: ControlStore) -> list[Change]:
    current = {(r.scope, r.target): r for r in store.list_rate_limits()}
    wanted = {(r.scope, r.target): r for r in file.rate_limits}
    changes = []
    for ident, want in wanted.items():
        name = "/".join(ident)
        have = current.get(ident)
        if have is None:
            changes.append(Change("rate_limit", name, "create", desired=want))
            continue
        fields = tuple(f for f in ("rpm", "tpm") if getattr(want, f) != getattr(have, f))
        if fields:
            changes.append(Change("rate_limit", name, "update", fields, want, have.id))
    changes += [
        Change("rate_limit", "/".join(i), "delete", current_id=r.id)
        for i, r in current.items()
        if i not in wanted
    ]
    return changes


def check(changes: list[Change]) -> None:
    """Refuse before writing anything: a virtual key to store without its secret."""
    for change in changes:
        want = change.desired
        if change.kind == "virtual_key" and change.action != "delete" and want.api_key is None:
            raise InvalidRequest(
                f"providers.{change.name}.api_key is empty: set the environment variable its "
                "${...} reference names",
                param=f"providers.{change.name}.api_key",
            )


def apply(
    store: ControlStore,
    changes: list[Change],
    delete: bool = True,
    progress: Callable[[Change], None] | None = None,
) -> int:
    """Make the store match; returns how many changes were made (each one audited)."""
    check(changes)
    done = 0
    for change in changes:
        if change.action == "delete" and not delete:
            continue
        _apply_one(store, change)
        done += 1
        if progress is not None:
            progress(change)
    return done


def _apply_virtual_key(store: ControlStore, change: Change) -> None:
    want: VirtualKeyIn = change.desired
    if change.action == "create":
        store.create_virtual_key(want, ACTOR)
    elif change.action == "delete":
        store.delete_virtual_key(change.name, ACTOR)
    elif "provider" in change.fields:  # another provider is another key
        store.delete_virtual_key(change.name, ACTOR)
        store.create_virtual_key(want, ACTOR)
    else:
        update = VirtualKeyUpdate(
            custom_host=want.custom_host, options=want.options, models=want.models
        )
        store.update_virtual_key(change.name, update, ACTOR)
        if "secret" in change.fields:  # the file's secret serves at once, the old one is gone
            store.rotate_virtual_key(change.name, Rotation(api_key=want.api_key), ACTOR)
            store.rotate_virtual_key(change.name, Rotation(finish=True), ACTOR)


def _apply_one(store: ControlStore, change: Change) -> None:
    kind, action, want = change.kind, change.action, change.desired
    if kind == "virtual_key":
        _apply_virtual_key(store, change)
    elif kind == "config":
        if action == "delete":
            store.delete_config(change.name, ACTOR)
        else:
            store.put_config(StoredConfig(name=change.name, config=want), ACTOR)
    elif kind == "budget":
        if action == "create":
            store.create_budget(want, ACTOR)
        elif action == "update":
            store.update_budget(str(change.current_id), want, ACTOR)
        else:
            store.delete_budget(str(change.current_id), ACTOR)
    elif action == "create":
        store.create_rate_limit(want, ACTOR)
    elif action == "update":
        store.update_rate_limit(str(change.current_id), want, ACTOR)
    else:
        store.delete_rate_limit(str(change.current_id), ACTOR)


def env_name(vk_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", vk_name).upper() + "_API_KEY"


def export(store: ControlStore) -> dict[str, Any]:
    """The store as portkey.yaml data; secrets as ``${NAME_API_KEY}`` references."""
    providers: dict[str, Any] = {}
    for vk in store.list_virtual_keys():
        entry: dict[str, Any] = {"provider": vk.provider}
        if vk.secret_hint:
            entry["api_key"] = "${" + env_name(vk.name) + "}"
        if vk.custom_host:
            entry["custom_host"] = vk.custom_host
        entry.update(vk.options)
        if vk.models:
            entry["models"] = vk.models
        providers[vk.name] = entry
    budget_fields = ("scope", "target", "period", "limit_usd", "limit_tokens", "alert_at")
    limit_fields = ("scope", "target", "rpm", "tpm")
    return {
        "version": 1,
        "providers": providers,
        "configs": {c.name: c.config for c in store.list_configs()},
        "budgets": [
            {f: getattr(b, f) for f in budget_fields if getattr(b, f) is not None}
            for b in store.list_budgets()
        ],
        "rate_limits": [
            {f: getattr(r, f) for f in limit_fields if getattr(r, f) is not None}
            for r in store.list_rate_limits()
        ],
    }


__all__ = ["BudgetIn", "Change", "RateLimitIn", "apply", "export", "plan"]
