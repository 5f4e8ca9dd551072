"""Exact cache keys: the canonical request, hashed, under a namespace.

Key order and whitespace never matter (the body is re-serialised with sorted keys); fields
that do not change the answer are left out; everything else counts, ``stream`` included
(streamed entries hold SSE bytes, plain ones JSON).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

#: request fields that never change the answer (why: each is bookkeeping or transport)
IGNORED = frozenset(
    {
        "user",  # who asks, not what
        "safety_identifier",  # the same, for abuse tracking
        "metadata",  # OpenAI's stored-completion tags
        "store",  # whether OpenAI keeps the answer
        "stream_options",  # usage chunk on or off: the gateway filters it per client
        "prompt_cache_key",  # provider-side prompt caching, not the answer
        "prompt_cache_retention",
        "service_tier",  # latency class, same model and answer
    }
)
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
TEMPLATE_FIELD = re.compile(r"\{metadata\.([A-Za-z0-9_.-]+)\}")


def exact_key(namespace: str, scope: str, route: str, body: Mapping[str, Any]) -> str:
    canonical = {k: v for k, v in body.items() if k not in IGNORED}
    digest = hashlib.sha256()
    digest.update(route.encode())
    digest.update(b"\0")
    digest.update(scope.encode())
    digest.update(b"\0")
    digest.update(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))
    return f"{namespace or 'default'}:{digest.hexdigest()}"


def namespace_of(template: str, metadata: Mapping[str, str]) -> str:
    """Render ``{metadata.x}`` fields (missing: ``_``); only safe characters, bounded length."""
    if not template:
        return "default"

    def field(match: re.Match[str]) -> str:
        return UNSAFE.sub("_", str(metadata.get(match[1], "_")))[:64] or "_"

    return safe_namespace(TEMPLATE_FIELD.sub(field, template))


def safe_namespace(text: str) -> str:
    """Only ``[A-Za-z0-9._-]`` between the ``:`` separators, bounded length."""
    return ":".join(UNSAFE.sub("_", part) for part in text.split(":"))[:200] or "default"
