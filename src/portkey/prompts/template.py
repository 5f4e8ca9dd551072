"""Strict Mustache rendering: every variable must be given, nothing is HTML-escaped.

Parsing is chevron's tokenizer (the Mustache spec: variables, sections, inverted sections,
partials, comments, set-delimiters). Rendering is ours, for two reasons: a missing variable
is an error that names it (chevron renders it empty), and prompts are not HTML, so
``{{name}}`` is inserted as it is (as ``{{{name}}}`` would be).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chevron.tokenizer import ChevronError, tokenize

from portkey.errors import InvalidRequest

Token = tuple[str, str]
MAX_PARTIAL_DEPTH = 8


class TemplateError(ValueError):
    """A template that does not parse (unclosed section, unknown partial, ...)."""


class MissingVariables(InvalidRequest):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(
            f"missing prompt variable(s): {', '.join(self.names)}",
            param="variables",
            code="missing_variables",
        )


def parse(template: str) -> list[Token]:
    try:
        return list(tokenize(template))
    except (ChevronError, SyntaxError) as exc:
        raise TemplateError(f"invalid Mustache template: {exc}") from exc


def check(template: str, partials: Mapping[str, str]) -> None:
    """Raise TemplateError when the template (or a partial it uses) does not parse."""
    for kind, name in parse(template):
        if kind == "partial" and name not in partials:
            raise TemplateError(f"unknown partial {name!r}")


def _lookup(name: str, scopes: Sequence[Any]) -> tuple[bool, Any]:
    if name == ".":
        return True, scopes[-1]
    head, *rest = name.split(".")
    for scope in reversed(scopes):
        if isinstance(scope, Mapping) and head in scope:
            value = scope[head]
            for part in rest:
                if not isinstance(value, Mapping) or part not in value:
                    return False, None
                value = value[part]
            return True, value
    return False, None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _section(tokens: list[Token], i: int, name: str) -> tuple[list[Token], int]:
    """The tokens inside the section opened just before ``i``, and the index after its end."""
    depth, j = 0, i
    while j < len(tokens):
        kind, key = tokens[j]
        if kind in ("section", "inverted section") and key == name:
            depth += 1
        elif kind == "end" and key == name:
            if depth == 0:
                return tokens[i:j], j + 1
            depth -= 1
        j += 1
    raise TemplateError(f"section {name!r} is not closed")


class _Renderer:
    def __init__(self, partials: Mapping[str, str]) -> None:
        self.partials = partials
        self.missing: list[str] = []

    def render(self, tokens: list[Token], scopes: list[Any], depth: int = 0) -> Iterator[str]:
        i = 0
        while i < len(tokens):
            kind, name = tokens[i]
            i += 1
            if kind == "literal":
                yield name
            elif kind in ("variable", "no escape"):
                found, value = _lookup(name, scopes)
                if not found:
                    self.missing.append(name)
                else:
                    yield _text(value)
            elif kind in ("section", "inverted section"):
                inner, i = _section(tokens, i, name)
                yield from self._section(kind, name, inner, scopes, depth)
            elif kind == "partial":
                if depth >= MAX_PARTIAL_DEPTH or name not in self.partials:
                    raise TemplateError(f"unknown or too deeply nested partial {name!r}")
                yield from self.render(parse(self.partials[name]), scopes, depth + 1)
            # comments, set-delimiter tokens: nothing to write

    def _section(
        self, kind: str, name: str, inner: list[Token], scopes: list[Any], depth: int
    ) -> Iterator[str]:
        found, value = _lookup(name, scopes)
        if kind == "inverted section":
            if not found or not value:
                yield from self.render(inner, scopes, depth)
        elif not found:
            self.missing.append(name)
        elif isinstance(value, list):
            for item in value:
                yield from self.render(inner, [*scopes, item], depth)
        elif value:
            pushed = [*scopes, value] if isinstance(value, Mapping) else scopes
            yield from self.render(inner, pushed, depth)


def render(template: str, variables: Mapping[str, Any], partials: Mapping[str, str]) -> str:
    """The rendered text; raises MissingVariables naming every variable not given."""
    renderer = _Renderer(partials)
    out = "".join(renderer.render(parse(template), [variables]))
    if renderer.missing:
        raise MissingVariables(renderer.missing)
    return out


def variables_of(template: str, partials: Mapping[str, str]) -> list[str]:
    """Top-level names the template (and its partials) read, in order of first use."""
    names: list[str] = []
    depth = 0
    for kind, name in parse(template):
        if kind in ("section", "inverted section"):
            if depth == 0 and name not in names:
                names.append(name.split(".")[0])
            depth += 1
        elif kind == "end":
            depth -= 1
        elif kind in ("variable", "no escape") and depth == 0 and name != ".":
            if name.split(".")[0] not in names:
                names.append(name.split(".")[0])
        elif kind == "partial" and name in partials:
            names += [n for n in variables_of(partials[name], partials) if n not in names]
    return names
