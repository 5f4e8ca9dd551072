"""Snowflake Cortex REST ``inference:complete``: Cortex's own chat format, PAT or key-pair auth."""

from portkey.formats.cortex_complete import CORTEX_COMPLETE_FORMAT
from portkey.providers import _snowflake
from portkey.providers.base import CHAT, ProviderSpec, drop

SPEC = ProviderSpec(
    id="snowflake-cortex-rest",
    base_url=_snowflake.BASE_URL,
    auth=None,
    sign=_snowflake.SnowflakeAuth(),
    routes={CHAT: ""},  # the format gives /api/v2/cortex/inference:complete
    format=CORTEX_COMPLETE_FORMAT,
    options=_snowflake.OPTIONS,
    build_url=_snowflake.build_url,
    extra_headers={"Accept": "application/json, text/event-stream"},
    requires_api_key=False,
    # the CompleteRequest schema has no stop, seed, penalties, logprobs or user fields
    params={
        "stop": drop("Cortex COMPLETE has no stop sequences"),
        "seed": drop("Cortex COMPLETE has no seed"),
        "frequency_penalty": drop("Cortex COMPLETE has no frequency_penalty"),
        "presence_penalty": drop("Cortex COMPLETE has no presence_penalty"),
        "logit_bias": drop("Cortex COMPLETE has no logit_bias"),
        "logprobs": drop("Cortex COMPLETE returns no logprobs"),
        "top_logprobs": drop("Cortex COMPLETE returns no logprobs"),
        "user": drop("Cortex COMPLETE does not accept user"),
        "parallel_tool_calls": drop("Cortex COMPLETE decides parallel tool calls itself"),
        "store": drop("Cortex COMPLETE does not store completions"),
        "metadata": drop("Cortex COMPLETE does not accept metadata"),
        "service_tier": drop("Cortex COMPLETE has no service tiers"),
        "reasoning_effort": drop("not translated for Cortex COMPLETE"),
    },
    classify_error=_snowflake.classify_error,
    docs="https://docs.snowflake.com/en/user-guide/snowflake-cortex/cortex-rest-api",
)
