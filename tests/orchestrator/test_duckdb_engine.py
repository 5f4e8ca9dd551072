"""The DuckDB adapter keeps its file open between fetches (a cursor each) and closes it when idle."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from portkey.orchestrator.engines import create_engine
from portkey.orchestrator.engines import duckdb as duck_engine
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.shipping import Shipment


def _engine(path: Path) -> Any:
    settings = DataSettings.model_validate(
        {"engines": {"d": {"type": "duckdb", "path": str(path)}}}
    )
    return create_engine("d", settings.engines["d"])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "d.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS id FROM range(1000)")
    con.close()
    return path


def test_fetches_share_one_open_file(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real = duckdb.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(duck_engine.duckdb, "connect", counting)
    engine = _engine(db)
    for _ in range(5):
        assert engine.fetch("SELECT count(*) AS n FROM t").table.to_pylist() == [{"n": 1000}]
    assert opened == [str(db)]


def test_concurrent_fetches_keep_their_shipped_keys_apart(db: Path) -> None:
    settings = DataSettings.model_validate(
        {"engines": {"d": {"type": "duckdb", "path": str(db), "temp_tables": True}}}
    )
    engine = create_engine("d", settings.engines["d"])
    results: dict[int, list[Any]] = {}

    def run(k: int) -> None:
        keys = Shipment("f1", "_pk_keys", pa.table({"k": [k, k + 1]}))
        sql = "SELECT id FROM t WHERE id IN (SELECT k FROM _pk_keys) ORDER BY id"
        results[k] = engine.fetch(sql, shipments=[keys]).table.column("id").to_pylist()

    threads = [threading.Thread(target=run, args=(k,)) for k in (10, 20, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {10: [10, 11], 20: [20, 21], 30: [30, 31]}


def test_the_file_is_closed_after_idle_so_a_writer_can_open_it(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duck_engine, "IDLE_S", 0.2)
    engine = _engine(db)
    engine.fetch("SELECT 1")
    with pytest.raises(duckdb.ConnectionException):  # open read-only in this process
        duckdb.connect(str(db))
    deadline = time.monotonic() + 5
    while True:
        try:
            writer = duckdb.connect(str(db))
            break
        except duckdb.ConnectionException:
            assert time.monotonic() < deadline, "the idle file was never closed"
            time.sleep(0.05)  # noqa: TID251 - test thread
    writer.execute("INSERT INTO t VALUES (5000)")
    writer.close()
    assert engine.fetch("SELECT max(id) AS m FROM t").table.to_pylist() == [{"m": 5000}]


#: orders (DuckDB) of the customers with a positive balance (PostgreSQL): ~1,400 keys
MANY_KEYS = (
    "SELECT o_orderpriority, count(*) AS n, sum(o_totalprice) AS total FROM customer "
    "JOIN orders ON c_custkey = o_custkey WHERE c_acctbal > 0 "
    "GROUP BY o_orderpriority ORDER BY o_orderpriority"
)


def test_many_join_keys_reach_duckdb_as_an_arrow_view_without_temp_tables(
    orch: Any, reference: duckdb.DuckDBPyConnection
) -> None:
    # ``orch``: the TPC-H deployment with no engine allowed temporary tables
    result = orch.query(MANY_KEYS)
    want = reference.execute(MANY_KEYS).fetchall()
    assert [tuple(r.values()) for r in result.table.to_pylist()] == want
    (keys,) = reference.execute("SELECT count(*) FROM customer WHERE c_acctbal > 0").fetchone()
    assert keys > duck_engine.DuckDB.view_keys_above
    (duck,) = [s for s in result.execution.stats if s.engine == "duck"]
    # the keys are read in place, not written into the SQL text nor counted as bytes moved
    assert duck.semijoin_keys == keys and duck.shipped_bytes == 0
    assert "IN (SELECT k FROM _pk_keys_" in duck.sql and len(duck.sql) < 2000
    steps = result.plan.to_dict()["steps"]
    assert any(f"sent {keys} keys of" in s and "as a view of an Arrow table" in s for s in steps)


def test_few_join_keys_stay_an_in_list(orch: Any, reference: duckdb.DuckDBPyConnection) -> None:
    sql = MANY_KEYS.replace("c_acctbal > 0", "c_nationkey = 7")
    result = orch.query(sql)
    assert [tuple(r.values()) for r in result.table.to_pylist()] == reference.execute(
        sql
    ).fetchall()
    (duck,) = [s for s in result.execution.stats if s.engine == "duck"]
    assert 0 < (duck.semijoin_keys or 0) <= duck_engine.DuckDB.view_keys_above
    assert "_pk_keys_" not in duck.sql
