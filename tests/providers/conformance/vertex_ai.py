"""Vertex AI: the Gemini format behind a service-account OAuth token, against the same fake.

The service account is a throwaway RSA key made here; its token_uri points at the fake.
"""

from tests.fakes.gemini import make_app, new_key, service_account_json
from tests.providers.conformance import Entry

KEY = new_key()
PROJECT, REGION = "proj-fake", "europe-west4"

ENTRY = Entry(
    provider="vertex-ai",
    make_app=lambda: make_app(KEY.public_key()),
    target=lambda url: {
        "provider": "vertex-ai",
        "custom_host": f"{url}/v1/projects/{PROJECT}/locations/{REGION}/publishers/google",
        "vertex_project_id": PROJECT,
        "vertex_region": REGION,
        "vertex_service_account_json": service_account_json(KEY, f"{url}/token"),
    },
)
