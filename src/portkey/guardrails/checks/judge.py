"""Checks that ask a model: an LLM judge through our own gateway, a provider's moderation API.

Both POST with a timeout; when the service is down, slow or answers badly, ``failOnError:
true`` fails the check (fail closed), else it passes with the error recorded (fail open).

- ``default.llmJudge``: sends the text to ``url`` (a Portkey gateway's ``/v1``, usually this
  one) as a chat completion with ``prompt`` as the system message, under ``config`` (an
  ``x-portkey-config`` value: a config id or object) and ``model``. The judge must answer
  the JSON ``{"verdict": bool, "reason": str}``; ``verdict: true`` passes. Do not give the
  judge's own config this guardrail.
- ``default.moderation``: OpenAI's moderation API shape (``POST {url}/moderations`` with
  ``{model, input}``), as OpenAI, Mistral-compatible hosts and local servers speak it; fails
  when the result is flagged (for any category, or one of ``categories`` when listed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from portkey.guardrails.base import Check, HookContext, Verdict, param, str_list
from portkey.guardrails.checks.json_checks import parse_json

JUDGE_PROMPT = (
    "You are a strict content reviewer. Decide whether the text the user sends is acceptable "
    'under this policy: {policy}. Answer only with JSON: {{"verdict": true|false, "reason": "..."}}'
)


def _url(params: Mapping[str, Any]) -> str:
    url = param(params, "url", str, None)
    if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError("parameter 'url' must be an http(s) URL")
    return str(url).rstrip("/")


def _timeout(params: Mapping[str, Any], default_ms: int) -> float:
    timeout_ms = param(params, "timeout", int, default_ms)
    if not 0 < timeout_ms <= 120_000:
        raise ValueError("parameter 'timeout' must be 1..120000 ms")
    return float(timeout_ms) / 1000


def _headers(params: Mapping[str, Any]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    key = param(params, "api_key", str, None)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


async def _post(ctx: HookContext, url: str, headers: dict[str, str], body: Any, t: float) -> Any:
    async with asyncio.timeout(t):
        return await ctx.post(url, headers, orjson.dumps(body), t)


def llm_judge(params: Mapping[str, Any]) -> Check:
    url = _url(params) + "/chat/completions"
    model = param(params, "model", str, None)
    if not model:
        raise ValueError("parameter 'model' is required")
    policy = param(params, "policy", str, "no harmful, abusive or off-topic content")
    prompt = param(params, "prompt", str, None) or JUDGE_PROMPT.format(policy=policy)
    config = param(params, "config", (str, dict), None)
    headers = _headers(params)
    if config is not None:
        headers["x-portkey-config"] = (
            config if isinstance(config, str) else orjson.dumps(config).decode()
        )
    timeout = _timeout(params, 10_000)
    fail_closed = bool(param(params, "failOnError", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        body = {"model": model, "temperature": 0,
                "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": text}]}  # fmt: skip
        try:
            answer = await _post(ctx, url, headers, body, timeout)
            content = answer["choices"][0]["message"]["content"]
            judged = parse_json(content)
            verdict = judged.get("verdict") if isinstance(judged, dict) else None
            if not isinstance(verdict, bool):
                raise ValueError("the judge's answer has no boolean 'verdict'")
        except Exception as exc:  # any failure is the configured fail-open / fail-closed
            return Verdict(
                not fail_closed, {"model": model}, error=f"{type(exc).__name__}: {exc}"[:200]
            )
        return Verdict(verdict, {"model": model, "reason": judged.get("reason")})

    return Check("default.llmJudge", run)


def moderation(params: Mapping[str, Any]) -> Check:
    url = _url(params) + "/moderations"
    model = param(params, "model", str, "omni-moderation-latest")
    categories = str_list(params, "categories")
    headers = _headers(params)
    timeout = _timeout(params, 5_000)
    fail_closed = bool(param(params, "failOnError", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        try:
            answer = await _post(ctx, url, headers, {"model": model, "input": text}, timeout)
            result = answer["results"][0]
            flags = {k for k, v in (result.get("categories") or {}).items() if v}
        except Exception as exc:  # fail open / closed as configured
            return Verdict(
                not fail_closed, {"model": model}, error=f"{type(exc).__name__}: {exc}"[:200]
            )
        hit = sorted(flags & set(categories)) if categories else sorted(flags)
        flagged = bool(hit) if categories else bool(result.get("flagged"))
        return Verdict(not flagged, {"flagged": flagged, "flaggedCategories": hit})

    return Check("default.moderation", run)
