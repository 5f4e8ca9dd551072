"""Embeddings from translating providers honour OpenAI's encoding_format (base64 or floats)."""

from __future__ import annotations

import base64
import struct

import httpx
import orjson

from tests.fakes.gemini import make_app
from tests.fakes.runner import AppServer
from tests.support import GatewayServer


def _embed(gateway: GatewayServer, url: str, encoding: str) -> list[object]:
    config = {"provider": "google", "custom_host": f"{url}/v1beta", "api_key": "AIzaSy-fake-key"}
    resp = httpx.post(
        f"{gateway.base_url}/embeddings",
        json={
            "model": "text-embedding-004",
            "input": ["one", "three"],
            "encoding_format": encoding,
        },
        headers={"x-portkey-config": orjson.dumps(config).decode()},
    )
    assert resp.status_code == 200, resp.text
    return [item["embedding"] for item in resp.json()["data"]]


def test_base64_embeddings_decode_to_the_float_answer(gateway: GatewayServer) -> None:
    with AppServer(make_app()) as fake:
        floats = _embed(gateway, fake.url, "float")
        encoded = _embed(gateway, fake.url, "base64")
    assert all(isinstance(v, list) and v for v in floats)
    assert all(isinstance(v, str) for v in encoded)
    for vector, text in zip(floats, encoded, strict=True):
        assert isinstance(vector, list) and isinstance(text, str)
        raw = base64.b64decode(text)
        decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
        assert decoded == tuple(
            struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector))
        )
