"""Trino as an engine: the real ``trino`` client against tests/fakes/trino.py (DuckDB behind).

lineitem and orders move from DuckDB to "Trino"; the other engines stay. All 22 TPC-H
queries must still match one DuckDB holding every table, and Trino's answers arrive
through its paged statement protocol.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest

from portkey.errors import GatewayError
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import DataSettings
from tests.fakes.trino import FakeTrino
from tests.orchestrator import tpch

QUERIES = tpch.queries()


@pytest.fixture(scope="module")
def fake_trino(deployment: tpch.Deployment) -> Iterator[FakeTrino]:
    with FakeTrino(str(deployment.duck_path)) as server:
        yield server


@pytest.fixture(scope="module")
def with_trino(deployment: tpch.Deployment, fake_trino: FakeTrino) -> Orchestrator:
    engines = {k: v for k, v in deployment.engines().items() if k != "duck"}
    engines["tr"] = {"type": "trino", "port": fake_trino.port, "catalog": "tpch"}
    return Orchestrator(DataSettings.model_validate({"engines": engines}))


def test_catalog_comes_from_trino_with_row_counts(with_trino: Orchestrator) -> None:
    tables = {t.name: t for t in with_trino.catalog.tables() if t.engine == "tr"}
    assert set(tables) == {"lineitem", "orders"}
    assert tables["orders"].rows == 15000  # SHOW STATS
    assert tables["lineitem"].column("l_shipdate").type == "DATE"  # type: ignore[union-attr]


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_tpch_over_trino_matches_single_duckdb(
    number: int, with_trino: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = QUERIES[number]
    result = with_trino.query(sql)
    got = [tuple(row.values()) for row in result.table.to_pylist()]
    diff = tpch.same_rows(got, reference.execute(sql).fetchall(), "order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}"


def test_trino_receives_its_own_dialect_and_pages_big_answers(
    with_trino: Orchestrator, fake_trino: FakeTrino
) -> None:
    result = with_trino.query("SELECT l_orderkey, l_shipdate FROM lineitem WHERE l_quantity > 1")
    assert result.table.num_rows > 4096 * 2  # more than two pages of the protocol
    sent = fake_trino.statements[-1]
    assert '"main"."lineitem"' in sent and "l_quantity" in sent


def test_trino_query_is_cancelled_on_timeout(
    with_trino: Orchestrator, fake_trino: FakeTrino
) -> None:
    fake_trino.delay_s = 5
    try:
        with pytest.raises(GatewayError) as caught:
            with_trino.query("SELECT count(*) FROM orders", timeout_s=0.5)
    finally:
        fake_trino.delay_s = 0
    assert caught.value.http_status == 504
    last = list(fake_trino.queries.values())[-1]
    deadline = 50
    while not last.cancelled and deadline:
        time.sleep(0.05)  # noqa: TID251 - test thread
        deadline -= 1
    assert last.cancelled, "the executor did not cancel the Trino query"


def test_client_disconnect_cancels_the_engines(
    make_gateway: Any, deployment: tpch.Deployment, fake_trino: FakeTrino
) -> None:
    from tests.orchestrator.conftest import ADMIN_KEY, config_text

    engines = {k: v for k, v in deployment.engines().items() if k != "duck"}
    engines["tr"] = {"type": "trino", "port": fake_trino.port, "catalog": "tpch"}
    server = make_gateway(config_text(engines))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert httpx.get(server.url + "/catalog", headers=auth, timeout=30).status_code == 200
    fake_trino.delay_s = 10
    before = len(fake_trino.queries)
    try:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(
                server.url + "/query",
                json={"sql": "SELECT count(*) FROM orders JOIN customer ON o_custkey = c_custkey"},
                headers=auth,
                timeout=1.5,
            )
        started = [q for q in list(fake_trino.queries.values())[before:] if "orders" in q.sql]
        assert started, "the query never reached Trino"
        for _ in range(60):
            if started[-1].cancelled:
                break
            time.sleep(0.05)  # noqa: TID251 - test thread
        assert started[-1].cancelled, "the Trino query kept running after the client left"
    finally:
        fake_trino.delay_s = 0
