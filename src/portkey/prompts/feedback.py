"""``POST /v1/feedback`` (Portkey's shape): a value (-10..10) and weight (0..1) for a trace.

``{"trace_id", "value", "weight"?, "metadata"?}``, or a list of them. The write runs in a
thread; the answer is ``{"status": "success", "message", "feedback_ids"}``.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import orjson

from portkey.errors import GatewayError, InvalidRequest, StoreUnavailable
from portkey.gateway.responses import Receive, Scope, Send, send_error, send_json
from portkey.prompts.endpoints import authenticate

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp


def parse_feedback(item: Any, where: str) -> tuple[str, float, float, dict[str, Any]]:
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    unknown = set(item) - {"trace_id", "value", "weight", "metadata"}
    if unknown:
        raise InvalidRequest(f"{where}: unknown field(s) {sorted(unknown)}", param=where)
    trace_id = item.get("trace_id")
    if not isinstance(trace_id, str) or not trace_id or len(trace_id) > 200:
        raise InvalidRequest(f"{where}.trace_id must be a non-empty string", param="trace_id")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not -10 <= value <= 10:
        raise InvalidRequest(f"{where}.value must be a number from -10 to 10", param="value")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        raise InvalidRequest(f"{where}.weight must be a number from 0 to 1", param="weight")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidRequest(f"{where}.metadata must be an object", param="metadata")
    if not math.isfinite(float(value)):
        raise InvalidRequest(f"{where}.value must be finite", param="value")
    return trace_id, float(value), float(weight), metadata


async def handle(app: GatewayApp, scope: Scope, receive: Receive, send: Send) -> None:
    from portkey.gateway.app import read_body

    try:
        if app.prompts is None:
            raise StoreUnavailable("the feedback store is not started yet")
        authenticate(app, scope)
        raw = await read_body(scope, receive, 1024 * 1024)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        if not items or len(items) > 1000:
            raise InvalidRequest("send 1 to 1000 feedback objects")
        parsed = [parse_feedback(item, f"feedback[{i}]" if isinstance(data, list) else "body")
                  for i, item in enumerate(items)]  # fmt: skip
        store = app.prompts.store
        ids = [await asyncio.to_thread(store.add_feedback, t, v, w, m) for t, v, w, m in parsed]
    except GatewayError as exc:
        await send_error(send, exc)
        return
    body = {"status": "success", "message": "Feedback successfully saved", "feedback_ids": ids}
    await send_json(send, 200, orjson.dumps(body))
