"""Snowflake Cortex's OpenAI-compatible API with a programmatic access token (key-pair JWT auth
is covered in tests/providers/test_snowflake_cortex.py)."""

from tests.fakes.cortex import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="snowflake-cortex",
    make_app=make_app,
    target=lambda url: {
        "provider": "snowflake-cortex",
        "custom_host": url,
        "api_key": "pat-fake-token",
        "snowflake_account": "myorg-myacct",
    },
)
