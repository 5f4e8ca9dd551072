"""What a request cost in USD (genai-prices tables or per-model overrides), and a cheap token guess.

``cost_usd`` reads OpenAI-shaped usage: ``prompt_tokens`` counts every input token, cached
reads (``prompt_tokens_details.cached_tokens``) and cache writes (``cache_creation_input_tokens``,
at the top level or in the details) included; ``completion_tokens`` counts every output token,
reasoning (``completion_tokens_details.reasoning_tokens``) included. Anthropic-shaped usage
(``input_tokens`` without the cache, ``cache_read_input_tokens``, ``output_tokens``) is read too.

Prices come from ``genai-prices`` (bundled tables, offline). The lookup of a (provider, model)
price is memoised (per hour, since some prices change on a date); when a model's price is flat
per token (most are) the arithmetic is done here in floats, otherwise (tiered prices, per-request
fees, priced reasoning) genai-prices computes it. Unknown provider or model: ``None``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from genai_prices import Usage
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice, TieredPrices

log = logging.getLogger("portkey.observe")

__all__ = ["PRICES_PROVIDER", "cost_usd", "estimate_tokens"]

#: our provider id -> genai-prices provider id (providers not listed have no price table)
PRICES_PROVIDER: Mapping[str, str] = {
    "openai": "openai",
    "azure-openai": "azure",
    "anthropic": "anthropic",
    "google": "google",
    "vertex-ai": "google",
    "bedrock": "aws",
    "groq": "groq",
    "mistral-ai": "mistral",
    "deepseek": "deepseek",
    "x-ai": "x-ai",
    "cohere": "cohere",
    "together-ai": "together",
    "fireworks-ai": "fireworks",
    "openrouter": "openrouter",
    "perplexity-ai": "perplexity",
}

#: price keys this module can apply itself; the others must be absent for the fast path
_FLAT = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
#: price keys for units our usage never reports (web searches, 1-hour cache writes)
_UNREPORTED = frozenset({"web_searches_kcount", "storage_searches_kcount", "cache_write_1h_mtok"})

DEFAULT_MAX_OUTPUT = 1024
IMAGE_TOKENS = 1000  # a guess per image part: reservations are corrected after the answer
MESSAGE_TOKENS = 4  # role and framing per message


#: (input, output, cache_read, cache_write, reasoning) token counts: every input token (cache
#: reads and writes included), every output token (reasoning included), then the parts
_Counts = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, n: _Counts) -> float:
        total_in, output, read, write, _ = n
        plain = total_in - read - write
        return (
            (plain if plain > 0 else 0) * self.input
            + read * self.cache_read
            + write * self.cache_write
            + output * self.output
        ) / 1_000_000


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _counts(usage: Mapping[str, Any]) -> _Counts:
    """The token counts of OpenAI- or Anthropic-shaped usage, clamped to be consistent."""
    # type() is: bools and int subclasses are no token counts (a cheap test, on the hot path)
    write = usage.get("cache_creation_input_tokens")
    prompt_details = usage.get("prompt_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = None
    if type(write) is not int or write <= 0:
        write = 0
        if prompt_details is not None:
            write = _int(prompt_details.get("cache_creation_tokens"))
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        # inline, not ``_int``: a Python call per count was most of this function's work
        read = 0 if prompt_details is None else prompt_details.get("cached_tokens")
        if type(read) is not int or read < 0:
            read = 0
        total_in = usage.get("prompt_tokens")
        if type(total_in) is not int or total_in < 0:
            total_in = 0
        output = usage.get("completion_tokens")
        if type(output) is not int or output < 0:
            output = 0
        details = usage.get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else 0
        if type(reasoning) is not int or reasoning < 0:
            reasoning = 0
    else:  # Anthropic Messages: input_tokens excludes the cache reads and writes
        read = _int(usage.get("cache_read_input_tokens"))
        total_in = _int(usage.get("input_tokens")) + read + write
        output = _int(usage.get("output_tokens"))
        reasoning = 0
    if read > total_in:
        read = total_in
    if write > total_in - read:
        write = total_in - read
    return total_in, output, read, write, reasoning if reasoning < output else output


def _flat_rates(price: ModelPrice) -> _Rates | None:
    """The price as four flat per-token rates, or None when genai-prices must compute it."""
    values = {k: v for k, v in price.__dict__.items() if v is not None and not k.startswith("_")}
    if any(k not in _FLAT and k not in _UNREPORTED for k in values):
        return None
    if any(isinstance(values.get(k), TieredPrices) for k in _FLAT):
        return None
    rate = {k: float(values[k]) for k in _FLAT if k in values}
    base = rate.get("input_mtok", 0.0)
    return _Rates(
        input=base,
        output=rate.get("output_mtok", 0.0),
        cache_read=rate.get("cache_read_mtok", base),
        cache_write=rate.get("cache_write_mtok", base),
    )


#: (provider, model, hour) -> its price: a plain dict, read per answer (``lru_cache``'s
#: bookkeeping cost ~4k instructions a call); emptied when full
_PRICES: dict[tuple[str, str, int], _Rates | ModelPrice | None] = {}
_MAX_PRICES = 2048


def _price(provider: str, model: str, hour: int) -> _Rates | ModelPrice | None:
    """The model's price at this hour (memoised), or None when unknown."""
    key = (provider, model, hour)
    try:
        return _PRICES[key]
    except KeyError:
        pass
    if len(_PRICES) >= _MAX_PRICES:
        _PRICES.clear()
    found = _PRICES[key] = _lookup(provider, model, hour)
    return found


def _lookup(provider: str, model: str, hour: int) -> _Rates | ModelPrice | None:
    """The model's price at this hour from the genai-prices tables, or None when unknown."""
    try:
        _, info = get_snapshot().find_provider_model(model, None, provider, None)
        price = info.get_prices(datetime.fromtimestamp(hour * 3600, UTC))
    except LookupError:
        return None
    return _flat_rates(price) or price


def _override(prices: Mapping[str, float]) -> _Rates:
    base = float(prices.get("input", 0.0))
    return _Rates(
        input=base,
        output=float(prices.get("output", 0.0)),
        cache_read=float(prices.get("cached_input", base)),
        cache_write=float(prices.get("cache_write", base)),
    )


def cost_usd(
    provider_id: str,
    model: str,
    usage: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, float]] | None = None,
    at: float | None = None,
) -> float | None:
    """USD for ``usage`` of ``model`` at ``provider_id``; None when no price is known.

    ``overrides`` maps a model name to its own prices, USD per million tokens:
    ``{"input": 2.5, "output": 10, "cached_input": 1.25}`` (``cached_input`` and
    ``cache_write`` default to ``input``); an override wins over the tables. ``at``: when
    (epoch seconds; default now), for prices that change on a date.
    """
    try:
        counts = _counts(usage)
        if overrides is not None and model in overrides:
            return _override(overrides[model]).cost(counts)
        provider = PRICES_PROVIDER.get(provider_id)
        if provider is None or not model:
            return None
        hour = int((time.time() if at is None else at) // 3600)
        price = _price(provider, model.lower(), hour)
        if price is None or isinstance(price, _Rates):
            return None if price is None else price.cost(counts)
        total_in, output, read, write, reasoning = counts
        reported = Usage(
            input_tokens=total_in,
            output_tokens=output,
            cache_read_tokens=read or None,
            cache_write_tokens=write or None,
            output_reasoning_tokens=reasoning or None,
        )
        return float(price.calc_price(reported)["total_price"])
    except Exception:  # a price must never fail a request
        log.debug("no price for %s %s", provider_id, model, exc_info=True)
        return None


def _text_tokens(value: Any) -> tuple[int, int]:
    """(characters, tokens already counted) of a content value: text, parts, or token ids."""
    if isinstance(value, str):
        return len(value), 0
    if not isinstance(value, list):
        return 0, 0
    chars = tokens = 0
    for part in value:
        if isinstance(part, str):
            chars += len(part)
        elif isinstance(part, int):  # embeddings input as token ids
            tokens += 1
        elif isinstance(part, list):
            tokens += len(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
            elif "image_url" in part or part.get("type") in ("image", "input_image"):
                tokens += IMAGE_TOKENS
    return chars, tokens


def estimate_tokens(body: Mapping[str, Any]) -> tuple[int, int]:
    """(prompt tokens, most output tokens) of a request, guessed before calling upstream.

    Prompt: characters of the message texts, system prompt, tool schemas and response format,
    divided by 4, plus a few tokens per message (no tokenizer: this runs on every request).
    Output: ``max_completion_tokens`` or ``max_tokens`` (times ``n``), else 1024; an embeddings
    body (``input`` without ``messages``) has none.
    """
    chars = tokens = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            tokens += MESSAGE_TOKENS
            if isinstance(message, dict):
                c, t = _text_tokens(message.get("content"))
                chars, tokens = chars + c, tokens + t
                if message.get("tool_calls"):
                    chars += len(orjson.dumps(message["tool_calls"]))
    for key in ("system", "input", "prompt"):
        c, t = _text_tokens(body.get(key))
        chars, tokens = chars + c, tokens + t
    for key in ("tools", "functions", "response_format"):
        if body.get(key):
            chars += len(orjson.dumps(body[key]))
    prompt = math.ceil(chars / 4) + tokens
    if messages is None and "prompt" not in body and "input" in body:
        return prompt, 0
    most = _int(body.get("max_completion_tokens")) or _int(body.get("max_tokens"))
    choices = _int(body.get("n")) or 1
    return prompt, (most or DEFAULT_MAX_OUTPUT) * choices
