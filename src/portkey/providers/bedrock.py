"""AWS Bedrock: Converse / ConverseStream for chat, InvokeModel for embeddings, SigV4-signed.

Credentials are target fields (``aws_access_key_id``, ``aws_secret_access_key``, optional
``aws_session_token``); the client's bearer key is not used. Signing uses botocore's SigV4
pieces, imported on the first signed request, never at gateway start.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from portkey.formats.bedrock import FORMAT, classify_error
from portkey.formats.bedrock.request import CHAT_FIELDS, EMBEDDING_FIELDS
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import (
    CHAT,
    EMBEDDINGS,
    ProviderOption,
    ProviderSpec,
    SignRequest,
)

SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
DEFAULT_REGION = "us-east-1"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
#: never part of what is signed: ours to set, or dropped by proxies on the way
UNSIGNED = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "content-length"})


def build_url(base: str, path: str, options: Mapping[str, str]) -> str:
    # the region only, by name: no str.format on config text, and no secret ever in a URL;
    # quoted, so a region holding "/", "#" or "@" cannot move the request to another host
    region = quote(options.get("aws_region", DEFAULT_REGION), safe="")
    return base.replace("{aws_region}", region).rstrip("/") + path


def sigv4_headers(request: SignRequest, now: datetime | None = None) -> list[tuple[str, str]]:
    """The ``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization`` headers."""
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    options = request.options
    credentials = Credentials(
        options["aws_access_key_id"],
        options["aws_secret_access_key"],
        options.get("aws_session_token") or None,
    )
    aws = AWSRequest(method=request.method, url=request.url, data=request.body)
    for name, value in request.headers:  # repeated names are signed as sent: joined by commas
        if name.lower() not in UNSIGNED:
            aws.headers[name] = value
    stamp = (now or datetime.now(UTC)).strftime(SIGV4_TIMESTAMP)
    aws.context["timestamp"] = stamp
    added = [("X-Amz-Date", stamp)]
    if credentials.token:
        added.append(("X-Amz-Security-Token", credentials.token))
    for name, value in added:
        aws.headers[name] = value
    signer = SigV4Auth(credentials, SERVICE, options.get("aws_region", DEFAULT_REGION))
    # not signer.add_auth: it logs the canonical request, session token included, at debug
    canonical = signer.canonical_request(aws)
    signature = signer.signature(signer.string_to_sign(aws, canonical), aws)
    signed = signer.signed_headers(signer.headers_to_sign(aws))
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(aws)}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return [*added, ("Authorization", authorization)]


async def sign(request: SignRequest) -> list[tuple[str, str]]:
    return sigv4_headers(request)


#: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html;
#: formats/bedrock translates the fields passed here and refuses by name any other
PARAMS = openai_params(
    "Bedrock",
    OPENAI_CHAT_FIELDS & CHAT_FIELDS,
    passed_as="translated for",
    dropped={"presence_penalty", "frequency_penalty", "seed", "logit_bias", "logprobs"}
    | {"top_logprobs", "user", "safety_identifier", "metadata", "store", "service_tier"}
    | {"parallel_tool_calls", "prediction", "reasoning_effort", "verbosity", "moderation"}
    | {"prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"},
    rejected={"functions", "function_call", "modalities", "audio", "web_search_options"},
    notes={
        "max_tokens": "sent as inferenceConfig.maxTokens",
        "max_completion_tokens": "sent as inferenceConfig.maxTokens (wins over max_tokens)",
        "stop": "sent as inferenceConfig.stopSequences",
        "n": "1 only; more is a 400 (one choice per answer)",
        "response_format": "a forced tool whose input is the answer's JSON",
        "parallel_tool_calls": "Converse has no switch for parallel tool calls",
        "reasoning_effort": "Converse sets reasoning per model family, not by effort",
        "prompt_cache_key": "Converse caches at cachePoint blocks, not by key",
        "prompt_cache_options": "Converse caches at cachePoint blocks",
        "prompt_cache_retention": "Converse caches at cachePoint blocks",
        "metadata": "stored-completion metadata is OpenAI's",
    },
)
#: InvokeModel bodies of the Titan and Cohere embedding models
EMBEDDING_PARAMS = openai_params(
    "Bedrock",
    OPENAI_EMBEDDING_FIELDS & EMBEDDING_FIELDS,
    passed_as="translated for",
    dropped={"user"},
    notes={"dimensions": "sent as the model's own dimensions field; a 400 where it has none"},
)

SPEC = ProviderSpec(
    id="bedrock",
    # a target's custom_host replaces this whole root (a VPC endpoint, a proxy)
    base_url="https://bedrock-runtime.{aws_region}.amazonaws.com",
    auth=None,
    sign=sign,
    requires_api_key=False,
    routes={CHAT: "", EMBEDDINGS: ""},
    format=FORMAT,
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    options=(
        ProviderOption("aws_region", default=DEFAULT_REGION, doc="AWS region of Bedrock"),
        ProviderOption("aws_access_key_id", required=True, doc="AWS access key id"),
        ProviderOption("aws_secret_access_key", required=True, doc="AWS secret access key"),
        ProviderOption("aws_session_token", doc="session token of temporary credentials"),
    ),
    build_url=build_url,
    classify_error=classify_error,
    error_type_header="x-amzn-ErrorType",
    docs="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
)
