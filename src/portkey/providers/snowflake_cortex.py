"""Snowflake Cortex: its OpenAI-compatible Chat Completions API, PAT or key-pair JWT auth."""

from portkey.providers import _snowflake
from portkey.providers.base import CHAT, ProviderSpec

SPEC = ProviderSpec(
    id="snowflake-cortex",
    base_url=_snowflake.BASE_URL,
    auth=None,
    # a programmatic access token (the target's api_key) or a key-pair JWT, by options set
    sign=_snowflake.SnowflakeAuth(),
    routes={CHAT: "/api/v2/cortex/v1/chat/completions"},
    options=_snowflake.OPTIONS,
    build_url=_snowflake.build_url,
    extra_headers={"Accept": "application/json, text/event-stream"},
    requires_api_key=False,  # key-pair auth needs none; the signer says what is missing
    classify_error=_snowflake.classify_error,
    docs="https://docs.snowflake.com/en/user-guide/snowflake-cortex/open_ai_sdk",
)
