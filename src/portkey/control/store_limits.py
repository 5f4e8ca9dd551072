"""Budgets (with their persisted spend) and rate limits in the store."""

from __future__ import annotations

import time

from portkey.control.models import BudgetIn, BudgetOut, RateLimitIn, RateLimitOut
from portkey.control.store_base import StoreBase, _new_id
from portkey.errors import NotFound
from portkey.store.db import Tx


class LimitStore(StoreBase):
    def create_budget(self, spec: BudgetIn, actor: str = "admin") -> BudgetOut:
        out = BudgetOut(**spec.model_dump(), id=_new_id(), created_at=time.time())
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO budgets (id, scope, target, period, limit_usd, limit_tokens, "
                "alert_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    out.id,
                    out.scope,
                    out.target,
                    out.period,
                    out.limit_usd,
                    out.limit_tokens,
                    out.alert_at,
                    out.created_at,
                ),
            )
            self._changed(tx, actor, "create", "budget", out.id, None, out.model_dump())
        return out

    def list_budgets(self) -> list[BudgetOut]:
        with self.db.transaction() as tx:
            return self._budgets(tx)

    def _budgets(self, tx: Tx) -> list[BudgetOut]:
        rows = tx.query(
            "SELECT b.id, b.scope, b.target, b.period, b.limit_usd, b.limit_tokens, "
            "b.alert_at, b.created_at, u.window_start, u.spent_usd, u.spent_tokens "
            "FROM budgets b LEFT JOIN budget_usage u ON u.budget_id = b.id "
            "AND u.window_start = (SELECT MAX(window_start) FROM budget_usage "
            "WHERE budget_id = b.id) ORDER BY b.created_at"
        )
        return [
            BudgetOut(
                id=r[0],
                scope=r[1],
                target=r[2],
                period=r[3],
                limit_usd=r[4],
                limit_tokens=r[5],
                alert_at=r[6],
                created_at=r[7],
                window_start=r[8] or 0.0,
                spent_usd=r[9] or 0.0,
                spent_tokens=r[10] or 0,
            )
            for r in rows
        ]

    def update_budget(self, budget_id: str, spec: BudgetIn, actor: str = "admin") -> BudgetOut:
        """Change a budget's limits in place (its spend so far is kept)."""
        with self.db.transaction() as tx:
            before = next((b for b in self._budgets(tx) if b.id == budget_id), None)
            if before is None:
                raise NotFound(f"no budget with id {budget_id!r}", param="id")
            tx.execute(
                "UPDATE budgets SET limit_usd = ?, limit_tokens = ?, alert_at = ? WHERE id = ?",
                (spec.limit_usd, spec.limit_tokens, spec.alert_at, budget_id),
            )
            after = next(b for b in self._budgets(tx) if b.id == budget_id)
            self._changed(
                tx, actor, "update", "budget", budget_id, before.model_dump(), after.model_dump()
            )
        return after

    def delete_budget(self, budget_id: str, actor: str = "admin") -> None:
        self._delete("budgets", "budget", budget_id, actor)

    def add_budget_usage(self, usage: list[tuple[str, float, float, int]]) -> None:
        """Add (budget id, window start, usd, tokens) to the persisted spend (not audited)."""
        with self.db.transaction() as tx:
            for budget_id, window, usd, tokens in usage:
                tx.execute(
                    "INSERT INTO budget_usage (budget_id, window_start, spent_usd, spent_tokens) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (budget_id, window_start) DO UPDATE SET "
                    "spent_usd = budget_usage.spent_usd + excluded.spent_usd, "
                    "spent_tokens = budget_usage.spent_tokens + excluded.spent_tokens",
                    (budget_id, window, usd, tokens),
                )

    def create_rate_limit(self, spec: RateLimitIn, actor: str = "admin") -> RateLimitOut:
        out = RateLimitOut(**spec.model_dump(), id=_new_id(), created_at=time.time())
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO rate_limits (id, scope, target, rpm, tpm, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (out.id, out.scope, out.target, out.rpm, out.tpm, out.created_at),
            )
            self._changed(tx, actor, "create", "rate_limit", out.id, None, out.model_dump())
        return out

    def list_rate_limits(self) -> list[RateLimitOut]:
        with self.db.transaction() as tx:
            return self._rate_limits(tx)

    def _rate_limits(self, tx: Tx) -> list[RateLimitOut]:
        rows = tx.query(
            "SELECT id, scope, target, rpm, tpm, created_at FROM rate_limits ORDER BY created_at"
        )
        return [
            RateLimitOut(id=r[0], scope=r[1], target=r[2], rpm=r[3], tpm=r[4], created_at=r[5])
            for r in rows
        ]

    def update_rate_limit(
        self, limit_id: str, spec: RateLimitIn, actor: str = "admin"
    ) -> RateLimitOut:
        with self.db.transaction() as tx:
            before = next((r for r in self._rate_limits(tx) if r.id == limit_id), None)
            if before is None:
                raise NotFound(f"no rate limit with id {limit_id!r}", param="id")
            tx.execute(
                "UPDATE rate_limits SET rpm = ?, tpm = ? WHERE id = ?",
                (spec.rpm, spec.tpm, limit_id),
            )
            after = next(r for r in self._rate_limits(tx) if r.id == limit_id)
            self._changed(
                tx, actor, "update", "rate_limit", limit_id, before.model_dump(), after.model_dump()
            )
        return after

    def delete_rate_limit(self, limit_id: str, actor: str = "admin") -> None:
        self._delete("rate_limits", "rate_limit", limit_id, actor)
