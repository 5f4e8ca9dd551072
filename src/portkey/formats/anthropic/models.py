"""Anthropic's model list (``GET /v1/models``) in OpenAI's shape, one page at a time.

A page is ``{"data": [{"type": "model", "id", "display_name", "created_at"}], "has_more",
"first_id", "last_id"}``, newest first; ``created_at`` is an RFC 3339 time
(https://docs.anthropic.com/en/api/models-list). The next page is asked with
``after_id=<last_id>`` while ``has_more`` is true.
"""

from __future__ import annotations

from datetime import UTC, datetime

from portkey.providers.base import Json

#: the provider route: the largest page Anthropic serves (1 to 1000)
MODELS_ROUTE = "/models?limit=1000"
OWNER = "anthropic"


def epoch_seconds(stamp: object) -> int:
    """An RFC 3339 time as Unix seconds; 0 when absent (Anthropic's own "unknown")."""
    if stamp is None:
        return 0
    if not isinstance(stamp, str):
        raise TypeError(f"created_at is not a string: {stamp!r}")
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_models(wire: Json) -> Json:
    items = wire["data"]
    if not isinstance(items, list):
        raise TypeError("'data' is not a list")
    data = []
    for item in items:
        model_id = item["id"]
        if not isinstance(model_id, str) or not model_id:
            raise TypeError(f"a model id is not a string: {model_id!r}")
        created = epoch_seconds(item.get("created_at"))
        data.append({"id": model_id, "object": "model", "created": created, "owned_by": OWNER})
    return {"object": "list", "data": data}


def next_page(wire: Json) -> dict[str, str] | None:
    last = wire.get("last_id")
    if wire.get("has_more") is True and isinstance(last, str) and last:
        return {"after_id": last}
    return None
