"""Anthropic: the Messages API translated both ways, against its native fake."""

from tests.fakes.anthropic import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="anthropic",
    make_app=make_app,
    target=lambda url: {
        "provider": "anthropic",
        "custom_host": f"{url}/v1",
        "api_key": "sk-ant-fake-key",
    },
)
