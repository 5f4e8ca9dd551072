"""The prompt: a schema digest pruned to the question's tables, bounded, with no data values."""

from __future__ import annotations

from portkey.orchestrator.engines import ColumnInfo, TableInfo
from portkey.orchestrator.nl import prompt
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import LLMSettings


def test_the_question_picks_the_tables(orch: Orchestrator) -> None:
    tables = orch.catalog.tables()
    chosen = prompt.relevant(tables, "Total price of orders per customer nation", 3)
    assert {t.name for t in chosen} == {"orders", "customer", "nation"}
    chosen = prompt.relevant(tables, "Which suppliers ship the most parts?", 3)
    assert {"supplier", "part"} <= {t.name for t in chosen}  # and lineitem (l_ship*)


def test_messages_carry_digest_dialects_and_examples_but_no_values(orch: Orchestrator) -> None:
    settings = LLMSettings.model_validate(
        {
            "config": "nl",
            "model": "m",
            "form": "plan",
            "digest_tables": 1,
            "few_shot": [{"question": "how many nations?", "answer": '{"sql": "..."}'}],
        }
    )
    dialects = {n: e.dialect for n, e in orch.catalog.engines.items()}
    messages = prompt.messages(
        "market segments of customers", settings, orch.catalog.tables(), dialects
    )
    system = messages[0]["content"]
    assert "engine pg: postgres dialect" in system and "engine lite: sqlite dialect" in system
    assert "c_mktsegment" in system and "l_shipdate" not in system  # pruned to 1 table
    assert "Customer#" not in system  # names and types only, never rows
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "market segments of customers"


def test_the_digest_is_bounded() -> None:
    cols = tuple(ColumnInfo(f"column_{i}", "VARCHAR") for i in range(40))
    tables = [TableInfo("e", "s", f"t{i}", cols) for i in range(50)]
    text = prompt.digest(tables, {"e": "duckdb"})
    assert len(text) <= prompt.DIGEST_CHARS + 40 and text.endswith("(more tables omitted)")
