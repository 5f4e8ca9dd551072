"""Split an optimized query into per-engine fragments and one local DuckDB step.

Top-down, the largest subtree whose tables all live on one engine (and that is not
correlated with an outer query and that the engine's dialect can express) becomes one
fragment, replaced by ``SELECT * FROM _fN``: whole joins, aggregates, ORDER BY/LIMIT run
where the data is. A SELECT over several engines keeps its joins local; each of its remote
tables becomes a scan with only the columns it needs and the predicates that concern it
alone, tables of one engine that are inner-joined together become one join fragment, and
equi-joins between fragments get semi-join edges, pointed by ``reduction`` from the side that
keeps the smaller fraction of its rows (the executor runs it first and ships its keys: as an
IN-list when they are few enough, else into a temporary table where the other side's engine
allows one). Keys also reach a fragment through a local derived table grouped by them.
``site.join_site`` then marks where the whole local step may run on the big side's engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from portkey.orchestrator.engines import Engine, TableInfo
from portkey.orchestrator.keys import Keys
from portkey.orchestrator.planner import _tree as tree
from portkey.orchestrator.planner import colocate, lookups, reduction, rules, semijoins, topn
from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import ALL_RULES, Fragment, Plan, PlanOptions
from portkey.orchestrator.planner.preaggregate import Local, preaggregate
from portkey.orchestrator.planner.semijoins import SemiJoins
from portkey.orchestrator.planner.site import join_site

_BYTES_PER_VALUE = 8


class Splitter(SemiJoins):
    def __init__(
        self,
        tables: Mapping[tuple[str, str, str], TableInfo],
        engines: Mapping[str, Engine],
        options: PlanOptions = ALL_RULES,
        keys: Keys | None = None,
    ) -> None:
        self.options = options
        self.keys = keys or Keys()
        self.pushdown = options.pushdown
        self.tables = tables
        self.engines = engines
        self.fragments: list[Fragment] = []
        self.cte_bodies: dict[str, exp.Query] = {}
        self.cte_engines: dict[str, set[str]] = {}
        #: WHERE conjuncts (by id) a scan or join fragment applies: the local step drops them
        self.pushed: set[int] = set()
        self.root: exp.Query = exp.select("1")
        #: CTE name -> the fragment that now answers it (``SELECT * FROM _fN``)
        self.cte_fragments: dict[str, str] = {}
        self.notes: list[str] = []
        #: fragment -> its rows before keys reach it, and its largest table's (``reduction``)
        self.sizes: dict[str, reduction.Size] = {}

    # -- entry ----------------------------------------------------------------------------
    def plan(self, query: exp.Query) -> Plan:
        self._index_ctes(query)
        self.root = query
        types = tree.types(query)
        local = self.split(query)
        self._drop_unread_ctes(local)
        semijoins.drop_idle(self.fragments)
        passthrough = (
            len(self.fragments) == 1
            and self.fragments[0].kind == "query"
            and local.sql() == tree.ref(self.fragments[0].name).sql()
        )
        plan = Plan(self.fragments, local, passthrough=passthrough, notes=self.notes)
        plan.join_site = join_site(plan, self.engines, self.options, types)
        return plan

    def _index_ctes(self, query: exp.Expr) -> None:
        for cte in query.find_all(exp.CTE):
            body = cte.this
            assert isinstance(body, exp.Query)
            self.cte_bodies[cte.alias] = body.copy()
        # engines of a CTE include those of the CTEs it reads (definitions come first)
        for name, body in self.cte_bodies.items():
            self.cte_engines[name] = self.engines_of(body)

    def _drop_unread_ctes(self, local: exp.Query) -> None:
        """CTEs whose every read went into fragments: neither computed nor fetched."""
        with_ = local.args.get("with_")
        for cte in list(with_.expressions if with_ else []):
            if self._local_reads(cte.alias):
                continue
            name = self.cte_fragments.pop(cte.alias, None)
            if name is not None and not any(
                e.source == name for f in self.fragments for e in f.semijoins
            ):
                self.fragments[:] = [f for f in self.fragments if f.name != name]
            cte.pop()
        if with_ is not None and not with_.expressions:
            local.set("with_", None)

    # -- what lives where -------------------------------------------------------------------
    def engines_of(self, node: exp.Expr) -> set[str]:
        out: set[str] = set()
        for table in node.find_all(exp.Table):
            if table.catalog:
                out.add(table.catalog)
            elif table.name in self.cte_engines:
                out |= self.cte_engines[table.name]
        return out

    def _engine_of(self, source: exp.Expr) -> str | None:
        """The one engine a FROM/JOIN source (a table, a CTE, a derived table) lives on;
        None for several, or a correlated derived table (``colocate``)."""
        if isinstance(source, exp.Table):
            if source.catalog or source.name not in self.cte_engines:
                return source.catalog or None
            engines = self.cte_engines[source.name]
            return next(iter(engines)) if len(engines) == 1 else None
        if not isinstance(source, exp.Subquery) or tree.correlated(source.this):
            return None
        engines = self.engines_of(source.this)
        return next(iter(engines)) if len(engines) == 1 else None

    def _table(self, table: exp.Table) -> TableInfo:
        return self.tables[(table.catalog, table.db, table.name)]

    # -- recursion ------------------------------------------------------------------------
    def split(self, node: exp.Query) -> exp.Query:
        engines = self.engines_of(node)
        if not engines:
            return node
        if self.pushdown and len(engines) == 1 and not tree.correlated(node):
            (engine,) = engines
            fragment = self._query_fragment(engine, node)
            if fragment is not None:
                return tree.ref(fragment.name)
        if isinstance(node, exp.SetOperation):
            node.set("this", self.split(node.this))
            node.set("expression", self.split(node.expression))
            return node
        if not isinstance(node, exp.Select):
            return node
        if self.pushdown:
            rules.inner_when_null_rejected(node)
            while colocate.nest(node, self._engine_of, lambda e: self.engines[e].dialect):
                pass
        with_ = node.args.get("with_")
        for cte in with_.expressions if with_ else []:
            cte.set("this", self.split(cte.this))
            name = tree.ref_name(cte.this)
            if name is not None:
                self.cte_fragments[cte.alias] = name
        for sub in tree.child_queries(node):
            sub.replace(self.split(sub))
        self._scans(node)
        return node

    def _query_fragment(self, engine: str, node: exp.Query) -> Fragment | None:
        dialect = self.engines[engine].dialect
        body = node.copy()
        ctes = tree.referenced_ctes(body, self.cte_bodies)
        if ctes and not body.args.get("with_"):
            for name in ctes:
                body = body.with_(name, as_=self.cte_bodies[name].copy(), copy=False)
        origin = node.sql()
        if origin in self.options.refused or not pushable(body, dialect):
            self.notes.append(f"kept local: a subquery uses what {engine} ({dialect}) lacks")
            return None
        rows = tree.estimate(body, lambda t: self._table(t).rows)
        base = max(
            (self._table(t).rows or 0 for t in body.find_all(exp.Table) if t.catalog), default=0
        )
        tree.strip_engine(body)
        fragment = self._add(engine, "query", body, rows, tree.types(node), base or None)
        fragment.origins.append(origin)
        return fragment

    def _add(
        self,
        engine: str,
        kind: str,
        expression: exp.Query,
        rows: int | None,
        types: dict[str, str],
        base: int | None = None,
    ) -> Fragment:
        """``base``: the rows of its largest table (what its filters narrow)."""
        fragment = Fragment(
            name=f"_f{len(self.fragments) + 1}",
            engine=engine,
            dialect=self.engines[engine].dialect,
            kind=kind,  # type: ignore[arg-type]
            expression=expression,
            estimated_rows=rows,
            estimated_bytes=None if rows is None else rows * max(1, len(types)) * _BYTES_PER_VALUE,
            types=types,
        )
        self.fragments.append(fragment)
        if rows is not None:
            kept = reduction.own_selectivity(expression, base) * (base or rows)
            self.sizes[fragment.name] = reduction.Size(kept, base or rows)
        return fragment

    # -- the remote tables of one multi-engine SELECT ---------------------------------------
    def _scans(self, select: exp.Select) -> None:
        remote = [s for s in rules.select_sources(select) if isinstance(s, exp.Table) and s.catalog]
        readers = self._readers(select)
        if not remote and len(readers) < 2:
            return
        rules.inner_when_null_rejected(select)
        inner = rules.all_inner(select)
        if inner:
            tree.flatten_joins(select)
        where = rules.conjuncts(select.args["where"].this) if select.args.get("where") else []
        ons = tree.on_conjuncts(select)
        outer = rules.null_supplying(select)
        # a.x = b.y AND b.y = c.z implies a.x = c.z: more pairs to ship keys between (not to
        # group by: a group that swallows a small filtered table stops it reducing others)
        implied = rules.implied_equalities(where) if self.pushdown else []
        implied += rules.common_to_or(where) if self.pushdown else []
        groups = tree.engine_groups(remote, where) if inner and self.pushdown else []
        grouped = {rules.source_alias(t) for g in groups for t in g}
        produced: dict[str, tuple[Fragment, dict[str, str]]] = {}
        for group in groups:
            fragment, names = self._join_fragment(select, group, where)
            for table in group:
                produced[rules.source_alias(table)] = (fragment, names)
        for table in remote:
            alias = rules.source_alias(table)
            if alias in grouped:
                continue
            preds = [] if alias in outer else list(where)
            preds += ons.get(alias, [])
            fragment = self._scan_fragment(select, table, preds)
            produced[alias] = (fragment, {})
        if self.options.semijoins:
            self._semijoins(select, where + implied, ons, produced, readers, outer)
        for group in groups:
            self._replace_group(select, group, produced[rules.source_alias(group[0])][0])
        if self.pushdown:
            self._narrow_local(select, produced, outer)

    def _narrow_local(
        self,
        select: exp.Select,
        produced: Mapping[str, tuple[Fragment, dict[str, str]]],
        outer: set[str],
    ) -> None:
        """What the fragments took over leaves the local step; aggregates and a top-N move
        into them where that is sound."""
        tree.drop_pushed(select, self.pushed)
        if self.options.preaggregate:
            locals_ = tree.locals(produced) | self._derived(select)
            preaggregate(select, locals_, outer)
        self.notes += lookups.to_key_lists(select, self.fragments, self.keys, self._key_list)
        pushed = topn.push(select, {f.name: f for f in self.fragments}, self.keys)
        if pushed is not None:
            self.notes.append(pushed.note)
            if self.options.semijoins:
                self._ship_top(pushed)

    def _key_list(
        self, engine: str, body: exp.Select, types: dict[str, str], rows: int | None
    ) -> Fragment:
        """A scan answering the keys of a lookup's rows where a condition holds."""
        fragment = self._add(engine, "scan", body, rules.estimate_rows(rows, 1), types, rows)
        fragment.origins.append(body.args["where"].this.sql())
        return fragment

    def _needed(
        self, select: exp.Select, alias: str, info: TableInfo, preds: list[exp.Expr]
    ) -> list[str]:
        """Columns of ``alias`` the local step reads: not those only the conjuncts among
        ``preds`` that the fragment applies (and the local step drops) read."""
        names = {c.name for c in info.columns}
        applied = {id(c) for p in preds if id(p) in self.pushed for c in p.find_all(exp.Column)}
        used: list[str] = []
        for col in select.find_all(exp.Column):
            fresh = col.table == alias and col.name in names and col.name not in used
            if fresh and id(col) not in applied and tree.owner(col, alias) is select:
                used.append(col.name)
        return used

    def _scan_fragment(
        self, select: exp.Select, table: exp.Table, preds: list[exp.Expr]
    ) -> Fragment:
        alias = rules.source_alias(table)
        info = self._table(table)
        dialect = self.engines[info.engine].dialect
        pushed = tree.pushdown(preds, {alias}, dialect, self.pushed, self.options.refused)
        cols = self._needed(select, alias, info, preds)
        if not self.pushdown:
            cols, pushed = [c.name for c in info.columns], []
        source = exp.Table(
            this=exp.to_identifier(info.name, quoted=True),
            db=exp.to_identifier(info.schema, quoted=True),
            alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
        )
        projections: list[exp.Expr] = [exp.column(c, alias, quoted=True) for c in cols]
        body = exp.select(*(projections or [exp.alias_(exp.Literal.number(1), "_one")]))
        body = body.from_(source)
        if pushed:
            body = body.where(exp.and_(*pushed))
        types = {c: _type_of(info, c) for c in cols}
        rows = rules.estimate_rows(info.rows, len(pushed))
        fragment = self._add(info.engine, "scan", body, rows, types, info.rows)
        fragment.origins.extend(p.sql() for p in pushed)
        table.replace(
            exp.Table(
                this=exp.to_identifier(fragment.name),
                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
            )
        )
        return fragment

    def _join_fragment(
        self, select: exp.Select, group: list[exp.Table], where: list[exp.Expr]
    ) -> tuple[Fragment, dict[str, str]]:
        aliases = {rules.source_alias(t) for t in group}
        engine = group[0].catalog
        dialect = self.engines[engine].dialect
        pushed = tree.pushdown(where, aliases, dialect, self.pushed, self.options.refused)
        projections: list[exp.Expr] = []
        names: dict[str, str] = {}
        types: dict[str, str] = {}
        for table in group:
            alias = rules.source_alias(table)
            info = self._table(table)
            for col in self._needed(select, alias, info, where):
                out = f"{alias}__{col}"
                names[f"{alias}.{col}"] = out
                types[out] = _type_of(info, col)
                projections.append(
                    exp.alias_(exp.column(col, alias, quoted=True), out, quoted=True)
                )
        sources = [tree.strip_engine(t.copy()) for t in group]
        body = exp.select(*(projections or [exp.alias_(exp.Literal.number(1), "_one")]))
        body = body.from_(sources[0])
        for src in sources[1:]:
            body = body.join(src, join_type="CROSS")
        if pushed:
            body = body.where(exp.and_(*pushed))
        rows = max((rules.estimate_rows(self._table(t).rows, 1) or 0 for t in group), default=None)
        base = max((self._table(t).rows or 0 for t in group), default=0)
        fragment = self._add(engine, "join", body, rows or None, types, base or None)
        fragment.origins.extend(p.sql() for p in pushed)
        return fragment, names

    def _replace_group(self, select: exp.Select, group: list[exp.Table], frag: Fragment) -> None:
        aliases = {rules.source_alias(t) for t in group}
        local_alias = f"_g{frag.name[2:]}"
        for col in list(select.find_all(exp.Column)):
            if col.table in aliases and tree.owner(col, col.table) is select:
                col.replace(exp.column(f"{col.table}__{col.name}", local_alias, quoted=True))
        group[0].replace(
            exp.Table(
                this=exp.to_identifier(frag.name),
                alias=exp.TableAlias(this=exp.to_identifier(local_alias, quoted=True)),
            )
        )
        for table in group[1:]:
            join = table.parent
            assert isinstance(join, exp.Join)
            join.pop()

    def _derived(self, select: exp.Select) -> dict[str, Local]:
        """Derived tables answered by a plain fragment (one reader each, safe to rewrite)."""
        by_name = {f.name: f for f in self.fragments}
        out: dict[str, Local] = {}
        for source in rules.select_sources(select):
            if not isinstance(source, exp.Subquery):
                continue
            fragment = by_name.get(tree.ref_name(source.this) or "")
            body = fragment.expression if fragment else None
            if fragment is None or not isinstance(body, exp.Select) or not tree.plain(body):
                continue
            outputs = {p.alias_or_name: p.unalias() for p in body.selects}
            out[rules.source_alias(source)] = Local(fragment, rules.source_alias(source), outputs)
        return out


def _type_of(info: TableInfo, column: str) -> str:
    found = info.column(column)
    return found.type if found is not None else "TEXT"
