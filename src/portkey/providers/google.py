"""Google Gemini API (AI Studio): the Gemini wire format, keyed by ``x-goog-api-key``."""

from portkey.formats.gemini import GEMINI_FORMAT, PARAMS, classify_error
from portkey.providers.base import CHAT, EMBEDDINGS, Auth, ProviderSpec

SPEC = ProviderSpec(
    id="google",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=Auth("x-goog-api-key"),
    # the format builds each path: /models/{model}:generateContent, :streamGenerateContent,
    # :batchEmbedContents
    routes={CHAT: "", EMBEDDINGS: ""},
    format=GEMINI_FORMAT,
    params=PARAMS,
    classify_error=classify_error,
    docs="https://ai.google.dev/api/generate-content",
)
