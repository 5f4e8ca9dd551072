"""The MySQL/MariaDB adapter reads values as text and converts whole columns in Arrow: exact."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from portkey.orchestrator.engines import Engine, create_engine
from portkey.orchestrator.settings import DataSettings


@pytest.fixture(scope="module")
def my() -> Engine:
    settings = DataSettings.model_validate({"engines": {"my": {"type": "mysql"}}})
    return create_engine("my", settings.engines["my"])


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
    assert row["t"] == timedelta(hours=10, minutes=30)  # no Arrow cast: PyMySQL's decoder
    assert row["nothing"] is None and row["raw"] == b"\x00\xff"


def test_an_empty_answer_keeps_its_columns(my: Engine) -> None:
    table = my.fetch("SELECT 1 AS a, 'x' AS b FROM DUAL WHERE 1 = 0").table
    assert table.num_rows == 0 and table.column_names == ["a", "b"]
