"""After a run: row counts on both sides, and order-independent checksums per key range.

Checksums read the moved columns from both sides as Arrow (the target's values cast back to
the planned types), then DuckDB sums a hash of each row per range of the first merge key, so
row order never matters. A mismatch names the ranges that differ.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from portkey.orchestrator.sync.plan import Plan
    from portkey.orchestrator.sync.runner import Opened


def verify(o: Opened, plan: Plan) -> dict[str, Any]:
    job = o.job
    src_from = _source_from(o)
    tgt_table = o.tgt.table_sql(job.target.table)
    source = int(o.src.scalar(o.src_conn, f"SELECT count(*) FROM {src_from}"))
    target = int(o.tgt.scalar(o.tgt_conn, f"SELECT count(*) FROM {tgt_table}"))
    out: dict[str, Any] = {"mode": job.verify_mode, "source_rows": source, "target_rows": target}
    out["ok"] = source == target
    if job.verify_mode == "checksums":
        diff = _checksums(o, plan, src_from)
        out["ranges_checked"] = diff["ranges"]
        out["differing_ranges"] = diff["differing"]
        out["skipped_columns"] = sorted(plan.lossy)
        out["ok"] = out["ok"] and not diff["differing"]
    return out


def _source_from(o: Opened) -> str:
    job = o.job
    if job.source.table is not None:
        return o.src.table_sql(job.source.table)
    return f"({job.source.sql}) AS _portkey_src"


def _checksums(o: Opened, plan: Plan, src_from: str) -> dict[str, Any]:
    cols = [c for c in plan.columns if not c.allow_lossy]
    schema = pa.schema([pa.field(c.name, c.ltype.arrow()) for c in cols])
    src_sql = "SELECT " + ", ".join(f"{c.select}" for c in cols) + f" FROM {src_from}"
    tgt_sql = (
        "SELECT "
        + ", ".join(o.tgt.quote(c.name) for c in cols)
        + f" FROM {o.tgt.table_sql(o.job.target.table)}"
    )
    reads = pa.schema([pa.field(c.name, c.stored.reads_as.arrow()) for c in cols])
    src = pa.Table.from_batches(list(o.src.read(o.src_conn, src_sql, schema, 100_000)), schema)
    tgt = pa.Table.from_batches(list(o.tgt.read(o.tgt_conn, tgt_sql, reads, 100_000)), reads)
    tgt = tgt.cast(schema)
    for c in cols:  # JSON compares as values: engines re-space it (jsonb, Snowflake VARIANT)
        if c.ltype.kind == "json":
            src = _canonical_json(src, c.name)
            tgt = _canonical_json(tgt, c.name)
    key = o.job.merge_keys[0] if o.job.merge_keys else cols[0].name
    ranges = o.job.verify_ranges
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("s", src)
    con.register("t", tgt)
    qk = '"' + key.replace('"', '""') + '"'
    row = "hash(" + ", ".join('"' + c.name.replace('"', '""') + '"' for c in cols) + ")"
    numeric = pa.types.is_integer(schema.field(key).type) or pa.types.is_decimal(
        schema.field(key).type
    )
    if numeric:
        lo, hi = con.execute(
            f"SELECT min({qk}), max({qk}) FROM (SELECT {qk} FROM s UNION ALL SELECT {qk} FROM t)"
        ).fetchone() or (None, None)
        lo, hi = (lo or 0), (hi or 0)
        width = max(1, (int(hi) - int(lo)) // ranges + 1)
        bucket = f"CAST(floor(({qk} - {int(lo)}) / {width}) AS BIGINT)"
    else:
        lo, width = 0, 0
        bucket = f"CAST(hash({qk}) % {ranges} AS BIGINT)"
    agg = f"SELECT {bucket} AS b, count(*) AS n, sum({row})::HUGEINT AS h FROM {{}} GROUP BY 1"
    differing = con.execute(
        f"SELECT coalesce(a.b, z.b) FROM ({agg.format('s')}) a FULL JOIN ({agg.format('t')}) z "
        "ON a.b = z.b WHERE a.n IS DISTINCT FROM z.n OR a.h IS DISTINCT FROM z.h ORDER BY 1"
    ).fetchall()
    con.close()
    named = []
    for (b,) in differing:
        if numeric:
            start = int(lo) + int(b) * width
            named.append(f"{key} in [{start}, {start + width})")
        else:
            named.append(f"hash({key}) % {ranges} = {b}")
    return {"ranges": ranges, "differing": named}


def _canonical_json(table: pa.Table, name: str) -> pa.Table:
    """``name``'s JSON texts re-serialised one way (sorted keys, no spaces); text that is not
    JSON stays as it is (and so still differs from a value)."""

    def canonical(text: str | None) -> str | None:
        if text is None:
            return None
        try:
            return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return text

    i = table.schema.get_field_index(name)
    values = [canonical(v) for v in table.column(i).to_pylist()]
    return table.set_column(i, table.schema.field(i), pa.array(values, pa.string()))
