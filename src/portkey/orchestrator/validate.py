"""Read-only by construction: parse once with sqlglot and reject anything but a query.

Only SELECT, WITH and set operations (UNION/INTERSECT/EXCEPT) pass. Rejected, with the
reason, before any engine is contacted: input that does not parse, more than one statement,
DDL/DML anywhere in the tree (also inside a CTE), ``COPY``/``CALL``/``PRAGMA``/``SET``,
``SELECT ... INTO`` and locking reads, functions with side effects, and comments that hide
a statement (MySQL's executable ``/*! ... */`` or a comment holding SQL keywords of a write).
The parsed tree, never the user's text, is what the planner sends on (without comments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from portkey.orchestrator.errors import QueryRejected

#: the dialect queries are written in unless the request says otherwise
DEFAULT_DIALECT = "duckdb"

_WRITE_TOKENS = frozenset(
    {
        TokenType.INSERT,
        TokenType.UPDATE,
        TokenType.DELETE,
        TokenType.MERGE,
        TokenType.CREATE,
        TokenType.DROP,
        TokenType.ALTER,
        TokenType.TRUNCATE,
        TokenType.COPY,
        TokenType.GRANT,
        TokenType.REVOKE,
        TokenType.INTO,
        TokenType.LOCK,
        TokenType.SET,
        TokenType.COMMAND,
        TokenType.EXECUTE,
        TokenType.REPLACE,
        TokenType.ATTACH,
        TokenType.DETACH,
        TokenType.PRAGMA,
        TokenType.INSTALL,
        TokenType.LOAD,
        TokenType.COMMIT,
        TokenType.ROLLBACK,
        TokenType.BEGIN,
        TokenType.USE,
        TokenType.RETURNING,
    }
)

_WRITE_NODES: tuple[type[exp.Expr], ...] = (
    exp.DML,
    exp.DDL,
    exp.Command,
    exp.Copy,
    exp.Into,
    exp.Lock,
    exp.Set,
    exp.Pragma,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Returning,
)

#: functions that change state, sleep, read files or reach out of the engine
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "sleep",
        "benchmark",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "set_config",
        "nextval",
        "setval",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_try_advisory_lock",
        "dblink",
        "dblink_exec",
        "load_file",
        "get_lock",
        "release_lock",
        "sys_exec",
        "sys_eval",
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "read_json",
        "read_json_auto",
        "read_text",
        "read_blob",
        "glob",
        "load_extension",
        "writefile",
        "readfile",
        "fts_main",
        "query",
        "query_table",
        "getenv",
    }
)

_QUERY_ROOTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation)


def _reject(reason: str, code: str = "not_read_only") -> QueryRejected:
    return QueryRejected(f"query rejected: {reason}", code=code, param="sql")


def _check_comments(sql: str, dialect: str) -> list[Any]:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except TokenError as exc:
        raise _reject(f"does not tokenize: {exc}", "invalid_sql") from exc
    for token in tokens:
        for comment in token.comments:
            text = comment.strip()
            if text.startswith(("!", "+")):
                raise _reject("executable or hint comments (/*! */, /*+ */) are not allowed")
            try:
                inner = sqlglot.tokenize(text, read=dialect)
            except TokenError:
                continue
            if any(t.token_type in _WRITE_TOKENS for t in inner):
                raise _reject(f"a comment hides a statement: {text[:80]!r}")
        if token.token_type in _WRITE_TOKENS:
            raise _reject(f"{token.text.upper()} is not allowed: only SELECT/WITH queries run")
    return tokens


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def parse_read_only(sql: str, dialect: str = DEFAULT_DIALECT) -> exp.Query:
    """The one statement of ``sql`` if it is a read-only query; QueryRejected otherwise."""
    if not sql.strip():
        raise _reject("empty query", "invalid_sql")
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as exc:
        raise QueryRejected(
            f"unknown SQL dialect {dialect!r}", code="unknown_dialect", param="dialect"
        ) from exc
    _check_comments(sql, dialect)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, col {first.get('col')})" if first else ""
        reason = first.get("description", exc)
        raise _reject(f"does not parse{where}: {reason}", "invalid_sql") from exc
    if len(statements) != 1:
        raise _reject(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _QUERY_ROOTS):
        raise _reject(f"{type(tree).__name__.upper()} is not a query: only SELECT/WITH run")
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            raise _reject(f"{type(node).__name__.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func) and _function_name(node) in SIDE_EFFECT_FUNCTIONS:
            raise _reject(f"function {_function_name(node)}() has side effects", "side_effect")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            raise _reject("table functions are not allowed in FROM", "side_effect")
    assert isinstance(tree, exp.Query)
    return tree


def _literal(value: Any) -> exp.Expr:
    if value is None or isinstance(value, bool | int | float | str):
        return exp.convert(value)
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "timestamp")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "date")
    raise _reject(f"parameter of type {type(value).__name__} is not supported", "invalid_params")


def bind_params(tree: exp.Query, params: Sequence[Any] | Mapping[str, Any] | None) -> exp.Query:
    """Replace ``?``/``$1``/``:name`` placeholders by literals; every one must be bound."""
    holders = [n for n in tree.walk() if isinstance(n, exp.Placeholder | exp.Parameter)]
    if not holders:
        if params:
            raise _reject("params given but the query has no placeholders", "invalid_params")
        return tree
    positional = 0
    for node in holders:
        name = node.name if isinstance(node, exp.Placeholder) else node.this.name
        if isinstance(params, Mapping):
            if name not in params:
                raise _reject(f"parameter :{name} is not bound", "invalid_params")
            value = params[name]
        else:
            seq = list(params or [])
            index = int(name) - 1 if name.isdigit() else positional
            positional += 1
            if not 0 <= index < len(seq):
                raise _reject(f"placeholder {index + 1} is not bound", "invalid_params")
            value = seq[index]
        node.replace(_literal(value))
    return tree
