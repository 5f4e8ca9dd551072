"""Perplexity: OpenAI-shaped chat only (no completions or embeddings)."""

from portkey.providers.base import CHAT, OPENAI_ROUTES, ProviderSpec, drop

SPEC = ProviderSpec(
    id="perplexity-ai",
    base_url="https://api.perplexity.ai",
    routes={CHAT: OPENAI_ROUTES[CHAT]},
    # https://docs.perplexity.ai/api-reference/chat-completions-post
    params={
        "n": drop("Perplexity returns one choice"),
        "logit_bias": drop("Perplexity does not support logit_bias"),
        "logprobs": drop("Perplexity does not return logprobs"),
        "seed": drop("Perplexity does not support seed"),
    },
    docs="https://docs.perplexity.ai/",
)
