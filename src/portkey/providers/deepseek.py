"""DeepSeek: OpenAI-compatible chat API."""

from portkey.providers.base import ProviderSpec, drop

SPEC = ProviderSpec(
    id="deepseek",
    base_url="https://api.deepseek.com/v1",
    # https://api-docs.deepseek.com/api/create-chat-completion (no n, no logit_bias, no seed)
    params={
        "logit_bias": drop("DeepSeek does not support logit_bias"),
        "seed": drop("DeepSeek does not support seed"),
    },
    docs="https://api-docs.deepseek.com/",
)
