"""Language check: the text must be (or, with ``not: true``, must not be) in listed languages.

Detection is py3langid's model, which ships in its wheel (offline); it is loaded once, on
the first config that uses the check, never per request. Texts shorter than ``minChars``
(default 12) pass: a few words do not say which language they are in.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from portkey.guardrails.base import Check, HookContext, Verdict, param, str_list


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's language."""
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


def known_languages() -> frozenset[str]:
    return frozenset(_identifier().labels)


def language(params: Mapping[str, Any]) -> Check:
    wanted = [c.lower() for c in str_list(params, "language")]
    if not wanted:
        raise ValueError("parameter 'language' must list ISO 639-1 codes, e.g. [en, fr]")
    unknown = sorted(set(wanted) - known_languages())
    if unknown:
        raise ValueError(f"parameter 'language': unknown language code(s) {unknown}")
    negate = bool(param(params, "not", bool, False))
    min_chars = param(params, "minChars", int, 12)

    async def run(text: str, ctx: HookContext) -> Verdict:
        if len(text.strip()) < min_chars:
            return Verdict(True, {"detectedLanguage": None, "reason": "text too short to tell"})
        lang, prob = detect(text)
        data = {"detectedLanguage": lang, "confidence": round(prob, 3), "language": wanted}
        return Verdict((lang in wanted) != negate, data)

    return Check("default.language", run)
