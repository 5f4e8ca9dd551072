"""OpenAI: the reference wire format; everything passes through."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="openai",
    base_url="https://api.openai.com/v1",
    docs="https://platform.openai.com/docs/api-reference/chat",
)
