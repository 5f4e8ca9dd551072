"""Prompt render and completions through the portkey-ai SDK; versions, labels, diffs, partials."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import openai
import pytest
from portkey_ai.api_resources.exceptions import BadRequestError

from tests.guardrails.servers import ReplyUpstream
from tests.prompts.conftest import admin, prompts_yaml, sdk
from tests.support import GatewayServer

PROMPTS = """
prompt_partials:
  signoff: "Answer as {{persona}}."
prompts:
  greet:
    config: main
    model: MODEL
    params: {temperature: 0.2, max_tokens: 50}
    messages:
      - {role: system, content: "You help {{company}}. {{> signoff}}"}
      - {role: user, content: "Hello, I am {{name}}.{{#topics}} Ask me about {{.}}.{{/topics}}"}
"""


def start_with(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream, model: str
) -> GatewayServer:
    return start(prompts_yaml(store_url, reply, PROMPTS.replace("MODEL", model)))


VARS = {"company": "ACME", "persona": "a pirate", "name": "Ada", "topics": ["tea", "maps"]}


def test_render_with_the_portkey_sdk(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start_with(start, store_url, reply, "gpt-4o")
    rendered = sdk(server).prompts.render(prompt_id="greet", variables=VARS)
    assert rendered.success is True
    data = rendered.data
    assert data.model == "gpt-4o" and data.temperature == 0.2 and data.max_tokens == 50
    assert [m.content for m in data.messages] == [
        "You help ACME. Answer as a pirate.",
        "Hello, I am Ada. Ask me about tea. Ask me about maps.",
    ]
    # the SDK's own overrides win over the prompt's params
    again = sdk(server).prompts.render(prompt_id="greet", variables=VARS, temperature=0.9)
    assert again.data.temperature == 0.9


def test_completions_with_the_portkey_sdk(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    model = reply.say(None)  # echo the user message
    server = start_with(start, store_url, reply, model)
    client = sdk(server)
    answer = client.prompts.completions.create(prompt_id="greet", variables=VARS, max_tokens=20)
    assert (
        answer.choices[0].message.content == "Hello, I am Ada. Ask me about tea. Ask me about maps."
    )
    sent = reply.bodies(model)[-1]
    assert sent["max_tokens"] == 20 and sent["temperature"] == 0.2
    assert sent["messages"][0]["content"] == "You help ACME. Answer as a pirate."
    headers = answer.get_headers() or {}
    production = admin(server).get("/prompts/greet").json()["labels"]["production"]
    assert headers.get("prompt-id") == "greet" and headers.get("prompt-version") == str(production)
    assert headers.get("prompt-label") == "production"
    chunks = client.prompts.completions.create(prompt_id="greet", variables=VARS, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, I am Ada. Ask me about tea. Ask me about maps."


def test_missing_variables_are_a_400_naming_them(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start_with(start, store_url, reply, "gpt-4o")
    for call in (sdk(server).prompts.render, sdk(server).prompts.completions.create):
        with pytest.raises(BadRequestError) as bad:
            call(prompt_id="greet", variables={"company": "ACME"})
        error = bad.value.response.json()["error"]
        assert error["message"] == "missing prompt variable(s): name, persona, topics"
        assert error["param"] == "variables"
    response = httpx.post(server.base_url + "/prompts/greet/render", content=b"{not json")
    assert (
        response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    )
    response = httpx.post(server.base_url + "/prompts/nope/render", json={"variables": {}})
    assert response.status_code == 404 and "nope" in response.json()["error"]["message"]


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # noqa: TID251 - test thread, not the event loop


def test_versions_labels_and_diff(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start_with(start, store_url, reply, "gpt-4o")
    api = admin(server)
    before = api.get("/prompts/greet").json()
    base = len(before["versions"])
    new = {"messages": [{"role": "user", "content": "Hi {{name}}, v-next"}], "model": "gpt-4o-mini",
           "params": {"temperature": 0.5}, "labels": ["staging"], "note": "shorter"}  # fmt: skip
    made = api.post("/prompts/greet/versions", json=new)
    assert made.status_code == 201 and made.json()["created"] is True
    version = made.json()["version"]
    assert version == base + 1
    same = api.post("/prompts/greet/versions", json=new)
    assert same.json() == {
        "id": "greet",
        "version": version,
        "created": False,
    }  # immutable, no copy
    client = sdk(server)
    assert client.prompts.render(prompt_id="greet", variables=VARS).data.model == "gpt-4o"
    staging = client.prompts.render(prompt_id="greet@staging", variables={"name": "Bo"})
    assert staging.data.messages[0].content == "Hi Bo, v-next"
    pinned = client.prompts.render(prompt_id=f"greet@{version}", variables={"name": "Bo"})
    assert pinned.data.model == "gpt-4o-mini"
    # move production: the default follows at once on this replica
    assert api.put("/prompts/greet/labels/production", json={"version": version}).status_code == 200
    assert (
        client.prompts.render(prompt_id="greet", variables={"name": "Bo"}).data.model
        == "gpt-4o-mini"
    )
    diff = api.get("/prompts/greet/diff", params={"from": 1, "to": version}).json()
    assert diff["changes"]["params"] == {"temperature": [0.2, 0.5], "max_tokens": [50, None]}
    assert diff["changes"]["model"][1] == "gpt-4o-mini"
    assert (
        "-[user] Hello, I am {{name}}." in diff["diff"]
        and "+[user] Hi {{name}}, v-next" in diff["diff"]
    )
    assert api.put("/prompts/greet/labels/production", json={"version": 99}).status_code == 404
    bad = api.post("/prompts/greet/versions", json={"template": "{{#open}} never closed"})
    assert bad.status_code == 400 and "never closed" in bad.json()["error"]["message"]
    assert (
        api.post("/prompts/greet/versions", json={"template": "x", "messages": []}).status_code
        == 400
    )


def test_second_replica_follows_the_store(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    first = start_with(start, store_url, reply, "gpt-4o")
    second = start_with(start, store_url, reply, "gpt-4o")
    made = admin(first).post("/prompts/fresh/versions", json={"template": "Fresh {{x}}"})
    assert made.status_code == 201

    def served() -> bool:
        r = httpx.post(second.base_url + "/prompts/fresh/render", json={"variables": {"x": 1}})
        return r.status_code == 200 and r.json()["data"]["messages"][0]["content"] == "Fresh 1"

    wait_for(served)


def test_file_change_is_a_new_version(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    yaml = prompts_yaml(store_url, reply, "prompts:\n  ascode: {template: 'one {{a}}'}\n")
    start(yaml)
    start(yaml)  # the same content again: no new version
    server = start(yaml.replace("one {{a}}", "two {{a}}"))
    versions = admin(server).get("/prompts/ascode").json()
    assert len(versions["versions"]) == 2
    assert versions["labels"]["production"] == versions["versions"][-1]["version"]
    data = sdk(server).prompts.render(prompt_id="ascode", variables={"a": "x"}).data
    assert data.messages[0].content == "two x"
    old = sdk(server).prompts.render(
        prompt_id=f"ascode@{versions['versions'][0]['version']}", variables={"a": "x"}
    )
    assert old.data.messages[0].content == "one x"


def test_bad_prompt_in_the_file_is_rejected(tmp_path: object) -> None:
    from portkey.config.loader import ConfigError, load_text

    with pytest.raises(ConfigError) as bad:
        load_text("prompts:\n  p: {template: 'hi {{> nowhere}}'}\n")
    assert "prompts.p.template" in str(bad.value) and "nowhere" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        load_text("prompts:\n  p: {template: 'x', config: missing}\n")
    assert "missing" in str(bad.value)


def test_prompt_completion_through_the_openai_sdk_errors(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start_with(start, store_url, reply, "gpt-4o")
    client = openai.OpenAI(base_url=server.base_url + "/prompts/greet", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="x", prompt="x")  # /v1/prompts/greet/completions, no vars


def test_render_and_feedback_need_a_key_when_keys_are_required(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start(
        prompts_yaml(store_url, reply, PROMPTS.replace("MODEL", "m"), "auth: {required: true}")
    )
    render = httpx.post(server.base_url + "/prompts/greet/render", json={"variables": VARS})
    assert render.status_code == 401
    feedback = httpx.post(server.base_url + "/feedback", json={"trace_id": "t", "value": 1})
    assert feedback.status_code == 401
    completions = httpx.post(
        server.base_url + "/prompts/greet/completions", json={"variables": VARS}
    )
    assert completions.status_code == 401


def test_hot_reload_stores_the_edited_prompt(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream, tmp_path: object
) -> None:
    watch = "server: {reload: {watch: true, interval_s: 0.05}}\n"
    yaml = prompts_yaml(store_url, reply, "prompts:\n  hot: {template: 'first {{a}}'}\n") + watch
    server = start(yaml)
    assert server.config_path is not None
    with open(server.config_path, "w") as handle:
        handle.write(yaml.replace("first {{a}}", "second {{a}}"))

    def edited() -> bool:
        r = httpx.post(server.base_url + "/prompts/hot/render", json={"variables": {"a": 1}})
        return r.json()["data"]["messages"][0]["content"] == "second 1"

    wait_for(edited)
    assert len(admin(server).get("/prompts/hot").json()["versions"]) >= 2
