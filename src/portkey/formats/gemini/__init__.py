"""Google's Gemini wire format (generateContent), as the Gemini API and Vertex AI speak it.

The two hosts differ only in embeddings (batchEmbedContents vs a publisher model's predict),
so each gets its own ``WireFormat``; the parameter table both share lives here too.
"""

from __future__ import annotations

from collections.abc import Mapping

from portkey.formats.gemini.request import build_gemini_request, build_vertex_request
from portkey.formats.gemini.response import classify_error, parse_response
from portkey.formats.gemini.stream import GeminiStreamDecoder
from portkey.providers.base import Json, ParamRule, StreamDecoder, WireFormat, drop, reject


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return GeminiStreamDecoder(canonical)


GEMINI_FORMAT = WireFormat(
    name="gemini",
    passthrough=False,
    build_request=build_gemini_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
)
VERTEX_FORMAT = WireFormat(
    name="gemini-vertex",
    passthrough=False,
    build_request=build_vertex_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
)

#: canonical parameters generateContent has no place for; the rest are translated (request.py)
PARAMS: Mapping[str, ParamRule] = {
    "logit_bias": drop("Gemini has no logit_bias"),
    "logprobs": drop("log probabilities are not translated for Gemini"),
    "top_logprobs": drop("log probabilities are not translated for Gemini"),
    "user": drop("Gemini has no end-user field"),
    "parallel_tool_calls": drop("Gemini decides on parallel function calls itself"),
    "metadata": drop("OpenAI stored-completion metadata does not apply to Gemini"),
    "store": drop("OpenAI stored completions do not apply to Gemini"),
    "service_tier": drop("OpenAI service tiers do not apply to Gemini"),
    "prediction": drop("Gemini has no predicted outputs"),
    "prompt_cache_key": drop("Gemini caches prompts on its own (cachedContents)"),
    "safety_identifier": drop("Gemini has no end-user field"),
    "verbosity": drop("Gemini has no verbosity setting"),
    "modalities": reject("only text output is translated for Gemini"),
    "audio": reject("audio output is not translated for Gemini"),
    "web_search_options": reject("Google Search grounding is not translated"),
    "functions": reject("legacy functions: send tools instead"),
    "function_call": reject("legacy function_call: send tool_choice instead"),
}

__all__ = [
    "GEMINI_FORMAT",
    "PARAMS",
    "VERTEX_FORMAT",
    "GeminiStreamDecoder",
    "classify_error",
    "parse_response",
]
