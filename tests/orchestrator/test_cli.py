"""``portkey query`` and ``portkey catalog`` as a user runs them: a real process, real engines."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tests.orchestrator import tpch
from tests.orchestrator.conftest import config_text

_SCRIPT = Path(sys.executable).with_name("portkey")
PORTKEY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "portkey.cli.main"]
SQL = "SELECT n_name, count(*) AS suppliers FROM supplier JOIN nation ON s_nationkey = n_nationkey WHERE n_regionkey = 1 GROUP BY n_name ORDER BY n_name"


@pytest.fixture
def cli(deployment: tpch.Deployment, tmp_path: Path) -> Path:
    """portkey.yaml with the TPC-H engines (a secret from ``${ENV}``); tmp_path is the data dir."""
    engines = deployment.engines()
    engines["pg"]["dsn"] = "${TPCH_PG_DSN}"
    path = tmp_path / "portkey.yaml"
    path.write_text(config_text(engines))
    return path


def run(
    cli: Path, *args: str, tmp_path: Path, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PORTKEY_DATA_DIR": str(tmp_path), "TPCH_PG_DSN": tpch.PG_DSN}
    done = subprocess.run(
        [*PORTKEY, *args, "--config", str(cli)], env=env, capture_output=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr.decode()
    return done


def test_query_prints_a_table_with_what_moved(cli: Path, tmp_path: Path) -> None:
    done = run(cli, "query", SQL, tmp_path=tmp_path)
    text = done.stdout.decode()
    assert "ARGENTINA" in text and "UNITED STATES" in text
    assert "moved" in done.stderr.decode()


def test_query_formats(cli: Path, tmp_path: Path, reference: object) -> None:
    want = reference.execute(SQL).fetchall()  # type: ignore[attr-defined]
    rows = list(
        csv.reader(
            io.StringIO(
                run(cli, "query", SQL, "--format", "csv", tmp_path=tmp_path).stdout.decode()
            )
        )
    )
    assert rows[0] == ["n_name", "suppliers"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == want
    body = json.loads(run(cli, "query", SQL, "--format", "json", tmp_path=tmp_path).stdout)
    assert [tuple(r) for r in body["rows"]] == want and body["stats"]["engines"]
    arrow = pa.ipc.open_stream(run(cli, "query", SQL, "-f", "arrow", tmp_path=tmp_path).stdout)
    assert arrow.read_all().num_rows == len(want)


def test_explain_prints_the_plan(cli: Path, tmp_path: Path) -> None:
    plan = json.loads(run(cli, "query", SQL, "--explain", tmp_path=tmp_path).stdout)
    assert {f["engine"] for f in plan["fragments"]} == {"lite", "pg"}


def test_rejected_query_exits_non_zero_with_the_reason(cli: Path, tmp_path: Path) -> None:
    done = run(cli, "query", "DELETE FROM orders", tmp_path=tmp_path, check=False)
    assert done.returncode == 1 and "DELETE is not allowed" in done.stderr.decode()


def test_catalog_refresh_then_list_from_the_cache(cli: Path, tmp_path: Path) -> None:
    refreshed = run(cli, "catalog", "refresh", tmp_path=tmp_path).stdout.decode()
    assert "ok pg (postgres): 3 tables" in refreshed and "ok lite (sqlite): 1 tables" in refreshed
    assert (tmp_path / "catalog.json").is_file()
    listed = json.loads(run(cli, "catalog", "list", "--json", tmp_path=tmp_path).stdout)
    names = sorted(t["name"] for t in listed["tables"])
    assert names == sorted(tpch.TABLES)
    text = run(cli, "catalog", "list", tmp_path=tmp_path).stdout.decode()
    assert "my." in text and "partsupp" in text
