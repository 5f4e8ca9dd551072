"""xAI (Grok): OpenAI-compatible."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="x-ai",
    base_url="https://api.x.ai/v1",
    docs="https://docs.x.ai/docs/api-reference",
)
