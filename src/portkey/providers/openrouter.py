"""OpenRouter: OpenAI-compatible router over many models."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="openrouter",
    base_url="https://openrouter.ai/api/v1",
    docs="https://openrouter.ai/docs/api-reference/overview",
)
