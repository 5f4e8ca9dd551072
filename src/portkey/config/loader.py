"""Load portkey.yaml: YAML with line numbers, ``${ENV}`` interpolation, strict validation.

Every error names the file, line and dotted path of the value that caused it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from portkey.config.models import PortkeyFile

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class ConfigError(ValueError):
    """A config that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {source}: {issue}" for issue in issues)
        super().__init__(f"invalid config {source}:\n{lines}")


def format_loc(loc: Loc) -> str:
    """('targets', 1, 'retry') -> 'targets[1].retry'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def issues_from_validation(
    exc: ValidationError, lines: Mapping[Loc, int] | None = None
) -> list[Issue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _nearest_line(loc, lines) if lines else None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        issues.append(Issue(format_loc(loc), message, line))
    return issues


def _nearest_line(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _interpolate(value: str, env: Mapping[str, str], where: str, loc: Loc, line: int) -> str:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        issue = Issue(format_loc(loc), f"environment variable {name} is not set", line)
        raise ConfigError(where, [issue])

    return ENV_PATTERN.sub(sub, value)


def _walk(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], env: Mapping[str, str], src: str
) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _walk(value_node, (*loc, str(key_node.value)), lines, env, src)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines, env, src)
    elif isinstance(node, yaml.ScalarNode) and "${" in node.value:
        node.value = _interpolate(node.value, env, src, loc, lines[loc])


def parse_yaml(
    text: str, source: str, env: Mapping[str, str] | None = None
) -> tuple[Any, dict[Loc, int]]:
    """YAML text -> (plain data with env interpolated, {path: line})."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [Issue("", f"not valid YAML: {exc}", line)]) from exc
    if node is None:
        return {}, {}
    lines: dict[Loc, int] = {}
    _walk(node, (), lines, os.environ if env is None else env, source)
    data = yaml.SafeLoader("").construct_document(node)
    return data, lines


def load_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> PortkeyFile:
    data, lines = parse_yaml(text, source, env)
    if data is None:  # an empty document ("---" alone) means defaults, like an empty file
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [Issue("", "the file must hold a mapping at the top level", 1)])
    try:
        parsed = PortkeyFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, issues_from_validation(exc, lines)) from exc
    _check_compiles(parsed, source, lines)
    return parsed


def _check_compiles(parsed: PortkeyFile, source: str, lines: Mapping[Loc, int]) -> None:
    """Compile every named config now so a bad reference fails at load, not per request."""
    from portkey.gateway.compiler import CompileError, compile_config

    issues = []
    for name, config in parsed.configs.items():
        try:
            compile_config(config, parsed)
        except CompileError as exc:
            loc: Loc = ("configs", name, *exc.loc)
            issues.append(Issue(format_loc(loc), exc.message, _nearest_line(loc, lines)))
    if issues:
        raise ConfigError(source, issues)


def load_file(path: str | Path, env: Mapping[str, str] | None = None) -> PortkeyFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Issue("", f"cannot read file: {exc.strerror}")]) from exc
    return load_text(text, str(path), env)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of portkey.yaml (``portkey config schema`` prints it)."""
    schema = PortkeyFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "portkey.yaml"
    return schema
