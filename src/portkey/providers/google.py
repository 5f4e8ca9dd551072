"""Google Gemini API (AI Studio): the Gemini wire format, keyed by ``x-goog-api-key``."""

import re

from portkey.formats.gemini import EMBEDDING_PARAMS, GEMINI_FORMAT, PARAMS, classify_error
from portkey.formats.gemini.models import MODELS_ROUTE
from portkey.providers.base import (
    CHAT,
    EMBEDDINGS,
    MODELS,
    REASONING,
    Auth,
    ModelFamily,
    ProviderSpec,
)

#: thinking (reasoning_effort -> thinkingConfig) is for Gemini 2.5 and later, plus the 2.0 Flash
#: Thinking preview (https://ai.google.dev/gemini-api/docs/thinking); Vertex AI shares these.
#: Names may carry a path ("models/gemini-2.0-flash").
FAMILIES = (
    ModelFamily(
        "gemini-2.0-flash-thinking", pattern=re.compile(r"(.*/)?gemini-2\.0-flash-thinking")
    ),
    ModelFamily(
        "gemini-1.x/2.0",
        pattern=re.compile(r"(.*/)?gemini-(1\.\d|2\.0|pro)(-|$)"),
        unsupported=frozenset({REASONING}),
        docs="https://ai.google.dev/gemini-api/docs/thinking",
    ),
)

SPEC = ProviderSpec(
    id="google",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=Auth("x-goog-api-key"),
    # the format builds each path: /models/{model}:generateContent, :streamGenerateContent,
    # :batchEmbedContents
    routes={CHAT: "", EMBEDDINGS: "", MODELS: MODELS_ROUTE},
    format=GEMINI_FORMAT,
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    families=FAMILIES,
    classify_error=classify_error,
    docs="https://ai.google.dev/api/generate-content",
)
