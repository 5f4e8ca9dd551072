"""The prompt registry held in memory: versions, labels, partials; resolves a request's ref.

A ``Registry`` is an immutable snapshot built from the store; ``PromptService`` swaps it
whole when the store's prompt revision moves (each replica polls it), so a request only
reads a dict. ``resolve`` takes ``id``, ``id@<version>``, ``id@latest`` or ``id@<label>``;
with no pin it serves ``production`` (else the newest version), or draws a label by the
prompt's ``ab`` weights, deterministically per user/session id from the metadata.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from portkey.errors import NotFound
from portkey.prompts.settings import PromptContent, PromptDef
from portkey.prompts.store import StoredState
from portkey.prompts.template import MissingVariables, render

DEFAULT_LABEL = "production"
#: metadata keys that identify who is asking, in the order they are looked for
STICKY_KEYS = ("_user", "user", "user_id", "session_id", "session", "_session")


@dataclass(frozen=True, slots=True)
class PromptVersion:
    prompt_id: str
    version: int
    content: PromptContent
    created_at: float
    note: str | None = None

    def body(self, variables: Mapping[str, Any], partials: Mapping[str, str]) -> dict[str, Any]:
        """The chat completion body (messages, model, params) with the variables filled in."""
        messages, missing = [], []
        for message in self.content.chat():
            try:
                text = render(message["content"], variables, partials)
            except MissingVariables as exc:  # name every missing variable, in every message
                missing += exc.names
                continue
            messages.append({"role": message["role"], "content": text})
        if missing:
            raise MissingVariables(missing)
        body: dict[str, Any] = {**self.content.params, "messages": messages}
        if self.content.model:
            body["model"] = self.content.model
        return body


@dataclass(frozen=True, slots=True)
class Resolved:
    version: PromptVersion
    label: str | None  # the label served (drawn by A/B or asked for), if one
    variant: bool = False  # the label was drawn by the A/B split


def bucket(key: str) -> float:
    """A stable number in [0, 1) for a key (same key, same bucket, in every replica)."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def draw(weights: Mapping[str, float], key: str | None) -> str:
    total = sum(weights.values())
    point = (bucket(key) if key is not None else random.random()) * total
    running = 0.0
    for label, weight in weights.items():
        running += weight
        if point < running:
            return label
    return next(reversed(list(weights)))


@dataclass(frozen=True, slots=True)
class Registry:
    versions: dict[str, dict[int, PromptVersion]] = field(default_factory=dict)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    partials: dict[str, str] = field(default_factory=dict)
    defs: Mapping[str, PromptDef] = field(default_factory=dict)
    revision: int = -1

    @classmethod
    def build(cls, state: StoredState, defs: Mapping[str, PromptDef]) -> Registry:
        versions: dict[str, dict[int, PromptVersion]] = {}
        for row in state.versions:
            try:
                content = PromptContent.model_validate(row.content)
            except ValidationError:
                continue  # a row written by a newer release: not served, never crashes
            versions.setdefault(row.prompt_id, {})[row.version] = PromptVersion(
                row.prompt_id, row.version, content, row.created_at, row.note
            )
        return cls(versions, state.labels, state.partials, defs, state.revision)

    def resolve(self, ref: str, metadata: Mapping[str, str]) -> Resolved:
        prompt_id, _, pin = ref.partition("@")
        versions = self.versions.get(prompt_id)
        if not versions:
            raise NotFound(f"no prompt {prompt_id!r}", param="prompt_id", code="prompt_not_found")
        labels = self.labels.get(prompt_id, {})
        if pin.isdigit():
            version = versions.get(int(pin))
            if version is None:
                raise NotFound(f"prompt {prompt_id!r} has no version {pin}", param="prompt_id")
            return Resolved(version, None)
        if pin == "latest":
            return Resolved(versions[max(versions)], None)
        if pin:
            return Resolved(self._labelled(prompt_id, pin, versions, labels), pin)
        spec = self.defs.get(prompt_id)
        if spec is not None and spec.ab:
            sticky = next((metadata[k] for k in STICKY_KEYS if metadata.get(k)), None)
            label = draw(spec.ab, f"{prompt_id}:{sticky}" if sticky is not None else None)
            return Resolved(self._labelled(prompt_id, label, versions, labels), label, True)
        if DEFAULT_LABEL in labels:
            return Resolved(versions[labels[DEFAULT_LABEL]], DEFAULT_LABEL)
        return Resolved(versions[max(versions)], None)

    @staticmethod
    def _labelled(
        prompt_id: str, label: str, versions: dict[int, PromptVersion], labels: dict[str, int]
    ) -> PromptVersion:
        number = labels.get(label)
        if number is None or number not in versions:
            raise NotFound(f"prompt {prompt_id!r} has no label {label!r}", param="prompt_id")
        return versions[number]
