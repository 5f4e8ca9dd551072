"""An immutable in-memory copy of the control plane's state: what the hot path reads.

Built from the store in one pass when the store's revision changes and swapped whole, so a
request sees either the old state or the new one, never a mix, and never waits on the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portkey.control.models import BudgetOut, RateLimitOut
from portkey.control.store import ControlStore, Credential
from portkey.control.store_keys import ApiKeyRecord


@dataclass(frozen=True, slots=True)
class Snapshot:
    revision: int = -1
    #: sha256 hex of the key -> record (revoked and expired keys included: they answer 401)
    api_keys: dict[str, ApiKeyRecord] = field(default_factory=dict)
    credentials: dict[str, Credential] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (scope, target) -> limit; scope is api_key | virtual_key | model | team
    rate_limits: dict[tuple[str, str], RateLimitOut] = field(default_factory=dict)
    budgets: dict[tuple[str, str], tuple[BudgetOut, ...]] = field(default_factory=dict)

    @property
    def has_api_keys(self) -> bool:
        return bool(self.api_keys)


def load_snapshot(store: ControlStore) -> Snapshot:
    """Read everything (blocking: run it in a thread)."""
    revision = store.revision()
    budgets: dict[tuple[str, str], list[BudgetOut]] = {}
    for budget in store.list_budgets():
        budgets.setdefault((budget.scope, budget.target), []).append(budget)
    return Snapshot(
        revision=revision,
        api_keys={r.key_hash: r for r in store.api_key_records()},
        credentials={c.name: c for c in store.credentials()},
        configs={c.name: c.config for c in store.list_configs()},
        rate_limits={(r.scope, r.target): r for r in store.list_rate_limits()},
        budgets={k: tuple(v) for k, v in budgets.items()},
    )
