"""Together AI: OpenAI-compatible."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import ProviderSpec

#: https://docs.together.ai/reference/chat-completions (its ``logprobs`` counts top tokens)
PARAMS = openai_params(
    "Together AI",
    BASICS
    | {"stream_options", "max_tokens", "stop", "n", "presence_penalty", "frequency_penalty"}
    | {"logit_bias", "seed", "logprobs", "response_format", "tools", "tool_choice"}
    | {"reasoning_effort"},
    renamed={"max_completion_tokens": "max_tokens", "top_logprobs": "logprobs"},
    dropped={"user", "safety_identifier", "metadata", "store", "service_tier", "prediction"}
    | {"parallel_tool_calls", "verbosity", "moderation", "modalities"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={
        "logprobs": "Together reads true as one top token",
        "top_logprobs": "Together's logprobs is the number of top tokens (wins over true)",
        "stream_options": "Together puts usage in the last chunk",
        "moderation": "Together moderates with its own safety_model field",
    },
)
#: https://docs.together.ai/reference/embeddings: model and input only
EMBEDDING_PARAMS = openai_params(
    "Together AI",
    {"model", "input"},
    dropped={"encoding_format", "user"},
    rejected={"dimensions"},
)

SPEC = ProviderSpec(
    id="together-ai",
    base_url="https://api.together.xyz/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    docs="https://docs.together.ai/docs/openai-api-compatibility",
)
