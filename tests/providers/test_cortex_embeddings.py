"""Snowflake Cortex embeddings: the ``inference:embed`` translation, and the gateway end to end
against the Cortex fake with the official ``openai`` SDK as client.

Wire shapes follow Snowflake's Cortex Embed OpenAPI spec (snowflake-rest-api-specs,
specifications/cortex-embed.yaml): ``{"model", "text": [...]}`` in; ``data[].embedding`` is
the vector wrapped in a list of one, usage is ``total_tokens`` only.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from openai import OpenAI

from portkey.errors import InvalidRequest, UpstreamBadResponse
from portkey.formats.cortex_embed import PATH, build_request, parse_response
from portkey.providers import snowflake_cortex, snowflake_cortex_rest
from portkey.providers.base import CHAT, EMBEDDINGS
from tests.fakes import cortex as fake
from tests.fakes.contract import FLAKY, REQUESTS
from tests.fakes.runner import AppServer
from tests.providers.test_snowflake_cortex import pem, verified_claims
from tests.support import GatewayServer

SMALL = "snowflake-arctic-embed-m-v1.5"
LARGE = "snowflake-arctic-embed-l-v2.0"


# -- the request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canonical", "wire"),
    [
        ({"model": SMALL, "input": "hello"}, {"model": SMALL, "text": ["hello"]}),
        (
            {"model": "e5-base-v2", "input": ["a", "b"], "encoding_format": "base64"},
            {"model": "e5-base-v2", "text": ["a", "b"]},
        ),
        (
            {"model": LARGE, "input": ["x"], "encoding_format": "float"},
            {"model": LARGE, "text": ["x"]},
        ),
        (
            {"model": LARGE, "input": "x", "provisioned_throughput_id": "pt-1"},
            {"model": LARGE, "text": ["x"], "provisioned_throughput_id": "pt-1"},
        ),
    ],
)
def test_embed_request(canonical: dict[str, Any], wire: dict[str, Any]) -> None:
    assert build_request(EMBEDDINGS, canonical, {}) == (PATH, wire)


@pytest.mark.parametrize(
    ("param", "canonical"),
    [
        ("input", {"model": SMALL, "input": [1, 2, 3]}),
        ("input", {"model": SMALL, "input": [[1, 2], [3]]}),
        ("input", {"model": SMALL, "input": ["text", 7]}),
        ("input", {"model": SMALL, "input": []}),
        ("encoding_format", {"model": SMALL, "input": "x", "encoding_format": "int8"}),
        ("dimensions", {"model": SMALL, "input": "x", "dimensions": 256}),
        ("input_type", {"model": SMALL, "input": "x", "input_type": "query"}),
    ],
)
def test_untranslatable_requests_are_refused_by_name(param: str, canonical: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(EMBEDDINGS, canonical, {})
    assert info.value.param == param


# -- the answer -------------------------------------------------------------------------


def test_nested_vectors_become_openai_embeddings_in_input_order() -> None:
    wire = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [[0.5, -0.25]]},
            {"object": "embedding", "index": 0, "embedding": [[0.125, 1.0]]},
        ],
        "model": SMALL,
        "usage": {"total_tokens": 9},
    }
    assert parse_response(EMBEDDINGS, wire) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.125, 1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.5, -0.25]},
        ],
        "model": SMALL,
        "usage": {"prompt_tokens": 9, "total_tokens": 9},
    }


@pytest.mark.parametrize(
    "embedding",
    [[[0.1], [0.2]], [["0.1", "0.2"]], "0.1,0.2", [[True, False]]],
)
def test_unreadable_vectors_are_upstream_errors(embedding: Any) -> None:
    wire = {"data": [{"index": 0, "embedding": embedding}], "usage": {"total_tokens": 1}}
    with pytest.raises(UpstreamBadResponse):
        parse_response(EMBEDDINGS, wire)


def test_only_the_rest_api_serves_embeddings() -> None:
    assert snowflake_cortex_rest.SPEC.routes.keys() == {CHAT, EMBEDDINGS}
    assert not snowflake_cortex.SPEC.supports(EMBEDDINGS)


# -- through the gateway ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def _target(upstream: AppServer, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "snowflake-cortex-rest",
        "custom_host": upstream.url,
        "api_key": "pat-fake-token",
        **extra,
    }


def _client(gateway: GatewayServer, target: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


def _sent(upstream: AppServer) -> tuple[str, dict[str, str], Any]:
    path, headers, body = upstream.app[REQUESTS][-1]
    return path, headers, body


def test_a_list_of_texts_embeds_in_order(gateway: GatewayServer, upstream: AppServer) -> None:
    texts = ["the first text", "two"]
    answer = _client(gateway, _target(upstream)).embeddings.create(
        model=SMALL, input=texts, encoding_format="float"
    )
    assert [item.index for item in answer.data] == [0, 1]
    assert [item.embedding for item in answer.data] == [
        fake.embed_vector(text, fake.EMBED_DIMENSIONS[SMALL]) for text in texts
    ]
    assert answer.model == SMALL
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == fake.embed_tokens(texts)
    path, headers, body = _sent(upstream)
    assert path == fake.EMBED_PATH
    assert body == {"model": SMALL, "text": texts}
    assert headers["Authorization"] == "Bearer pat-fake-token"
    assert headers["X-Snowflake-Authorization-Token-Type"] == "PROGRAMMATIC_ACCESS_TOKEN"


def test_the_sdk_default_base64_decodes_to_the_floats(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    client = _client(gateway, _target(upstream))
    answer = client.embeddings.create(model=LARGE, input="hello there")  # the SDK asks base64
    assert answer.data[0].embedding == fake.embed_vector("hello there", 1024)
    assert _sent(upstream)[2] == {"model": LARGE, "text": ["hello there"]}


def test_base64_on_the_wire(gateway: GatewayServer, upstream: AppServer) -> None:
    resp = httpx.post(
        f"{gateway.base_url}/embeddings",
        json={"model": "e5-base-v2", "input": ["abc", "de"], "encoding_format": "base64"},
        headers={"x-portkey-config": json.dumps(_target(upstream))},
    )
    assert resp.status_code == 200, resp.text
    for item, text in zip(resp.json()["data"], ["abc", "de"], strict=True):
        raw = base64.b64decode(item["embedding"])
        floats = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        assert floats == fake.embed_vector(text, 768)


def test_key_pair_auth(
    gateway: GatewayServer, upstream: AppServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    target = _target(
        upstream,
        snowflake_account="myorg-myacct",
        snowflake_user="embedder",
        snowflake_private_key=pem(rsa_key),
    )
    answer = _client(gateway, target).embeddings.create(model=SMALL, input="hi")
    assert len(answer.data[0].embedding) == 768
    _, headers, _ = _sent(upstream)
    assert headers["X-Snowflake-Authorization-Token-Type"] == "KEYPAIR_JWT"
    claims = verified_claims(headers["Authorization"].removeprefix("Bearer "), rsa_key)
    assert claims["sub"] == "MYORG-MYACCT.EMBEDDER"


def test_dimensions_and_token_arrays_are_refused_before_any_request(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    client = _client(gateway, _target(upstream))
    before = len(upstream.app[REQUESTS])
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=SMALL, input="x", dimensions=256)
    assert info.value.body["param"] == "dimensions"  # type: ignore[index]
    assert "fixed sizes" in info.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=SMALL, input=[[1, 2, 3]])
    assert info.value.body["param"] == "input"  # type: ignore[index]
    assert len(upstream.app[REQUESTS]) == before


def test_user_is_dropped_and_said_so(gateway: GatewayServer, upstream: AppServer) -> None:
    raw = _client(gateway, _target(upstream)).embeddings.with_raw_response.create(
        model=SMALL, input="x", user="u-1", encoding_format="float"
    )
    assert "user dropped for snowflake-cortex-rest" in raw.headers["x-portkey-warnings"]
    assert _sent(upstream)[2] == {"model": SMALL, "text": ["x"]}


def test_the_openai_compatible_cortex_refuses_embeddings(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    target = {"provider": "snowflake-cortex", "custom_host": upstream.url, "api_key": "pat"}
    before = len(upstream.app[REQUESTS])
    with pytest.raises(openai.BadRequestError) as info:
        _client(gateway, target).embeddings.create(model=SMALL, input="x")
    assert "does not support embeddings" in info.value.body["message"]  # type: ignore[index]
    assert len(upstream.app[REQUESTS]) == before


# -- upstream errors --------------------------------------------------------------------


def test_an_unknown_model_is_cortex_400_passed_on(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(gateway, _target(upstream)).embeddings.create(model="no-such-embed", input="x")
    assert "unknown model 'no-such-embed'" in info.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("error-auth", openai.AuthenticationError),
        ("error-server", openai.InternalServerError),
        ("error-context_length", openai.BadRequestError),
    ],
)
def test_cortex_errors_are_classified(
    gateway: GatewayServer, upstream: AppServer, model: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        _client(gateway, _target(upstream)).embeddings.create(model=model, input="x")
    if model == "error-context_length":
        assert info.value.body["type"] == "context_length_exceeded"  # type: ignore[attr-defined]


def test_rate_limits_carry_retry_after_and_are_retried(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        _client(gateway, _target(upstream)).embeddings.create(model="error-rate_limited", input="x")
    assert info.value.response.headers.get("retry-after") == "1"
    retried = _target(upstream, retry={"attempts": 1, "use_retry_after_header": True})
    raw = _client(gateway, retried).embeddings.with_raw_response.create(
        model=FLAKY, input="x", encoding_format="float"
    )
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    assert raw.parse().data[0].embedding == fake.embed_vector("x", 768)
