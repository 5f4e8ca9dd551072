"""What each engine's dialect can be trusted to run: expressions sqlglot would mistranslate.

sqlglot transpiles most expressions but silently rewrites some into something else (DuckDB's
``ARRAY_AGG`` becomes MySQL's ``GROUP_CONCAT``; ``EXTRACT`` and ``INTERVAL`` arithmetic have
no SQLite form). A subtree holding one of these node types is not pushed to that engine: it
stays in the local DuckDB step instead. This table is data; add an engine by adding a row.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

_ARRAYS: tuple[type[exp.Expr], ...] = (
    exp.ArrayAgg,
    exp.Array,
    exp.Lambda,
    exp.ArrayFilter,
    exp.ArraySize,
    exp.Unnest,
    exp.Explode,
    exp.ArrayContains,
)

NOT_PUSHABLE: dict[str, tuple[type[exp.Expr], ...]] = {
    "duckdb": (),
    "postgres": (exp.Lambda, exp.ArrayFilter),
    "trino": (exp.ApproxDistinct,),
    # ClickHouse's uniq/quantile are other algorithms; its correlated subqueries are partial
    "clickhouse": (exp.ApproxDistinct, exp.Quantile, exp.Median),
    "mysql": (*_ARRAYS, exp.ApproxDistinct, exp.Quantile, exp.Median),
    "sqlite": (
        *_ARRAYS,
        exp.Extract,
        exp.Interval,
        exp.DateAdd,
        exp.DateSub,
        exp.DateDiff,
        exp.DateTrunc,
        exp.ApproxDistinct,
        exp.Quantile,
        exp.Median,
        exp.StddevPop,
        exp.StddevSamp,
        exp.Stddev,
        exp.Variance,
        exp.VariancePop,
        exp.RegexpLike,
    ),
}


def pushable(node: exp.Expr, dialect: str) -> bool:
    """True when ``node`` can run on an engine of ``dialect`` with its meaning intact."""
    banned = NOT_PUSHABLE.get(dialect, ())
    if banned and any(isinstance(n, banned) for n in node.walk()):
        return False
    try:
        node.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError:
        return False
    return True
