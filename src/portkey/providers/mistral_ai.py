"""Mistral AI: OpenAI-shaped chat with its own names for a few parameters."""

from portkey.providers._params import BASICS, openai_params
from portkey.providers.base import VISION, ModelFamily, ProviderSpec

#: images go to Pixtral, Mistral Small 3.1+ and Medium 3+ (https://docs.mistral.ai/capabilities/vision);
#: these text models take none (Small 3.1, 2503, is the first Small that "adds vision")
FAMILIES = (
    ModelFamily(
        "text-only",
        prefixes=(
            "open-mistral-",
            "open-mixtral-",
            "open-codestral-",
            "codestral-",
            "ministral-3b-2410",
            "ministral-8b-2410",
            "mistral-small-2402",
            "mistral-small-2409",
            "mistral-small-2501",
            "mistral-large-2407",
            "mistral-large-2411",
        ),
        unsupported=frozenset({VISION}),
        docs="https://docs.mistral.ai/getting-started/models/",
    ),
)

#: https://docs.mistral.ai/api/#tag/chat: Mistral answers 422 to any field it does not know
PARAMS = openai_params(
    "Mistral",
    BASICS
    | {"max_tokens", "stop", "n", "metadata", "response_format", "tools", "tool_choice"}
    | {"presence_penalty", "frequency_penalty", "prediction", "parallel_tool_calls"}
    | {"reasoning_effort", "prompt_cache_key"},
    renamed={"max_completion_tokens": "max_tokens", "seed": "random_seed"},
    dropped={"stream_options", "logit_bias", "logprobs", "top_logprobs", "user", "store"}
    | {"safety_identifier", "service_tier", "verbosity", "moderation", "modalities"}
    | {"prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={"stream_options": "Mistral refuses it; its last chunk carries usage anyway"},
)
#: https://docs.mistral.ai/api/#tag/embeddings
EMBEDDING_PARAMS = openai_params(
    "Mistral",
    {"model", "input", "encoding_format"},
    renamed={"dimensions": "output_dimension"},
    dropped={"user"},
)

SPEC = ProviderSpec(
    id="mistral-ai",
    base_url="https://api.mistral.ai/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    families=FAMILIES,
    # Mistral answers 422 to stream_options and always sends usage in its last chunk
    stream_usage=False,
    docs="https://docs.mistral.ai/api/",
)
