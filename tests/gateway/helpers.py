"""Small builders shared by the routing, retry and header tests (clients, targets, lookups)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import openai
from openai import AsyncOpenAI, OpenAI

from tests.fakes import FakeUpstream, RecordedRequest
from tests.support import GatewayServer

MESSAGES = [{"role": "user", "content": "hi"}]


def uid() -> str:
    """A token unique to one test: tags api keys and model strings (the fake is shared)."""
    return uuid.uuid4().hex[:12]


def config_header(config: dict[str, Any] | str) -> str:
    return config if isinstance(config, str) else json.dumps(config)


def client(
    gateway: GatewayServer,
    config: dict[str, Any] | str | None = None,
    *,
    api_key: str = "sk-client-default",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> OpenAI:
    """The official OpenAI SDK pointed at the gateway, with its own retries off."""
    default_headers = dict(headers or {})
    if config is not None:
        default_headers["x-portkey-config"] = config_header(config)
    return OpenAI(
        base_url=gateway.base_url,
        api_key=api_key,
        max_retries=0,
        timeout=timeout,
        default_headers=default_headers,
    )


def async_client(
    gateway: GatewayServer,
    config: dict[str, Any] | str | None = None,
    *,
    api_key: str = "sk-client-default",
    headers: dict[str, str] | None = None,
) -> AsyncOpenAI:
    default_headers = dict(headers or {})
    if config is not None:
        default_headers["x-portkey-config"] = config_header(config)
    return AsyncOpenAI(
        base_url=gateway.base_url,
        api_key=api_key,
        max_retries=0,
        timeout=10.0,
        default_headers=default_headers,
    )


def target(fake: FakeUpstream, model: str | None = None, **fields: Any) -> dict[str, Any]:
    """An OpenAI target on the fake upstream; `model` (a fake script) goes in override_params."""
    out: dict[str, Any] = {"provider": "openai", "custom_host": fake.base_url}
    if model is not None:
        out["override_params"] = {"model": model}
    out.update(fields)
    return out


def chat(c: OpenAI, model: str = "gpt-4o", **extra: Any) -> Any:
    """POST /v1/chat/completions; returns the raw response (headers + parse())."""
    return c.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, **extra)


def chat_error(c: OpenAI, model: str = "gpt-4o", **extra: Any) -> openai.APIStatusError:
    """POST a chat request that must fail; returns the SDK's status error."""
    try:
        chat(c, model, **extra)
    except openai.APIStatusError as exc:
        return exc
    raise AssertionError("the request succeeded, an error was expected")


def content(raw: Any) -> str:
    return str(raw.parse().choices[0].message.content)


def sent_with_key(fake: FakeUpstream, key: str) -> list[RecordedRequest]:
    """Requests the fake received carrying `key` as Bearer token or api-key header."""
    return [
        r
        for r in fake.requests
        if r.headers.get("authorization") == f"Bearer {key}" or r.headers.get("api-key") == key
    ]


def sent_models(fake: FakeUpstream, tag: str) -> list[str]:
    """Models of the chat/completion/embedding requests whose model string holds `tag`."""
    return [
        str(r.body.get("model"))
        for r in fake.requests
        if isinstance(r.body, dict) and tag in str(r.body.get("model"))
    ]
