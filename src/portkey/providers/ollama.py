"""Ollama: its OpenAI-compatible endpoint on a local host; no key needed."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="ollama",
    base_url="http://localhost:11434/v1",
    requires_api_key=False,
    docs="https://github.com/ollama/ollama/blob/main/docs/openai.md",
)
