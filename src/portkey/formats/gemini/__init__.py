"""Google's Gemini wire format (generateContent), as the Gemini API and Vertex AI speak it.

The two hosts differ only in embeddings (batchEmbedContents vs a publisher model's predict),
so each gets its own ``WireFormat``; the parameter table both share lives here too.
"""

from __future__ import annotations

from collections.abc import Mapping

from portkey.formats.gemini.models import next_page, parse_models
from portkey.formats.gemini.request import (
    CHAT_FIELDS,
    EMBED_FIELDS,
    build_gemini_request,
    build_vertex_request,
)
from portkey.formats.gemini.response import classify_error, parse_response
from portkey.formats.gemini.stream import GeminiStreamDecoder
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import Json, ParamRule, StreamDecoder, WireFormat


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return GeminiStreamDecoder(canonical)


GEMINI_FORMAT = WireFormat(
    name="gemini",
    passthrough=False,
    build_request=build_gemini_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
    parse_models=parse_models,
    models_next_page=next_page,
)
VERTEX_FORMAT = WireFormat(
    name="gemini-vertex",
    passthrough=False,
    build_request=build_vertex_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
)

#: https://ai.google.dev/api/generate-content#generationconfig: request.py translates the
#: fields passed here and refuses by name any other
PARAMS: Mapping[str, ParamRule] = openai_params(
    "Gemini",
    OPENAI_CHAT_FIELDS & CHAT_FIELDS,
    passed_as="translated for",
    dropped={"logit_bias", "logprobs", "top_logprobs", "user", "safety_identifier"}
    | {"parallel_tool_calls", "metadata", "store", "service_tier", "prediction", "verbosity"}
    | {"moderation", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"modalities", "audio", "web_search_options", "functions", "function_call"},
    notes={
        "messages": "system turns -> systemInstruction; the rest -> contents",
        "max_tokens": "sent as generationConfig.maxOutputTokens",
        "max_completion_tokens": "sent as generationConfig.maxOutputTokens",
        "n": "sent as generationConfig.candidateCount",
        "stop": "sent as generationConfig.stopSequences",
        "tools": "sent as functionDeclarations",
        "tool_choice": "sent as toolConfig.functionCallingConfig",
        "response_format": "sent as responseMimeType and responseSchema",
        "reasoning_effort": "sent as thinkingConfig.thinkingBudget",
        "logprobs": "log probabilities are not translated for Gemini",
        "top_logprobs": "log probabilities are not translated for Gemini",
        "prompt_cache_key": "Gemini caches prompts on its own (cachedContents)",
        "modalities": "only text output is translated for Gemini",
        "audio": "audio output is not translated for Gemini",
        "web_search_options": "Google Search grounding is not translated",
    },
)
#: https://ai.google.dev/api/embeddings and Vertex AI's text-embedding predict
EMBEDDING_PARAMS: Mapping[str, ParamRule] = openai_params(
    "Gemini",
    OPENAI_EMBEDDING_FIELDS & EMBED_FIELDS,
    passed_as="translated for",
    dropped={"user"},
    notes={
        "dimensions": "sent as outputDimensionality",
        "encoding_format": "float or base64; answers carry floats, which every SDK reads",
    },
)

__all__ = [
    "EMBEDDING_PARAMS",
    "GEMINI_FORMAT",
    "PARAMS",
    "VERTEX_FORMAT",
    "GeminiStreamDecoder",
    "classify_error",
    "parse_response",
]
