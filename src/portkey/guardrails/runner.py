"""Run a target's hooks on the request and on the answer; keep the results per request.

``GuardState`` lives on the call (``call.guard``): the results Portkey returns as
``hook_results``, the masks handed out (so the answer can be de-masked), and which
guards already judged the request (a fallback does not run them twice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from portkey.guardrails.base import Verdict
from portkey.guardrails.checks.pii import Masks
from portkey.guardrails.errors import FLAGGED_STATUS, GuardrailBlocked
from portkey.guardrails.spec import Guard, Hook
from portkey.transport.http import Transport

log = logging.getLogger("portkey.guardrails")
BEFORE, AFTER = "beforeRequestHook", "afterRequestHook"
Piece = tuple[Any, Any]  # (container, key): container[key] is one text of the request/answer


class GuardState:
    """Per-request guardrail state; also the ``HookContext`` the checks see."""

    __slots__ = ("after", "before", "body", "event", "flagged", "judged", "masks", "transport")

    def __init__(self, transport: Transport | None, body: Mapping[str, Any]) -> None:
        self.transport = transport
        self.body = body
        self.event = BEFORE
        self.masks: Masks | None = None
        self.before: list[dict[str, Any]] = []
        self.after: list[dict[str, Any]] = []
        self.flagged = False
        self.judged: dict[int, GuardrailBlocked | None] = {}

    def request_json(self) -> Mapping[str, Any]:
        return self.body

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> Any:
        if self.transport is None:
            raise RuntimeError("no transport")
        response = await self.transport.send("POST", url, list(headers.items()), body, timeout)
        raw = await response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")
        return orjson.loads(raw)

    def results(self) -> dict[str, Any]:
        return {"before_request_hooks": self.before, "after_request_hooks": self.after}

    def summary(self) -> dict[str, Any]:
        """For logs and metrics: checks run and failed (by check id), time spent, outcome."""
        run: dict[str, int] = {}
        failed: dict[str, int] = {}
        spent = 0.0
        for hook in (*self.before, *self.after):
            spent += hook["execution_time"]
            for check in hook["checks"]:
                run[check["id"]] = run.get(check["id"], 0) + 1
                if not check["verdict"]:
                    failed[check["id"]] = failed.get(check["id"], 0) + 1
        return {"checks_run": run, "checks_failed": failed, "latency_ms": round(spent, 3),
                "flagged": self.flagged, "transformed": self.masks is not None}  # fmt: skip


def request_pieces(body: Any) -> list[Piece]:
    """Every text of a chat, completion or embeddings request, as (container, key)."""
    pieces: list[Piece] = []
    if not isinstance(body, dict):
        return pieces
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            pieces.append((message, "content"))
        elif isinstance(content, list):
            pieces += [(p, "text") for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str)]  # fmt: skip
    for key in ("prompt", "input"):
        value = body.get(key)
        if isinstance(value, str):
            pieces.append((body, key))
        elif isinstance(value, list):
            pieces += [(value, i) for i, v in enumerate(value) if isinstance(v, str)]
    return pieces


def answer_pieces(body: Any) -> list[Piece]:
    pieces: list[Piece] = []
    for choice in (body.get("choices") if isinstance(body, dict) else None) or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            pieces.append((message, "content"))
        elif isinstance(choice.get("text"), str):
            pieces.append((choice, "text"))
    return pieces


async def run_hook(hook: Hook, pieces: list[Piece], state: GuardState) -> dict[str, Any]:
    """Run one hook over the pieces: masking checks rewrite each piece, others judge the whole."""
    started = time.perf_counter()
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    checks, verdict, transformed = [], True, False
    joined: str | None = None
    for check in hook.checks:
        t0 = time.perf_counter()
        try:
            if check.masks:
                found: list[Any] = []
                for container, key in pieces:
                    result = await check.run(container[key], state)
                    found += result.data.get("detected", [])
                    if result.text is not None:
                        container[key], transformed, joined = result.text, True, None
                result = Verdict(True, {"detected": len(found)} if found else {})
            else:
                joined = "\n".join(c[k] for c, k in pieces) if joined is None else joined
                result = await check.run(joined, state)
        except Exception as exc:  # a check that breaks fails (closed), it never answers a 500
            log.exception("guardrail check %s failed", check.id)
            result = Verdict(False, {}, error=f"{type(exc).__name__}: {exc}"[:200])
        verdict = verdict and result.passed
        checks.append({"id": check.id, "verdict": result.passed, "data": result.data,
                       "error": result.error,
                       "execution_time": round((time.perf_counter() - t0) * 1000, 3),
                       "created_at": created})  # fmt: skip
    return {"id": hook.id, "type": "guardrail", "verdict": verdict, "deny": hook.deny,
            "async": hook.background, "skipped": False, "transformed": transformed, "checks": checks,
            "feedback": None, "error": None, "created_at": created,
            "execution_time": round((time.perf_counter() - started) * 1000, 3)}  # fmt: skip


async def _run_all(hooks: tuple[Hook, ...], pieces: list[Piece], state: GuardState,
                   sink: list[dict[str, Any]]) -> tuple[bool, bool]:  # fmt: skip
    """(denied, transformed) after running every hook and recording its result in ``sink``."""
    denied = transformed = False
    for hook in hooks:
        result = await run_hook(hook, pieces, state)
        sink.append(result)
        transformed = transformed or result["transformed"]
        if not result["verdict"] and not hook.background:
            denied = denied or hook.deny
            state.flagged = state.flagged or not hook.deny
    return denied, transformed


def state_of(call: Any, transport: Transport | None) -> GuardState:
    state: GuardState | None = call.guard
    if state is None:
        state = call.guard = GuardState(transport, call.body)
    return state


async def check_request(guard: Guard, call: Any, transport: Transport | None) -> None:
    """Run the before-request hooks once per guard; mask in place; raise on a denial."""
    state = state_of(call, transport)
    key = id(guard)
    if key in state.judged:
        previous = state.judged[key]
        if previous is not None:
            raise previous
        return
    state.event = BEFORE
    denied, transformed = await _run_all(guard.before, request_pieces(call.body), state,
                                         state.before)  # fmt: skip
    blocked = GuardrailBlocked(state.results(), "request") if denied else None
    state.judged[key] = blocked
    if blocked is not None:
        raise blocked
    if transformed:
        call.raw = orjson.dumps(call.body)


async def check_answer(
    guard: Guard | None, call: Any, body: bytes, transport: Transport | None
) -> tuple[bytes, int | None]:
    """The answer as the caller gets it (de-masked, checked, with ``hook_results``) and its status.

    Raises ``GuardrailBlocked`` when a denying hook fails on the answer.
    """
    state = state_of(call, transport)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, None
    if not isinstance(data, dict):
        return body, None
    pieces = answer_pieces(data)
    if guard is not None and guard.restores and state.masks is not None:
        for container, key in pieces:
            container[key] = state.masks.restore(container[key])
    if guard is not None and guard.after:
        state.event = AFTER
        denied, _ = await _run_all(guard.after, pieces, state, state.after)
        if denied:
            raise GuardrailBlocked(state.results(), "response")
    data["hook_results"] = state.results()
    return orjson.dumps(data), FLAGGED_STATUS if state.flagged else None
