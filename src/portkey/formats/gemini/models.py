"""The Gemini API's model list (``GET /v1beta/models``) in OpenAI's shape, one page at a time.

A page is ``{"models": [{"name": "models/gemini-2.5-flash", "displayName", ...}],
"nextPageToken"?}`` (https://ai.google.dev/api/models#method:-models.list); the id is the name
without ``models/``, which is what chat requests name. Models carry no creation time.
"""

from __future__ import annotations

from portkey.providers.base import Json

#: the provider route: the largest page the Gemini API serves
MODELS_ROUTE = "/models?pageSize=1000"
OWNER = "google"


def parse_models(wire: Json) -> Json:
    items = wire.get("models", [])  # an account with no model gets {} (no "models" key)
    if not isinstance(items, list):
        raise TypeError("'models' is not a list")
    data = []
    for item in items:
        name = item["name"]
        if not isinstance(name, str) or not name.removeprefix("models/"):
            raise TypeError(f"a model name is not a string: {name!r}")
        model_id = name.removeprefix("models/")
        data.append({"id": model_id, "object": "model", "created": 0, "owned_by": OWNER})
    return {"object": "list", "data": data}


def next_page(wire: Json) -> dict[str, str] | None:
    token = wire.get("nextPageToken")
    return {"pageToken": token} if isinstance(token, str) and token else None
