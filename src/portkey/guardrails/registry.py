"""The check registry: Portkey check ids -> builders that compile a check from its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portkey.guardrails.base import Check, CheckBuilder
from portkey.guardrails.checks import (
    json_checks,
    judge,
    language,
    pii,
    secrets,
    text,
    urls,
    webhook,
)

CHECKS: Mapping[str, CheckBuilder] = {
    "default.regexMatch": text.regex_match,
    "default.contains": text.contains,
    "default.wordCount": text.word_count,
    "default.characterCount": text.character_count,
    "default.sentenceCount": text.sentence_count,
    "default.tokenCount": text.token_count,
    "default.containsCode": text.contains_code,
    "default.validJson": json_checks.valid_json,
    "default.jsonKeys": json_checks.json_keys,
    "default.jsonSchema": json_checks.json_schema,
    "default.validUrls": urls.valid_urls,
    "default.pii": pii.pii,
    "portkey.pii": pii.pii,
    "default.secrets": secrets.secrets,
    "default.webhook": webhook.webhook,
    "default.language": language.language,
    "portkey.language": language.language,
    "default.llmJudge": judge.llm_judge,
    "default.moderation": judge.moderation,
    "portkey.moderateContent": judge.moderation,
}


def build(check_id: str, params: Mapping[str, Any]) -> Check:
    """Compile one check; an unknown id or a bad parameter raises ValueError naming it."""
    builder = CHECKS.get(check_id)
    if builder is None:
        raise ValueError(f"unknown check {check_id!r}; known: {', '.join(sorted(CHECKS))}")
    try:
        check = builder(params)
    except ValueError as exc:
        raise ValueError(f"{check_id}: {exc}") from exc
    return Check(check_id, check.run, check.early, check.masks)
