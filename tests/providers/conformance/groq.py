"""Groq: an OpenAI-compatible host, reached through custom_host on the OpenAI fake."""

from tests.fakes.openai_contract import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="groq",
    make_app=make_app,
    target=lambda url: {
        "provider": "groq",
        "custom_host": f"{url}/openai/v1",
        "api_key": "gsk_fake",
    },
)
