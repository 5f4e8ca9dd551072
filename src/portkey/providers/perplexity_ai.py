"""Perplexity: OpenAI-shaped chat only (no completions or embeddings)."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import CHAT, OPENAI_ROUTES, ProviderSpec

#: https://docs.perplexity.ai/api-reference/chat-completions-post: search answers, no tools
PARAMS = openai_params(
    "Perplexity",
    BASICS
    | {"stream_options", "max_tokens", "stop", "presence_penalty", "frequency_penalty"}
    | {"response_format", "reasoning_effort", "web_search_options"},
    renamed={"max_completion_tokens": "max_tokens"},
    dropped={"n", "seed", "logit_bias", "logprobs", "top_logprobs", "user", "metadata"}
    | {"safety_identifier", "store", "service_tier", "tool_choice", "parallel_tool_calls"}
    | {"prediction", "verbosity", "moderation", "modalities"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"tools", "audio", "functions", "function_call"},
)

SPEC = ProviderSpec(
    id="perplexity-ai",
    base_url="https://api.perplexity.ai",
    routes={CHAT: OPENAI_ROUTES[CHAT]},
    params=PARAMS,
    docs="https://docs.perplexity.ai/",
)
