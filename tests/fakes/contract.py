"""The conformance contract's behaviour, independent of any wire format.

A fake reads its native request into a ``Transcript``; ``decide`` turns the model name's
tokens and that transcript into a ``Reply`` the fake then writes in its own format.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.providers.conformance import ERROR_KINDS, reply_text

TOOL_NAME = "get_weather"
TOOL_ARGS: dict[str, Any] = {"city": "Paris"}
TOOL_ARGS_JSON = '{"city": "Paris"}'
FLAKY = "flaky-rate_limited"


@dataclass
class Transcript:
    """What the contract needs to know about one native request."""

    system: str | None = None
    turns: int = 0
    last_user: str = ""
    tool_result: str | None = None
    image_type: str | None = None
    wants_json: bool = False
    offers_tool: bool = False


@dataclass(frozen=True)
class Reply:
    text: str | None
    tool_call: bool = False

    @property
    def finish(self) -> str:
        """In OpenAI's terms; each fake maps it to its own."""
        return "tool_calls" if self.tool_call else "stop"


def tokens(model: str) -> set[str]:
    return set(model.split("+"))


def error_kind(model: str) -> str | None:
    """The ``error-<kind>`` token of a model name, if any."""
    for token in tokens(model):
        kind = token.removeprefix("error-")
        if kind != token and kind in ERROR_KINDS:
            return kind
    return None


def decide(model: str, transcript: Transcript) -> Reply:
    said = tokens(model)
    if "tool" in said:
        if transcript.tool_result is not None:
            return Reply(f"tool-result:{transcript.tool_result}")
        if transcript.offers_tool:
            return Reply(None, tool_call=True)
    if "image" in said:
        return Reply(f"image:{transcript.image_type or 'none'}")
    if "json" in said:
        return Reply('{"ok": true}' if transcript.wants_json else "no-json")
    return Reply(reply_text(transcript.system, transcript.turns, transcript.last_user))


def media_type(url: str) -> str:
    """The media type of a data URL, or the one a web URL's file name suggests."""
    if url.startswith("data:"):
        return url[5:].split(";", 1)[0].split(",", 1)[0] or "none"
    return mimetypes.guess_type(url)[0] or "unknown"


def pieces(text: str, count: int = 3) -> list[str]:
    """``text`` in at least two non-empty parts (streams must deliver >= 2 deltas)."""
    size = max(1, -(-len(text) // count))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    return parts if len(parts) >= 2 else [text[:1], text[1:]] if len(text) > 1 else [text, ""]


def api_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("api-key", "")


class Flaky:
    """``flaky-rate_limited``: the first request per api key fails, later ones pass."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def trips(self, model: str, key: str) -> bool:
        if FLAKY not in tokens(model) or key in self._seen:
            return False
        self._seen.add(key)
        return True


FLAKY_STATE = web.AppKey("flaky", Flaky)
REQUESTS = web.AppKey("requests", list)  # (path, headers, body) of every request seen


async def record(request: web.Request) -> Any:
    """The request's JSON body, after noting the request in the app's log."""
    body = await request.json()
    request.app[REQUESTS].append((request.path_qs, dict(request.headers), body))
    return body


def new_app() -> web.Application:
    app = web.Application()
    app[FLAKY_STATE] = Flaky()
    app[REQUESTS] = []
    return app
