"""Output guardrails on a stream: checks run on the text as it accumulates.

Checks whose failure on part of the text is a failure of the whole (``Check.early``: "must
not contain", PII, secrets, denied URLs) run on a sliding window (the new text plus the
last ``WINDOW`` characters) as each block arrives, so a violation stops the stream before
more of it goes out. Every after-hook runs once more on the whole text before ``[DONE]``
is sent, so the verdict is the one the non-streaming call would give; the results go out
as one extra chunk (``choices: []`` and ``hook_results``) just before ``[DONE]``. A denial
raises ``GuardrailBlocked``; the stream pump turns it into an in-band error event.

When the answer is rewritten (placeholders of masked request PII restored, or PII in the
answer masked) the content of each chunk is rewritten too. Text that could be the start
of a placeholder or of a PII span is held back (at most ``HOLD`` characters) until the
next chunk shows what it is, and sent with the last content at the latest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from portkey.guardrails.base import Check
from portkey.guardrails.errors import GuardrailBlocked
from portkey.guardrails.runner import AFTER, GuardState, run_hook, state_of
from portkey.guardrails.spec import Guard, Hook
from portkey.transport.http import Transport

WINDOW = 512
HOLD = 48  # characters: the longest placeholder held back while it may be one
MAX_HOLD = 256  # characters: the most the PII masking of a stream ever holds back
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


def _content_slot(chunk: Any) -> tuple[dict[str, Any], str] | None:
    """(container, key) of the first choice's text in a chunk, when it has one."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return delta, "content"
    if "text" in choice:
        return choice, "text"
    return None


class StreamGuard:
    """Feeds each outgoing block through the after-hooks; returns the block to send."""

    __slots__ = (
        "early",
        "hooks",
        "masked",
        "maskers",
        "parts",
        "pending",
        "restore",
        "state",
        "tail",
        "template",
    )  # fmt: skip

    def __init__(self, guard: Guard, state: GuardState) -> None:
        self.state = state
        self.hooks = guard.after
        self.early = tuple(
            Hook(h.id, h.deny, tuple(c for c in h.checks if c.early)) for h in guard.after if h.deny
        )
        self.maskers: tuple[Check, ...] = tuple(c for h in guard.after for c in h.checks if c.masks)
        self.restore = guard.restores
        self.masked: set[str] = set()  # ids of hooks that masked part of the stream
        self.parts: list[str] = []  # the text as the caller got it
        self.tail = ""  # the last WINDOW characters judged
        self.pending = ""  # answer text held back (not sent yet)
        self.template: dict[str, Any] | None = None  # a content chunk, to send held-back text

    @property
    def rewrites(self) -> bool:
        return bool(self.maskers) or (self.restore and self.state.masks is not None)

    async def process(self, block: bytes) -> bytes:
        before = len(self.parts)
        if self.rewrites:
            block = await self._rewrite(block)
        elif self.hooks:
            new = "".join(delta_text(e) for e in block.split(b"\n\n") if e)
            if new:
                self.parts.append(new)
        if len(self.parts) > before and any(h.checks for h in self.early):
            window = self.tail + "".join(self.parts[before:])
            self.tail = window[-WINDOW:]
            if not await self._window_passes(window):
                await self._judge(self.early, window, final=False)
        done = block.find(DONE)
        if done < 0:
            return block
        await self._judge_final()
        return block[:done] + self._results_event() + block[done:]

    async def _window_passes(self, window: str) -> bool:
        """The early checks on the window, without building results (the common case)."""
        for hook in self.early:
            for check in hook.checks:
                try:
                    verdict = await check.run(window, self.state)
                except Exception:  # judged again (and reported) by _judge
                    return False
                if not verdict.passed:
                    return False
        return True

    async def _judge_final(self) -> None:
        await self._judge(self.hooks, "".join(self.parts), final=True)

    async def _judge(self, hooks: tuple[Hook, ...], text: str, final: bool) -> None:
        state = self.state
        state.event = AFTER
        for hook in hooks:
            if not hook.checks:
                continue
            holder: dict[str, Any] = {"text": text}
            checks = hook.checks if not final else tuple(c for c in hook.checks if not c.masks)
            if final and not checks:
                result = _masked_result(hook, hook.id in self.masked)
            else:
                narrowed = Hook(hook.id, hook.deny, checks, background=hook.background)
                result = await run_hook(narrowed, [(holder, "text")], state)
                result["transformed"] = hook.id in self.masked
            if final or not result["verdict"]:
                state.after.append(result)
            if not result["verdict"] and not hook.background:
                if hook.deny:
                    raise GuardrailBlocked(state.results(), "streamed response")
                state.flagged = True

    # -- rewriting (restore placeholders, mask PII) ------------------------------------------

    async def _rewrite(self, block: bytes) -> bytes:
        out: list[bytes] = []
        for event in block.split(b"\n\n"):
            if not event:
                continue
            if event.startswith(DONE):
                out.append(await self._flush())
                out.append(event + b"\n\n")
                continue
            out.append(await self._rewrite_event(event))
        return b"".join(out)

    async def _rewrite_event(self, event: bytes) -> bytes:
        if not event.startswith(b"data: {"):
            return event + b"\n\n"
        try:
            chunk = orjson.loads(event[6:])
        except orjson.JSONDecodeError:
            return event + b"\n\n"
        slot = _content_slot(chunk)
        finished = bool(chunk.get("choices")) and chunk["choices"][0].get("finish_reason")
        if slot is None:
            prefix = await self._flush() if finished else b""
            return prefix + event + b"\n\n"
        container, key = slot
        text = container.get(key)
        if not isinstance(text, str):
            text = ""
        if text:
            self.template = chunk
        buffer = self.pending + text
        cut, clean = (len(buffer), False) if finished else await self._cut(buffer)
        self.pending = buffer[cut:]
        container[key] = await self._emit(buffer[:cut], clean)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def _cut(self, buffer: str) -> tuple[int, bool]:
        """Where the text that is safe to send ends; the rest waits for the next chunk.

        Also says whether the text before the cut is clean (holds nothing to mask).
        Held back: an unclosed ``[`` (a placeholder may be starting), the text that may still
        grow into PII (``_growing_tail``), and any span a masking check found that reaches
        past the cut.
        """
        cut = len(buffer)
        if self.restore and self.state.masks is not None:
            opened = buffer.rfind("[")
            if opened >= 0 and "]" not in buffer[opened:] and len(buffer) - opened <= HOLD:
                cut = opened
        if not self.maskers:
            return cut, False
        cut = min(cut, _growing_tail(buffer))
        found: list[tuple[int, int]] = []
        for check in self.maskers:
            verdict = await check.run(buffer, _Probe())  # hands out no placeholders
            found += verdict.spans
        for start, end in found:
            if start < cut < end:
                cut = start
        return cut, not any(start < cut for start, _ in found)

    async def _emit(self, text: str, clean: bool = False) -> str:
        if not text:
            return text
        state = self.state
        if self.restore and state.masks is not None:
            restored = state.masks.restore(text)
            clean, text = clean and restored == text, restored
        if clean:  # the probe in _cut found no PII in this text: no need to look again
            self.parts.append(text)
            return text
        for hook in self.hooks:
            for check in hook.checks:
                if check.masks:
                    verdict = await check.run(text, state)
                    if verdict.text is not None and verdict.text != text:
                        text = verdict.text
                        self.masked.add(hook.id)
        self.parts.append(text)
        return text

    async def _flush(self) -> bytes:
        """The held-back text, as one chunk shaped like the last content chunk."""
        if not self.pending or self.template is None:
            return b""
        text, self.pending = self.pending, ""
        chunk = orjson.loads(orjson.dumps(self.template))
        slot = _content_slot(chunk)
        if slot is None:
            return b""
        chunk["choices"][0]["finish_reason"] = None
        slot[0][slot[1]] = await self._emit(text)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _results_event(self) -> bytes:
        chunk: dict[str, Any] = {"object": "chat.completion.chunk", "choices": []}
        if self.template is not None:
            chunk["id"] = self.template.get("id")
            chunk["object"] = self.template.get("object", chunk["object"])
            chunk["created"] = self.template.get("created")
            chunk["model"] = self.template.get("model")
        chunk["hook_results"] = self.state.results()
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


NUMBERISH = frozenset("0123456789+()-./ABCDEFGHIJKLMNOPQRSTUVWXYZ")
SPACES = " \t\n"


def _growing_tail(buffer: str) -> int:
    """Where the text that the next chunk may extend into PII starts.

    That is the last word when no space follows it yet (an email, key or IBAN may go on),
    plus the number-like groups before it ("+1 415 555", "4111 1111", "FR14 2004"): a
    phone, card or IBAN written with spaces may go on too. Plain words end it, so the
    hold is usually one partial word; it never reaches back more than ``MAX_HOLD``.
    """
    end = len(buffer)
    i = end
    if buffer and buffer[-1] not in SPACES:
        i = max(buffer.rfind(c) for c in SPACES) + 1
    while i > 0 and end - i < MAX_HOLD:
        j = i
        while j > 0 and buffer[j - 1] in SPACES:
            j -= 1
        k = max(buffer.rfind(c, 0, j) for c in SPACES) + 1
        token = buffer[k:j]
        if not token or len(token) > 12 or not set(token) <= NUMBERISH:
            break
        if not any(c.isdigit() for c in token):
            break
        i = k
    return max(i, end - MAX_HOLD)


class _Probe:
    """A throwaway hook context: a masking check run on it to find spans keeps no masks."""

    __slots__ = ("masks",)
    event = AFTER

    def __init__(self) -> None:
        self.masks: Any = None

    def request_json(self) -> dict[str, Any]:
        return {}

    async def post(self, url: str, headers: Any, body: bytes, timeout: float) -> Any:
        raise RuntimeError("no network from a probe")


def _masked_result(hook: Hook, masked: bool) -> dict[str, Any]:
    checks: list[dict[str, Any]] = [{"id": c.id, "verdict": True, "data": {}, "error": None, "execution_time": 0}
              for c in hook.checks]  # fmt: skip
    return {"id": hook.id, "type": "guardrail", "verdict": True, "deny": hook.deny,
            "async": False, "skipped": False, "transformed": masked, "checks": checks,
            "feedback": None, "error": None, "execution_time": 0}  # fmt: skip


def guarded_writer(
    guard: Guard | None, call: Any, write: Write, transport: Transport | None = None
) -> Write:
    """``write`` itself when no guardrail ran or runs on this stream; else a guard.

    With only request hooks (already run), the guard just adds the ``hook_results`` chunk.
    """
    if (guard is None or not (guard.after or guard.restores)) and call.guard is None:
        return write
    state = state_of(call, transport)
    state.transport = state.transport or transport  # checks that POST (webhook, judge) need it
    stream_guard = StreamGuard(guard or Guard((), ()), state)

    async def checked(block: bytes) -> None:
        await write(await stream_guard.process(block))

    return checked
