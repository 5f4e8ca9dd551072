"""A stored answer: a versioned header line (JSON) then the body bytes, exactly as served."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

VERSION = 1


class CorruptEntry(ValueError):
    """Bytes that are not an entry we wrote: the caller treats them as a miss and deletes them."""


@dataclass(frozen=True, slots=True)
class Entry:
    created_at: float
    kind: str  # "json" (a chat.completion / embeddings answer) or "sse" (a whole stream)
    provider: str
    model: str
    body: bytes


def encode(entry: Entry) -> bytes:
    header = {
        "v": VERSION,
        "t": entry.created_at,
        "k": entry.kind,
        "p": entry.provider,
        "m": entry.model,
        "n": len(entry.body),
    }
    return orjson.dumps(header) + b"\n" + entry.body


def decode(raw: bytes) -> Entry:
    head, sep, body = raw.partition(b"\n")
    try:
        header = orjson.loads(head) if sep else None
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("v") != VERSION or header.get("n") != len(body):
        raise CorruptEntry("not a cache entry of this version")
    try:
        return Entry(float(header["t"]), str(header["k"]), str(header["p"]), str(header["m"]), body)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptEntry(f"bad cache entry header: {exc}") from exc
