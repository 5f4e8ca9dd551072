"""Snowflake Cortex REST ``inference:complete``, translated both ways, with a PAT."""

from tests.fakes.cortex import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="snowflake-cortex-rest",
    make_app=make_app,
    target=lambda url: {
        "provider": "snowflake-cortex-rest",
        "custom_host": url,
        "api_key": "pat-fake-token",
    },
)
