"""PII detection quality on the labelled corpus (tests/data/pii_corpus.jsonl), as a floor."""

from __future__ import annotations

import json
from pathlib import Path

from portkey.guardrails.checks.pii import find

CORPUS = Path(__file__).parent.parent / "data" / "pii_corpus.jsonl"


def test_precision_and_recall_floor() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    assert len(rows) >= 100
    tp = fp = fn = 0
    for row in rows:
        expected = {(s["type"], s["start"], s["end"]) for s in row["spans"]}
        found = {(s.kind, s.start, s.end) for s in find(row["text"])}
        tp += len(expected & found)
        fp += len(found - expected)
        fn += len(expected - found)
    assert tp / (tp + fp) >= 0.97
    assert tp / (tp + fn) >= 0.97


def test_checksums_rule_out_look_alikes() -> None:
    for text in (
        "Card 4111 1111 1111 1113 was rejected.",  # fails Luhn
        "IBAN FR15 2004 1010 0505 0001 3M02 606 is wrong.",  # fails mod 97
        "Test value 666-12-3456 is not an SSN.",
        "Bad address 256.1.1.1 in the log.",
        "Order #123456789 shipped on 2024-05-01.",
    ):
        assert find(text) == [], text
