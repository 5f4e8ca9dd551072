"""Secrets: API-key-like strings (OpenAI, Anthropic, AWS, GitHub, Slack, Google, ...).

The secrets check blocks by default so that a provider key pasted into a prompt is never
forwarded; with ``redact: true`` it masks the key and lets the request through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from portkey.guardrails.base import Check, HookContext, Verdict, param

SECRET = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|gsk_[A-Za-z0-9]{40,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|pk-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    r"|-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"
    r")"
)


def find_secrets(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in SECRET.finditer(text)]


def secrets(params: Mapping[str, Any]) -> Check:
    from portkey.guardrails.checks.pii import Span, masks_of

    redact = bool(param(params, "redact", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        found = find_secrets(text)
        data = {"secretsFound": len(found)}  # never the secret itself
        if not found:
            return Verdict(True, data)
        if redact:
            spans = [Span("SECRET", s, e) for s, e in found]
            return Verdict(True, data, text=masks_of(ctx).mask(text, spans), spans=found)
        return Verdict(False, data, spans=found)

    return Check("default.secrets", run, early=not redact, masks=redact)
