"""Guardrail fixtures: the scripted reply upstream, a webhook receiver, guarded clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.guardrails.servers import ReplyUpstream, WebhookReceiver
from tests.support import GatewayServer


@pytest.fixture(scope="session")
def reply() -> Iterator[ReplyUpstream]:
    with ReplyUpstream() as upstream:
        yield upstream


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def guard_config(
    reply: ReplyUpstream,
    *,
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "provider": "openai",
        "api_key": "sk-up",
        "custom_host": reply.url + "/v1",
    }
    if inputs is not None:
        config["input_guardrails"] = inputs
    if outputs is not None:
        config["output_guardrails"] = outputs
    config.update(fields)
    return config


def guarded(gateway: GatewayServer, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="unused",
        max_retries=0,
        timeout=15,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


def post(gateway: GatewayServer, config: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    """A raw POST /v1/chat/completions (to read 446 bodies as they are)."""
    return httpx.post(
        gateway.base_url + "/chat/completions",
        json=body,
        headers={"x-portkey-config": json.dumps(config), "authorization": "Bearer unused"},
        timeout=15,
    )


def hook(check_id: str, deny: bool = True, **params: Any) -> dict[str, Any]:
    """One inline guardrail with one check, in Portkey's full shape."""
    return {"id": f"g-{check_id}", "deny": deny, "checks": [{"id": check_id, "parameters": params}]}
