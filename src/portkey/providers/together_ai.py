"""Together AI: OpenAI-compatible."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="together-ai",
    base_url="https://api.together.xyz/v1",
    docs="https://docs.together.ai/docs/openai-api-compatibility",
)
