"""PII: find emails, phones, cards (Luhn), IBANs (mod 97), SSNs, IPs and secrets; mask them.

``find`` returns non-overlapping spans. Masking replaces each span with ``[KIND_n]``; the
mapping is kept per request (``Masks``) so an answer can be de-masked for the caller.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from portkey.guardrails.base import Check, HookContext, Verdict, param, str_list
from portkey.guardrails.checks.secrets import find_secrets

#: internationalised addresses too (RFC 6531): letters of any script in both parts
EMAIL = re.compile(r"(?<![\w.+'-])[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
#: 123-45-6789 or 123 45 6789 (one separator throughout); 9 bare digits only after "SSN"
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
SSN_BARE = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?!\d)")
SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\W{0,3}$")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
KINDS = ("SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "SSN", "IP_ADDRESS", "PHONE")


@dataclass(frozen=True, slots=True)
class Span:
    kind: str
    start: int
    end: int


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


#: a run of digits with the separators phones, cards, SSNs and IPv4s use; the slower
#: matchers only look inside runs that have enough digits (most prompts have none). It
#: starts with a digit so that the regex engine can skip ahead to candidates quickly.
RUN = re.compile(r"\d[\d \t().\-/]*\d\)?")
DIGIT = re.compile(r"\d")
IBAN_HINT = re.compile(r"[A-Z]{2}\d\d")
Run = tuple[int, int, int]  # (start, end, digits)


def _runs(text: str) -> list[Run]:
    runs: list[Run] = []
    for m in RUN.finditer(text):
        start = m.start()
        while start > 0 and text[start - 1] in "+(":  # "+1 ...", "(415) ...", "+(44) ..."
            start -= 1
        runs.append((start, m.end(), len(DIGIT.findall(m.group(0)))))
    return runs


def _in_runs(
    text: str, pattern: re.Pattern[str], runs: list[tuple[int, int]]
) -> list[re.Match[str]]:
    """Matches of ``pattern`` inside the runs (lookarounds still see the whole text)."""
    out: list[re.Match[str]] = []
    for start, end in runs:
        out += pattern.finditer(text, max(0, start - 1), min(len(text), end + 1))
    return out


def _digit_spans(text: str, kinds: frozenset[str], runs: list[Run]) -> list[Span]:
    spans: list[Span] = []
    if "CREDIT_CARD" in kinds:
        for m in _in_runs(text, CARD, [(s, e) for s, e, n in runs if n >= 13]):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn(digits):
                spans.append(Span("CREDIT_CARD", m.start(), m.end()))
    if "SSN" in kinds:
        nine = [(s, e) for s, e, n in runs if n >= 9]
        spans += [Span("SSN", m.start(), m.end()) for m in _in_runs(text, SSN, nine)]
        spans += [Span("SSN", m.start(), m.end()) for m in _in_runs(text, SSN_BARE, nine)
                  if SSN_CONTEXT.search(text, max(0, m.start() - 30), m.start())]  # fmt: skip
    if "IP_ADDRESS" in kinds:
        dotted = [(s, e) for s, e, n in runs if n >= 4 and text.count(".", s, e) >= 3]
        spans += [Span("IP_ADDRESS", m.start(), m.end()) for m in _in_runs(text, IPV4, dotted)
                  if _ip_ok(m.group(0))]  # fmt: skip
    return spans


def _phones(text: str, region: str, runs: list[Run]) -> list[Span]:
    """Phone numbers (libphonenumber's matcher), looked for only around runs of 7+ digits."""
    spans: list[Span] = []
    for start, end, n in runs:
        if n < 7:
            continue
        lo, hi = max(0, start - 1), min(len(text), end + 1)
        for found in phonenumbers.PhoneNumberMatcher(text[lo:hi], region):
            spans.append(Span("PHONE", lo + found.start, lo + found.end))
    return spans


def _regex_spans(text: str, kinds: frozenset[str]) -> list[Span]:
    spans: list[Span] = []
    if "SECRET" in kinds and ("-----BEGIN" in text or max(map(len, text.split()), default=0) >= 15):
        spans += [Span("SECRET", s, e) for s, e in find_secrets(text)]
    if "EMAIL" in kinds and "@" in text:
        spans += [Span("EMAIL", m.start(), m.end()) for m in EMAIL.finditer(text)]
    if "IBAN" in kinds and IBAN_HINT.search(text):
        spans += [Span("IBAN", m.start(), m.end()) for m in IBAN.finditer(text) if iban_ok(m[0])]
    if "IP_ADDRESS" in kinds and text.count(":") >= 2:
        spans += [Span("IP_ADDRESS", m.start(), m.end()) for m in IPV6.finditer(text)
                  if _ip_ok(m.group(0))]  # fmt: skip
    return spans


def find(text: str, kinds: frozenset[str] = frozenset(KINDS), region: str = "US") -> list[Span]:
    """Non-overlapping PII spans, in text order; earlier kinds in ``KINDS`` win overlaps."""
    spans = _regex_spans(text, kinds)
    if kinds & {"CREDIT_CARD", "SSN", "IP_ADDRESS", "PHONE"}:
        runs = [r for r in _runs(text) if r[2] >= 4]
        if runs:
            spans += _digit_spans(text, kinds, runs)
            if "PHONE" in kinds:
                spans += _phones(text, region, runs)
    rank = {k: i for i, k in enumerate(KINDS)}
    spans.sort(key=lambda s: (rank[s.kind], s.start))
    chosen: list[Span] = []
    for span in spans:
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


class Masks:
    """Placeholders handed out in one request: the same value gets the same placeholder."""

    __slots__ = ("by_value", "counts", "originals")

    def __init__(self) -> None:
        self.by_value: dict[str, str] = {}
        self.originals: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def placeholder(self, kind: str, value: str) -> str:
        known = self.by_value.get(value)
        if known is not None:
            return known
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        token = f"[{kind}_{n}]"
        self.by_value[value] = token
        self.originals[token] = value
        return token

    def mask(self, text: str, spans: list[Span]) -> str:
        out, last = [], 0
        for span in spans:
            out.append(text[last : span.start])
            out.append(self.placeholder(span.kind, text[span.start : span.end]))
            last = span.end
        out.append(text[last:])
        return "".join(out)

    def restore(self, text: str) -> str:
        if not self.originals or "[" not in text:
            return text
        for token, value in self.originals.items():
            text = text.replace(token, value)
        return text


def pii(params: Mapping[str, Any]) -> Check:
    """Fails when PII is found; with ``redact: true`` masks it instead (and passes)."""
    wanted = [c.upper() for c in str_list(params, "categories")] or list(KINDS)
    unknown = sorted(set(wanted) - set(KINDS))
    if unknown:
        raise ValueError(f"parameter 'categories': unknown {unknown}; known: {list(KINDS)}")
    kinds = frozenset(wanted)
    redact = bool(param(params, "redact", bool, False))
    region = param(params, "region", str, "US")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"parameter 'region': {region!r} is not a phone region")

    async def run(text: str, ctx: HookContext) -> Verdict:
        spans = find(text, kinds, region)
        data = {"detected": [{"type": s.kind, "start": s.start, "end": s.end} for s in spans]}
        if not spans:
            return Verdict(True, data)
        where = [(s.start, s.end) for s in spans]
        if redact:
            return Verdict(True, data, text=masks_of(ctx).mask(text, spans), spans=where)
        return Verdict(False, data, spans=where)

    return Check("default.pii", run, early=not redact, masks=redact)


def masks_of(ctx: HookContext) -> Masks:
    masks: Masks | None = getattr(ctx, "masks", None)
    if masks is None:
        masks = Masks()
        ctx.masks = masks  # type: ignore[attr-defined]
    return masks
