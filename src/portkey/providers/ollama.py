"""Ollama: its OpenAI-compatible endpoint on a local host; no key needed."""

import re

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import VISION, ModelFamily, ProviderSpec

#: the Llama 2 and 3.x library models read text only; images need llama3.2-vision, llama4,
#: llava and the like (https://ollama.com/library/llama3.2, https://ollama.com/library/llama3.2-vision)
FAMILIES = (
    ModelFamily(
        "llama text",
        pattern=re.compile(r"llama(2|3)(\.\d)?(:|$)"),
        unsupported=frozenset({VISION}),
        docs="https://ollama.com/library/llama3.2",
    ),
)

#: https://docs.ollama.com/api/openai-compatibility ("Supported request fields"); Ollama
#: ignores any other field without a word, so each is dropped here with one
PARAMS = openai_params(
    "Ollama",
    BASICS
    | {"stream_options", "max_tokens", "stop", "seed", "frequency_penalty"}
    | {"presence_penalty", "response_format", "tools", "reasoning_effort"}
    | {"logprobs", "top_logprobs"},
    renamed={"max_completion_tokens": "max_tokens"},
    dropped={"tool_choice", "logit_bias", "user", "n", "metadata", "store", "service_tier"}
    | {"safety_identifier", "parallel_tool_calls", "prediction", "verbosity", "moderation"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "modalities"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
)
EMBEDDING_PARAMS = openai_params(
    "Ollama", {"model", "input", "dimensions", "encoding_format"}, dropped={"user"}
)

SPEC = ProviderSpec(
    id="ollama",
    base_url="http://localhost:11434/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    requires_api_key=False,
    families=FAMILIES,
    docs="https://github.com/ollama/ollama/blob/main/docs/openai.md",
)
