"""Retries, Retry-After, request timeouts and the all-targets-failed answer, end to end."""

from __future__ import annotations

import time
from typing import Any

import pytest
from portkey_ai import Portkey

from tests.fakes import FakeUpstream
from tests.gateway.helpers import (
    MESSAGES,
    chat,
    chat_error,
    client,
    config_header,
    content,
    sent_models,
    target,
    uid,
)
from tests.support import GatewayServer


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# -- retry counts --------------------------------------------------------------------------


def test_retries_until_the_upstream_recovers_and_reports_the_count(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"flaky-2+{uid()}"
    config = target(fake, model, retry={"attempts": 3})

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from {model}"
    assert raw.headers["x-portkey-retry-attempt-count"] == "2"
    assert sent_models(fake, model) == [model] * 3


def test_retries_exhausted_answer_the_last_status_with_every_attempt(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"status-503+{uid()}"
    config = target(fake, model, retry={"attempts": 2})

    err, elapsed = timed(chat_error, client(gateway, config))

    assert err.status_code == 503
    assert err.response.headers["x-portkey-retry-attempt-count"] == "2"
    error = err.response.json()["error"]
    assert error["type"] == "all_targets_failed"
    assert [(a["target"], a["status"]) for a in error["attempts"]] == [("config", 503)] * 3
    assert sent_models(fake, model) == [model] * 3
    # backoff: 50-100 ms, then 100-200 ms (base 0.1 s, exponential, jittered)
    assert 0.15 <= elapsed < 1.0


def test_no_retry_config_means_a_single_try(gateway: GatewayServer, fake: FakeUpstream) -> None:
    model = f"status-503+{uid()}"

    err = chat_error(client(gateway, target(fake, model)))

    assert err.status_code == 503
    assert err.response.headers["x-portkey-retry-attempt-count"] == "0"
    assert sent_models(fake, model) == [model]


@pytest.mark.parametrize(
    ("status", "tries"),
    [(429, 3), (500, 3), (502, 3), (503, 3), (504, 3), (400, 1), (401, 1), (404, 1)],
)
def test_default_retry_statuses(
    gateway: GatewayServer, fake: FakeUpstream, status: int, tries: int
) -> None:
    model = f"status-{status}+{uid()}"

    err = chat_error(client(gateway, target(fake, model, retry={"attempts": 2})))

    assert err.status_code == status
    assert len(sent_models(fake, model)) == tries


def test_retry_on_status_codes_limits_what_is_retried(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    retry = {"attempts": 2, "on_status_codes": [429, 400]}
    c = client(gateway)

    for status, tries in ((503, 1), (429, 3), (400, 3)):
        model = f"status-{status}+{tag}"
        err = chat_error(
            c, extra_headers={"x-portkey-config": config_header(target(fake, model, retry=retry))}
        )
        assert err.status_code == status
        assert len(sent_models(fake, model)) == tries, status


def test_retries_then_fallback_count_only_the_answering_targets_retries(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 1},
        "targets": [target(fake, f"status-503+{tag}"), target(fake, f"flaky-1+{tag}")],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from flaky-1+{tag}"
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert sent_models(fake, tag) == [f"status-503+{tag}"] * 2 + [f"flaky-1+{tag}"] * 2


# -- Retry-After ---------------------------------------------------------------------------


def test_retry_after_is_honoured_when_asked(gateway: GatewayServer, fake: FakeUpstream) -> None:
    model = f"status-429+retry-after-1+flaky-1+{uid()}"
    config = target(fake, model, retry={"attempts": 2, "use_retry_after_header": True})

    raw, elapsed = timed(chat, client(gateway, config))

    assert content(raw) == f"Hello from {model}"
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    assert 0.95 <= elapsed < 2.0


def test_retry_after_ms_and_the_plural_spelling(gateway: GatewayServer, fake: FakeUpstream) -> None:
    model = f"status-429+retry-after-ms-400+retry-after-5+flaky-1+{uid()}"
    config = target(fake, model, retry={"attempts": 2, "use_retry_after_headers": True})

    raw, elapsed = timed(chat, client(gateway, config))

    assert content(raw) == f"Hello from {model}"
    assert 0.38 <= elapsed < 2.0  # retry-after-ms wins over the coarser Retry-After (5 s)


def test_retry_after_is_ignored_by_default(gateway: GatewayServer, fake: FakeUpstream) -> None:
    model = f"status-429+retry-after-1+flaky-1+{uid()}"
    config = target(fake, model, retry={"attempts": 2})

    raw, elapsed = timed(chat, client(gateway, config))

    assert content(raw) == f"Hello from {model}"
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    assert elapsed < 0.8  # exponential backoff (<= 100 ms), not the 1 s asked for


def test_retry_after_over_60s_fails_over_at_once(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    retry = {"attempts": 3, "use_retry_after_header": True}
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"status-429+retry-after-120+{tag}", retry=retry),
            target(fake, f"ok-{tag}"),
        ],
    }

    raw, elapsed = timed(chat, client(gateway, config))

    assert content(raw) == f"Hello from ok-{tag}"
    assert elapsed < 1.0  # not the 120 s asked for
    assert sent_models(fake, tag) == [f"status-429+retry-after-120+{tag}", f"ok-{tag}"]


def test_retry_after_over_60s_without_fallback_returns_the_429_and_its_retry_after(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"status-429+retry-after-120+{uid()}"
    config = target(fake, model, retry={"attempts": 3, "use_retry_after_header": True})

    err, elapsed = timed(chat_error, client(gateway, config))

    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "120"
    assert err.response.json()["error"]["type"] == "rate_limit_error"
    assert elapsed < 1.0  # not the 120 s asked for
    assert sent_models(fake, model) == [model]


def test_a_final_429_after_several_attempts_keeps_its_retry_after(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"status-503+{tag}"),
            target(fake, f"status-429+retry-after-3+{tag}", retry={"attempts": 1}),
        ],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 429
    assert err.response.json()["error"]["type"] == "all_targets_failed"
    assert len(err.response.json()["error"]["attempts"]) == 3
    assert err.response.headers["retry-after"] == "3"


# -- timeouts ------------------------------------------------------------------------------


def test_request_timeout_fails_over_to_the_next_target(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"delay-800+{tag}", request_timeout=200),
            target(fake, f"ok-{tag}"),
        ],
    }

    raw, elapsed = timed(chat, client(gateway, config))

    assert content(raw) == f"Hello from ok-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert 0.2 <= elapsed < 0.75  # 200 ms timeout, not the 800 ms answer
    assert sent_models(fake, tag) == [f"delay-800+{tag}", f"ok-{tag}"]


def test_request_timeout_without_fallback_is_a_408(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    config = target(fake, f"delay-800+{uid()}", request_timeout=200)

    err, elapsed = timed(chat_error, client(gateway, config))

    assert err.status_code == 408
    error = err.response.json()["error"]
    assert (error["type"], error["code"]) == ("upstream_timeout", "upstream_timeout")
    assert 0.2 <= elapsed < 0.75  # 200 ms timeout, not the 800 ms answer


def test_request_timeout_header_applies_per_request(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"delay-800+{uid()}"
    c = client(gateway, target(fake, model))

    err, elapsed = timed(chat_error, c, extra_headers={"x-portkey-request-timeout": "200"})
    assert err.status_code == 408
    assert 0.2 <= elapsed < 0.75  # 200 ms timeout, not the 800 ms answer


def test_request_timeout_header_overrides_the_config(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"delay-300+{uid()}"
    c = client(gateway, target(fake, model, request_timeout=100))

    raw = chat(c, extra_headers={"x-portkey-request-timeout": "3000"})

    assert content(raw) == f"Hello from {model}"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_request_timeout_header_is_a_400(
    gateway: GatewayServer, fake: FakeUpstream, value: str
) -> None:
    c = client(gateway, target(fake, "gpt-4o"))

    err = chat_error(c, extra_headers={"x-portkey-request-timeout": value})

    assert err.status_code == 400
    assert err.response.json()["error"]["param"] == "x-portkey-request-timeout"


def test_request_timeout_from_the_portkey_sdk(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    pk = Portkey(
        base_url=gateway.base_url,
        api_key="anything",
        request_timeout=200,
        config={
            "strategy": {"mode": "fallback"},
            "targets": [target(fake, f"delay-800+{tag}"), target(fake, f"ok-{tag}")],
        },
        Authorization="Bearer sk-timeout",
    )

    answer, elapsed = timed(pk.chat.completions.create, model="gpt-4o", messages=MESSAGES)

    assert answer.choices[0].message.content == f"Hello from ok-{tag}"
    assert elapsed < 0.75  # 200 ms timeout, not the 800 ms answer


def test_a_timed_out_target_is_retried_when_408_is_listed(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"delay-500+{uid()}"
    config = target(
        fake, model, request_timeout=100, retry={"attempts": 1, "on_status_codes": [408]}
    )

    err = chat_error(client(gateway, config))

    assert err.status_code == 408
    assert [a["status"] for a in err.response.json()["error"]["attempts"]] == [408, 408]
    assert sent_models(fake, model) == [model, model]


# -- all targets failed --------------------------------------------------------------------


def test_all_targets_failed_lists_every_attempt(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"status-503+{tag}", retry={"attempts": 1}),
            {
                "strategy": {"mode": "fallback"},
                "targets": [target(fake, f"delay-600+{tag}", request_timeout=100)],
            },
            target(fake, f"status-429+{tag}"),
        ],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 429
    headers = err.response.headers
    assert headers["x-portkey-last-used-option-index"] == "config.targets[2]"
    assert headers["x-portkey-provider"] == "openai"
    error = err.response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "all_targets_failed",
        "rate_limit_exceeded",
        None,
    )
    assert error["message"].startswith("All 4 attempts failed. Last error: fake upstream error 429")
    attempts = error["attempts"]
    durations = [a.pop("duration_ms") for a in attempts]
    assert attempts == [
        _attempt("config.targets[0]", 503, "upstream_error", "fake upstream error 503"),
        _attempt("config.targets[0]", 503, "upstream_error", "fake upstream error 503"),
        _attempt("config.targets[1].targets[0]", 408, "upstream_timeout", "upstream timed out"),
        _attempt("config.targets[2]", 429, "rate_limit_error", "fake upstream error 429"),
    ]
    assert all(isinstance(d, int | float) and d >= 0 for d in durations)
    assert 100 <= durations[2] < 400


def _attempt(path: str, status: int, error_type: str, message: str) -> dict[str, Any]:
    return {
        "target": path,
        "provider": "openai",
        "status": status,
        "error_type": error_type,
        "message": message,
    }


def test_unreachable_target_is_a_502_and_falls_back(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    from tests.support import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "custom_host": dead},
            target(fake, f"ok-{tag}"),
        ],
    }

    raw = chat(client(gateway, config))
    assert content(raw) == f"Hello from ok-{tag}"

    err = chat_error(client(gateway, {"provider": "openai", "custom_host": dead}))
    assert err.status_code == 502
    assert err.response.json()["error"]["type"] == "upstream_unavailable"
