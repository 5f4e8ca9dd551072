"""The control plane on the hot path: who is calling, may they, and is there room left.

``admit`` runs once per request (before routing): caller API key (401), its scopes (403),
rate limits and budgets of the key, its team and the model (429). ``before_attempt`` runs
before each upstream attempt: the virtual key's allowed models, scope and its own limits and
budgets; refusing there is an attempt failure, so a fallback chain moves on to its next
target. ``finish`` settles reservations with the real usage once the answer is complete.
Everything reads the in-memory snapshot; the only awaits are the counter backends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from portkey.control.budgets import window_of
from portkey.control.charge import make_charger
from portkey.control.counters import (
    BudgetLedger,
    BudgetLine,
    Charger,
    Counter,
    Hold,
    RateLimiter,
)
from portkey.control.models import BudgetOut
from portkey.control.plane import ControlPlane
from portkey.control.snapshot import Snapshot
from portkey.control.store_keys import API_KEY_PREFIX, ApiKeyRecord
from portkey.control.usage import UsageMeter
from portkey.errors import AuthFailed, PermissionDenied, RateLimited
from portkey.gateway.compiler import static_headers
from portkey.gateway.plan import Leaf, Plan, leaves
from portkey.observe.cost import cost_usd, estimate_tokens

log = logging.getLogger("portkey.control")
API_KEY_HEADER = "x-portkey-api-key"


@dataclass(slots=True)
class Admission:
    """What the gate decided for one request, and what it must settle afterwards."""

    key: ApiKeyRecord | None
    prompt_tokens: int = 0
    max_output: int = 0
    holds: list[Hold] = field(default_factory=list)
    tpm: list[Counter] = field(default_factory=list)
    #: x-ratelimit-* response headers (the tightest of the limits that applied)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    attempted_vks: set[str] = field(default_factory=set)
    finished: bool = False

    @property
    def estimate(self) -> int:
        return self.prompt_tokens + self.max_output


def token_of(call: Any) -> str | None:
    """The caller's gateway key: x-portkey-api-key, or a bearer/x-api-key carrying our prefix.

    A bearer that is our key is consumed here: it is never forwarded to a provider.
    """
    token: str | None = call.headers.get(API_KEY_HEADER)
    if token:
        return token.strip()
    bearer: str | None = call.bearer
    if bearer and bearer.startswith(API_KEY_PREFIX):
        call.bearer = None
        return bearer
    return None


def _reset(seconds: float) -> bytes:
    return f"{seconds:.3f}s".encode()


class Gate:
    def __init__(
        self,
        plane: ControlPlane,
        limiter: RateLimiter,
        ledger: BudgetLedger,
        meter: UsageMeter | None = None,
        clock: Callable[[], float] = time.time,
        charger: Charger | None = None,
    ) -> None:
        """``charger`` counts and reserves on the request path (default: ``make_charger``);
        ``limiter`` and ``ledger`` settle afterwards."""
        self.plane = plane
        self.limiter = limiter
        self.ledger = ledger
        self.charger = charger if charger is not None else make_charger(limiter, ledger)
        self.meter = meter
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # -- per request ------------------------------------------------------------------------

    def required(self) -> bool:
        return self.plane.snapshot.has_api_keys or self.plane.holder.current.file.auth.required

    def authenticate(self, call: Any) -> ApiKeyRecord | None:
        """401 unless the caller shows a valid key (when keys are required).

        Until keys are required, headers are left alone: the ``portkey-ai`` SDK always sends
        ``x-portkey-api-key`` (a Portkey cloud key, meaningless here).
        """
        if not self.required():
            return None
        snap = self.plane.snapshot
        token = token_of(call)
        if token is None:
            raise AuthFailed(
                "this gateway requires an API key: send 'x-portkey-api-key: pk-...' "
                "or 'Authorization: Bearer pk-...'",
                param=API_KEY_HEADER,
                code="missing_api_key",
            )
        record = snap.api_keys.get(hashlib.sha256(token.encode()).hexdigest())
        if record is None:
            raise AuthFailed("invalid API key", param=API_KEY_HEADER, code="invalid_api_key")
        if record.revoked_at is not None:
            raise AuthFailed("this API key was revoked", param=API_KEY_HEADER, code="revoked")
        if record.expires_at is not None and record.expires_at <= self.clock():
            raise AuthFailed("this API key has expired", param=API_KEY_HEADER, code="expired")
        return record

    def identify(self, call: Any) -> None:
        """Authenticate first thing (before the body or config is looked at): 401s early,
        and the key is kept on the call for ``admit``."""
        key = self.authenticate(call)
        if key is not None:
            call.control = Admission(key=key)

    async def admit(self, call: Any, plan: Plan) -> None:
        known = call.control if isinstance(call.control, Admission) else None
        key = known.key if known is not None else self.authenticate(call)
        snap = self.plane.snapshot
        if key is None and not snap.rate_limits and not snap.budgets:
            return
        admission = known or Admission(key=key)
        call.control = admission
        if key is not None:
            self._authorize(key, call, plan.name)
            for name, value in key.metadata.items():
                call.metadata.setdefault(name, value)
        scopes: list[tuple[str, str]] = []
        if key is not None:
            scopes += [("api_key", key.id), ("api_key", key.name)]
            if key.team:
                scopes.append(("team", key.team))
        model = call.body.get("model")
        if isinstance(model, str):
            scopes.append(("model", model))
        await self._charge(admission, call, snap, scopes, leaves(plan.root)[0])

    def _authorize(self, key: ApiKeyRecord, call: Any, config_name: str | None) -> None:
        allowed = key.scopes.configs
        if allowed is not None and config_name not in allowed:
            what = f"config {config_name!r}" if config_name else "routing without a named config"
            raise PermissionDenied(
                f"API key {key.name!r} may not use {what}", param="x-portkey-config"
            )
        model = call.body.get("model")
        if (
            key.scopes.models is not None
            and isinstance(model, str)
            and model not in key.scopes.models
        ):
            raise PermissionDenied(
                f"API key {key.name!r} may not use model {model!r}", param="model"
            )

    async def before_attempt(self, leaf: Leaf, call: Any) -> None:
        admission: Admission | None = getattr(call, "control", None)
        model = (leaf.override_params or {}).get("model") or call.body.get("model")
        vk = leaf.virtual_key
        key = admission.key if admission is not None else None
        if key is not None:
            models = key.scopes.models
            if models is not None and isinstance(model, str) and model not in models:
                raise PermissionDenied(
                    f"API key {key.name!r} may not use model {model!r}", param="model"
                )
            vks = key.scopes.virtual_keys
            if vks is not None and vk is not None and vk not in vks:
                raise PermissionDenied(
                    f"API key {key.name!r} may not use virtual key {vk!r}", param="virtual_key"
                )
        if vk is None:
            return
        snap = self.plane.snapshot
        cred = snap.credentials.get(vk)
        if cred is not None and cred.models and isinstance(model, str) and model not in cred.models:
            raise PermissionDenied(
                f"virtual key {vk!r} does not allow model {model!r}", param="model"
            )
        if ("virtual_key", vk) not in snap.rate_limits and ("virtual_key", vk) not in snap.budgets:
            return
        if admission is None:
            admission = Admission(key=None)
            call.control = admission
        if vk in admission.attempted_vks:
            return  # a retry of the same target: already counted
        admission.attempted_vks.add(vk)
        await self._charge(admission, call, snap, [("virtual_key", vk)], leaf)

    async def _charge(
        self,
        admission: Admission,
        call: Any,
        snap: Snapshot,
        scopes: list[tuple[str, str]],
        leaf: Leaf,
    ) -> None:
        """Count rate limits and reserve budgets of ``scopes`` (priced as if ``leaf`` answers)."""
        limits = [snap.rate_limits[s] for s in scopes if s in snap.rate_limits]
        budgets = [b for s in scopes for b in snap.budgets.get(s, ())]
        if not limits and not budgets:
            return
        if admission.prompt_tokens == 0:
            admission.prompt_tokens, admission.max_output = estimate_tokens(call.body)
        counters: list[Counter] = []
        for limit in limits:
            label = f"{limit.scope}:{limit.target}"
            if limit.rpm:
                counters.append(Counter(f"rpm:{label}", limit.rpm, 1))
            if limit.tpm:
                counters.append(Counter(f"tpm:{label}", limit.tpm, admission.estimate))
        lines = [self._line(b) for b in budgets]
        usd = self._estimate_usd(call, admission, leaf) if lines else 0.0
        # one call, all or nothing: a refusal (RateLimited, BudgetExceeded) counts nothing
        verdict, hold = await self.charger.charge(counters, lines, usd, admission.estimate)
        if not verdict.allowed:
            refused = counters[verdict.refused or 0]
            raise RateLimited(
                f"rate limit exceeded: {refused.key.split(':', 1)[1]} allows "
                f"{refused.limit} {'requests' if refused.key.startswith('rpm') else 'tokens'} "
                "per minute",
                retry_after=verdict.retry_after_s,
                code="rate_limit_exceeded",
            )
        if counters:
            admission.tpm += [c for c in counters if c.key.startswith("tpm:")]
            admission.headers = _limit_headers(counters, verdict.remaining, verdict.reset_s)
        if hold is not None:
            admission.holds.append(hold)

    def _line(self, budget: BudgetOut) -> BudgetLine:
        start, end = window_of(budget.period, self.clock())
        return BudgetLine(
            id=budget.id,
            label=f"{budget.scope} {budget.target}, {budget.period}",
            window_start=start,
            window_end=end,
            limit_usd=budget.limit_usd,
            limit_tokens=budget.limit_tokens,
            alert_at=budget.alert_at,
        )

    def _estimate_usd(self, call: Any, admission: Admission, leaf: Leaf) -> float:
        model = (leaf.override_params or {}).get("model") or call.body.get("model")
        usage = {
            "prompt_tokens": admission.prompt_tokens,
            "completion_tokens": admission.max_output,
        }
        price = cost_usd(leaf.spec.id, model, usage) if isinstance(model, str) else None
        return price or 0.0

    async def other_secret(self, leaf: Leaf) -> Leaf | None:
        """After a 401: the same target with its virtual key's other secret, if it has one.

        Mid-rotation that is the previous secret (the provider may not know the new one yet),
        or the new one when this replica has not seen the rotation yet: then the store is
        checked first (one revision query, on this error path only) to find it.
        """
        vk = leaf.virtual_key
        if vk is None:
            return None
        other = self._other_secret(leaf, vk)
        if other is None:
            await self.plane.refresh()
            other = self._other_secret(leaf, vk)
        if other is None:
            return None
        log.info("virtual key %r: secret refused upstream, trying its other secret", vk)
        return replace(leaf, api_key=other, headers=static_headers(leaf.spec, other))

    def _other_secret(self, leaf: Leaf, vk: str) -> str | None:
        cred = self.plane.snapshot.credentials.get(vk)
        if cred is None or cred.api_key is None:
            return None
        if leaf.api_key != cred.api_key:
            return cred.api_key
        return cred.previous_api_key

    # -- after the answer -------------------------------------------------------------------

    def finish(self, call: Any, leaf: Leaf | None, usage: dict[str, Any] | None) -> None:
        """Settle what the request reserved (off the request path: a background task)."""
        admission: Admission | None = getattr(call, "control", None)
        if admission is None or admission.finished:
            return
        admission.finished = True
        if not admission.holds and not admission.tpm and admission.key is None:
            return
        task = asyncio.get_running_loop().create_task(self._settle(admission, call, leaf, usage))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(
        self, admission: Admission, call: Any, leaf: Leaf | None, usage: dict[str, Any] | None
    ) -> None:
        try:
            tokens, usd = self._actual(admission, call, leaf, usage)
            for counter in admission.tpm:
                if tokens != counter.amount:
                    await self.limiter.adjust(counter, tokens - counter.amount)
            for hold in admission.holds:
                await self.ledger.settle(hold, usd, tokens)
            if admission.key is not None and self.meter is not None:
                self.meter.record(admission.key.id, tokens, usd)
        except Exception:  # a settle failure must never surface in a request
            log.exception("settling usage failed")

    def _actual(
        self, admission: Admission, call: Any, leaf: Leaf | None, usage: dict[str, Any] | None
    ) -> tuple[int, float]:
        if leaf is None:  # nothing answered: release everything
            return 0, 0.0
        if not usage:  # answered without usage: charge the estimate rather than nothing
            usage = {
                "prompt_tokens": admission.prompt_tokens,
                "completion_tokens": admission.max_output,
            }
        tokens = int(usage.get("total_tokens") or 0) or int(usage.get("prompt_tokens") or 0) + int(
            usage.get("completion_tokens") or 0
        )
        model = (leaf.override_params or {}).get("model") or call.body.get("model") or ""
        usd = cost_usd(leaf.spec.id, str(model), usage) or 0.0
        return tokens, usd

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _limit_headers(
    counters: list[Counter], remaining: list[int], reset: list[float]
) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for kind, prefix in (("requests", "rpm:"), ("tokens", "tpm:")):
        picks = [i for i, c in enumerate(counters) if c.key.startswith(prefix)]
        if not picks:
            continue
        i = min(picks, key=lambda j: remaining[j] if j < len(remaining) else 0)
        headers += [
            (f"x-ratelimit-limit-{kind}".encode(), str(counters[i].limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), str(max(0, remaining[i])).encode()),
            (f"x-ratelimit-reset-{kind}".encode(), _reset(reset[i])),
        ]
    return headers
