"""OpenAI: the reference wire format; everything passes through, except per model family."""

from portkey.providers._openai_families import FAMILIES
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import ProviderSpec

#: the reference API: every field passes (model families adjust some, see _openai_families)
PARAMS = openai_params("OpenAI", OPENAI_CHAT_FIELDS)
EMBEDDING_PARAMS = openai_params("OpenAI", OPENAI_EMBEDDING_FIELDS)

SPEC = ProviderSpec(
    id="openai",
    base_url="https://api.openai.com/v1",
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    families=FAMILIES,
    docs="https://platform.openai.com/docs/api-reference/chat",
)
