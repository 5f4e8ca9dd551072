"""Fireworks AI: OpenAI-compatible inference API."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="fireworks-ai",
    base_url="https://api.fireworks.ai/inference/v1",
    docs="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
)
