"""Cohere: the v2 chat API, translated both ways, against its native fake."""

from tests.fakes.cohere import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="cohere",
    make_app=make_app,
    target=lambda url: {"provider": "cohere", "custom_host": url, "api_key": "co-fake-key"},
)
