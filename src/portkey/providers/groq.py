"""Groq: OpenAI-compatible; some sampling features are rejected upstream, so we drop them early."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import CHAT_AND_MODELS, VISION, ModelFamily, ProviderSpec

#: images go to the vision models only (https://console.groq.com/docs/vision: Llama 4 Scout
#: and Maverick, the Llama 3.2 vision previews); these text models take none
FAMILIES = (
    ModelFamily(
        "text-only",
        prefixes=(
            "llama-3.1-",
            "llama-3.3-",
            "llama3-",
            "llama-3.2-1b",
            "llama-3.2-3b",
            "gemma",
            "mixtral-",
            "openai/gpt-oss-",
            "qwen/qwen3-",
            "moonshotai/kimi-k2",
            "deepseek-r1-distill-",
        ),
        unsupported=frozenset({VISION}),
        docs="https://console.groq.com/docs/models",
    ),
)

#: https://console.groq.com/docs/api-reference#chat-create and
#: https://console.groq.com/docs/openai#currently-unsupported-openai-features
PARAMS = openai_params(
    "Groq",
    BASICS
    | {"stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "user"}
    | {"tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort"}
    | {"service_tier", "functions", "function_call"},
    renamed={"safety_identifier": "user"},
    dropped={"logprobs", "top_logprobs", "logit_bias", "frequency_penalty", "presence_penalty"}
    | {"metadata", "store", "prediction", "verbosity", "moderation", "modalities"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "web_search_options"},
    notes={
        "n": "Groq takes 1 only and answers 400 to more",
        "service_tier": "Groq's tiers: auto, on_demand, flex, performance; others are a 400",
        **dict.fromkeys(("frequency_penalty", "presence_penalty"), "no Groq model takes it yet"),
        **dict.fromkeys(("metadata", "store"), "not currently supported by Groq"),
    },
)

SPEC = ProviderSpec(
    id="groq",
    base_url="https://api.groq.com/openai/v1",
    params=PARAMS,
    # no embeddings or legacy completions API: only chat and the model list
    routes=CHAT_AND_MODELS,
    families=FAMILIES,
    docs="https://console.groq.com/docs/openai",
)
