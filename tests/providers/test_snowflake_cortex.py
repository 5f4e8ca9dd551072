"""Snowflake Cortex: auth modes (PAT, key-pair JWT), the REST complete format, errors, and the
gateway end to end against the Cortex fake.

Shapes follow Snowflake's Cortex REST API docs and its Cortex Inference OpenAPI spec; the JWT
follows https://docs.snowflake.com/en/developer-guide/sql-api/authenticating.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from openai import OpenAI

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.formats.cortex_complete import CortexStreamDecoder, build_request, parse_response
from portkey.providers import _snowflake, snowflake_cortex, snowflake_cortex_rest
from portkey.providers.base import CHAT, SignRequest
from tests.fakes import cortex as fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.support import GatewayServer

USER = {"role": "user", "content": "What is Cortex?"}
CALL = {
    "id": "tooluse_IDVjtkF9Qq2",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(token: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The claims of an RS256 JWT, after checking its signature against ``key``'s public key."""
    header, payload, signature = token.split(".")
    assert orjson.loads(b64url_decode(header)) == {"alg": "RS256", "typ": "JWT"}
    key.public_key().verify(
        b64url_decode(signature),
        f"{header}.{payload}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = orjson.loads(b64url_decode(payload))
    return claims


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def sign(
    auth: _snowflake.SnowflakeAuth, options: dict[str, str], api_key: str | None = None
) -> dict[str, str]:
    request = SignRequest("POST", "https://x/api", [], b"{}", api_key, options)
    return dict(asyncio.run(auth(request)))


# -- auth: a table of modes, chosen by the options set --------------------------------


def test_programmatic_access_token() -> None:
    headers = sign(_snowflake.SnowflakeAuth(), {"snowflake_account": "myorg-myacct"}, "pat-123")
    assert headers == {
        "Authorization": "Bearer pat-123",
        "X-Snowflake-Authorization-Token-Type": "PROGRAMMATIC_ACCESS_TOKEN",
    }


def test_no_credentials_at_all_is_an_auth_failure() -> None:
    with pytest.raises(AuthFailed):
        sign(_snowflake.SnowflakeAuth(), {"snowflake_account": "myorg-myacct"})


@pytest.mark.parametrize(
    ("account", "user", "subject"),
    [
        ("myorg-myacct", "jsmith", "MYORG-MYACCT.JSMITH"),
        ("xy12345.us-east-2.aws", "svc_cortex", "XY12345.SVC_CORTEX"),
    ],
)
def test_key_pair_jwt(rsa_key: rsa.RSAPrivateKey, account: str, user: str, subject: str) -> None:
    options = {
        "snowflake_account": account,
        "snowflake_user": user,
        "snowflake_private_key": pem(rsa_key),
    }
    headers = sign(_snowflake.SnowflakeAuth(clock=lambda: 1_700_000_000.0), options, "ignored")
    assert headers["X-Snowflake-Authorization-Token-Type"] == "KEYPAIR_JWT"
    claims = verified_claims(headers["Authorization"].removeprefix("Bearer "), rsa_key)
    assert claims == {
        "iss": f"{subject}.{fingerprint(rsa_key)}",
        "sub": subject,
        "iat": 1_700_000_000,
        "exp": 1_700_000_000 + _snowflake.JWT_LIFETIME_S,
    }
    assert claims["exp"] - claims["iat"] <= 3600


def test_jwt_is_cached_until_near_expiry(rsa_key: rsa.RSAPrivateKey) -> None:
    now = [1_700_000_000.0]
    auth = _snowflake.SnowflakeAuth(clock=lambda: now[0])
    options = {
        "snowflake_account": "a",
        "snowflake_user": "u",
        "snowflake_private_key": pem(rsa_key),
    }
    first = sign(auth, options)["Authorization"]
    now[0] += _snowflake.JWT_LIFETIME_S - _snowflake.JWT_REFRESH_S - 1
    assert sign(auth, options)["Authorization"] == first
    now[0] += 2
    renewed = sign(auth, options)["Authorization"]
    assert renewed != first
    assert verified_claims(renewed.removeprefix("Bearer "), rsa_key)["iat"] == int(now[0])
    other_user = sign(auth, {**options, "snowflake_user": "v"})["Authorization"]
    assert other_user != renewed


def test_encrypted_and_one_line_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    base = {"snowflake_account": "a", "snowflake_user": "u"}
    encrypted = {
        **base,
        "snowflake_private_key": pem(rsa_key, b"s3cret"),
        "snowflake_private_key_passphrase": "s3cret",
    }
    one_line = {**base, "snowflake_private_key": pem(rsa_key).replace("\n", "\\n")}
    for options in (encrypted, one_line):
        token = sign(_snowflake.SnowflakeAuth(), options)["Authorization"].removeprefix("Bearer ")
        assert verified_claims(token, rsa_key)["sub"] == "A.U"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"snowflake_user": "u", "snowflake_private_key": "PEM"}, InvalidRequest),  # no account
        (
            {"snowflake_account": "a", "snowflake_user": "u", "snowflake_private_key": "junk"},
            AuthFailed,
        ),
        (
            {
                "snowflake_account": "a",
                "snowflake_user": "u",
                "snowflake_private_key": pem(ec.generate_private_key(ec.SECP256R1())),
            },
            AuthFailed,
        ),
    ],
    ids=["no-account", "not-pem", "not-rsa"],
)
def test_unusable_key_pair_options(options: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        sign(_snowflake.SnowflakeAuth(), options)


def test_build_url_substitutes_the_account_by_name() -> None:
    url = _snowflake.build_url(_snowflake.BASE_URL, "/api/v2/x", {"snowflake_account": "org-acct"})
    assert url == "https://org-acct.snowflakecomputing.com/api/v2/x"
    hostile = _snowflake.build_url(_snowflake.BASE_URL, "", {"snowflake_account": "{0}{x!r}"})
    assert hostile == "https://{0}{x!r}.snowflakecomputing.com"


def test_specs() -> None:
    assert snowflake_cortex.SPEC.routes == {CHAT: "/api/v2/cortex/v1/chat/completions"}
    for spec in (snowflake_cortex.SPEC, snowflake_cortex_rest.SPEC):
        assert spec.sign is not None and spec.auth is None
        assert {o.name for o in spec.options} >= {
            "snowflake_account",
            "snowflake_user",
            "snowflake_private_key",
        }
        assert spec.unsupported == frozenset()
    assert all(rule.reason for rule in snowflake_cortex_rest.SPEC.params.values())


# -- errors -----------------------------------------------------------------------------

ERROR_CASES = [
    (429, {"message": "Too many requests.", "code": "390429"}, RateLimited),
    (401, {"message": "JWT token is invalid.", "code": "390144"}, AuthFailed),
    (403, {"message": "Cortex is not enabled.", "code": "390145"}, AuthFailed),
    (408, {"message": "timed out"}, UpstreamTimeout),
    (400, {"message": "max tokens of 4096 exceeded"}, ContextWindowExceeded),
    (400, {"message": "prompt is too long for the model's context window"}, ContextWindowExceeded),
    (400, {"message": "Response filtered by Cortex Guard"}, ContentFiltered),
    (400, {"message": "unknown model 'x'", "code": "399400"}, UpstreamError),
    (500, {"message": "Internal error"}, UpstreamError),
    (503, None, UpstreamError),
    # the OpenAI-compatible API may answer in OpenAI's envelope
    (
        400,
        {"error": {"message": "too long", "code": "context_length_exceeded"}},
        ContextWindowExceeded,
    ),
    (429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, RateLimited),
]


@pytest.mark.parametrize(("status", "body", "kind"), ERROR_CASES)
def test_classify_error(status: int, body: dict[str, Any] | None, kind: type[Exception]) -> None:
    error = _snowflake.classify_error(status, body, 1.5)
    assert type(error) is kind
    if kind is RateLimited:
        assert error.retry_after == 1.5
    if kind is UpstreamError:
        assert error.http_status == status


# -- the REST complete format: requests -------------------------------------------------

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain chat asks for JSON, not a stream",
        {"model": "mistral-large2", "messages": [{"role": "system", "content": "be brief"}, USER]},
        {
            "stream": False,
            "model": "mistral-large2",
            "messages": [{"role": "system", "content": "be brief"}, USER],
        },
    ),
    (
        "sampling and streaming",
        {
            "model": "m",
            "messages": [USER],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "n": 1,
        },
        {
            "stream": True,
            "model": "m",
            "messages": [USER],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 20,
        },
    ),
    (
        "tools become generic tool specs; a named tool choice",
        {
            "model": "m",
            "messages": [USER],
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "stream": False,
            "model": "m",
            "messages": [USER],
            "tools": [
                {
                    "tool_spec": {
                        "type": "generic",
                        "name": "get_weather",
                        "description": "Weather for a city",
                        "input_schema": TOOL["function"]["parameters"],
                    }
                }
            ],
            "tool_choice": {"type": "tool", "name": ["get_weather"]},
        },
    ),
    (
        "a tool round trip: tool_use items, results merged into one user turn",
        {
            "model": "m",
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [CALL, {**CALL, "id": "tooluse_2"}],
                },
                {"role": "tool", "tool_call_id": CALL["id"], "content": "sunny"},
                {"role": "tool", "tool_call_id": "tooluse_2", "content": "warm"},
            ],
        },
        {
            "stream": False,
            "model": "m",
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": "",
                    "content_list": [
                        {
                            "type": "tool_use",
                            "tool_use": {
                                "tool_use_id": call_id,
                                "name": "get_weather",
                                "input": {"city": "Paris"},
                            },
                        }
                        for call_id in (CALL["id"], "tooluse_2")
                    ],
                },
                {
                    "role": "user",
                    "content": "",
                    "content_list": [
                        {
                            "type": "tool_results",
                            "tool_results": {
                                "tool_use_id": call_id,
                                "name": "get_weather",
                                "content": [{"type": "text", "text": text}],
                            },
                        }
                        for call_id, text in ((CALL["id"], "sunny"), ("tooluse_2", "warm"))
                    ],
                },
            ],
        },
    ),
    (
        "images as base64 image items",
        {
            "model": "claude-3-5-sonnet",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    ],
                }
            ],
        },
        {
            "stream": False,
            "model": "claude-3-5-sonnet",
            "messages": [
                {
                    "role": "user",
                    "content": "what is this?",
                    "content_list": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "details": {
                                "type": "base64",
                                "content": "iVBO",
                                "content_type": "image/png",
                            },
                        },
                    ],
                }
            ],
        },
    ),
    (
        "json_schema",
        {
            "model": "m",
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "v", "schema": {"type": "object", "properties": {}}},
            },
        },
        {
            "stream": False,
            "model": "m",
            "messages": [USER],
            "response_format": {"type": "json", "schema": {"type": "object", "properties": {}}},
        },
    ),
    (
        "json_object asks for any object",
        {"model": "m", "messages": [USER], "response_format": {"type": "json_object"}},
        {
            "stream": False,
            "model": "m",
            "messages": [USER],
            "response_format": {"type": "json", "schema": {"type": "object"}},
        },
    ),
]


@pytest.mark.parametrize(
    ("canonical", "wire"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_complete_request(canonical: dict[str, Any], wire: dict[str, Any]) -> None:
    assert build_request(CHAT, canonical, {}) == ("/api/v2/cortex/inference:complete", wire)


REJECTED = [
    ("n", {"model": "m", "messages": [USER], "n": 3}),
    ("tool_choice", {"model": "m", "messages": [USER], "tool_choice": "none"}),
    ("tools", {"model": "m", "messages": [USER], "tools": [{"type": "file_search"}]}),
    ("messages", {"model": "m", "messages": [{"role": "function", "content": "x"}]}),
    (
        "messages",
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}],
                }
            ],
        },
    ),
    ("stop", {"model": "m", "messages": [USER], "stop": ["x"]}),  # dropped earlier by params
]


@pytest.mark.parametrize(("param", "canonical"), REJECTED)
def test_untranslatable_requests_are_refused_by_name(param: str, canonical: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(CHAT, canonical, {})
    assert info.value.param == param


# -- the REST complete format: answers and streams --------------------------------------

ANSWER = {
    "id": "d6b9c4f1-cortex",
    "created": 1723493954,
    "model": "claude-3-5-sonnet",
    "choices": [
        {
            "message": {
                "content": "Let me check.",
                "content_list": [
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "tool_use",
                        "tool_use": {
                            "tool_use_id": "tooluse_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                    },
                ],
            }
        }
    ],
    "usage": {"prompt_tokens": 390, "completion_tokens": 53, "total_tokens": 443},
}


def test_answer_with_text_and_a_tool_call() -> None:
    answer = parse_response(CHAT, ANSWER)
    assert answer["id"] == "d6b9c4f1-cortex" and answer["created"] == 1723493954
    assert answer["model"] == "claude-3-5-sonnet" and answer["object"] == "chat.completion"
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "tooluse_1" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert answer["usage"]["total_tokens"] == 443


def test_plain_answer_and_explicit_finish_reason() -> None:
    plain = {**ANSWER, "choices": [{"message": {"content": "Hi."}}]}
    assert parse_response(CHAT, plain)["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi.",
    }
    assert parse_response(CHAT, plain)["choices"][0]["finish_reason"] == "stop"
    capped = {**ANSWER, "choices": [{"message": {"content": "Hi"}, "finish_reason": "max_tokens"}]}
    assert parse_response(CHAT, capped)["choices"][0]["finish_reason"] == "length"


def chunk(delta: dict[str, Any], usage: dict[str, Any] | None = None, **extra: Any) -> bytes:
    body = {
        "id": "65c5e2ac",
        "created": 1723493954,
        "model": "mistral-7b",
        "choices": [{"delta": delta, **extra}],
    }
    body["usage"] = usage or {}
    return b"data: " + orjson.dumps(body) + b"\n\n"


TEXT_STREAM = chunk(
    {"content": "Cor", "text": "Cor"},
    {"prompt_tokens": 57, "completion_tokens": 1, "total_tokens": 58},
) + chunk(
    {"content": "tex", "text": "tex"},
    {"prompt_tokens": 57, "completion_tokens": 2, "total_tokens": 59},
)
TOOL_STREAM = (
    chunk(
        {
            "type": "tool_use",
            "tool_use_id": "tooluse_Q1",
            "name": "get_weather",
            "input": "",
            "text": "",
        }
    )
    + chunk({"type": "tool_use", "input": '{"city": ', "text": ""})
    + chunk({"type": "tool_use", "input": '"Paris"}', "text": ""})
    + chunk(
        {"content": "", "text": ""},
        {"prompt_tokens": 390, "completion_tokens": 53, "total_tokens": 443},
    )
)


def decode(
    data: bytes, canonical: dict[str, Any] | None = None, step: int = 0
) -> tuple[list[Any], bool]:
    decoder = CortexStreamDecoder(canonical or {"model": "mistral-7b"})
    parts = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    out = b"".join(decoder.feed(p) for p in parts) + decoder.close()
    events = [e for e in out.split(b"\n\n") if e]
    done = bool(events) and events[-1] == b"data: [DONE]"
    assert out.count(b"[DONE]") == (1 if done else 0)
    return [orjson.loads(e[6:]) for e in events if e != b"data: [DONE]"], done


def test_text_stream_ends_with_the_body() -> None:
    for step in (0, 1, 5):
        chunks, done = decode(TEXT_STREAM, step=step)
        assert done
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Cortex"
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert all(c["object"] == "chat.completion.chunk" and c["id"] == "65c5e2ac" for c in chunks)


def test_usage_is_the_last_reported_and_only_when_asked() -> None:
    chunks, _ = decode(TEXT_STREAM, {"model": "m", "stream_options": {"include_usage": True}})
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    chunks, _ = decode(TEXT_STREAM)
    assert not any("usage" in c for c in chunks)


def test_tool_stream() -> None:
    chunks, done = decode(TOOL_STREAM, step=3)
    assert done
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "tooluse_Q1" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_finish_reason_or_done_frame_end_the_stream_early() -> None:
    ended = chunk({"content": "Hi"}, finish_reason="length") + chunk({"content": "ignored"})
    chunks, done = decode(ended)
    assert done and chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert "ignored" not in json.dumps(chunks)
    chunks, done = decode(TEXT_STREAM + b"data: [DONE]\n\n" + chunk({"content": "late"}))
    assert done and "late" not in json.dumps(chunks)


def test_nothing_at_all_is_no_answer() -> None:
    assert decode(b"") == ([], False)
    assert decode(b": keep-alive\n\n") == ([], False)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"data: {broken\n\n", ValueError),
        (b'data: "text"\n\n', TypeError),
        (TEXT_STREAM + b'data: {"choices": [{"delta": {"conte', UpstreamBadResponse),
        (chunk({"type": "tool_use", "input": "{}"}), UpstreamBadResponse),
    ],
    ids=["bad-json", "not-object", "torn-last-event", "input-before-tool"],
)
def test_malformed_streams_raise(data: bytes, error: type[Exception]) -> None:
    decoder = CortexStreamDecoder({"model": "m"})
    with pytest.raises(error):
        decoder.feed(data)
        decoder.close()


# -- through the gateway ----------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def _client(gateway: GatewayServer, target: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("snowflake-cortex", fake.CHAT_PATH),
        ("snowflake-cortex-rest", fake.COMPLETE_PATH),
    ],
)
def test_key_pair_auth_end_to_end(
    gateway: GatewayServer,
    upstream: AppServer,
    rsa_key: rsa.RSAPrivateKey,
    provider: str,
    path: str,
) -> None:
    target = {
        "provider": provider,
        "custom_host": upstream.url,
        "snowflake_account": "myorg-myacct",
        "snowflake_user": "cortex_svc",
        "snowflake_private_key": pem(rsa_key),
    }
    for stream in (False, True):
        answer = _client(gateway, target).chat.completions.create(
            model="mistral-large2", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)  # type: ignore[union-attr]
        else:
            text = answer.choices[0].message.content  # type: ignore[union-attr]
        assert text == "sys=-;turns=1;last=hi"
    seen = [headers for p, headers, _ in upstream.app[REQUESTS] if p == path][-2:]
    assert len(seen) == 2
    for headers in seen:
        assert headers["X-Snowflake-Authorization-Token-Type"] == "KEYPAIR_JWT"
        claims = verified_claims(headers["Authorization"].removeprefix("Bearer "), rsa_key)
        assert claims["sub"] == "MYORG-MYACCT.CORTEX_SVC"
        assert claims["iss"] == f"MYORG-MYACCT.CORTEX_SVC.{fingerprint(rsa_key)}"
        assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert seen[0]["Authorization"] == seen[1]["Authorization"]  # the JWT was reused


def test_missing_credentials_fail_before_any_request(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    before = len(upstream.app[REQUESTS])
    config = {"provider": "snowflake-cortex", "custom_host": upstream.url}
    request = urllib.request.Request(
        gateway.base_url + "/chat/completions",
        data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Content-Type": "application/json", "x-portkey-config": json.dumps(config)},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
    assert json.loads(info.value.read())["error"]["param"] == "api_key"
    assert len(upstream.app[REQUESTS]) == before


def test_rest_drops_what_cortex_lacks_and_says_so(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    target = {"provider": "snowflake-cortex-rest", "custom_host": upstream.url, "api_key": "pat"}
    raw = _client(gateway, target).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stop=["x"], seed=1
    )
    assert "stop dropped for snowflake-cortex-rest" in raw.headers["x-portkey-warnings"]
    sent = upstream.app[REQUESTS][-1][2]
    assert "stop" not in sent and "seed" not in sent and sent["stream"] is False
