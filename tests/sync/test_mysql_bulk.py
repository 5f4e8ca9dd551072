"""MySQL/MariaDB writes: LOAD DATA LOCAL INFILE exact for every type, INSERTs when the server
refuses it, and a batch the server refuses fails the run with the target left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import duckdb
import pymysql
import pytest
from tests.sync.conftest import Env
from tests.sync.test_roundtrip import COLS, _load, _rows

from portkey.orchestrator.sync.runner import Runner

LOSSY = {"f": {"allow_lossy": True}, "tz": {"allow_lossy": True}}


def _status(env: Env, name: str) -> int:
    return int(env.my_rows(f"SHOW GLOBAL STATUS LIKE '{name}'")[0][1])


@pytest.fixture
def no_local_infile(env: Env) -> Iterator[None]:
    """The server refuses LOAD DATA LOCAL (as many managed MySQL servers do)."""
    before = env.my_rows("SELECT @@GLOBAL.local_infile")[0][0]
    env.my_exec("SET GLOBAL local_infile = 0")
    try:
        yield
    finally:
        env.my_exec(f"SET GLOBAL local_infile = {int(before)}")


def _pg_there_and_back(env: Env, batch_rows: int = 2) -> Runner:
    runner = Runner(
        env.settings(
            there={
                "source": {"engine": "pg", "table": f"{env.schema}.tricky"},
                "target": {"engine": "my", "table": "tricky"},
                "columns": LOSSY,
                "verify": "checksums",
                "batch_rows": batch_rows,
            },
            back={
                "source": {"engine": "my", "table": "tricky"},
                "target": {"engine": "pg", "table": f"{env.schema}.back"},
                "verify": "checksums",
                "batch_rows": batch_rows,
            },
        )
    )
    for job in ("there", "back"):
        result = runner.run(job)
        assert result.status == "succeeded", result.verification
        assert result.rows_written == 5
    return runner


def _assert_tricky_came_back(env: Env) -> None:
    exact = [c for c in COLS if c not in LOSSY]
    assert _rows(env, "back", exact) == _rows(env, "tricky", exact)
    # NULL vs empty string, the literal text NULL and \N, tabs and newlines, stored as such
    assert env.my_rows("SELECT id, s IS NULL, s = '', v FROM tricky WHERE id IN (1, 2, 5)") == [
        (1, 0, 1, ""),
        (2, 1, None, None),
        (5, 0, 0, "null"),
    ]
    assert env.my_rows("SELECT s FROM tricky WHERE id = 3") == [
        ('tab\there, "quote", comma, new\nline \\N back\\slash',)
    ]
    assert [r[0] for r in _rows(env, "back", ["tz::text"])][:2] == [
        "2024-03-10 10:30:00",
        "1969-07-20 20:17:40.123456",
    ]


def test_tricky_round_trip_through_load_data(env: Env) -> None:
    _load(env)
    loads = _status(env, "Com_load")
    _pg_there_and_back(env)
    assert _status(env, "Com_load") > loads
    _assert_tricky_came_back(env)


def test_refused_local_infile_falls_back_to_inserts(env: Env, no_local_infile: None) -> None:
    _load(env)
    _pg_there_and_back(env)
    _assert_tricky_came_back(env)


def test_local_infile_false_never_offers_a_file_and_writes_with_inserts(env: Env) -> None:
    _load(env)
    engines = env.engines()
    engines["my"]["local_infile"] = False
    env.engines = lambda: engines  # type: ignore[method-assign]
    loads = _status(env, "Com_load")
    _pg_there_and_back(env)
    assert _status(env, "Com_load") == loads
    _assert_tricky_came_back(env)


@pytest.mark.parametrize("local_infile", [True, False], ids=["load-data", "inserts"])
def test_binary_booleans_and_text_from_duckdb(
    env: Env, request: pytest.FixtureRequest, local_infile: bool
) -> None:
    """Values PostgreSQL's side cannot carry (binary): DuckDB -> MySQL -> DuckDB, both paths."""
    if not local_infile:
        request.getfixturevalue("no_local_infile")
    path = env.tmp / "sync.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE bin (id BIGINT, b BLOB, ok BOOLEAN, t VARCHAR, u VARCHAR, d DECIMAL(18,6))"
    )
    con.execute(
        "INSERT INTO bin VALUES "
        "(1, '\\x00\\xFF\\x09\\x0A\\x5C\\x4E'::BLOB, true, chr(0) || 'a' || chr(13), '', 0.000001),"
        "(2, ''::BLOB, false, '\\N', NULL, -123456789012.123456),"
        "(3, NULL, NULL, NULL, 'ünï 🎉', NULL)"
    )
    con.close()
    runner = Runner(
        env.settings(
            there={
                "source": {"engine": "duck", "table": "main.bin"},
                "target": {"engine": "my", "table": "bin"},
                "verify": "counts",
                "batch_rows": 2,
            },
            back={
                "source": {"engine": "my", "table": "bin"},
                "target": {"engine": "duck", "table": "main.back"},
                "verify": "counts",
            },
        )
    )
    for job in ("there", "back"):
        assert runner.run(job).status == "succeeded"
    assert env.my_rows("SELECT id, HEX(b), ok, HEX(t), u, d FROM bin ORDER BY id") == [
        (1, "00FF090A5C4E", 1, "00610D", "", Decimal("0.000001")),
        (2, "", 0, "5C4E", None, Decimal("-123456789012.123456")),
        (3, None, None, None, "ünï 🎉", None),
    ]
    con = duckdb.connect(str(path))
    try:
        for a, b in (("bin", "back"), ("back", "bin")):
            assert con.execute(f"SELECT * FROM {a} EXCEPT SELECT * FROM {b}").fetchall() == []
        assert con.execute("SELECT count(*) FROM back").fetchone() == (3,)
    finally:
        con.close()


@pytest.mark.parametrize("local_infile", [True, False], ids=["load-data", "inserts"])
@pytest.mark.parametrize(
    ("bad", "said"),
    [("(5, 'bad')", "CONSTRAINT"), ("(4, 'again')", "Duplicate entry '4'")],
    ids=["check-fails", "duplicate-key"],
)
def test_a_refused_row_fails_the_run_and_leaves_the_target_unchanged(
    env: Env, request: pytest.FixtureRequest, local_infile: bool, bad: str, said: str
) -> None:
    """LOAD DATA LOCAL makes such errors warnings and goes on: the run must fail anyway, and
    the rows of the batches before it (and the full replace's DELETE) must be rolled back."""
    if not local_infile:
        request.getfixturevalue("no_local_infile")
    con = duckdb.connect(str(env.tmp / "sync.duckdb"))
    con.execute("CREATE TABLE ev (id BIGINT, v VARCHAR)")
    con.execute(f"INSERT INTO ev VALUES (3, 'a'), (4, 'b'), (6, 'c'), (7, 'd'), {bad}")
    con.close()
    env.my_exec("CREATE TABLE ev (id BIGINT PRIMARY KEY, v LONGTEXT, CHECK (v <> 'bad'))")
    env.my_exec("INSERT INTO ev VALUES (1, 'keep'), (2, 'keep')")
    runner = Runner(
        env.settings(
            x={
                "source": {"engine": "duck", "table": "main.ev"},
                "target": {"engine": "my", "table": "ev"},
                "batch_rows": 2,
            }
        )
    )
    loads = _status(env, "Com_load")
    with pytest.raises(pymysql.err.MySQLError, match=said):
        runner.run("x")
    if local_infile:  # two good batches went in before the third was refused
        assert _status(env, "Com_load") - loads >= 3
    assert env.my_rows("SELECT id, v FROM ev ORDER BY id") == [(1, "keep"), (2, "keep")]


def test_a_one_column_table_keeps_empty_strings_and_nulls(env: Env) -> None:
    """A row holding one empty string is an empty line of the load file: still a row, still ''."""
    con = duckdb.connect(str(env.tmp / "sync.duckdb"))
    con.execute("CREATE TABLE one (s VARCHAR)")
    con.execute("INSERT INTO one VALUES (''), (NULL), ('x'), (''), ('\\N'), ('NULL')")
    con.close()
    runner = Runner(
        env.settings(
            x={
                "source": {"engine": "duck", "table": "main.one"},
                "target": {"engine": "my", "table": "one"},
            }
        )
    )
    assert runner.run("x").rows_written == 6
    assert sorted(env.my_rows("SELECT s FROM one"), key=repr) == sorted(
        [("",), (None,), ("x",), ("",), ("\\N",), ("NULL",)], key=repr
    )


def test_a_server_asking_for_another_local_file_gets_nothing(env: Env) -> None:
    from portkey.orchestrator.settings import MySQLEngine
    from portkey.orchestrator.sync.endpoints.mysql import MySQLEndpoint

    endpoint = MySQLEndpoint("my", MySQLEngine(type="mysql", database=env.mysql_db))
    conn = endpoint.connect()
    try:
        endpoint.execute(conn, "CREATE TABLE stolen (line TEXT)")
        # what a hostile server does: ask for a file the client never offered
        with pytest.raises(pymysql.err.OperationalError, match="not the batch"):
            endpoint.execute(conn, "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE stolen")
    finally:
        conn.close()
    assert env.my_rows("SELECT count(*) FROM stolen") == [(0,)]
