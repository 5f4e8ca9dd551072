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

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
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


def _regex_spans(text: str, kinds: frozenset[str]) -> list[Span]:
    spans: list[Span] = []
    if "SECRET" in kinds:
        spans += [Span("SECRET", s, e) for s, e in find_secrets(text)]
    if "EMAIL" in kinds:
        spans += [Span("EMAIL", m.start(), m.end()) for m in EMAIL.finditer(text)]
    if "IBAN" in kinds:
        spans += [Span("IBAN", m.start(), m.end()) for m in IBAN.finditer(text) if iban_ok(m[0])]
    if "CREDIT_CARD" in kinds:
        for m in CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn(digits):
                spans.append(Span("CREDIT_CARD", m.start(), m.end()))
    if "SSN" in kinds:
        spans += [Span("SSN", m.start(), m.end()) for m in SSN.finditer(text)]
    if "IP_ADDRESS" in kinds:
        for pattern in (IPV4, IPV6):
            spans += [Span("IP_ADDRESS", m.start(), m.end()) for m in pattern.finditer(text)
                      if _ip_ok(m.group(0))]  # fmt: skip
    return spans


def find(text: str, kinds: frozenset[str] = frozenset(KINDS), region: str = "US") -> list[Span]:
    """Non-overlapping PII spans, in text order; earlier kinds in ``KINDS`` win overlaps."""
    spans = _regex_spans(text, kinds)
    if "PHONE" in kinds and any(c.isdigit() for c in text):
        for m in phonenumbers.PhoneNumberMatcher(text, region):
            spans.append(Span("PHONE", m.start, m.end))
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
        if redact:
            return Verdict(True, data, text=masks_of(ctx).mask(text, spans))
        return Verdict(False, data)

    return Check("default.pii", run, early=not redact, masks=redact)


def masks_of(ctx: HookContext) -> Masks:
    masks: Masks | None = getattr(ctx, "masks", None)
    if masks is None:
        masks = Masks()
        ctx.masks = masks  # type: ignore[attr-defined]
    return masks
