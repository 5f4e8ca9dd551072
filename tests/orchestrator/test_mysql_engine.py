"""The MySQL/MariaDB adapter (asyncmy) reads the server's raw bytes and converts whole columns
in Arrow: exact types, NULLs, statement timeout, cancel, temporary tables on the reading session,
read-only transaction, sessions that end when their fetch fails, times out or is cancelled,
503 when the server is down."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest

from portkey.orchestrator.engines import Engine, create_engine
from portkey.orchestrator.errors import GatewayError
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.shipping import ship, ship_rows


def _engine(**options: object) -> Engine:
    settings = DataSettings.model_validate({"engines": {"my": {"type": "mysql", **options}}})
    return create_engine("my", settings.engines["my"])


@pytest.fixture(scope="module")
def my() -> Iterator[Engine]:
    """The adapter on a database of its own (its sessions can be counted there)."""
    name = f"pk_my_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield _engine(temp_tables=True, database=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def test_typed_columns_come_back_exact(my: Engine) -> None:
    table = my.fetch(
        "SELECT 9223372036854775807 AS big, CAST(12345678901234.56 AS DECIMAL(16,2)) AS n, "
        "CAST(1.5e-300 AS DOUBLE) AS f, '' AS s, 'tab\\there ü' AS u, DATE '9999-12-31' AS d, "
        "TIMESTAMP '2024-02-29 23:59:59.999999' AS ts, CAST('10:30:00' AS TIME) AS t, "
        "CAST(NULL AS SIGNED) AS nothing, X'00FF' AS raw"
    ).table
    row = table.to_pylist()[0]
    assert row["big"] == 9223372036854775807
    assert row["n"] == Decimal("12345678901234.56")
    assert row["f"] == 1.5e-300
    assert row["s"] == "" and row["u"] == "tab\there ü"
    assert row["d"] == date(9999, 12, 31)
    assert row["ts"] == datetime(2024, 2, 29, 23, 59, 59, 999999)
    assert row["t"] == timedelta(hours=10, minutes=30)  # no Arrow cast: the driver's decoder
    assert row["nothing"] is None and row["raw"] == b"\x00\xff"


def test_decimals_keep_every_digit_and_their_scale(my: Engine) -> None:
    table = my.fetch(
        "SELECT CAST('12345.123456789012345' AS DECIMAL(30,15)) AS fine, "
        "CAST('123456789012345678901234567890123456.78' AS DECIMAL(38,2)) AS wide, "
        "CAST(-0.5 AS DECIMAL(3,1)) AS neg"
    ).table
    assert table.schema.field("fine").type == pa.decimal128(38, 15)
    assert table.schema.field("wide").type == pa.decimal128(38, 2)
    row = table.to_pylist()[0]
    assert row["fine"] == Decimal("12345.123456789012345")
    assert row["wide"] == Decimal("123456789012345678901234567890123456.78")
    assert row["neg"] == Decimal("-0.5")


def test_datetime6_time_text_and_binary_come_back_exact(my: Engine) -> None:
    table = my.fetch(
        "SELECT CAST('2024-01-01 10:00:00.000001' AS DATETIME(6)) AS dt, "
        "CAST('-838:59:59' AS TIME) AS low, CAST('100:00:00.5' AS TIME(1)) AS long_time, "
        "'emoji 😀 中文' AS u, CAST(X'F0' AS BINARY(1)) AS b, "
        "JSON_OBJECT('a', 1) AS js"
    ).table
    assert table.schema.field("dt").type == pa.timestamp("us")
    assert pa.types.is_duration(table.schema.field("low").type)
    row = table.to_pylist()[0]
    assert row["dt"] == datetime(2024, 1, 1, 10, 0, 0, 1)
    assert row["low"] == -timedelta(hours=838, minutes=59, seconds=59)
    assert row["long_time"] == timedelta(hours=100, milliseconds=500)
    assert row["u"] == "emoji 😀 中文" and row["b"] == b"\xf0"  # not valid UTF-8: bytes
    assert row["js"] == '{"a": 1}'


def test_nulls_among_values_keep_the_column_type(my: Engine) -> None:
    rows = 5000
    table = my.fetch(
        "SELECT seq AS i, IF(seq % 3 = 0, NULL, seq * 2) AS doubled, "
        "IF(seq % 4 = 0, NULL, CAST(seq / 100 AS DECIMAL(12,2))) AS money, "
        "IF(seq % 5 = 0, NULL, DATE '2000-01-01' + INTERVAL seq DAY) AS day, "
        "IF(seq % 2 = 0, NULL, CONCAT('row ', seq, ' ü')) AS label, "
        "IF(seq % 6 = 0, NULL, CAST(CONCAT('b', seq) AS BINARY)) AS raw "
        f"FROM test.seq_1_to_{rows} ORDER BY seq"
    ).table
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types["doubled"] == pa.int64() and types["money"] == pa.decimal128(38, 2)
    assert types["day"] == pa.date32() and types["label"] == pa.string()
    assert types["raw"] == pa.binary()
    got = table.to_pylist()
    assert len(got) == rows
    for row in got:
        n = row["i"]
        assert row["doubled"] == (None if n % 3 == 0 else n * 2)
        assert row["money"] == (None if n % 4 == 0 else Decimal(n) / 100)
        assert row["day"] == (None if n % 5 == 0 else date(2000, 1, 1) + timedelta(days=n))
        assert row["label"] == (None if n % 2 == 0 else f"row {n} ü")
        assert row["raw"] == (None if n % 6 == 0 else f"b{n}".encode())


def test_a_column_of_nothing_but_nulls(my: Engine) -> None:
    table = my.fetch(
        "SELECT CAST(NULL AS DECIMAL(10,3)) AS d, CAST(NULL AS DATE) AS day, NULL AS x "
        "FROM test.seq_1_to_3"
    ).table
    assert table.schema.field("d").type == pa.decimal128(38, 3)
    assert table.schema.field("day").type == pa.date32()
    assert table.column("x").null_count == 3


def test_an_empty_answer_keeps_its_columns(my: Engine) -> None:
    table = my.fetch("SELECT 1 AS a, 'x' AS b FROM DUAL WHERE 1 = 0").table
    assert table.num_rows == 0 and table.column_names == ["a", "b"]


def test_the_statement_timeout_is_a_504(my: Engine) -> None:
    start = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        my.fetch("SELECT SLEEP(5)", timeout_s=0.3)
    assert caught.value.http_status == 504
    assert time.perf_counter() - start < 3
    assert my.fetch("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]  # nothing stuck


def test_cancel_kills_the_running_statement(my: Engine) -> None:
    failures: list[GatewayError] = []

    def run() -> None:
        try:
            my.fetch("SELECT SLEEP(20)", timeout_s=60)
        except GatewayError as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    start = time.perf_counter()
    thread.start()
    while not (running := _running(my, "SELECT SLEEP(20)")) and time.perf_counter() - start < 5:
        threading.Event().wait(0.05)
    my.cancel()
    thread.join(10)
    assert not thread.is_alive() and time.perf_counter() - start < 10
    assert failures and failures[0].http_status == 504
    # the interrupted session is closed, not pooled
    assert running and _gone(running[0]) and _session(my) not in running


def _running(my: Engine, sql: str) -> list[int]:
    """The ids of the sessions running ``sql``."""
    sessions = my.fetch("SELECT id, info FROM information_schema.processlist").table.to_pylist()
    return [int(r["id"]) for r in sessions if r["info"] == sql]


def test_the_read_is_a_read_only_transaction(my: Engine) -> None:
    admin = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS pk_read_only_probe (a INT)")
        with pytest.raises(GatewayError) as caught:
            my.fetch("INSERT INTO test.pk_read_only_probe VALUES (1)")
        assert caught.value.http_status == 502 and "READ ONLY" in caught.value.message
        with admin.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM pk_read_only_probe")
            assert cur.fetchone() == (0,)
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS pk_read_only_probe")
        admin.close()


def test_shipped_keys_are_read_on_the_session_that_loaded_them(my: Engine) -> None:
    keys = ship("_f1", pa.array(range(0, 30000, 3), pa.int64()))
    got = my.fetch(
        f"SELECT COUNT(*) AS n, SUM(s.seq) AS total FROM test.seq_1_to_30000 AS s "
        f"JOIN `{keys.name}` AS k ON k.k = s.seq",
        shipments=[keys],
    ).table.to_pylist()
    wanted = [v for v in range(0, 30000, 3) if v >= 1]
    assert got == [{"n": len(wanted), "total": Decimal(sum(wanted))}]
    # the temporary table went with its session
    with pytest.raises(GatewayError):
        my.fetch(f"SELECT * FROM `{keys.name}`")


def test_shipped_rows_of_several_types(my: Engine) -> None:
    rows = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": pa.array(["a", "ü", None]),
            "day": pa.array([date(2020, 1, 1), None, date(1999, 12, 31)]),
        }
    )
    shipped = ship_rows("_f2", rows)
    got = my.fetch(
        f"SELECT id, name, day FROM `{shipped.name}` ORDER BY id", shipments=[shipped]
    ).table
    assert got.to_pylist() == rows.to_pylist()


def test_an_unreachable_server_is_a_503() -> None:
    down = _engine(port=1)
    with pytest.raises(GatewayError) as caught:
        down.fetch("SELECT 1")
    assert caught.value.http_status == 503


def _session(my: Engine) -> int:
    """The server's id of the session the next fetch runs on."""
    return int(my.fetch("SELECT CONNECTION_ID() AS id").table.column("id")[0].as_py())


def _gone(session: int, within_s: float = 5.0) -> bool:
    """Whether the server's session ``session`` ends within ``within_s`` seconds."""
    admin = pymysql.connect(host="127.0.0.1", user="root")
    try:
        deadline = time.perf_counter() + within_s
        while time.perf_counter() < deadline:
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", [session]
                )
                if cur.fetchone() == (0,):
                    return True
            threading.Event().wait(0.05)
        return False
    finally:
        admin.close()


def test_a_timed_out_session_ends_and_is_not_reused(my: Engine) -> None:
    """QUIT is sent and the socket closed: a session that failed never lingers, even while
    something (here a traceback) still holds the adapter's objects."""
    timed_out = _session(my)  # the idle pooled session the next fetch takes
    with pytest.raises(GatewayError) as caught:
        my.fetch("SELECT SLEEP(5)", timeout_s=0.2)
    assert caught.value.http_status == 504
    assert _session(my) != timed_out and _gone(timed_out)


def test_binary_and_text_of_the_same_bytes_keep_their_types(my: Engine) -> None:
    """Values arrive as bytes: only the column's character set tells VARBINARY from VARCHAR."""
    table = my.fetch(
        "SELECT CAST('a' AS BINARY) AS vb, 'a' AS vc, b'101' AS bits, "
        "CAST(18446744073709551615 AS UNSIGNED) AS ubig, CAST(7 AS UNSIGNED) AS small, "
        "CAST(-1 AS SIGNED) AS neg, "
        "CAST(1.25 AS FLOAT) AS fl"
    ).table
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types["vb"] == pa.binary() and types["vc"] == pa.string()
    assert types["ubig"] == pa.uint64()  # past int64; where it fits it stays int64
    assert types["small"] == pa.int64() and types["neg"] == pa.int64()
    assert table.to_pylist() == [
        {"vb": b"a", "vc": "a", "bits": b"\x05", "ubig": 2**64 - 1, "small": 7, "neg": -1}
        | {"fl": 1.25}
    ]
