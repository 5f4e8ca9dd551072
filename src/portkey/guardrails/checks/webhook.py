"""Webhook check: POST the hook event to a URL that answers ``{"verdict": bool}``.

A timeout (``timeout`` ms, default 3000) bounds it; when the webhook is down or answers
badly, ``failOnError: true`` fails the check (fail closed), else it passes (fail open).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from portkey.guardrails.base import Check, HookContext, Verdict, param


def webhook(params: Mapping[str, Any]) -> Check:
    url = param(params, "webhookURL", str, None)
    if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError("parameter 'webhookURL' must be an http(s) URL")
    headers = param(params, "headers", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("parameter 'headers' must map header names to strings")
    timeout_ms = param(params, "timeout", int, 3000)
    if not 0 < timeout_ms <= 60_000:
        raise ValueError("parameter 'timeout' must be 1..60000 ms")
    fail_closed = bool(param(params, "failOnError", bool, False))
    sent = {"Content-Type": "application/json", **headers}

    async def run(text: str, ctx: HookContext) -> Verdict:
        body = orjson.dumps({"eventType": ctx.event, "text": text, "request": ctx.request_json()})
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                answer = await ctx.post(url, sent, body, timeout_ms / 1000)
            verdict = answer.get("verdict") if isinstance(answer, dict) else None
            if not isinstance(verdict, bool):
                raise ValueError("the webhook's answer has no boolean 'verdict'")
        except Exception as exc:  # any failure is the configured fail-open / fail-closed
            reason = f"{type(exc).__name__}: {exc}"[:200] or type(exc).__name__
            return Verdict(not fail_closed, {"webhookURL": url}, error=reason)
        return Verdict(verdict, {"webhookURL": url, "data": answer.get("data")})

    return Check("default.webhook", run)
