"""Answers of ``/query`` as JSON (columns + rows + plan + stats) or an Arrow IPC stream."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.responses import Response

if TYPE_CHECKING:
    import pyarrow as pa

    from portkey.orchestrator.service import QueryResult


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def columns(table: pa.Table) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in table.schema]


def rows(table: pa.Table) -> list[list[Any]]:
    data = [c.to_pylist() for c in table.columns]
    return [list(r) for r in zip(*data, strict=True)] if data else []


def body(result: QueryResult) -> dict[str, Any]:
    return {
        "columns": columns(result.table),
        "rows": rows(result.table),
        "row_count": result.table.num_rows,
        "truncated": result.execution.truncated,
        "plan": result.plan.to_dict(),
        "stats": result.stats(),
    }


def json_response(result: QueryResult) -> Response:
    return Response(
        orjson.dumps(body(result), default=_default, option=orjson.OPT_NON_STR_KEYS),
        media_type="application/json",
    )


def arrow_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def arrow_response(result: QueryResult) -> Response:
    stats = result.stats()
    return Response(
        arrow_bytes(result.table),
        media_type="application/vnd.apache.arrow.stream",
        headers={
            "x-portkey-rows-moved": str(stats["rows_moved"]),
            "x-portkey-bytes-moved": str(stats["bytes_moved"]),
            "x-portkey-query-ms": str(stats["ms"]),
            "x-portkey-truncated": "true" if stats["truncated"] else "false",
        },
    )
