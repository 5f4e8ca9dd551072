"""Hand-written splits of the 22 TPC-H queries for the orchestrator bench's table placement.

DuckDB ``duck`` holds lineitem and orders, PostgreSQL ``pg`` customer, nation and region,
MariaDB ``my`` part and partsupp, SQLite ``lite`` supplier (``tests/orchestrator/tpch.py``).
Each split is what a careful engineer would send by hand: per engine SQL with its
projections, filters, pre-aggregation and joins of co-located tables, run in sequence so a
later statement can carry key lists taken from an earlier answer, and DuckDB steps here
(``local``) that combine the answers.

A split is written as SQL blocks, each headed ``-- <name> @ <engine>`` (``ships a, b``: those
earlier answers are loaded into temporary tables of that engine first). In a block,
``{pg}``/``{my}`` are the PostgreSQL schema and the MariaDB database, ``{shipped[a]}`` the
temporary table holding answer ``a``, and ``{a.col}`` the distinct values of column ``col``
of answer ``a`` as a SQL list (``NULL`` when there are none); ``{a.col:not_in x}`` is
``x NOT IN (<list>)`` (``TRUE`` when empty) and ``{a.col:case x by g}`` maps keys to groups:
``CASE WHEN x IN (<keys whose g is g1>) THEN g1 ... END``. The last block's answer is the
split's answer.

Moved data is counted as the executor counts our plan's fragments (``FragmentStats``): the
Arrow rows and bytes of every engine's answer (``Fetched``) plus what is shipped into its
temporary tables (``Shipment``); key lists inside the SQL text are not counted, as for our
plan's IN-lists. Splits marked ``foreign_keys`` rely on TPC-H's referential integrity (every
order's customer, every lineitem's part and supplier exist) to aggregate or cut to the top N
before the join that would only confirm it: no catalog tells our planner that.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from portkey.orchestrator.engines import Engine
from portkey.orchestrator.shipping import ship_rows

#: a step run by this process's DuckDB over the earlier answers (nothing moves)
LOCAL = "local"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _sql_list(values: Sequence[Any]) -> str:
    """``1, 2, 3``; ``NULL`` for none (``x IN (NULL)`` holds for no row)."""
    return ", ".join(_literal(v) for v in values) if values else "NULL"


@dataclass(frozen=True, slots=True)
class _Column:
    """One column of an earlier answer, as a template formats it (``{a.col:spec}``)."""

    table: pa.Table
    name: str

    def keys(self) -> str:
        return _sql_list(sorted(pc.unique(self.table.column(self.name).drop_null()).to_pylist()))

    def case(self, column: str, by: str) -> str:
        groups: dict[Any, set[Any]] = {}
        pairs = zip(
            self.table.column(self.name).to_pylist(), self.table.column(by).to_pylist(), strict=True
        )
        for key, group in pairs:
            if key is not None and group is not None:
                groups.setdefault(group, set()).add(key)
        arms = [
            f"WHEN {column} IN ({_sql_list(sorted(keys))}) THEN {_literal(group)}"
            for group, keys in sorted(groups.items())
        ]
        return f"CASE {' '.join(arms)} END" if arms else "NULL"

    def __format__(self, spec: str) -> str:
        op, _, rest = spec.partition(" ")
        if not spec:
            return self.keys()
        if op == "not_in":
            keys = self.keys()
            return "TRUE" if keys == "NULL" else f"{rest} NOT IN ({keys})"
        if op == "case":
            column, _, by = rest.partition(" by ")
            return self.case(column, by)
        raise ValueError(f"unknown template spec {spec!r}")


class _Answer:
    """An earlier step's answer: ``{a.col}`` in a template."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __getattr__(self, column: str) -> _Column:
        return _Column(self._table, column)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    #: engine name of the bench's deployment, or ``LOCAL``
    engine: str
    #: the SQL in the engine's dialect, a template (see the module's docstring)
    sql: str
    #: earlier answers shipped whole into temporary tables of this engine (moved, counted)
    ships: tuple[str, ...] = ()


_HEAD = re.compile(r"^-- (\w+) @ (\w+)(?: ships ([\w, ]+))?$", re.M)


@dataclass(frozen=True, slots=True)
class HandSplit:
    steps: tuple[Step, ...]
    #: the split relies on TPC-H's foreign keys (see the module's docstring)
    foreign_keys: bool = False
    #: what the split does (one line, for a reader of the report)
    note: str = ""


def split(blocks: str, note: str, *, foreign_keys: bool = False) -> HandSplit:
    """A split from its ``-- name @ engine`` SQL blocks."""
    parts = _HEAD.split(blocks.strip())
    steps = []
    for i in range(1, len(parts), 4):
        name, engine, ships, sql = parts[i : i + 4]
        shipped = tuple(s.strip() for s in ships.split(",")) if ships else ()
        steps.append(Step(name, engine, sql.strip(), shipped))
    return HandSplit(tuple(steps), foreign_keys, note)


@dataclass(slots=True)
class StepRun:
    name: str
    engine: str
    sql: str
    rows: int = 0
    bytes: int = 0
    shipped_rows: int = 0
    shipped_bytes: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class HandRun:
    table: pa.Table
    steps: list[StepRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_moved(self) -> int:
        return sum(s.rows + s.shipped_rows for s in self.steps)

    @property
    def bytes_moved(self) -> int:
        return sum(s.bytes + s.shipped_bytes for s in self.steps)


def _local(sql: str, results: Mapping[str, pa.Table]) -> pa.Table:
    con = duckdb.connect()
    try:
        for name, answer in results.items():
            con.register(name, answer)
        table: pa.Table = con.sql(sql).to_arrow_table()
        return table
    finally:
        con.close()


def run_split(split: HandSplit, engines: Mapping[str, Engine], *, pg: str, my: str) -> HandRun:
    """Run ``split``'s steps in order on ``engines``; every answer and shipment is counted."""
    start = time.perf_counter()
    results: dict[str, pa.Table] = {}
    runs: list[StepRun] = []
    for step in split.steps:
        shipments = [ship_rows(n, results[n]) for n in step.ships]
        answers = {n: _Answer(t) for n, t in results.items()}
        shipped = {s.source: s.name for s in shipments}
        sql = step.sql.format(pg=pg, my=my, shipped=shipped, **answers)
        run = StepRun(step.name, step.engine, sql)
        t0 = time.perf_counter()
        if step.engine == LOCAL:
            results[step.name] = _local(sql, results)
        else:
            fetched = engines[step.engine].fetch(sql, shipments=shipments)
            results[step.name] = fetched.table
            run.rows, run.bytes = fetched.rows, fetched.bytes
            run.shipped_rows = sum(s.rows for s in shipments)
            run.shipped_bytes = sum(s.nbytes for s in shipments)
        run.seconds = time.perf_counter() - t0
        runs.append(run)
    return HandRun(results[split.steps[-1].name], runs, time.perf_counter() - start)


# -- the splits ------------------------------------------------------------------------------
SPLITS: dict[int, HandSplit] = {
    1: split(
        """
-- answer @ duck
SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
  sum(l_extendedprice) AS sum_base_price, sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
  sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
  avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
FROM lineitem WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus
""",
        "lineitem alone: the whole query on DuckDB",
    ),
    2: split(
        """
-- n @ pg
SELECT n_nationkey, n_name FROM {pg}.nation JOIN {pg}.region ON n_regionkey = r_regionkey
WHERE r_name = 'EUROPE'
-- s @ lite
SELECT s_suppkey, s_nationkey FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- p @ my
SELECT p.p_partkey, p.p_mfgr, ps.ps_suppkey
FROM {my}.part p JOIN {my}.partsupp ps ON p.p_partkey = ps.ps_partkey
WHERE p.p_size = 15 AND p.p_type LIKE '%BRASS' AND ps.ps_suppkey IN ({s.s_suppkey})
  AND ps.ps_supplycost = (SELECT min(ps2.ps_supplycost) FROM {my}.partsupp ps2
                          WHERE ps2.ps_partkey = p.p_partkey AND ps2.ps_suppkey IN ({s.s_suppkey}))
-- d @ lite
SELECT s_suppkey, s_acctbal, s_name, s_address, s_phone, s_comment FROM supplier
WHERE s_suppkey IN ({p.ps_suppkey})
-- answer @ local
SELECT d.s_acctbal, d.s_name, n.n_name, p.p_partkey, p.p_mfgr, d.s_address, d.s_phone, d.s_comment
FROM p JOIN d ON d.s_suppkey = p.ps_suppkey JOIN s ON s.s_suppkey = p.ps_suppkey
  JOIN n ON n.n_nationkey = s.s_nationkey
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey LIMIT 100
""",
        "European supplier keys: the min-cost subquery on MariaDB; supplier rows only for "
        "the winners",
    ),
    3: split(
        """
-- c @ pg
SELECT c_custkey FROM {pg}.customer WHERE c_mktsegment = 'BUILDING'
-- answer @ duck
SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
FROM orders JOIN lineitem ON l_orderkey = o_orderkey
WHERE o_custkey IN ({c.c_custkey}) AND o_orderdate < DATE '1995-03-15'
  AND l_shipdate > DATE '1995-03-15'
GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10
""",
        "customer keys only; aggregate, order and LIMIT on DuckDB",
    ),
    4: split(
        """
-- answer @ duck
SELECT o_orderpriority, count(*) AS order_count FROM orders
WHERE o_orderdate >= DATE '1993-07-01' AND o_orderdate < DATE '1993-10-01'
  AND EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
GROUP BY o_orderpriority ORDER BY o_orderpriority
""",
        "orders and lineitem: the whole query on DuckDB",
    ),
    5: split(
        """
-- n @ pg
SELECT n_nationkey, n_name FROM {pg}.nation JOIN {pg}.region ON n_regionkey = r_regionkey
WHERE r_name = 'ASIA'
-- c @ pg
SELECT c_custkey, c_nationkey FROM {pg}.customer WHERE c_nationkey IN ({n.n_nationkey})
-- s @ lite
SELECT s_suppkey, s_nationkey FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- r @ duck
SELECT cn AS nationkey, sum(rev) AS revenue FROM (
  SELECT {c.c_custkey:case o_custkey by c_nationkey} AS cn,
         {s.s_suppkey:case l_suppkey by s_nationkey} AS sn,
         l_extendedprice * (1 - l_discount) AS rev
  FROM orders JOIN lineitem ON l_orderkey = o_orderkey
  WHERE o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01')
WHERE cn = sn GROUP BY cn
-- answer @ local
SELECT n_name, revenue FROM r JOIN n ON n_nationkey = nationkey ORDER BY revenue DESC
""",
        "customer and supplier keys mapped to their nation by CASE on DuckDB: "
        "c_nationkey = s_nationkey checked there, one row per nation back",
    ),
    6: split(
        """
-- answer @ duck
SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
  AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24
""",
        "lineitem alone: the whole query on DuckDB",
    ),
    7: split(
        """
-- n @ pg
SELECT n_nationkey, n_name FROM {pg}.nation WHERE n_name IN ('FRANCE', 'GERMANY')
-- c @ pg
SELECT c_custkey, c_nationkey FROM {pg}.customer WHERE c_nationkey IN ({n.n_nationkey})
-- s @ lite
SELECT s_suppkey, s_nationkey FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- r @ duck
SELECT sn, cn, l_year, sum(volume) AS revenue FROM (
  SELECT {s.s_suppkey:case l_suppkey by s_nationkey} AS sn,
         {c.c_custkey:case o_custkey by c_nationkey} AS cn,
         extract(year FROM l_shipdate) AS l_year, l_extendedprice * (1 - l_discount) AS volume
  FROM lineitem JOIN orders ON o_orderkey = l_orderkey
  WHERE l_shipdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31')
WHERE sn <> cn GROUP BY sn, cn, l_year
-- answer @ local
SELECT n1.n_name AS supp_nation, n2.n_name AS cust_nation, l_year, revenue
FROM r JOIN n n1 ON n1.n_nationkey = sn JOIN n n2 ON n2.n_nationkey = cn
ORDER BY supp_nation, cust_nation, l_year
""",
        "both nations' customer and supplier keys mapped to the nation by CASE on DuckDB; "
        "one row per nation pair and year back",
    ),
    8: split(
        """
-- c @ pg
SELECT c_custkey FROM {pg}.customer JOIN {pg}.nation ON c_nationkey = n_nationkey
  JOIN {pg}.region ON n_regionkey = r_regionkey WHERE r_name = 'AMERICA'
-- p @ my
SELECT p_partkey FROM {my}.part WHERE p_type = 'ECONOMY ANODIZED STEEL'
-- b @ pg
SELECT n_nationkey FROM {pg}.nation WHERE n_name = 'BRAZIL'
-- s @ lite
SELECT s_suppkey FROM supplier WHERE s_nationkey IN ({b.n_nationkey})
-- r @ duck
SELECT extract(year FROM o_orderdate) AS o_year,
  sum(CASE WHEN l_suppkey IN ({s.s_suppkey}) THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
    / sum(l_extendedprice * (1 - l_discount)) AS mkt_share
FROM lineitem JOIN orders ON l_orderkey = o_orderkey
WHERE l_partkey IN ({p.p_partkey}) AND o_custkey IN ({c.c_custkey})
  AND o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
GROUP BY o_year
-- answer @ local
SELECT * FROM r ORDER BY o_year
""",
        "American customer, part and Brazilian supplier keys; the share computed on DuckDB "
        "(every lineitem's supplier exists)",
        foreign_keys=True,
    ),
    9: split(
        """
-- p @ my
SELECT p_partkey FROM {my}.part WHERE p_name LIKE '%green%'
-- ps @ my
SELECT ps_partkey, ps_suppkey, ps_supplycost FROM {my}.partsupp WHERE ps_partkey IN ({p.p_partkey})
-- s @ lite
SELECT s_suppkey, s_nationkey FROM supplier
-- r @ duck ships ps
SELECT {s.s_suppkey:case l_suppkey by s_nationkey} AS nationkey,
  extract(year FROM o_orderdate) AS o_year,
  sum(l_extendedprice * (1 - l_discount) - ps.ps_supplycost * l_quantity) AS sum_profit
FROM lineitem JOIN orders ON o_orderkey = l_orderkey
  JOIN {shipped[ps]} ps ON ps.ps_partkey = l_partkey AND ps.ps_suppkey = l_suppkey
WHERE l_partkey IN ({p.p_partkey}) GROUP BY 1, 2
-- n @ pg
SELECT n_nationkey, n_name FROM {pg}.nation
-- answer @ local
SELECT n_name AS nation, o_year, sum_profit FROM r JOIN n ON n_nationkey = nationkey
ORDER BY nation, o_year DESC
""",
        "green parts' partsupp rows shipped to DuckDB (counted twice), suppliers mapped to "
        "nations by CASE: one row per nation and year back",
    ),
    10: split(
        """
-- a @ duck
SELECT o_custkey, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM orders JOIN lineitem ON l_orderkey = o_orderkey
WHERE o_orderdate >= DATE '1993-10-01' AND o_orderdate < DATE '1994-01-01' AND l_returnflag = 'R'
GROUP BY o_custkey ORDER BY revenue DESC LIMIT 20
-- c @ pg
SELECT c_custkey, c_name, c_acctbal, n_name, c_address, c_phone, c_comment
FROM {pg}.customer JOIN {pg}.nation ON c_nationkey = n_nationkey
WHERE c_custkey IN ({a.o_custkey})
-- answer @ local
SELECT c_custkey, c_name, revenue, c_acctbal, n_name, c_address, c_phone, c_comment
FROM a JOIN c ON c_custkey = o_custkey ORDER BY revenue DESC LIMIT 20
""",
        "the top 20 customers by revenue on DuckDB first, then only their 20 rows",
        foreign_keys=True,
    ),
    11: split(
        """
-- n @ pg
SELECT n_nationkey FROM {pg}.nation WHERE n_name = 'GERMANY'
-- s @ lite
SELECT s_suppkey FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- v @ my
SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value FROM {my}.partsupp
WHERE ps_suppkey IN ({s.s_suppkey}) GROUP BY ps_partkey
HAVING sum(ps_supplycost * ps_availqty) > (
  SELECT sum(ps_supplycost * ps_availqty) * 0.0001 FROM {my}.partsupp
  WHERE ps_suppkey IN ({s.s_suppkey}))
-- answer @ local
SELECT * FROM v ORDER BY value DESC
""",
        "German supplier keys: the whole query, HAVING included, on MariaDB",
    ),
    12: split(
        """
-- answer @ duck
SELECT l_shipmode,
  sum(CASE WHEN o_orderpriority IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS high_line_count,
  sum(CASE WHEN o_orderpriority NOT IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS low_line_count
FROM orders JOIN lineitem ON o_orderkey = l_orderkey
WHERE l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate AND l_shipdate < l_commitdate
  AND l_receiptdate >= DATE '1994-01-01' AND l_receiptdate < DATE '1995-01-01'
GROUP BY l_shipmode ORDER BY l_shipmode
""",
        "orders and lineitem: the whole query on DuckDB",
    ),
    13: split(
        """
-- a @ duck
SELECT c_count, count(*) AS custdist FROM (
  SELECT o_custkey, count(*) AS c_count FROM orders
  WHERE o_comment NOT LIKE '%special%requests%' GROUP BY o_custkey)
GROUP BY c_count
-- n @ pg
SELECT count(*) AS customers FROM {pg}.customer
-- answer @ local
SELECT c_count, custdist FROM (
  SELECT c_count, custdist FROM a
  UNION ALL
  SELECT 0, (SELECT customers FROM n) - (SELECT coalesce(sum(custdist), 0) FROM a))
WHERE custdist > 0 ORDER BY custdist DESC, c_count DESC
""",
        "the order-count histogram on DuckDB; customers without orders = count(*) - the rest",
        foreign_keys=True,
    ),
    14: split(
        """
-- p @ my
SELECT p_partkey FROM {my}.part WHERE p_type LIKE 'PROMO%'
-- answer @ duck
SELECT 100.00 * sum(CASE WHEN l_partkey IN ({p.p_partkey})
                         THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
       / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM lineitem WHERE l_shipdate >= DATE '1995-09-01' AND l_shipdate < DATE '1995-10-01'
""",
        "promo part keys only; the ratio on DuckDB (every lineitem's part exists)",
        foreign_keys=True,
    ),
    15: split(
        """
-- a @ duck
WITH revenue AS (
  SELECT l_suppkey AS supplier_no, sum(l_extendedprice * (1 - l_discount)) AS total_revenue
  FROM lineitem WHERE l_shipdate >= DATE '1996-01-01' AND l_shipdate < DATE '1996-04-01'
  GROUP BY l_suppkey)
SELECT supplier_no, total_revenue FROM revenue
WHERE total_revenue = (SELECT max(total_revenue) FROM revenue)
-- s @ lite
SELECT s_suppkey, s_name, s_address, s_phone FROM supplier WHERE s_suppkey IN ({a.supplier_no})
-- answer @ local
SELECT s_suppkey, s_name, s_address, s_phone, total_revenue
FROM s JOIN a ON s_suppkey = supplier_no ORDER BY s_suppkey
""",
        "the top supplier found on DuckDB, then its one supplier row",
    ),
    16: split(
        """
-- s @ lite
SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%'
-- g @ my
SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt
FROM {my}.partsupp JOIN {my}.part ON p_partkey = ps_partkey
WHERE p_brand <> 'Brand#45' AND p_type NOT LIKE 'MEDIUM POLISHED%'
  AND p_size IN (49, 14, 23, 45, 19, 3, 36, 9) AND {s.s_suppkey:not_in ps_suppkey}
GROUP BY p_brand, p_type, p_size
-- answer @ local
SELECT * FROM g ORDER BY supplier_cnt DESC, p_brand, p_type, p_size
""",
        "complaint supplier keys as NOT IN: the count(DISTINCT) on MariaDB",
    ),
    17: split(
        """
-- p @ my
SELECT p_partkey FROM {my}.part WHERE p_brand = 'Brand#23' AND p_container = 'MED BOX'
-- answer @ duck
SELECT sum(l_extendedprice) / 7.0 AS avg_yearly FROM lineitem l
WHERE l_partkey IN ({p.p_partkey})
  AND l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = l.l_partkey)
""",
        "part keys: the correlated average and the sum on DuckDB",
    ),
    18: split(
        """
-- a @ duck
SELECT o_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) AS sum_qty
FROM orders JOIN lineitem ON o_orderkey = l_orderkey
WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey
                     HAVING sum(l_quantity) > 300)
GROUP BY o_custkey, o_orderkey, o_orderdate, o_totalprice
ORDER BY o_totalprice DESC, o_orderdate LIMIT 100
-- c @ pg
SELECT c_custkey, c_name FROM {pg}.customer WHERE c_custkey IN ({a.o_custkey})
-- answer @ local
SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum_qty
FROM a JOIN c ON c_custkey = o_custkey ORDER BY o_totalprice DESC, o_orderdate LIMIT 100
""",
        "the big orders and their top 100 on DuckDB, then only their customers",
        foreign_keys=True,
    ),
    19: split(
        """
-- p @ my
SELECT p_partkey, CASE p_brand WHEN 'Brand#12' THEN 1 WHEN 'Brand#23' THEN 2 ELSE 3 END AS branch
FROM {my}.part
WHERE (p_brand = 'Brand#12' AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
       AND p_size BETWEEN 1 AND 5)
   OR (p_brand = 'Brand#23' AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
       AND p_size BETWEEN 1 AND 10)
   OR (p_brand = 'Brand#34' AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
       AND p_size BETWEEN 1 AND 15)
-- answer @ duck
SELECT sum(rev) AS revenue FROM (
  SELECT {p.p_partkey:case l_partkey by branch} AS branch, l_quantity,
         l_extendedprice * (1 - l_discount) AS rev
  FROM lineitem WHERE l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
WHERE (branch = 1 AND l_quantity BETWEEN 1 AND 11) OR (branch = 2 AND l_quantity BETWEEN 10 AND 20)
   OR (branch = 3 AND l_quantity BETWEEN 20 AND 30)
""",
        "part keys per OR branch (CASE): each branch's quantity test on DuckDB",
    ),
    20: split(
        """
-- n @ pg
SELECT n_nationkey FROM {pg}.nation WHERE n_name = 'CANADA'
-- s @ lite
SELECT s_suppkey FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- p @ my
SELECT p_partkey FROM {my}.part WHERE p_name LIKE 'forest%'
-- l @ duck
SELECT l_partkey, l_suppkey, 0.5 * sum(l_quantity) AS half FROM lineitem
WHERE l_partkey IN ({p.p_partkey}) AND l_suppkey IN ({s.s_suppkey})
  AND l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
GROUP BY l_partkey, l_suppkey
-- ps @ my
SELECT ps_partkey, ps_suppkey, ps_availqty FROM {my}.partsupp
WHERE ps_partkey IN ({l.l_partkey}) AND ps_suppkey IN ({l.l_suppkey})
-- q @ local
SELECT DISTINCT ps_suppkey FROM ps JOIN l ON ps_partkey = l_partkey AND ps_suppkey = l_suppkey
WHERE ps_availqty > half
-- d @ lite
SELECT s_name, s_address FROM supplier WHERE s_suppkey IN ({q.ps_suppkey})
-- answer @ local
SELECT * FROM d ORDER BY s_name
""",
        "Canadian supplier and forest part keys cut lineitem and partsupp to a few pairs; "
        "names only for the qualifying suppliers",
    ),
    21: split(
        """
-- n @ pg
SELECT n_nationkey FROM {pg}.nation WHERE n_name = 'SAUDI ARABIA'
-- s @ lite
SELECT s_suppkey, s_name FROM supplier WHERE s_nationkey IN ({n.n_nationkey})
-- w @ duck
SELECT l1.l_suppkey, count(*) AS numwait
FROM lineitem l1 JOIN orders ON o_orderkey = l1.l_orderkey
WHERE o_orderstatus = 'F' AND l1.l_receiptdate > l1.l_commitdate
  AND l1.l_suppkey IN ({s.s_suppkey})
  AND EXISTS (SELECT * FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey
              AND l2.l_suppkey <> l1.l_suppkey)
  AND NOT EXISTS (SELECT * FROM lineitem l3 WHERE l3.l_orderkey = l1.l_orderkey
                  AND l3.l_suppkey <> l1.l_suppkey AND l3.l_receiptdate > l3.l_commitdate)
GROUP BY l1.l_suppkey
-- answer @ local
SELECT s_name, numwait FROM w JOIN s ON s_suppkey = l_suppkey
ORDER BY numwait DESC, s_name LIMIT 100
""",
        "Saudi supplier keys: EXISTS / NOT EXISTS over lineitem stay on DuckDB with l1; "
        "one count per supplier back",
    ),
    22: split(
        """
-- c @ pg
SELECT c_custkey FROM {pg}.customer
WHERE substring(c_phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17')
  AND c_acctbal > (SELECT avg(c_acctbal) FROM {pg}.customer WHERE c_acctbal > 0.00
                   AND substring(c_phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17'))
-- o @ duck
SELECT k FROM unnest([{c.c_custkey}]) AS t(k)
WHERE NOT EXISTS (SELECT 1 FROM orders WHERE o_custkey = k)
-- g @ pg
SELECT substring(c_phone, 1, 2) AS cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal
FROM {pg}.customer WHERE c_custkey IN ({o.k}) GROUP BY 1
-- answer @ local
SELECT * FROM g ORDER BY cntrycode
""",
        "candidate customer keys to DuckDB, back only those without orders, then the "
        "7-row aggregate on PostgreSQL",
    ),
}
