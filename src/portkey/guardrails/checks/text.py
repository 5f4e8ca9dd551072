"""Text checks: regex, word lists, length (words, characters, sentences), contains code."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from portkey.guardrails.base import Check, HookContext, Verdict, param, str_list

SENTENCE = re.compile(r"[^.!?]+[.!?]+|[^.!?]+$")
FENCE = re.compile(r"```([A-Za-z0-9_+-]*)\n")
CODE_HINTS = re.compile(
    r"^\s*(def |class |import |from \S+ import |function |const |let |#include|public |SELECT |"
    r"for \(|if \(|return )",
    re.MULTILINE,
)


def regex_match(params: Mapping[str, Any]) -> Check:
    """``rule`` must match (or, with ``not: true``, must not match) the text."""
    rule = param(params, "rule", str, None)
    if not rule:
        raise ValueError("parameter 'rule' (a regex) is required")
    try:
        pattern = re.compile(rule)
    except re.error as exc:
        raise ValueError(f"parameter 'rule' is not a valid regex: {exc}") from exc
    negate = bool(param(params, "not", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        found = pattern.search(text)
        data = {"regexPattern": rule, "match": found is not None, "not": negate}
        if found:
            data["matchDetails"] = {"matchedText": found.group(0), "index": found.start()}
        return Verdict(passed=(found is not None) != negate, data=data)

    return Check("default.regexMatch", run, early=negate)


def contains(params: Mapping[str, Any]) -> Check:
    """Word/phrase list; ``operator``: any (default), all, or none of ``words`` may appear."""
    words = str_list(params, "words")
    if not words:
        raise ValueError("parameter 'words' must list at least one word or phrase")
    operator = param(params, "operator", str, "any")
    if operator not in ("any", "all", "none"):
        raise ValueError("parameter 'operator' must be any, all or none")
    pattern = re.compile(
        "|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(words, key=len, reverse=True)),
        re.IGNORECASE,
    )

    lowered_words = [w.lower() for w in words]

    async def run(text: str, ctx: HookContext) -> Verdict:
        lowered = text.lower()  # a substring test first: most texts hold none of the words
        found = (
            {m.group(0).lower() for m in pattern.finditer(text)}
            if any(w in lowered for w in lowered_words)
            else set()
        )
        present = [w for w in words if w.lower() in found]
        if operator == "any":
            passed = bool(present)
        elif operator == "all":
            passed = len(present) == len(words)
        else:
            passed = not present
        return Verdict(passed, {"operator": operator, "foundWords": present})

    return Check("default.contains", run, early=operator == "none")


def _bounds(params: Mapping[str, Any], low: str, high: str) -> tuple[int, int]:
    lo = param(params, low, int, 0)
    hi = param(params, high, int, 2**63)
    if lo < 0 or hi < lo:
        raise ValueError(f"parameters {low!r}..{high!r} are not a valid range")
    return lo, hi


def _counter(
    check_id: str, low: str, high: str, count: Callable[[str], int]
) -> Callable[[Mapping[str, Any]], Check]:
    def build(params: Mapping[str, Any]) -> Check:
        lo, hi = _bounds(params, low, high)
        negate = bool(param(params, "not", bool, False))

        async def run(text: str, ctx: HookContext) -> Verdict:
            n = count(text)
            return Verdict((lo <= n <= hi) != negate, {"count": n, low: lo, high: hi})

        return Check(check_id, run)

    return build


word_count = _counter("default.wordCount", "minWords", "maxWords", lambda t: len(t.split()))
character_count = _counter("default.characterCount", "minCharacters", "maxCharacters", len)
sentence_count = _counter(
    "default.sentenceCount",
    "minSentences",
    "maxSentences",
    lambda t: sum(1 for s in SENTENCE.findall(t) if s.strip()),
)


def token_count(params: Mapping[str, Any]) -> Check:
    """Approximate tokens (4 characters each, as the fake and most estimators count)."""
    return _counter("default.tokenCount", "minTokens", "maxTokens", lambda t: (len(t) + 3) // 4)(
        params
    )


def contains_code(params: Mapping[str, Any]) -> Check:
    """Passes when the text contains code (fenced, or code-like lines); ``not`` inverts."""
    negate = bool(param(params, "not", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        fences = [m.group(1) or "unknown" for m in FENCE.finditer(text)]
        has = bool(fences) or CODE_HINTS.search(text) is not None
        return Verdict(has != negate, {"containsCode": has, "languages": fences})

    return Check("default.containsCode", run, early=negate)
