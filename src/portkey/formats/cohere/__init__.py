"""Cohere's v2 API (chat and embed) as a translating wire format."""

from __future__ import annotations

from portkey.formats.cohere.models import next_page, parse_models
from portkey.formats.cohere.request import build_request
from portkey.formats.cohere.response import parse_response
from portkey.formats.cohere.stream import CohereStreamDecoder
from portkey.providers.base import Json, StreamDecoder, WireFormat


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return CohereStreamDecoder(canonical)


COHERE_FORMAT = WireFormat(
    name="cohere-v2",
    passthrough=False,
    build_request=build_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
    parse_models=parse_models,
    models_next_page=next_page,
)

__all__ = ["COHERE_FORMAT", "CohereStreamDecoder", "build_request", "parse_response"]
