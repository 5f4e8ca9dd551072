"""Fireworks AI: OpenAI-compatible inference API."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import ProviderSpec

#: https://docs.fireworks.ai/api-reference/post-chatcompletions
PARAMS = openai_params(
    "Fireworks AI",
    BASICS
    | {"stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "user"}
    | {"frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"}
    | {"metadata", "parallel_tool_calls", "prediction", "prompt_cache_key", "service_tier"}
    | {"reasoning_effort", "response_format", "tools", "tool_choice"}
    | {"functions", "function_call"},
    renamed={"safety_identifier": "user"},
    dropped={"store", "verbosity", "moderation", "modalities"}
    | {"prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "web_search_options"},
    notes={
        "service_tier": "Fireworks treats every tier but priority as default",
        "safety_identifier": "sent as user, Fireworks' end-user id",
    },
)
#: https://docs.fireworks.ai/api-reference/creates-an-embedding-vector-representing-the-input-text
EMBEDDING_PARAMS = openai_params(
    "Fireworks AI",
    {"model", "input", "dimensions"},
    dropped={"encoding_format", "user"},
)

SPEC = ProviderSpec(
    id="fireworks-ai",
    base_url="https://api.fireworks.ai/inference/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    docs="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
)
