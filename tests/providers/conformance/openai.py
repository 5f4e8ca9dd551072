"""OpenAI itself: the reference wire format, against the contract-speaking fake."""

from tests.fakes.openai_contract import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="openai",
    make_app=make_app,
    target=lambda url: {"provider": "openai", "custom_host": f"{url}/v1", "api_key": "sk-fake"},
)
