"""Cohere's model list (``GET /v1/models``) in OpenAI's shape, one page at a time.

A page is ``{"models": [{"name", "endpoints", "context_length", ...}], "next_page_token"?}``
(https://docs.cohere.com/reference/list-models); ``name`` is what requests send as ``model``.
Models carry no creation time.
"""

from __future__ import annotations

from portkey.providers.base import Json

#: the provider route (Cohere's list lives under /v1 while chat and embed are /v2): the largest
#: page it serves
MODELS_ROUTE = "/v1/models?page_size=1000"
OWNER = "cohere"


def parse_models(wire: Json) -> Json:
    items = wire["models"]
    if not isinstance(items, list):
        raise TypeError("'models' is not a list")
    data = []
    for item in items:
        name = item["name"]
        if not isinstance(name, str) or not name:
            raise TypeError(f"a model name is not a string: {name!r}")
        data.append({"id": name, "object": "model", "created": 0, "owned_by": OWNER})
    return {"object": "list", "data": data}


def next_page(wire: Json) -> dict[str, str] | None:
    token = wire.get("next_page_token")
    return {"page_token": token} if isinstance(token, str) and token else None
