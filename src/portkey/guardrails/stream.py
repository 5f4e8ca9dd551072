"""Output guardrails on a stream: checks run on the text as it accumulates.

Checks whose failure on part of the text is a failure of the whole (``Check.early``: "must
not contain", PII, secrets, denied URLs) run on a sliding window (the new text plus the
last ``WINDOW`` characters) as each block arrives, so a violation stops the stream before
more of it goes out. Every after-hook runs once more on the whole text before ``[DONE]``
is sent, so the verdict is the one the non-streaming call would give. A denial raises
``GuardrailBlocked``; the stream pump turns it into an in-band error event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from portkey.guardrails.errors import GuardrailBlocked
from portkey.guardrails.runner import AFTER, GuardState, run_hook, state_of
from portkey.guardrails.spec import Guard, Hook

WINDOW = 512
DONE = b"data: [DONE]"
Write = Callable[[bytes], Awaitable[None]]


def delta_text(event: bytes) -> str:
    """The content deltas of one SSE event (chat or completions chunk)."""
    if not event.startswith(b"data: {"):
        return ""
    try:
        chunk = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return ""
    out = []
    for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(text, str):
            out.append(text)
    return "".join(out)


class StreamGuard:
    """Feeds each outgoing block through the after-hooks; raises on a denial."""

    __slots__ = ("early", "hooks", "parts", "seen", "state")

    def __init__(self, guard: Guard, state: GuardState) -> None:
        self.state = state
        self.hooks = tuple(h for h in guard.after if h.deny)
        self.early = tuple(
            Hook(h.id, h.deny, tuple(c for c in h.checks if c.early)) for h in self.hooks
        )
        self.parts: list[str] = []
        self.seen = 0

    async def check(self, block: bytes) -> None:
        new = "".join(delta_text(e) for e in block.split(b"\n\n") if e)
        if new:
            tail = "".join(self.parts)[-WINDOW:] if self.parts else ""
            self.parts.append(new)
            await self._judge(self.early, tail + new, final=False)
        if DONE in block:
            await self._judge(self.hooks, "".join(self.parts), final=True)

    async def _judge(self, hooks: tuple[Hook, ...], text: str, final: bool) -> None:
        state = self.state
        state.event = AFTER
        for hook in hooks:
            if not hook.checks:
                continue
            holder: dict[str, Any] = {"text": text}
            result = await run_hook(hook, [(holder, "text")], state)
            if final or not result["verdict"]:
                state.after.append(result)
            if not result["verdict"]:
                raise GuardrailBlocked(state.results(), "streamed response")


def guarded_writer(guard: Guard | None, call: Any, write: Write) -> Write:
    """``write`` itself when the target has no after-hooks that deny; else a checking one."""
    if guard is None or not any(h.deny for h in guard.after):
        return write
    stream_guard = StreamGuard(guard, state_of(call, None))

    async def checked(block: bytes) -> None:
        await stream_guard.check(block)
        await write(block)

    return checked
