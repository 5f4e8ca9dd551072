"""Azure OpenAI: OpenAI's format on a deployment path with the api-key header (same fake)."""

from tests.fakes.openai_contract import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="azure-openai",
    make_app=make_app,
    target=lambda url: {
        "provider": "azure-openai",
        "custom_host": f"{url}/openai",
        "api_key": "azure-fake-key",
        "deployment_id": "gpt-4o-mini",
        "api_version": "2024-10-21",
    },
)
