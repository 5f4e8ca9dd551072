"""Bad input of every kind gets a 4xx with an OpenAI-style error body naming the culprit:
never a 500, never a hang. An upstream 200 that is no answer is a 502, never a success.

Malformed requests go out as raw HTTP (httpx, sync) so nothing cleans them up on the way.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer

MESSAGES = [{"role": "user", "content": "hi"}]
GOOD = {"model": "gpt-4o", "messages": MESSAGES}
AUTH = {"authorization": "Bearer sk-bad-input"}
INVALID = "invalid_request_error"


def provider(fake: FakeUpstream) -> dict[str, str]:
    return {**AUTH, "x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}


def post(
    url: str,
    body: bytes | dict[str, Any] | Iterator[bytes] | None,
    headers: dict[str, str],
    *,
    path: str = "/v1/chat/completions",
    method: str = "POST",
) -> httpx.Response:
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    started = time.monotonic()
    resp = httpx.request(method, url + path, content=content, headers=headers, timeout=5.0)
    assert time.monotonic() - started < 3.0, "the gateway took too long to refuse"
    return resp


def error_of(
    resp: httpx.Response,
    status: int,
    *,
    param: str | None,
    type_: str = INVALID,
    code: str | None = None,
) -> dict[str, Any]:
    """Check the status and the OpenAI error shape; return the error object."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == type_
    assert error["param"] == param
    assert error["code"] == (code if code is not None else type_)
    return error  # type: ignore[no-any-return]


# -- the request body ------------------------------------------------------------------------

BODY_CASES: list[tuple[str, bytes, str | None, str | None, str]] = [
    # id, raw body, param, code (None: the type), message
    ("malformed-json", b'{"model": "gpt-4o",', None, None, "request body is not valid JSON"),
    ("json-array", b'[{"model": "gpt-4o"}]', None, None, "request body must be a JSON object"),
    ("json-string", b'"hello"', None, None, "request body must be a JSON object"),
    ("json-null", b"null", None, None, "request body must be a JSON object"),
    ("empty-body", b"", None, None, "request body is not valid JSON"),
    ("nan", b'{"model": "gpt-4o", "temperature": NaN}', None, None, "not valid JSON"),
    ("bad-utf8", b'{"model": "gpt-4o\xff", "messages": []}', None, None, "not valid JSON"),
    (
        "missing-messages",
        b'{"model": "gpt-4o"}',
        "messages",
        "missing_required_parameter",
        "'messages' is required",
    ),
    (
        "messages-not-a-list",
        b'{"model": "gpt-4o", "messages": "hi"}',
        "messages",
        "invalid_type",
        "'messages' must be a list of messages",
    ),
    (
        "messages-null",
        b'{"model": "gpt-4o", "messages": null}',
        "messages",
        "invalid_type",
        "'messages' must be a list of messages",
    ),
    (
        "messages-empty",
        b'{"model": "gpt-4o", "messages": []}',
        "messages",
        None,
        "'messages' must not be empty",
    ),
    (
        "message-without-role",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}, {"content": "b"}]}',
        "messages[1]",
        None,
        "messages[1] must be an object with a string 'role'",
    ),
    (
        "message-not-an-object",
        b'{"model": "gpt-4o", "messages": ["hi"]}',
        "messages[0]",
        None,
        "messages[0] must be an object with a string 'role'",
    ),
    (
        "message-role-not-a-string",
        b'{"model": "gpt-4o", "messages": [{"role": 1, "content": "a"}]}',
        "messages[0]",
        None,
        "messages[0] must be an object with a string 'role'",
    ),
    (
        "model-a-number",
        b'{"model": 4, "messages": [{"role": "user", "content": "a"}]}',
        "model",
        "invalid_type",
        "'model' must be a string",
    ),
    (
        "model-null",
        b'{"model": null, "messages": [{"role": "user", "content": "a"}]}',
        "model",
        "invalid_type",
        "'model' must be a string",
    ),
    (
        "model-a-list",
        b'{"model": ["gpt-4o"], "messages": [{"role": "user", "content": "a"}]}',
        "model",
        "invalid_type",
        "'model' must be a string",
    ),
    (
        "missing-model",
        b'{"messages": [{"role": "user", "content": "a"}]}',
        "model",
        "missing_required_parameter",
        "'model' is required (or set override_params.model in the config)",
    ),
    (
        "stream-a-string",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}], "stream": "true"}',
        "stream",
        "invalid_type",
        "'stream' must be a boolean",
    ),
    (
        "stream-a-number",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}], "stream": 1}',
        "stream",
        "invalid_type",
        "'stream' must be a boolean",
    ),
    (
        "temperature-a-string",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}], "temperature": "0.5"}',
        "temperature",
        "invalid_type",
        "'temperature' must be a number",
    ),
    (
        "temperature-a-bool",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}], "temperature": true}',
        "temperature",
        "invalid_type",
        "'temperature' must be a number",
    ),
    (
        "max-tokens-a-float",
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}], "max_tokens": 1.5}',
        "max_tokens",
        "invalid_type",
        "'max_tokens' must be an integer",
    ),
]


@pytest.mark.parametrize(
    ("raw", "param", "code", "message"),
    [case[1:] for case in BODY_CASES],
    ids=[case[0] for case in BODY_CASES],
)
def test_bad_chat_body_is_a_400_naming_the_field(
    gateway: GatewayServer,
    fake: FakeUpstream,
    raw: bytes,
    param: str | None,
    code: str | None,
    message: str,
) -> None:
    marker = uuid.uuid4().hex
    resp = post(gateway.url, raw, {**provider(fake), "x-portkey-trace-id": marker})
    error = error_of(resp, 400, param=param, code=code)
    assert message in error["message"]
    assert not [r for r in fake.requests if r.headers.get("x-portkey-trace-id") == marker]


@pytest.mark.parametrize(
    ("path", "body", "param", "code", "message"),
    [
        ("/v1/completions", {"model": "m"}, "prompt", "missing_required_parameter", "'prompt'"),
        ("/v1/completions", {"model": "m", "prompt": 3}, "prompt", "invalid_type", "'prompt'"),
        ("/v1/embeddings", {"model": "m"}, "input", "missing_required_parameter", "'input'"),
        ("/v1/embeddings", {"model": "m", "input": {}}, "input", "invalid_type", "'input'"),
        ("/v1/embeddings", {"model": 1, "input": "x"}, "model", "invalid_type", "'model'"),
    ],
)
def test_bad_completions_and_embeddings_bodies(
    gateway: GatewayServer,
    fake: FakeUpstream,
    path: str,
    body: dict[str, Any],
    param: str,
    code: str,
    message: str,
) -> None:
    resp = post(gateway.url, body, provider(fake), path=path)
    assert message in error_of(resp, 400, param=param, code=code)["message"]


def test_sdk_sees_a_bad_request_error_naming_the_field(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    client = OpenAI(
        base_url=gateway.base_url,
        api_key="sk-bad-input",
        max_retries=0,
        timeout=5.0,
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[], temperature="hot")  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": "'temperature' must be a number",
        "type": INVALID,
        "param": "temperature",
        "code": "invalid_type",
    }


def test_missing_model_is_fine_when_the_config_sets_it(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"cfg-{uuid.uuid4().hex[:8]}"
    config = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "override_params": {"model": model},
    }
    resp = post(
        gateway.url, {"messages": MESSAGES}, {**AUTH, "x-portkey-config": json.dumps(config)}
    )
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == f"Hello from {model}"


def test_missing_model_is_a_400_when_only_some_targets_set_it(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    host = fake.base_url
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "custom_host": host, "override_params": {"model": "a"}},
            {"provider": "openai", "custom_host": host},
        ],
    }
    resp = post(
        gateway.url, {"messages": MESSAGES}, {**AUTH, "x-portkey-config": json.dumps(config)}
    )
    error_of(resp, 400, param="model", code="missing_required_parameter")


# -- body size -------------------------------------------------------------------------------

SMALL_LIMIT = "server:\n  max_body_bytes: 2048\n"


def padded(size: int) -> bytes:
    """A valid chat body of exactly `size` bytes."""
    base = json.dumps({"model": "gpt-4o", "messages": MESSAGES, "user": ""}).encode()
    filler = size - len(base)
    assert filler >= 0
    return base.replace(b'"user": ""', b'"user": "' + b"x" * filler + b'"')


def chunked(raw: bytes, piece: int = 500) -> Iterator[bytes]:
    for i in range(0, len(raw), piece):
        yield raw[i : i + piece]


def test_body_over_the_limit_with_content_length_is_a_413(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    gw = make_gateway(SMALL_LIMIT)
    raw = padded(2049)
    assert len(raw) == 2049
    error = error_of(post(gw.url, raw, provider(fake)), 413, param=None)
    assert error["message"] == "request body is larger than 2048 bytes"
    ok = post(gw.url, padded(2048), provider(fake))  # the limit itself is allowed
    assert ok.status_code == 200


def test_body_over_the_limit_with_chunked_transfer_is_a_413(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    gw = make_gateway(SMALL_LIMIT)
    resp = post(gw.url, chunked(padded(5000)), provider(fake))
    assert "content-length" not in resp.request.headers
    assert resp.request.headers["transfer-encoding"] == "chunked"
    error = error_of(resp, 413, param=None)
    assert error["message"] == "request body is larger than 2048 bytes"
    ok = post(gw.url, chunked(padded(2000)), provider(fake))
    assert ok.status_code == 200


def test_declared_body_over_the_default_10mb_is_a_413(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    limit = 10 * 1024 * 1024
    with httpx.Client(timeout=5.0) as http:
        # the declared length is refused before the body is read
        resp = http.post(
            gateway.base_url + "/chat/completions",
            content=chunked(padded(limit + 1), 1024 * 1024),
            headers={**provider(fake), "content-length": str(limit + 1)},
        )
    error = error_of(resp, 413, param=None)
    assert error["message"] == f"request body is larger than {limit} bytes"


# -- headers ---------------------------------------------------------------------------------

CONFIG_CASES: list[tuple[str, str, str, str]] = [
    # id, x-portkey-config, param, message (the full text after "invalid config: " when JSON)
    ("not-json", "{nope", "x-portkey-config", "x-portkey-config is not valid JSON"),
    (
        "json-array",
        '[{"provider": "openai"}]',
        "x-portkey-config",
        "x-portkey-config must be a JSON object",
    ),
    (
        "unknown-top-level-key",
        '{"provider": "openai", "bogus": 1}',
        "config",
        "invalid config: config: unknown field(s): bogus",
    ),
    (
        "unknown-key-in-a-target",
        '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai", "colour": "red"}]}',
        "config.targets[0]",
        "invalid config: config.targets[0]: unknown field(s): colour",
    ),
    (
        "unknown-key-in-retry",
        '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai", "retry": {"tries": 2}}]}',
        "config.targets[0].retry.tries",
        "invalid config: config.targets[0].retry.tries: unknown field",
    ),
    (
        "retry-attempts-a-string",
        '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai", "retry": {"attempts": "x"}}]}',
        "config.targets[0].retry.attempts",
        "invalid config: config.targets[0].retry.attempts: Input should be a valid integer",
    ),
    (
        "unknown-strategy-mode",
        '{"strategy": {"mode": "roundrobin"}, "targets": [{"provider": "openai"}]}',
        "config.strategy.mode",
        "invalid config: config.strategy.mode: unknown strategy mode 'roundrobin'",
    ),
    (
        "conditional-then-names-no-target",
        json.dumps(
            {
                "strategy": {
                    "mode": "conditional",
                    "conditions": [{"query": {"metadata.tier": "pro"}, "then": "ghost"}],
                },
                "targets": [{"name": "real", "provider": "openai"}],
            }
        ),
        "config.strategy.conditions[0].then",
        "invalid config: config.strategy.conditions[0].then: no target is named 'ghost'",
    ),
    (
        "unknown-provider",
        '{"strategy": {"mode": "single"}, "targets": [{"provider": "openia"}]}',
        "config.targets[0].provider",
        "invalid config: config.targets[0].provider: unknown provider 'openia'",
    ),
    (
        "no-provider",
        "{}",
        "config",
        "invalid config: config: a target needs 'provider' or 'virtual_key'",
    ),
    (
        "targets-without-strategy",
        '{"targets": [{"provider": "openai"}]}',
        "config",
        "invalid config: config: 'targets' needs a 'strategy'",
    ),
    (
        "negative-weight",
        '{"strategy": {"mode": "loadbalance"}, "targets": [{"provider": "openai", "weight": -1}]}',
        "config.targets[0].weight",
        "invalid config: config.targets[0].weight: Input should be greater than or equal to 0",
    ),
    (
        "undefined-config-id",
        "pc-nowhere-123",
        "x-portkey-config",
        "x-portkey-config: no config named 'pc-nowhere-123' in <defaults>",
    ),
    (
        "custom-host-not-a-url",
        '{"provider": "openai", "custom_host": "localhost:8080/v1"}',
        "config.custom_host",
        "invalid config: config.custom_host: custom_host must be an http(s) URL",
    ),
    (
        "custom-host-bad-port",
        '{"provider": "openai", "custom_host": "http://127.0.0.1:99999/v1"}',
        "config.custom_host",
        "invalid config: config.custom_host: custom_host must be an http(s) URL",
    ),
    (
        "custom-host-ftp",
        '{"provider": "openai", "custom_host": "ftp://127.0.0.1/v1"}',
        "config.custom_host",
        "invalid config: config.custom_host: custom_host must be an http(s) URL",
    ),
    (
        "api-key-with-a-newline",
        '{"provider": "openai", "api_key": "sk-secret-1\\n"}',
        "config.api_key",
        "invalid config: config.api_key: api_key holds a control character (a newline?)",
    ),
    (
        "forward-header-not-a-token",
        '{"provider": "openai", "forward_headers": ["x-ok", "x\\u2603"]}',
        "config.forward_headers",
        "invalid config: config.forward_headers: 'x\u2603' is not an HTTP header name",
    ),
]


@pytest.mark.parametrize(
    ("config", "param", "message"),
    [case[1:] for case in CONFIG_CASES],
    ids=[case[0] for case in CONFIG_CASES],
)
def test_bad_config_header_is_a_400_naming_the_json_path(
    gateway: GatewayServer, config: str, param: str, message: str
) -> None:
    resp = post(gateway.url, GOOD, {**AUTH, "x-portkey-config": config})
    error = error_of(resp, 400, param=param)
    assert error["message"].startswith(message), error["message"]
    assert "sk-secret" not in error["message"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("x-portkey-metadata", "{not json", "x-portkey-metadata is not valid JSON"),
        ("x-portkey-metadata", '["a"]', "x-portkey-metadata must be a JSON object"),
        ("x-portkey-metadata", '{"user": 7}', "x-portkey-metadata.user must be a string"),
        ("x-portkey-metadata", '{"a": {"b": "c"}}', "x-portkey-metadata.a must be a string"),
        ("x-portkey-request-timeout", "soon", "x-portkey-request-timeout must be a positive"),
        ("x-portkey-request-timeout", "0", "x-portkey-request-timeout must be a positive"),
        ("x-portkey-request-timeout", "-100", "x-portkey-request-timeout must be a positive"),
        ("x-portkey-request-timeout", "1.5", "x-portkey-request-timeout must be a positive"),
    ],
)
def test_bad_portkey_header_is_a_400_naming_the_header(
    gateway: GatewayServer, fake: FakeUpstream, name: str, value: str, message: str
) -> None:
    resp = post(gateway.url, GOOD, {**provider(fake), name: value})
    assert error_of(resp, 400, param=name)["message"].startswith(message)


def test_unknown_provider_header_is_a_400(gateway: GatewayServer) -> None:
    resp = post(gateway.url, GOOD, {**AUTH, "x-portkey-provider": "nosuch"})
    error = error_of(resp, 400, param="config.provider")
    assert error["message"].startswith("invalid config: config.provider: unknown provider 'nosuch'")


def test_no_route_at_all_is_a_400(gateway: GatewayServer) -> None:
    resp = post(gateway.url, GOOD, AUTH)
    error = error_of(resp, 400, param="x-portkey-provider", code="missing_provider")
    assert error["message"].startswith("no route: send x-portkey-config, x-portkey-provider")


def test_missing_api_key_is_a_401(gateway: GatewayServer, fake: FakeUpstream) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    resp = post(gateway.url, GOOD, headers)
    error = error_of(resp, 401, param="authorization", type_="authentication_error")
    assert error["message"].startswith("no API key for provider openai")


# -- paths and methods -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/complete", "/v1/images/generations", "/nope", "/"])
def test_unknown_path_is_a_404(gateway: GatewayServer, fake: FakeUpstream, path: str) -> None:
    resp = post(gateway.url, GOOD, provider(fake), path=path)
    error = error_of(resp, 404, param=None, type_="not_found_error", code="unknown_url")
    assert path in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),
        ("PUT", "/v1/chat/completions"),
        ("DELETE", "/v1/embeddings"),
        ("GET", "/v1/completions"),
        ("POST", "/v1/models"),
    ],
)
def test_wrong_method_is_a_405(
    gateway: GatewayServer, fake: FakeUpstream, method: str, path: str
) -> None:
    body = None if method in ("GET", "DELETE") else GOOD
    resp = post(gateway.url, body, provider(fake), path=path, method=method)
    error = error_of(resp, 405, param=None, type_="method_not_allowed")
    assert error["message"] == f"method {method} not allowed on {path}"


# -- upstream answers that are no answer -----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "stream", "message"),
    [
        ("malformed", False, "upstream sent invalid JSON"),
        ("error-200", False, "upstream answered 200 with an error: fake upstream error"),
        ("error-200", True, "upstream answered 200 with an error: fake upstream error"),
    ],
)
def test_upstream_200_that_is_no_answer_is_a_502(
    gateway: GatewayServer, fake: FakeUpstream, model: str, stream: bool, message: str
) -> None:
    body = {**GOOD, "model": model, "stream": stream}
    resp = post(gateway.url, body, provider(fake))
    error = error_of(resp, 502, param=None, type_="upstream_bad_response")
    assert error["message"].startswith(message)
    assert resp.headers["x-portkey-provider"] == "openai"


def test_gateway_still_serves_after_a_run_of_bad_requests(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    with httpx.Client(timeout=5.0) as http:  # one kept-alive connection for all of them
        url = gateway.base_url + "/chat/completions"
        for raw in (b"{", b"[]", b"", b'{"messages": 1}'):
            assert http.post(url, content=raw, headers=provider(fake)).status_code == 400
        ok = http.post(url, json=GOOD, headers=provider(fake))
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "Hello from gpt-4o"
