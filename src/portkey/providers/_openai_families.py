"""OpenAI's model families: reasoning models' parameter rules, and what older models lack.

Data for ``openai.SPEC.families``, kept apart so the provider module stays spec-sized; each
family cites the doc it follows.
"""

import re

from portkey.providers.base import (
    JSON_SCHEMA,
    REASONING,
    TOOLS,
    VISION,
    ModelFamily,
    drop,
    rename,
)

#: Reasoning models refuse max_tokens (max_completion_tokens also bounds the hidden reasoning)
#: and every sampling control: https://platform.openai.com/docs/guides/reasoning and
#: https://platform.openai.com/docs/api-reference/chat/create#chat-create-max_tokens
#: ("not compatible with o-series models"); OpenAI answers "Unsupported parameter:
#: 'temperature' is not supported with this model" (only the default, 1, is accepted).
O_SERIES_PARAMS = {
    "max_tokens": rename("max_completion_tokens"),
    "temperature": drop("reasoning models sample at the default temperature only"),
    "top_p": drop("reasoning models sample at the default top_p only"),
    "presence_penalty": drop("reasoning models take no presence penalty"),
    "frequency_penalty": drop("reasoning models take no frequency penalty"),
    "logprobs": drop("reasoning models return no log probabilities"),
    "top_logprobs": drop("reasoning models return no log probabilities"),
    "logit_bias": drop("reasoning models take no logit bias"),
}

#: first match wins, so narrower families come first
FAMILIES = (
    # the 2024 previews: no tools, images, structured outputs, reasoning_effort (or system
    # messages): https://learn.microsoft.com/azure/ai-services/openai/how-to/reasoning
    # (feature table) and https://platform.openai.com/docs/models/o1-mini
    ModelFamily(
        "o1-mini/o1-preview",
        prefixes=("o1-mini", "o1-preview"),
        params=O_SERIES_PARAMS,
        unsupported=frozenset({TOOLS, VISION, JSON_SCHEMA, REASONING}),
        docs="https://platform.openai.com/docs/guides/reasoning",
    ),
    # text in only: https://platform.openai.com/docs/models/o3-mini
    ModelFamily(
        "o3-mini",
        prefixes=("o3-mini",),
        params=O_SERIES_PARAMS,
        unsupported=frozenset({VISION}),
        docs="https://platform.openai.com/docs/models/o3-mini",
    ),
    # o1, o1-pro, o3, o3-pro, o4-mini...: tools, images, json_schema and reasoning_effort
    ModelFamily(
        "o-series",
        pattern=re.compile(r"o\d+(-|$)"),
        params=O_SERIES_PARAMS,
        docs="https://platform.openai.com/docs/guides/reasoning",
    ),
    # reasoning models too: max_tokens is refused; their sampling rules vary by version and
    # reasoning effort, so the upstream judges those
    ModelFamily(
        "gpt-5",
        prefixes=("gpt-5",),
        params={"max_tokens": rename("max_completion_tokens")},
        docs="https://platform.openai.com/docs/guides/latest-model",
    ),
    # json_schema needs gpt-4o-2024-08-06, gpt-4o-mini or later:
    # https://platform.openai.com/docs/guides/structured-outputs#supported-models;
    # reasoning_effort is for reasoning models only: https://platform.openai.com/docs/guides/reasoning
    ModelFamily(
        "gpt-3.5",
        prefixes=("gpt-3.5",),
        unsupported=frozenset({VISION, JSON_SCHEMA, REASONING}),
        docs="https://platform.openai.com/docs/models/gpt-3.5-turbo",
    ),
    ModelFamily(
        "gpt-4o audio",
        prefixes=("gpt-4o-audio", "gpt-4o-mini-audio"),
        unsupported=frozenset({VISION, JSON_SCHEMA, REASONING}),
        docs="https://platform.openai.com/docs/models/gpt-4o-audio-preview",
    ),
    ModelFamily(
        "gpt-4 turbo and first gpt-4o",
        prefixes=("gpt-4-turbo", "gpt-4-1106", "gpt-4-0125", "gpt-4o-2024-05-13"),
        unsupported=frozenset({JSON_SCHEMA, REASONING}),
        docs="https://platform.openai.com/docs/guides/structured-outputs#supported-models",
    ),
    ModelFamily(
        "gpt-4",
        pattern=re.compile(r"gpt-4(-0314|-0613|-32k[\w-]*)?$"),
        unsupported=frozenset({VISION, JSON_SCHEMA, REASONING}),
        docs="https://platform.openai.com/docs/models/gpt-4",
    ),
    ModelFamily(
        "gpt-4o/gpt-4.1",
        prefixes=("gpt-4o", "gpt-4.1", "gpt-4.5", "chatgpt-4o"),
        unsupported=frozenset({REASONING}),
        docs="https://platform.openai.com/docs/models/gpt-4o",
    ),
)
