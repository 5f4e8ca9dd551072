"""xAI (Grok): OpenAI-compatible."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import ProviderSpec

#: https://docs.x.ai/docs/api-reference#chat-completions
PARAMS = openai_params(
    "xAI",
    BASICS
    | {"stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "user"}
    | {"frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"}
    | {"tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort"}
    | {"web_search_options"},
    renamed={"safety_identifier": "user"},
    dropped={"metadata", "store", "service_tier", "prediction", "verbosity", "moderation"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "modalities"},
    rejected={"audio", "functions", "function_call"},
    notes={
        "safety_identifier": "sent as user, xAI's end-user id",
        **dict.fromkeys(("metadata", "store", "service_tier"), "xAI takes it and ignores it"),
    },
)
#: https://docs.x.ai/api/endpoints#create-embeddings: model, input and encoding_format
EMBEDDING_PARAMS = openai_params(
    "xAI", {"model", "input", "encoding_format"}, dropped={"user"}, rejected={"dimensions"}
)

SPEC = ProviderSpec(
    id="x-ai",
    base_url="https://api.x.ai/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    docs="https://docs.x.ai/docs/api-reference",
)
