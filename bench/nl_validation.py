"""LLM-path benchmark: validation latency per answer, and the LLM path's overhead over plain SQL.

1. Validation latency (p50/p99, ms) of each answer through the whole validation layer
   (JSON -> model -> parse/read-only -> catalog -> join types -> bounded -> engines' EXPLAIN),
   for good answers (SQL form, a 2-engine and a 3-engine plan) and adversarial ones.
2. End to end over HTTP on a real gateway with a scripted model (tests' ScriptedLLM, loopback):
   ``POST /query {sql}`` against ``POST /query {question}`` answering the same SQL (form sql)
   and the same query as a plan (form plan, which also runs the deterministic plan to
   compare results: ``result_matches``). Also bytes moved: plan vs deterministic baseline.

    .venv/bin/python bench/nl_validation.py              # SF 0.01, 30 repeats
    .venv/bin/python bench/nl_validation.py --scale 0.1 --repeat 50

A developer tool, not run by CI. Needs this machine's PostgreSQL and MariaDB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import yaml  # noqa: E402
from tests.orchestrator import tpch  # noqa: E402
from tests.orchestrator.nl.conftest import AUTH, nl_config  # noqa: E402
from tests.orchestrator.nl.fake_llm import ScriptedLLM  # noqa: E402
from tests.orchestrator.nl.test_answers import JOIN, PLAN, THREE_ENGINES, sql_answer  # noqa: E402
from tests.support import GatewayServer  # noqa: E402

from portkey.orchestrator.nl.checks import check_plan, check_sql  # noqa: E402
from portkey.orchestrator.nl.models import PlanAnswer, SqlAnswer  # noqa: E402
from portkey.orchestrator.nl.reasons import Rejected, parse_answer  # noqa: E402
from portkey.orchestrator.service import Orchestrator  # noqa: E402
from portkey.orchestrator.settings import DataSettings  # noqa: E402

CORPUS = yaml.safe_load((ROOT / "tests" / "data" / "nl" / "adversarial.yaml").read_text())


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm (catalog, drivers)
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def validate(orch: Orchestrator, text: str, form: str) -> str:
    try:
        answer = parse_answer(text, form)  # type: ignore[arg-type]
        if isinstance(answer, SqlAnswer):
            check_sql(answer, orch)
        else:
            assert isinstance(answer, PlanAnswer)
            check_plan(answer, orch)
    except Rejected as exc:
        return exc.reasons[0].code
    return "passes static checks"  # plans: result_matches runs with the query (part 2)


def validation(orch: Orchestrator, repeat: int) -> None:
    cases = [
        ("good: sql, 2 engines", sql_answer(JOIN), "sql"),
        ("good: plan, 2 engines", json.dumps(PLAN), "plan"),
        ("good: plan, 3 engines", json.dumps(THREE_ENGINES), "plan"),
    ]
    for entry in CORPUS:
        text = entry.get("answer") or json.dumps(entry["json"])
        cases.append((f"bad: {entry['name']}", text, entry["form"]))
    print(f"\n## validation latency (ms, {repeat} runs each)\n")
    print("| answer | outcome | p50 | p99 |\n|---|---|---|---|")
    for name, text, form in cases:
        outcome = validate(orch, text, form)
        samples = timed(lambda t=text, f=form: validate(orch, t, f), repeat)
        print(f"| {name} | {outcome} | {pct(samples, 50):.2f} | {pct(samples, 99):.2f} |")


def end_to_end(dep: tpch.Deployment, repeat: int, workdir: Path) -> None:
    print(f"\n## end to end over HTTP (ms, {repeat} runs each; scripted model on loopback)\n")
    print("| path | p50 | p99 | bytes moved |\n|---|---|---|---|")
    with ScriptedLLM() as llm:
        for form in ("sql", "plan"):
            path = workdir / f"{form}.yaml"
            path.write_text(nl_config(dep, llm, form))
            with GatewayServer(path) as server:
                url = server.url + "/query"
                answer = sql_answer(JOIN) if form == "sql" else json.dumps(PLAN)
                with httpx.Client(headers=AUTH, timeout=60) as http:

                    def plain(url: str = url) -> httpx.Response:
                        return http.post(url, json={"sql": JOIN})

                    def asked(url: str = url, answer: str = answer) -> httpx.Response:
                        llm.script([answer])
                        response = http.post(url, json={"question": "segments?"})
                        assert response.status_code == 200, response.text
                        return response

                    if form == "sql":
                        base = timed(plain, repeat)
                        moved = plain().json()["stats"]["bytes_moved"]
                        print(
                            f"| plain SQL | {pct(base, 50):.1f} | {pct(base, 99):.1f} | {moved} |"
                        )
                    samples = timed(asked, repeat)
                    body = asked().json()
                    moved = body["stats"]["bytes_moved"]
                    baseline = body["llm"]["baseline"]
                    note = f" (deterministic: {baseline['bytes_moved']})" if baseline else ""
                    print(
                        f"| question, form {form} | {pct(samples, 50):.1f} | "
                        f"{pct(samples, 99):.1f} | {moved}{note} |"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "parquet").mkdir()
        (work / "engines").mkdir()
        dep = tpch.deploy(tpch.generate(args.scale, work / "parquet"), work / "engines")
        try:
            orch = Orchestrator(DataSettings.model_validate({"engines": dep.engines()}))
            print(f"# LLM path, TPC-H SF {args.scale}")
            validation(orch, args.repeat)
            end_to_end(dep, args.repeat, work)
        finally:
            dep.drop()


if __name__ == "__main__":
    main()
