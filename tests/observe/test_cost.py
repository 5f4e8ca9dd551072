"""Request cost from usage (genai-prices tables, overrides) and the pre-call token guess."""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import Usage, calc_price

from portkey.observe.cost import PRICES_PROVIDER, cost_usd, estimate_tokens


def openai_usage(
    prompt: int, completion: int, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def test_gpt_4o_with_cached_tokens_costs_what_the_price_table_says() -> None:
    # FIELD-NOTES: 1000 input (200 of them cached reads) + 100 output on gpt-4o = $0.00325
    assert cost_usd("openai", "gpt-4o", openai_usage(1000, 100, cached=200)) == pytest.approx(
        0.00325
    )
    uncached = cost_usd("openai", "gpt-4o", openai_usage(1000, 100))
    assert uncached is not None and uncached > 0.00325  # cached reads are cheaper


@pytest.mark.parametrize(
    ("provider", "model", "usage", "reported"),
    [
        ("openai", "gpt-4o-mini", openai_usage(5000, 700, cached=1024), {}),
        ("azure-openai", "gpt-4o", openai_usage(3000, 300, cached=1000), {}),
        ("deepseek", "deepseek-chat", openai_usage(4000, 900, cached=2000), {}),
        ("groq", "llama-3.3-70b-versatile", openai_usage(1200, 400), {}),
        ("mistral-ai", "mistral-large-latest", openai_usage(800, 200), {}),
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", openai_usage(900, 90), {}),
        (
            "anthropic",
            "claude-3-5-sonnet-latest",
            {"input_tokens": 500, "output_tokens": 100, "cache_read_input_tokens": 200}
            | {"cache_creation_input_tokens": 300},
            {"input_tokens": 1000, "cache_read_tokens": 200, "cache_write_tokens": 300},
        ),
        ("google", "gemini-2.5-pro", openai_usage(250_000, 1000, cached=10_000), {}),
        ("perplexity-ai", "sonar", openai_usage(1000, 100), {}),
    ],
)
def test_cost_matches_genai_prices(
    provider: str, model: str, usage: dict[str, Any], reported: dict[str, int]
) -> None:
    reported = reported or {
        "input_tokens": usage["prompt_tokens"],
        "cache_read_tokens": usage["prompt_tokens_details"]["cached_tokens"],
    }
    output = usage.get("completion_tokens", usage.get("output_tokens"))
    expected = calc_price(
        Usage(**reported, output_tokens=output), model, provider_id=PRICES_PROVIDER[provider]
    )
    assert cost_usd(provider, model, usage) == pytest.approx(float(expected.total_price))


def test_anthropic_usage_costs_the_same_as_its_openai_translation() -> None:
    native = {
        "input_tokens": 500,
        "output_tokens": 100,
        "cache_read_input_tokens": 200,
        "cache_creation_input_tokens": 300,
    }
    translated = openai_usage(1000, 100, cached=200) | {"cache_creation_input_tokens": 300}
    both = (
        cost_usd("anthropic", "claude-3-5-sonnet-latest", native),
        cost_usd("anthropic", "claude-3-5-sonnet-latest", translated),
    )
    assert both[0] is not None and both[0] == pytest.approx(both[1])
    no_writes = cost_usd("anthropic", "claude-3-5-sonnet-latest", openai_usage(1000, 100, 200))
    assert no_writes is not None and no_writes < both[0]  # cache writes cost more than input


def test_reasoning_tokens_are_billed_as_the_output_they_are_part_of() -> None:
    plain = cost_usd("openai", "o3-mini", openai_usage(100, 1000))
    reasoning = cost_usd("openai", "o3-mini", openai_usage(100, 1000, reasoning=800))
    assert plain is not None and reasoning == pytest.approx(plain)


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("openai", "no-such-model-anywhere", openai_usage(10, 10)),
        ("ollama", "llama3", openai_usage(10, 10)),
        ("no-such-provider", "gpt-4o", openai_usage(10, 10)),
        ("openai", "", openai_usage(10, 10)),
    ],
)
def test_no_known_price_is_none(provider: str, model: str, usage: dict[str, Any]) -> None:
    assert cost_usd(provider, model, usage) is None


def test_malformed_usage_never_raises() -> None:
    for usage in ({}, {"prompt_tokens": "many"}, {"prompt_tokens": -5, "completion_tokens": None}):
        assert cost_usd("openai", "gpt-4o", usage) in (0.0, None)
    assert (
        cost_usd("openai", "gpt-4o", {"prompt_tokens_details": "x", "prompt_tokens": 10}) or 0
    ) > 0


def test_override_prices_win_over_the_tables() -> None:
    overrides = {
        "my-finetune": {"input": 3.0, "output": 12.0, "cached_input": 1.5},
        "gpt-4o": {"input": 1.0, "output": 1.0},
    }
    usage = openai_usage(1000, 100, cached=400)
    assert cost_usd("openai", "my-finetune", usage, overrides) == pytest.approx(
        (600 * 3.0 + 400 * 1.5 + 100 * 12.0) / 1e6
    )
    assert cost_usd("vllm", "my-finetune", usage, overrides) is not None  # any provider
    assert cost_usd("openai", "gpt-4o", usage, overrides) == pytest.approx(1100 / 1e6)
    assert cost_usd("openai", "my-finetune", usage) is None


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def test_prompt_estimate_is_about_four_characters_a_token() -> None:
    prompt, _ = estimate_tokens(chat("word " * 400))  # 2,000 characters
    assert 450 <= prompt <= 550
    longer, _ = estimate_tokens(chat("word " * 800))
    assert longer > prompt
    parts = chat("")
    parts["messages"][0]["content"] = [{"type": "text", "text": "word " * 400}]
    assert estimate_tokens(parts)[0] == prompt


def test_prompt_estimate_counts_tool_schemas_and_images() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city, in Celsius or Fahrenheit. " * 5,
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    bare, _ = estimate_tokens(chat("hi"))
    assert estimate_tokens(chat("hi", tools=tools))[0] > bare + 50
    image = chat("")
    image["messages"][0]["content"] = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert estimate_tokens(image)[0] > bare + 100


def test_output_estimate_is_the_most_the_request_allows() -> None:
    assert estimate_tokens(chat("hi"))[1] == 1024
    assert estimate_tokens(chat("hi", max_tokens=50))[1] == 50
    assert estimate_tokens(chat("hi", max_tokens=50, max_completion_tokens=70))[1] == 70
    assert estimate_tokens(chat("hi", max_tokens=50, n=3))[1] == 150
    embeddings = {"model": "text-embedding-3-small", "input": ["word " * 40, "word " * 40]}
    prompt, output = estimate_tokens(embeddings)
    assert output == 0 and 80 <= prompt <= 120
