"""Cut an upstream's server-sent-event bytes into whole events: ``(event name, data text)``."""

from __future__ import annotations

Event = tuple[str, str]


class SSEParser:
    """Feed raw bytes as they arrive; get back the events completed so far.

    Lines may end in ``\\n`` or ``\\r\\n``; several ``data:`` lines join with ``\\n``; comments
    and ``id:``/``retry:`` fields are skipped. Bytes after the last blank line wait for more.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 2 :]
        return [ev for raw in buf[:end].split(b"\n\n") if (ev := parse_event(raw)) is not None]

    def rest(self) -> bytes:
        """Bytes of an unfinished event (the stream ended mid-frame), emptied."""
        rest, self._buf = self._buf, b""
        return rest.strip()


def parse_event(raw: bytes) -> Event | None:
    """One event's name and joined data; None for comments or an event without data."""
    name = "message"
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return None
    return name, b"\n".join(data).decode("utf-8")
