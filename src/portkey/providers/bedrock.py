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
from portkey.providers.base import (
    CHAT,
    EMBEDDINGS,
    ProviderOption,
    ProviderSpec,
    SignRequest,
    drop,
    reject,
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


#: OpenAI fields Converse has no counterpart for (fields it reads are in formats/bedrock)
PARAMS = {
    "presence_penalty": drop("Converse has no presence penalty"),
    "frequency_penalty": drop("Converse has no frequency penalty"),
    "seed": drop("Converse takes no seed"),
    "logit_bias": drop("Converse has no logit bias"),
    "logprobs": drop("Converse returns no log probabilities"),
    "top_logprobs": drop("Converse returns no log probabilities"),
    "user": drop("Bedrock has no end-user field"),
    "metadata": drop("stored-completion metadata is OpenAI's"),
    "store": drop("Bedrock does not store completions"),
    "service_tier": drop("OpenAI service tiers do not apply to Bedrock"),
    "parallel_tool_calls": drop("Converse has no switch for parallel tool calls"),
    "prediction": drop("Converse has no predicted outputs"),
    "reasoning_effort": drop("Converse sets reasoning per model family, not by effort"),
    "functions": reject("use 'tools'"),
    "function_call": reject("use 'tool_choice'"),
    "modalities": reject("Converse answers in text"),
    "audio": reject("Converse answers in text"),
    "web_search_options": reject("Converse has no web search"),
}

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
    options=(
        ProviderOption("aws_region", default=DEFAULT_REGION, doc="AWS region of Bedrock"),
        ProviderOption("aws_access_key_id", required=True, doc="AWS access key id"),
        ProviderOption("aws_secret_access_key", required=True, doc="AWS secret access key"),
        ProviderOption("aws_session_token", doc="session token of temporary credentials"),
    ),
    build_url=build_url,
    classify_error=classify_error,
    docs="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
)
