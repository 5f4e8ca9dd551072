"""portkey.yaml loading: env interpolation, defaults, and errors that name line + dotted path."""

from __future__ import annotations

from pathlib import Path

import pytest

from portkey.config.loader import ConfigError, Issue, load_file, load_text
from portkey.config.models import PortkeyFile

FULL = """\
version: 1
server:
  host: 0.0.0.0
  port: ${PORTKEY_PORT:-9100}
  workers: 3
  request_timeout_ms: 30000
  unsupported_params: raise
  upstream:
    limit: 64
  reload:
    watch: false
    interval_s: 0.5
providers:
  openai-main:
    provider: openai
    api_key: ${OPENAI_KEY}
  azure-east:
    provider: azure-openai
    api_key: ${AZURE_KEY}
    resource_name: east
    deployment_id: gpt4o-prod
configs:
  main:
    strategy:
      mode: fallback
      on_status_codes: [429, 503]
    targets:
      - virtual_key: openai-main
        override_params:
          model: gpt-4o
        retry:
          attempts: 2
          on_status_codes: [429]
      - strategy:
          mode: loadbalance
        targets:
          - virtual_key: azure-east
            weight: 0.7
          - provider: groq
            api_key: ${GROQ_KEY:-gsk-default}
            weight: 0.3
  cheap:
    provider: openai
    api_key: ${OPENAI_KEY}
    custom_host: http://${UPSTREAM_HOST}:8080/v1
default_config: main
"""

FULL_ENV = {"OPENAI_KEY": "sk-openai", "AZURE_KEY": "az-key", "UPSTREAM_HOST": "10.0.0.7"}


def issues(text: str, env: dict[str, str] | None = None) -> list[Issue]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "portkey.yaml", env=env or {})
    assert info.value.source == "portkey.yaml"
    return info.value.issues


def one_issue(text: str, env: dict[str, str] | None = None) -> Issue:
    found = issues(text, env)
    assert len(found) == 1, found
    return found[0]


# -- a valid file ----------------------------------------------------------------------------


def test_full_file_loads_every_section() -> None:
    parsed = load_text(FULL, "portkey.yaml", env=FULL_ENV)

    server = parsed.server
    assert (server.host, server.port, server.workers) == ("0.0.0.0", 9100, 3)
    assert server.request_timeout_ms == 30000
    assert server.unsupported_params == "raise"
    assert server.upstream.limit == 64
    assert server.upstream.keepalive_timeout_s == 30.0  # untouched default
    assert (server.reload.watch, server.reload.interval_s) == (False, 0.5)

    assert sorted(parsed.providers) == ["azure-east", "openai-main"]
    assert parsed.providers["openai-main"].provider == "openai"
    assert parsed.providers["openai-main"].api_key == "sk-openai"
    azure = parsed.providers["azure-east"]
    assert azure.api_key == "az-key"
    assert azure.provider_options() == {"resource_name": "east", "deployment_id": "gpt4o-prod"}

    assert sorted(parsed.configs) == ["cheap", "main"]
    main = parsed.configs["main"]
    assert main.strategy is not None
    assert main.strategy.mode == "fallback"
    assert main.strategy.on_status_codes == [429, 503]
    assert main.targets is not None
    first, group = main.targets
    assert first.virtual_key == "openai-main"
    assert first.override_params == {"model": "gpt-4o"}
    assert first.retry is not None
    assert (first.retry.attempts, first.retry.on_status_codes) == (2, [429])
    assert group.strategy is not None
    assert group.strategy.mode == "loadbalance"
    assert group.targets is not None
    assert [(t.virtual_key, t.provider, t.weight) for t in group.targets] == [
        ("azure-east", None, 0.7),
        (None, "groq", 0.3),
    ]
    assert group.targets[1].api_key == "gsk-default"
    assert parsed.configs["cheap"].custom_host == "http://10.0.0.7:8080/v1"
    assert parsed.default_config == "main"


def test_load_file_reads_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "portkey.yaml"
    path.write_text(FULL)
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTKEY_PORT", "9200")
    monkeypatch.setenv("GROQ_KEY", "gsk-from-env")

    parsed = load_file(path)

    assert parsed.server.port == 9200
    assert parsed.providers["openai-main"].api_key == "sk-openai"
    groq = parsed.configs["main"].targets[1].targets[1]  # type: ignore[index]
    assert groq.api_key == "gsk-from-env"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert info.value.source == str(path)
    assert [(i.line, i.path) for i in info.value.issues] == [(None, "")]
    assert info.value.issues[0].message == "cannot read file: No such file or directory"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(text: str) -> None:
    parsed = load_text(text, "portkey.yaml", env={})
    assert parsed == PortkeyFile()
    assert (parsed.server.host, parsed.server.port, parsed.server.workers) == ("127.0.0.1", 8787, 1)
    assert (parsed.server.reload.watch, parsed.server.reload.interval_s) == (True, 1.0)
    assert parsed.providers == {}
    assert parsed.configs == {}
    assert parsed.default_config is None


# -- ${ENV} interpolation ---------------------------------------------------------------------


def test_env_set_default_and_empty_default() -> None:
    text = """\
providers:
  a:
    provider: openai
    api_key: ${KEY_A}
  b:
    provider: openai
    api_key: ${KEY_B:-fallback-b}
  c:
    provider: openai
    api_key: pre-${KEY_A}-mid-${KEY_C:-}-post
"""
    parsed = load_text(text, env={"KEY_A": "alpha"})
    assert parsed.providers["a"].api_key == "alpha"
    assert parsed.providers["b"].api_key == "fallback-b"
    assert parsed.providers["c"].api_key == "pre-alpha-mid--post"
    # a set variable wins over the default, even when it is empty
    parsed = load_text(text, env={"KEY_A": "alpha", "KEY_B": ""})
    assert parsed.providers["b"].api_key == ""


def test_missing_env_names_variable_line_and_path() -> None:
    text = """\
server:
  port: 8080
providers:
  openai-main:
    provider: openai
    api_key: ${OPENAI_API_KEY}
"""
    issue = one_issue(text)
    assert issue == Issue(
        "providers.openai-main.api_key", "environment variable OPENAI_API_KEY is not set", 6
    )
    with pytest.raises(ConfigError, match=r"portkey.yaml: line 6, providers.openai-main.api_key"):
        load_text(text, "portkey.yaml", env={})


def test_missing_env_inside_a_list() -> None:
    text = """\
configs:
  main:
    strategy: {mode: fallback}
    targets:
      - provider: openai
        api_key: ok
      - provider: groq
        api_key: ${GROQ_API_KEY}
"""
    assert one_issue(text) == Issue(
        "configs.main.targets[1].api_key", "environment variable GROQ_API_KEY is not set", 8
    )


@pytest.mark.parametrize(
    "value",
    [
        "key: value",
        "{a: 1}",
        "[1, 2]",
        "- item",
        "&anchor",
        "*alias",
        "!!python/object:os.system",
        "# not a comment",
        "'single' \"double\"",
        "line1\nline2: x",
        "true",
        "null",
        "0x1F",
        "${OTHER}",
        "a}b{c",
        "\\u0041 \\n",
    ],
)
def test_env_values_stay_plain_strings(value: str) -> None:
    text = "providers:\n  a:\n    provider: openai\n    api_key: ${SECRET}\n"
    parsed = load_text(text, env={"SECRET": value, "OTHER": "must-not-expand"})
    assert parsed.providers["a"].api_key == value
    assert parsed.providers["a"].provider == "openai"
    assert list(parsed.providers) == ["a"]


def test_env_cannot_inject_yaml_structure_into_a_mapping() -> None:
    text = "server:\n  host: ${HOST}\nconfigs: {}\n"
    injected = "127.0.0.1\nconfigs:\n  evil:\n    provider: openai"
    parsed = load_text(text, env={"HOST": injected})
    assert parsed.server.host == injected
    assert parsed.configs == {}


def test_env_number_is_coerced_for_numeric_fields() -> None:
    parsed = load_text("server:\n  port: ${PORT}\n", env={"PORT": "9001"})
    assert parsed.server.port == 9001
    issue = one_issue("server:\n  port: ${PORT}\n", env={"PORT": "90x1"})
    assert (issue.line, issue.path) == (2, "server.port")


# -- errors name the line and the dotted path ---------------------------------------------------


def test_unknown_top_level_key() -> None:
    text = "server:\n  port: 8080\n\nbogus: 2\n"
    assert one_issue(text) == Issue("bogus", "unknown field", 4)


def test_unknown_key_deep_in_a_target_retry() -> None:
    text = """\
configs:
  x:
    strategy:
      mode: fallback
    targets:
      - provider: openai
      - provider: openai
        retry:
          attempts: 2
          colour: red
"""
    assert one_issue(text) == Issue("configs.x.targets[1].retry.colour", "unknown field", 10)


def test_wrong_type() -> None:
    text = "server:\n  host: 127.0.0.1\n  port: eighty\n"
    issue = one_issue(text)
    assert (issue.line, issue.path) == (3, "server.port")
    assert issue.message == "Input should be a valid integer, unable to parse string as an integer"


def test_wrong_type_deep_in_a_target() -> None:
    text = """\
configs:
  main:
    strategy: {mode: loadbalance}
    targets:
      - provider: openai
        weight: heavy
"""
    issue = one_issue(text)
    assert (issue.line, issue.path) == (6, "configs.main.targets[0].weight")
    assert issue.message.startswith("Input should be a valid number")


def test_every_problem_is_reported() -> None:
    text = "server:\n  port: -1\n  workers: 0\nbogus: 1\n"
    assert [(i.line, i.path) for i in issues(text)] == [
        (2, "server.port"),
        (3, "server.workers"),
        (4, "bogus"),
    ]


def test_unknown_provider() -> None:
    text = """\
configs:
  main:
    api_key: sk-1
    provider: openia
"""
    issue = one_issue(text)
    assert (issue.line, issue.path) == (4, "configs.main.provider")
    assert issue.message.startswith("unknown provider 'openia'; known: ")
    assert ", openai, " in issue.message


def test_unknown_provider_in_a_provider_entry() -> None:
    text = "providers:\n  mine:\n    api_key: k\n    provider: nope\n"
    issue = one_issue(text)
    assert (issue.line, issue.path) == (4, "providers.mine.provider")


def test_unknown_strategy_mode() -> None:
    text = """\
configs:
  main:
    strategy:
      on_status_codes: [500]
      mode: round-robin
    targets:
      - provider: openai
"""
    issue = one_issue(text)
    assert (issue.line, issue.path) == (5, "configs.main.strategy.mode")
    assert issue.message == (
        "unknown strategy mode 'round-robin'; "
        "expected one of ['conditional', 'fallback', 'loadbalance', 'single']"
    )


def test_conditional_then_naming_no_target() -> None:
    text = """\
configs:
  routed:
    strategy:
      mode: conditional
      conditions:
        - query: {metadata.tier: free}
          then: slow
        - query: {metadata.tier: pro}
          then: fast
      default: slow
    targets:
      - name: slow
        provider: openai
      - name: quick
        provider: openai
"""
    assert one_issue(text) == Issue(
        "configs.routed.strategy.conditions[1].then", "no target is named 'fast'", 9
    )


def test_conditional_default_naming_no_target() -> None:
    text = """\
configs:
  routed:
    strategy:
      mode: conditional
      conditions:
        - query: {metadata.tier: free}
          then: slow
      default: fastest
    targets:
      - name: slow
        provider: openai
"""
    assert one_issue(text) == Issue(
        "configs.routed.strategy.default", "no target is named 'fastest'", 8
    )


def test_virtual_key_naming_no_provider_entry() -> None:
    text = """\
providers:
  openai-main:
    provider: openai
configs:
  main:
    strategy: {mode: fallback}
    targets:
      - virtual_key: openai-main
      - virtual_key: openai-backup
"""
    assert one_issue(text) == Issue(
        "configs.main.targets[1].virtual_key", "unknown virtual key 'openai-backup'", 9
    )


def test_azure_target_missing_deployment_id() -> None:
    text = """\
configs:
  main:
    strategy: {mode: fallback}
    targets:
      - provider: openai
      - provider: azure-openai
        resource_name: east
        api_key: k
"""
    assert one_issue(text) == Issue(
        "configs.main.targets[1].deployment_id",
        "azure-openai needs 'deployment_id' (the model deployment to call)",
        6,
    )


def test_azure_target_inherits_deployment_id_from_provider_entry() -> None:
    text = """\
providers:
  az:
    provider: azure-openai
    resource_name: east
    deployment_id: d1
configs:
  main:
    virtual_key: az
"""
    parsed = load_text(text, env={})
    assert parsed.configs["main"].virtual_key == "az"


def test_default_config_not_in_configs() -> None:
    text = """\
configs:
  main:
    provider: openai
default_config: mian
"""
    assert one_issue(text) == Issue(
        "default_config", "default_config 'mian' is not in 'configs'", 4
    )


def test_default_config_without_configs() -> None:
    assert one_issue("default_config: main\n") == Issue(
        "default_config", "default_config 'main' is not in 'configs'", 1
    )


def test_invalid_yaml_names_the_line_of_the_syntax_error() -> None:
    text = """\
server:
  port: 8080
  host: 127.0.0.1
 workers: 2
configs: {}
"""
    issue = one_issue(text)
    assert (issue.line, issue.path) == (4, "")
    assert issue.message.startswith("not valid YAML: ")


def test_invalid_yaml_tab_indentation() -> None:
    text = "server:\n  port: 8080\nconfigs:\n\tmain: {}\n"
    issue = one_issue(text)
    assert issue.line == 4
    assert "found character '\\t'" in issue.message


def test_top_level_must_be_a_mapping() -> None:
    assert one_issue("- a\n- b\n") == Issue("", "the file must hold a mapping at the top level", 1)


def test_error_text_names_file_line_and_path() -> None:
    text = "configs:\n  x:\n    provider: openai\n    retry: {attempts: 99}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "conf/portkey.yaml", env={})
    assert str(info.value) == (
        "invalid config conf/portkey.yaml:\n"
        "  conf/portkey.yaml: line 4, configs.x.retry.attempts: "
        "Input should be less than or equal to 10"
    )
