"""vLLM (or any OpenAI-compatible server): the host comes from ``custom_host``."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import ProviderSpec

#: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html (vLLM logs and ignores
#: fields it does not know, so those are dropped here with a warning)
PARAMS = openai_params(
    "vLLM",
    BASICS
    | {"stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "seed"}
    | {"frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"}
    | {"response_format", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort"},
    dropped={"user", "safety_identifier", "metadata", "store", "service_tier", "prediction"}
    | {"verbosity", "moderation", "modalities"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={"user": "vLLM accepts user and ignores it"},
)
EMBEDDING_PARAMS = openai_params(
    "vLLM",
    {"model", "input", "dimensions", "encoding_format"},
    dropped={"user"},
    notes={"user": "vLLM accepts user and ignores it"},
)

SPEC = ProviderSpec(
    id="vllm",
    base_url="http://localhost:8000/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    requires_api_key=False,
    docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
)
