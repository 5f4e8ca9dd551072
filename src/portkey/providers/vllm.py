"""vLLM (or any OpenAI-compatible server): the host comes from ``custom_host``."""

from portkey.providers.base import ProviderSpec

SPEC = ProviderSpec(
    id="vllm",
    base_url="http://localhost:8000/v1",
    requires_api_key=False,
    docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
)
