"""The Bedrock wire format: Converse and ConverseStream for chat, InvokeModel for embeddings."""

from __future__ import annotations

from portkey.formats.bedrock.request import build_request
from portkey.formats.bedrock.response import classify_error, parse_response
from portkey.formats.bedrock.stream import ConverseStreamDecoder
from portkey.providers.base import Json, StreamDecoder, WireFormat


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return ConverseStreamDecoder(canonical)


FORMAT = WireFormat(
    name="bedrock-converse",
    passthrough=False,
    build_request=build_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
)

__all__ = ["FORMAT", "classify_error"]
