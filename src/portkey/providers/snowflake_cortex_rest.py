"""Snowflake Cortex REST: ``inference:complete`` for chat and ``inference:embed`` for embeddings.

Each endpoint has its own wire format (formats/cortex_complete, formats/cortex_embed); the
format here picks one by route. Auth is a PAT or a key-pair JWT (providers/_snowflake).
"""

from collections.abc import Callable, Mapping

from portkey.formats import cortex_complete, cortex_embed
from portkey.providers import _snowflake
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import CHAT, EMBEDDINGS, Json, ProviderSpec, WireFormat

#: the CompleteRequest schema (https://docs.snowflake.com/en/user-guide/snowflake-cortex/
#: cortex-rest-api); formats/cortex_complete translates the fields passed here
PARAMS = openai_params(
    "Cortex COMPLETE",
    OPENAI_CHAT_FIELDS & set(cortex_complete.FIELDS),
    passed_as="translated for",
    dropped={"stop", "seed", "frequency_penalty", "presence_penalty", "logit_bias", "user"}
    | {"logprobs", "top_logprobs", "parallel_tool_calls", "store", "metadata", "service_tier"}
    | {"reasoning_effort", "safety_identifier", "prediction", "verbosity", "moderation"}
    | {"modalities", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"audio", "functions", "function_call", "web_search_options"},
    notes={
        "max_completion_tokens": "sent as max_tokens (wins over max_tokens)",
        "n": "1 only; more is a 400 (one choice per answer)",
        "stream_options": "include_usage: usage in a last chunk, as OpenAI sends it",
    },
)
#: the EmbedRequest schema (https://docs.snowflake.com/en/user-guide/snowflake-cortex/
#: cortex-rest-api/embed-api); formats/cortex_embed translates the fields passed here
EMBEDDING_PARAMS = openai_params(
    "Cortex EMBED",
    OPENAI_EMBEDDING_FIELDS & set(cortex_embed.FIELDS),
    passed_as="translated for",
    dropped={"user"},
    rejected={"dimensions"},
    notes={
        "input": "sent as text (a list); token arrays are a 400",
        "encoding_format": "float or base64; the gateway encodes Cortex's floats",
        "dimensions": "Cortex embedding models have fixed sizes (768 or 1024): pick the model",
    },
)

#: the translators of each route, and the one format that dispatches to them
BUILDERS: Mapping[str, Callable[[str, Json, Mapping[str, str]], tuple[str, Json]]] = {
    CHAT: cortex_complete.build_request,
    EMBEDDINGS: cortex_embed.build_request,
}
PARSERS: Mapping[str, Callable[[str, Json], Json]] = {
    CHAT: cortex_complete.parse_response,
    EMBEDDINGS: cortex_embed.parse_response,
}


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    return BUILDERS[route](route, canonical, options)


def parse_response(route: str, wire: Json) -> Json:
    return PARSERS[route](route, wire)


FORMAT = WireFormat(
    name="cortex-rest",
    passthrough=False,
    build_request=build_request,
    parse_response=parse_response,
    stream_decoder=cortex_complete.stream_decoder,  # only chat streams
)

SPEC = ProviderSpec(
    id="snowflake-cortex-rest",
    base_url=_snowflake.BASE_URL,
    auth=None,
    sign=_snowflake.SnowflakeAuth(),
    routes={CHAT: "", EMBEDDINGS: ""},  # the format gives the /api/v2/cortex/inference:* path
    format=FORMAT,
    options=_snowflake.OPTIONS,
    build_url=_snowflake.build_url,
    extra_headers={"Accept": "application/json, text/event-stream"},
    requires_api_key=False,
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    classify_error=_snowflake.classify_error,
    docs="https://docs.snowflake.com/en/user-guide/snowflake-cortex/cortex-rest-api",
)
