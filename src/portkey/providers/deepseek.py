"""DeepSeek: OpenAI-compatible chat API."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import (
    CHAT_AND_MODELS,
    JSON_SCHEMA,
    VISION,
    ModelFamily,
    ProviderSpec,
    drop,
)

#: thinking mode ignores the sampling controls and errors on logprobs
#: (https://api-docs.deepseek.com/guides/thinking_mode, "Not Supported Parameters");
#: tools, JSON output and prefix completion work there too
FAMILIES = (
    ModelFamily(
        "deepseek-reasoner",
        prefixes=("deepseek-reasoner",),
        params={
            "temperature": drop("no effect in DeepSeek's thinking mode"),
            "top_p": drop("no effect in DeepSeek's thinking mode"),
            "presence_penalty": drop("no effect in DeepSeek's thinking mode"),
            "frequency_penalty": drop("no effect in DeepSeek's thinking mode"),
            "logprobs": drop("DeepSeek's thinking mode returns no log probabilities"),
            "top_logprobs": drop("DeepSeek's thinking mode returns no log probabilities"),
        },
        docs="https://api-docs.deepseek.com/guides/thinking_mode",
    ),
)

#: https://api-docs.deepseek.com/api/create-chat-completion: no n, seed, logit_bias or user
PARAMS = openai_params(
    "DeepSeek",
    BASICS
    | {"stream_options", "max_tokens", "stop", "frequency_penalty", "presence_penalty"}
    | {"response_format", "tools", "tool_choice", "logprobs", "top_logprobs"},
    renamed={"max_completion_tokens": "max_tokens"},
    dropped={"n", "seed", "logit_bias", "user", "safety_identifier", "metadata", "store"}
    | {"service_tier", "parallel_tool_calls", "prediction", "verbosity", "moderation"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "modalities"}
    | {"reasoning_effort"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={
        "reasoning_effort": "DeepSeek reasons by model (deepseek-reasoner) or its 'thinking' field",
        "prompt_cache_key": "DeepSeek caches prompt prefixes on its own",
    },
)

SPEC = ProviderSpec(
    id="deepseek",
    base_url="https://api.deepseek.com/v1",
    params=PARAMS,
    # no embeddings or legacy completions API: only chat and the model list
    routes=CHAT_AND_MODELS,
    # message content is text only; response_format is text or json_object (no json_schema)
    unsupported=frozenset({VISION, JSON_SCHEMA}),
    families=FAMILIES,
    docs="https://api-docs.deepseek.com/",
)
