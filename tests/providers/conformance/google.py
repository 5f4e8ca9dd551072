"""Google Gemini API: generateContent translated both ways, against its native fake."""

from tests.fakes.gemini import make_app
from tests.providers.conformance import Entry

ENTRY = Entry(
    provider="google",
    make_app=make_app,
    target=lambda url: {
        "provider": "google",
        "custom_host": f"{url}/v1beta",
        "api_key": "AIzaSy-fake-key",
    },
)
