"""Property tests for the x-portkey-config header.

Any text compiles to a plan or raises ``InvalidRequest`` (never another exception); valid
strategy trees always compile, with the paths and URLs they describe; and through the real
gateway no config, however odd, earns a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portkey.config.models import PortkeyFile
from portkey.errors import InvalidRequest
from portkey.gateway.plan import Group, Leaf, Node, leaves
from portkey.gateway.runtime import Runtime
from tests.fakes import FakeUpstream
from tests.support import GatewayServer

#: stands for the fake upstream's base URL; the HTTP property swaps the real one in
HOST = "http://upstream.test/v1"
LEAF = {"provider": "openai", "custom_host": HOST}
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KEYS = [
    "name",
    "provider",
    "api_key",
    "virtual_key",
    "custom_host",
    "weight",
    "override_params",
    "retry",
    "attempts",
    "on_status_codes",
    "use_retry_after_header",
    "cache",
    "mode",
    "max_age",
    "request_timeout",
    "first_token_timeout",
    "stream_idle_timeout",
    "forward_headers",
    "strategy",
    "targets",
    "conditions",
    "query",
    "then",
    "default",
    "resource_name",
    "deployment_id",
    "api_version",
    "model",
    "metadata.tier",
    "params.model",
    "$and",
    "$or",
    "$eq",
    "$in",
    "$gt",
    "$regex",
]
WORDS = [
    "openai",
    "azure-openai",
    "vllm",
    "ollama",
    "nope",
    "fallback",
    "loadbalance",
    "single",
    "conditional",
    "a",
    "b",
    "pro",
    "(",
    "[",
    "{",
    "{resource_name}",
    "{0}",
    "{resource_name:>99999999999}",
    HOST,
    HOST + "/{",
    "http://127.0.0.1:99999/v1",
    "ftp://upstream.test/v1",
    "upstream.test",
    "",
    "x-ok",
    "bad header",
    "a\nb",
    "\u2603",
]

keys = st.sampled_from(KEYS) | st.text(max_size=8).filter(lambda k: k != "stream")
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=10)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | junk


retry_like = st.fixed_dictionaries(
    {},
    optional={
        "attempts": _or_junk(st.integers(min_value=-1, max_value=12)),
        "on_status_codes": _or_junk(st.lists(st.integers(min_value=0, max_value=700))),
        "use_retry_after_header": _or_junk(st.booleans()),
    },
)
condition_like = st.fixed_dictionaries(
    {
        "query": _or_junk(
            st.dictionaries(
                st.sampled_from(["metadata.tier", "params.model", "url.pathname", "$or", "tier"]),
                junk,
                max_size=2,
            )
        ),
        "then": _or_junk(st.sampled_from(["a", "b", "c"])),
    }
)
strategy_like = st.fixed_dictionaries(
    {"mode": _or_junk(st.sampled_from(["fallback", "loadbalance", "single", "conditional"]))},
    optional={
        "on_status_codes": _or_junk(st.lists(st.integers(min_value=100, max_value=599))),
        "conditions": _or_junk(st.lists(condition_like, max_size=2)),
        "default": _or_junk(st.sampled_from(["a", "b", "c"])),
    },
)


def _target_like(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "name": _or_junk(st.sampled_from(["a", "b", "c"])),
            "provider": _or_junk(st.sampled_from(["openai", "azure-openai", "vllm", "nope"])),
            "custom_host": _or_junk(st.sampled_from([HOST, HOST + "/{", "{", "ftp://h"])),
            "deployment_id": _or_junk(st.sampled_from(["dep", "{"])),
            "api_key": _or_junk(st.sampled_from(["sk-1", "sk\n2", ""])),
            "weight": _or_junk(st.floats(min_value=-1, max_value=5, allow_nan=False)),
            "override_params": _or_junk(
                st.dictionaries(st.sampled_from(["model", "temperature", "user"]), scalars)
            ),
            "retry": _or_junk(retry_like),
            "request_timeout": _or_junk(st.integers(min_value=-1, max_value=10**7)),
            "forward_headers": _or_junk(st.lists(st.sampled_from(["x-ok", "bad header"]))),
            "strategy": _or_junk(strategy_like),
            "targets": _or_junk(st.lists(children, max_size=3)),
            "bogus": scalars,
        },
    )


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


#: mostly well-formed trees, now and then with one odd value: they reach the request path
leaf_fields = {
    "name": _maybe(["a", "b", "c"]),
    "api_key": _maybe(["sk-1", "sk-2", "sk\n3", "", " "]),
    "weight": _maybe([0, 0.5, 1, 3]),
    "override_params": _maybe([{"model": "gpt-4o"}, {"temperature": 0.2}, {"user": "u"}, {}]),
    "retry": _maybe([{"attempts": 0}, {"attempts": 2, "on_status_codes": [503]}]),
    "request_timeout": _maybe([1, 50, 60_000]),
    "forward_headers": _maybe([["x-ok"], ["x-portkey-trace-id", "host"], []]),
    "cache": _maybe([{"mode": "simple"}, {"mode": "semantic", "max_age": 60}]),
}
sane_leaf = st.fixed_dictionaries(
    {"provider": st.just("openai"), "custom_host": st.just(HOST)}, optional=leaf_fields
)
sane_condition = st.fixed_dictionaries(
    {
        "query": _maybe(
            [
                {"metadata.tier": "pro"},
                {"params.model": {"$in": ["gpt-4o", "x"]}},
                {"url.pathname": {"$regex": "chat"}},
                {"$or": [{"params.temperature": {"$gt": 0.5}}, {"metadata.tier": {"$ne": "x"}}]},
            ]
        ),
        "then": _maybe(["a", "b", "c"]),
    }
)


def _sane_group(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    strategy = st.fixed_dictionaries(
        {"mode": _maybe(["fallback", "loadbalance", "single", "conditional"])},
        optional={
            "on_status_codes": _maybe([[429], [500, 503]]),
            "conditions": st.lists(sane_condition, min_size=1, max_size=2),
            "default": _maybe(["a", "b", "c"]),
        },
    )
    return st.fixed_dictionaries(
        {"strategy": strategy, "targets": st.lists(children, min_size=1, max_size=3)},
        optional=leaf_fields,
    )


sane_config = st.recursive(sane_leaf, _sane_group, max_leaves=6)

config_like = st.recursive(
    st.fixed_dictionaries({"provider": st.just("openai"), "custom_host": st.just(HOST)}),
    _target_like,
    max_leaves=6,
)
any_config = st.one_of(config_like, st.dictionaries(keys, junk, max_size=5), junk)


def compiles(runtime: Runtime, text: str) -> Any:
    """The plan, or None when the config was refused as the client's mistake."""
    try:
        return runtime.compile_json(text)
    except InvalidRequest as exc:
        assert exc.http_status == 400
        assert exc.param is not None
        assert exc.message
        return None


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime.build(PortkeyFile())


# -- in process: only InvalidRequest, whatever the input ------------------------------------


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_compiles_or_is_an_invalid_request(runtime: Runtime, text: str) -> None:
    compiles(runtime, text)
    try:
        runtime.inline_plan(text)  # the header path: config ids too
    except InvalidRequest as exc:
        assert exc.http_status == 400


@SETTINGS
@given(value=any_config)
def test_any_json_value_compiles_or_is_an_invalid_request(runtime: Runtime, value: Any) -> None:
    plan = compiles(runtime, json.dumps(value))
    if plan is not None:
        assert isinstance(value, dict)
        for leaf in leaves(plan.root):
            assert all(url.startswith(("http://", "https://")) for url in leaf.urls.values())


@pytest.mark.parametrize(
    "host",
    ["http://h/{", "http://h/{0}", "http://h/{a.b}", "http://h/{resource_name:>99999999999}"],
)
def test_azure_custom_host_is_never_a_format_string(runtime: Runtime, host: str) -> None:
    config = {"provider": "azure-openai", "deployment_id": "d", "custom_host": host}
    plan = runtime.compile_json(json.dumps({**config, "resource_name": "r"}))
    [leaf] = leaves(plan.root)
    assert leaf.urls["chat"] == f"{host}/deployments/d/chat/completions?api-version=2024-10-21"


def test_azure_resource_name_still_fills_its_placeholder(runtime: Runtime) -> None:
    config = {"provider": "azure-openai", "deployment_id": "d", "resource_name": "r1"}
    [leaf] = leaves(runtime.compile_json(json.dumps(config)).root)
    assert leaf.urls["chat"] == (
        "https://r1.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
    )


# -- valid trees always compile --------------------------------------------------------------

leaf_config = st.builds(
    lambda port: {"provider": "openai", "custom_host": f"http://127.0.0.1:{port}/v1"},
    st.integers(min_value=1, max_value=65535),
)


def _group(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda mode, targets: {"strategy": {"mode": mode}, "targets": targets},
        st.sampled_from(["fallback", "loadbalance", "single"]),
        st.lists(children, min_size=1, max_size=4),
    )


valid_tree = st.recursive(leaf_config, _group, max_leaves=12)


def expected_leaves(config: dict[str, Any], path: str = "config") -> list[tuple[str, str]]:
    if "targets" not in config:
        return [(path, config["custom_host"])]
    out = []
    for i, child in enumerate(config["targets"]):
        out.extend(expected_leaves(child, f"{path}.targets[{i}]"))
    return out


def shape(node: Node) -> Any:
    if isinstance(node, Leaf):
        return "leaf"
    return (node.strategy.mode, [shape(child) for child in node.children])


def expected_shape(config: dict[str, Any]) -> Any:
    if "targets" not in config:
        return "leaf"
    return (config["strategy"]["mode"], [expected_shape(c) for c in config["targets"]])


@SETTINGS
@given(config=valid_tree)
def test_valid_strategy_trees_always_compile(runtime: Runtime, config: dict[str, Any]) -> None:
    plan = runtime.compile_json(json.dumps(config))
    assert shape(plan.root) == expected_shape(config)
    assert [(leaf.path, leaf.urls["chat"]) for leaf in leaves(plan.root)] == [
        (path, host + "/chat/completions") for path, host in expected_leaves(config)
    ]
    assert all(leaf.spec.id == "openai" for leaf in leaves(plan.root))
    assert plan.model_optional is False
    if isinstance(plan.root, Group):
        assert plan.root.path == "config"


# -- through the gateway: never a 5xx --------------------------------------------------------


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=sane_config | any_config)
@example(value={"provider": "openai", "custom_host": HOST, "api_key": "sk\n3"})
@example(value={"provider": "openai", "custom_host": HOST, "forward_headers": ["x\u2603"]})
@example(value={"provider": "openai", "custom_host": HOST + "/{", "request_timeout": 1})
@example(value={"provider": "azure-openai", "custom_host": HOST, "deployment_id": "{"})
@example(value={"strategy": {"mode": "loadbalance"}, "targets": [{**LEAF, "weight": 0}]})
def test_no_config_earns_a_5xx(
    gateway: GatewayServer, fake: FakeUpstream, runtime: Runtime, value: Any
) -> None:
    text = json.dumps(value).replace(HOST, fake.base_url)
    plan = compiles(runtime, text)
    if plan is not None and any(
        not url.startswith(fake.url) for leaf in leaves(plan.root) for url in leaf.urls.values()
    ):
        return  # valid, but would call a real host: nothing here may leave the machine
    resp = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": "Bearer sk-prop", "x-portkey-config": text},
        timeout=5.0,
    )
    assert resp.status_code < 500, resp.text
    if plan is None:
        assert resp.status_code == 400
    if resp.status_code >= 400:
        error = resp.json()["error"]
        assert set(error) >= {"message", "type", "param", "code"}
    else:
        assert resp.json()["object"] == "chat.completion"
