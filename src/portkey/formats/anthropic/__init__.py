"""The Anthropic Messages wire format: chat through ``POST /messages``, plain and streamed."""

from __future__ import annotations

from portkey.formats.anthropic.models import next_page, parse_models
from portkey.formats.anthropic.request import build_request
from portkey.formats.anthropic.response import classify_error, parse_response
from portkey.formats.anthropic.stream import AnthropicStreamDecoder
from portkey.providers.base import Json, StreamDecoder, WireFormat


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return AnthropicStreamDecoder(canonical)


ANTHROPIC_FORMAT = WireFormat(
    name="anthropic-messages",
    passthrough=False,
    build_request=build_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
    parse_models=parse_models,
    models_next_page=next_page,
)

__all__ = [
    "ANTHROPIC_FORMAT",
    "AnthropicStreamDecoder",
    "build_request",
    "classify_error",
    "parse_response",
]
