"""Snowflake Cortex: its OpenAI-compatible Chat Completions API, PAT or key-pair JWT auth."""

from portkey.providers import _snowflake
from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import CHAT, ProviderSpec

#: https://docs.snowflake.com/en/user-guide/snowflake-cortex/open_ai_sdk (the request field
#: table: Cortex ignores the fields dropped here); some passed ones are for OpenAI models only
PARAMS = openai_params(
    "Snowflake Cortex",
    BASICS
    | {"stream_options", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice"}
    | {"response_format", "reasoning_effort", "n", "parallel_tool_calls", "prompt_cache_key"},
    dropped={"frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"}
    | {"seed", "user", "safety_identifier", "metadata", "store", "service_tier", "prediction"}
    | {"prompt_cache_options", "prompt_cache_retention", "verbosity", "moderation"}
    | {"modalities"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes=dict.fromkeys(
        ("reasoning_effort", "n", "parallel_tool_calls", "prompt_cache_key"),
        "Cortex applies it to OpenAI models",
    ),
)

SPEC = ProviderSpec(
    id="snowflake-cortex",
    base_url=_snowflake.BASE_URL,
    auth=None,
    # a programmatic access token (the target's api_key) or a key-pair JWT, by options set
    sign=_snowflake.SnowflakeAuth(),
    # Snowflake documents only chat completions on this API (its cortex-generic-openai.yaml
    # spec); embeddings are Cortex REST's inference:embed, provider snowflake-cortex-rest
    routes={CHAT: "/api/v2/cortex/v1/chat/completions"},
    params=PARAMS,
    options=_snowflake.OPTIONS,
    build_url=_snowflake.build_url,
    extra_headers={"Accept": "application/json, text/event-stream"},
    requires_api_key=False,  # key-pair auth needs none; the signer says what is missing
    classify_error=_snowflake.classify_error,
    docs="https://docs.snowflake.com/en/user-guide/snowflake-cortex/open_ai_sdk",
)
