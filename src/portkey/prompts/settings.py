"""The ``prompts:`` and ``prompt_partials:`` sections of portkey.yaml (prompts as code).

Each entry is the current content of one prompt. On start (and on reload) the gateway
stores it as a new immutable version when it differs from the newest stored one, and moves
the listed ``labels`` (default ``production``) to it. The admin API can add versions and
move labels too; a request names ``id``, ``id@<version>`` or ``id@<label>`` and otherwise
gets ``production`` (or, with ``ab``, a label drawn by weight, the same one for the same
user or session).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from portkey.config.routing import Strict

PROMPT_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
LABEL = r"[A-Za-z][A-Za-z0-9_-]{0,63}"


class PromptMessage(Strict):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str


class PromptContent(Strict):
    """What a version holds: messages (or one ``template``: a user message), model, params."""

    messages: list[PromptMessage] | None = None
    template: str | None = None
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_body(self) -> PromptContent:
        if (self.messages is None) == (self.template is None):
            raise ValueError("give either 'messages' or 'template'")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' must not be empty")
        for reserved in ("messages", "model", "stream", "prompt"):
            if reserved in self.params:
                raise ValueError(f"params.{reserved} is not a parameter (set it elsewhere)")
        return self

    def chat(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.template or ""}]


class PromptDef(PromptContent):
    """A prompt in portkey.yaml."""

    labels: list[str] = Field(default_factory=lambda: ["production"])
    #: a ``configs:`` entry to route with when the request names no route of its own
    config: str | None = None
    #: A/B split: label -> weight; requests that pin no version or label draw one
    ab: dict[str, float] | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if not re.fullmatch(LABEL, label):
                raise ValueError(f"invalid label {label!r}")
        return labels

    @field_validator("ab")
    @classmethod
    def _weights(cls, ab: dict[str, float] | None) -> dict[str, float] | None:
        if ab is None:
            return None
        if not ab or any(w < 0 for w in ab.values()) or sum(ab.values()) <= 0:
            raise ValueError("ab needs label weights >= 0 with a positive sum")
        for label in ab:
            if not re.fullmatch(LABEL, label):
                raise ValueError(f"invalid label {label!r}")
        return ab

    def content(self) -> PromptContent:
        return PromptContent.model_validate(
            self.model_dump(include={"messages", "template", "model", "params"}, exclude_none=True)
        )


def check_prompts(
    prompts: dict[str, PromptDef], partials: dict[str, str], configs: set[str]
) -> None:
    """Every prompt id is valid, its templates parse, its partials and config exist."""
    from portkey.prompts.template import TemplateError, check

    for name, text in partials.items():
        if not re.fullmatch(PROMPT_ID, name):
            raise ValueError(f"prompt_partials: invalid name {name!r}")
        try:
            check(text, partials)
        except TemplateError as exc:
            raise ValueError(f"prompt_partials.{name}: {exc}") from exc
    for prompt_id, spec in prompts.items():
        if not re.fullmatch(PROMPT_ID, prompt_id):
            raise ValueError(f"prompts: invalid prompt id {prompt_id!r}")
        for i, message in enumerate(spec.chat()):
            try:
                check(message["content"], partials)
            except TemplateError as exc:
                where = "template" if spec.template is not None else f"messages[{i}].content"
                raise ValueError(f"prompts.{prompt_id}.{where}: {exc}") from exc
        if spec.config is not None and spec.config not in configs:
            raise ValueError(f"prompts.{prompt_id}.config: no config named {spec.config!r}")
