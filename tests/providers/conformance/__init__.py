"""The provider conformance contract: every provider's fake upstream speaks the provider's real
wire format and answers by these rules, so one parametrised suite runs over all providers.

A provider joins by adding a module here that defines ``ENTRY = Entry(...)`` and one line in
``ENTRIES`` below. Its fake (an aiohttp app, tests/fakes/<provider>.py) must:

* read the model name from the native request (body, or URL path for Gemini/Bedrock) and
  behave by its ``+``-joined tokens:
  - default: answer text ``reply_text(system, turns, last_user)`` (see below), finish "stop";
  - ``tool``: answer with one tool call ``get_weather`` and arguments ``{"city": "Paris"}``
    (finish "tool_calls"), unless the conversation already holds a tool result: then answer
    text ``tool-result:<result text>``;
  - ``image``: answer text ``image:<media type>`` of the first image the native request holds
    (``image:none`` if none);
  - ``json``: answer text ``{"ok": true}`` if the native request asked for JSON/schema output
    (for a schema, also check its name or shape is there), else ``no-json``;
  - ``error-<kind>`` for kind in ERROR_KINDS: the provider's native error for that case, with
    its real status code and body shape (``rate_limited`` also sends ``retry-after: 1``);
  - ``flaky-rate_limited``: the first request per api key gets the rate_limited error, then OK.
* count usage as ``USAGE`` (prompt 11, completion 7; cached/reasoning 0) in its native fields.
* stream in the provider's native framing when asked (text in >= 2 deltas; tool-call
  arguments in >= 2 deltas), with usage in the native final event.

``reply_text``: ``sys=<system text or ->;turns=<number of user+assistant+tool messages>;last=<text
of the last user message>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CAPABILITIES = (
    "chat",
    "system_prompt",
    "multi_turn",
    "tools_round_trip",
    "image_input",
    "json_schema",
    "stream_text",
    "stream_tools",
    "usage",
    "stream_usage",
    "errors",
    "retry_after",
)
#: checks that need a runtime capability (portkey.providers.base); a spec that lists the
#: capability in ``unsupported`` skips them (a check's own name there works too)
NEEDS = {
    "tools_round_trip": "tools",
    "stream_tools": "tools",
    "image_input": "vision",
    "json_schema": "json_schema",
    "stream_usage": "streamed_usage",
}
ERROR_KINDS = ("rate_limited", "auth", "context_length", "content_filter", "server")
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def reply_text(system: str | None, turns: int, last_user: str) -> str:
    return f"sys={system or '-'};turns={turns};last={last_user}"


@dataclass(frozen=True)
class Entry:
    """One provider in the conformance suite."""

    provider: str
    #: builds the fake upstream app speaking the provider's wire format
    make_app: Callable[[], web.Application]
    #: the config target for a fake at ``url`` (provider, custom_host, api_key, options...)
    target: Callable[[str], dict[str, Any]]
    #: capabilities the provider explicitly lacks; must match its ProviderSpec.unsupported
    unsupported: frozenset[str] = field(default_factory=frozenset)


def load_entries() -> list[Entry]:
    import importlib

    return [importlib.import_module(f"{__name__}.{name}").ENTRY for name in ENTRIES]


#: modules in this package that define ENTRY
ENTRIES: list[str] = [
    "openai",
    "azure_openai",
    "groq",
    "cohere",
    "snowflake_cortex",
    "snowflake_cortex_rest",
    "bedrock",
    "google",
    "vertex_ai",
    "anthropic",
]
