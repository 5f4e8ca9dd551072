"""TPC-H for the orchestrator tests: generate parquet once, load the 8 tables into 4 engines.

Tables are spread over DuckDB (lineitem, orders), PostgreSQL (customer, nation, region),
MariaDB (part, partsupp) and SQLite (supplier). PostgreSQL schemas and MariaDB databases are
named uniquely per run (``tpch_<hex>``) and dropped afterwards, so parallel runs don't clash.
``reference`` is one DuckDB holding all 8 tables: the answer every plan must match.
"""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql

TABLES = ("lineitem", "orders", "customer", "nation", "region", "part", "partsupp", "supplier")
PLACEMENT = {
    "lineitem": "duck",
    "orders": "duck",
    "customer": "pg",
    "nation": "pg",
    "region": "pg",
    "part": "my",
    "partsupp": "my",
    "supplier": "lite",
}
#: TPC-H's primary keys: real deployments have them, and MariaDB joins without an index are
#: block nested loops (seconds for partsupp x part at SF 0.1)
PRIMARY_KEYS = {
    "lineitem": "l_orderkey, l_linenumber",
    "orders": "o_orderkey",
    "customer": "c_custkey",
    "nation": "n_nationkey",
    "region": "r_regionkey",
    "part": "p_partkey",
    "partsupp": "ps_partkey, ps_suppkey",
    "supplier": "s_suppkey",
}
#: TPC-H's foreign keys (every one NOT NULL, and the data keeps them): (table, columns) ->
#: (table, columns), for ``data.foreign_keys``
FOREIGN_KEYS = (
    (("lineitem", "l_orderkey"), ("orders", "o_orderkey")),
    (("lineitem", "l_partkey"), ("part", "p_partkey")),
    (("lineitem", "l_suppkey"), ("supplier", "s_suppkey")),
    (("lineitem", "l_partkey, l_suppkey"), ("partsupp", "ps_partkey, ps_suppkey")),
    (("orders", "o_custkey"), ("customer", "c_custkey")),
    (("customer", "c_nationkey"), ("nation", "n_nationkey")),
    (("supplier", "s_nationkey"), ("nation", "n_nationkey")),
    (("nation", "n_regionkey"), ("region", "r_regionkey")),
    (("partsupp", "ps_partkey"), ("part", "p_partkey")),
    (("partsupp", "ps_suppkey"), ("supplier", "s_suppkey")),
)
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
QUERIES_FILE = Path(__file__).parent.parent / "data" / "tpch" / "queries.sql"


def queries() -> dict[int, str]:
    parts = re.split(r"^-- q(\d+)\n", QUERIES_FILE.read_text(), flags=re.M)
    return {int(parts[i]): parts[i + 1].strip().rstrip(";") for i in range(1, len(parts), 2)}


def generate(scale: float, out: Path) -> Path:
    """Parquet files for every table at ``scale`` (tpchgen-cli, offline)."""
    exe = Path(sys.executable).parent / "tpchgen-cli"
    subprocess.run(
        [str(exe), "parquet", "-s", str(scale), f"--output-dir={out}"],
        check=True,
        capture_output=True,
    )
    return out


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    return "VARCHAR(255)"


def _ddl(name: str, schema: pa.Schema, qualified: str) -> str:
    cols = ", ".join(f"{f.name} {_sql_type(f.type)} NOT NULL" for f in schema)
    return f"CREATE TABLE {qualified} ({cols}, PRIMARY KEY ({PRIMARY_KEYS[name]}))"


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True))


@dataclass
class Deployment:
    tag: str
    duck_path: Path
    lite_path: Path
    tables: dict[str, pa.Table]

    @property
    def pg_schema(self) -> str:
        return f"tpch_{self.tag}"

    @property
    def my_db(self) -> str:
        return f"tpch_{self.tag}"

    def engines(self) -> dict[str, dict[str, Any]]:
        return {
            "duck": {"type": "duckdb", "path": str(self.duck_path)},
            "pg": {"type": "postgres", "dsn": PG_DSN, "schemas": [self.pg_schema]},
            "my": {"type": "mysql", "database": self.my_db, "schemas": [self.my_db]},
            "lite": {"type": "sqlite", "path": str(self.lite_path)},
        }

    def foreign_keys(self, placement: dict[str, str] = PLACEMENT) -> list[dict[str, Any]]:
        """``data.foreign_keys`` for TPC-H's keys, wherever its tables live."""
        schemas = {"duck": "main", "lite": "main", "pg": self.pg_schema, "my": self.my_db}

        def paths(table: str, columns: str) -> list[str]:
            engine = placement[table]
            return [f"{engine}.{schemas[engine]}.{table}.{c}" for c in columns.split(", ")]

        return [{"from": paths(*a), "to": paths(*b)} for a, b in FOREIGN_KEYS]

    def reference(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        for name, table in self.tables.items():
            con.register(f"_{name}", table)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
        return con

    def drop(self) -> None:
        with psycopg.connect(PG_DSN, autocommit=True) as pg:
            pg.execute(f"DROP SCHEMA IF EXISTS {self.pg_schema} CASCADE")
        my = pymysql.connect(host="127.0.0.1", user="root")
        with my.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {self.my_db}")
        my.close()


def deploy(parquet_dir: Path, workdir: Path, placement: dict[str, str] = PLACEMENT) -> Deployment:
    tag = uuid.uuid4().hex[:10]
    tables = {t: pq.read_table(parquet_dir / f"{t}.parquet") for t in TABLES}
    # string_view does not cross every driver: plain strings everywhere
    tables = {
        t: tab.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type)
                    for f in tab.schema
                ]
            )
        )
        for t, tab in tables.items()
    }
    dep = Deployment(tag, workdir / f"duck_{tag}.duckdb", workdir / f"lite_{tag}.sqlite", tables)
    duck = duckdb.connect(str(dep.duck_path))
    lite = sqlite3.connect(dep.lite_path)
    pg = psycopg.connect(PG_DSN, autocommit=True)
    pg.execute(f"CREATE SCHEMA {dep.pg_schema}")
    my = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with my.cursor() as cur:
        cur.execute(f"CREATE DATABASE {dep.my_db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    for name, table in tables.items():
        where = placement[name]
        if where == "duck":
            duck.register("_src", table)
            duck.execute(f"CREATE TABLE {name} AS SELECT * FROM _src")
            duck.unregister("_src")
        elif where == "lite":
            lite.execute(_ddl(name, table.schema, name))
            rows = [
                tuple(
                    float(v)
                    if isinstance(v, Decimal)
                    else v.isoformat()
                    if isinstance(v, date)
                    else v
                    for v in row
                )
                for row in _rows(table)
            ]
            marks = ", ".join("?" * table.num_columns)
            lite.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            lite.commit()
        elif where == "pg":
            pg.execute(_ddl(name, table.schema, f"{dep.pg_schema}.{name}"))
            with pg.cursor().copy(f"COPY {dep.pg_schema}.{name} FROM STDIN") as copy:
                for row in _rows(table):
                    copy.write_row(row)
            pg.execute(f"ANALYZE {dep.pg_schema}.{name}")
        else:
            with my.cursor() as cur:
                cur.execute(_ddl(name, table.schema, f"{dep.my_db}.{name}"))
                rows = _rows(table)
                marks = ", ".join(["%s"] * table.num_columns)
                for i in range(0, len(rows), 5000):
                    cur.executemany(
                        f"INSERT INTO {dep.my_db}.{name} VALUES ({marks})", rows[i : i + 5000]
                    )
                cur.execute(f"ANALYZE TABLE {dep.my_db}.{name}")
                cur.fetchall()
    duck.close()
    lite.close()
    pg.close()
    my.close()
    return dep


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def same_rows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], ordered: bool) -> str | None:
    """None when equal (floats within 1e-6 relative); else what differs."""
    if len(got) != len(want):
        return f"{len(got)} rows, expected {len(want)}"
    g = [tuple(_norm(v) for v in r) for r in got]
    w = [tuple(_norm(v) for v in r) for r in want]
    if not ordered:
        g, w = sorted(g, key=repr), sorted(w, key=repr)
    for i, (a, b) in enumerate(zip(g, w, strict=True)):
        if len(a) != len(b):
            return f"row {i}: {len(a)} columns, expected {len(b)}"
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float | int) and isinstance(y, float | int):
                if not math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-6):
                    return f"row {i}: {a} != {b}"
            elif x != y:
                return f"row {i}: {a} != {b}"
    return None


def checked(orch: Any, reference: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """``orch``'s answer to ``sql`` (a QueryResult), asserted equal to ``reference``'s (and
    not empty)."""
    result = orch.query(sql)
    got = [tuple(r.values()) for r in result.table.to_pylist()]
    want = reference.execute(sql).fetchall()
    assert want and same_rows(got, want, ordered="ORDER BY" in sql) is None
    return result
