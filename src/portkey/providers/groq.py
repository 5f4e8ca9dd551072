"""Groq: OpenAI-compatible; some sampling features are rejected upstream, so we drop them early."""

from portkey.providers.base import ProviderSpec, drop

SPEC = ProviderSpec(
    id="groq",
    base_url="https://api.groq.com/openai/v1",
    # https://console.groq.com/docs/openai#currently-unsupported-openai-features
    params={
        "logprobs": drop("Groq does not return logprobs"),
        "top_logprobs": drop("Groq does not return logprobs"),
        "logit_bias": drop("Groq does not support logit_bias"),
    },
    docs="https://console.groq.com/docs/openai",
)
