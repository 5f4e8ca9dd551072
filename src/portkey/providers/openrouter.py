"""OpenRouter: OpenAI-compatible router over many models."""

from portkey.providers._params import OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import ProviderSpec

#: https://openrouter.ai/docs/api-reference/chat-completion: OpenRouter hands these to the
#: model's provider (``provider.require_parameters`` makes it pick one that takes them all)
PARAMS = openai_params(
    "OpenRouter",
    {"messages", "model", "stream", "stream_options", "max_tokens", "max_completion_tokens"}
    | {"temperature", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty"}
    | {"logit_bias", "logprobs", "top_logprobs", "response_format", "tools", "tool_choice"}
    | {"parallel_tool_calls", "reasoning_effort", "prediction", "user", "metadata"}
    | {"modalities", "service_tier", "prompt_cache_key", "prompt_cache_options"},
    renamed={"safety_identifier": "user"},
    dropped={"n", "store", "verbosity", "moderation", "prompt_cache_retention"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={
        "safety_identifier": "sent as user, OpenRouter's end-user id",
        "web_search_options": "OpenRouter searches through its web plugin instead",
    },
)
EMBEDDING_PARAMS = openai_params("OpenRouter", OPENAI_EMBEDDING_FIELDS)

SPEC = ProviderSpec(
    id="openrouter",
    base_url="https://openrouter.ai/api/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    docs="https://openrouter.ai/docs/api-reference/overview",
)
