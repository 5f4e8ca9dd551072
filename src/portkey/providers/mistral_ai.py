"""Mistral AI: OpenAI-shaped chat with its own names for a few parameters."""

from portkey.providers.base import ProviderSpec, drop, rename

SPEC = ProviderSpec(
    id="mistral-ai",
    base_url="https://api.mistral.ai/v1",
    # https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post
    params={
        "max_completion_tokens": rename("max_tokens"),
        "seed": rename("random_seed"),
        "logit_bias": drop("Mistral does not support logit_bias"),
        "logprobs": drop("Mistral does not return logprobs"),
        "top_logprobs": drop("Mistral does not return logprobs"),
        "user": drop("Mistral does not accept user"),
    },
    docs="https://docs.mistral.ai/api/",
)
