"""Semi-join edges of one multi-engine SELECT: which fragment's keys narrow which.

The splitter (``split.Splitter``) mixes this in: an equi-join between two fragments becomes
a candidate edge when the keys compare as the local join compares them, and ``reduction``
picks the edges worth shipping. Fragments that answer a whole table ship no keys
(``drop_idle``): a foreign key into that table matches all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from portkey.orchestrator.engines import Engine
from portkey.orchestrator.planner import _tree as tree
from portkey.orchestrator.planner import reduction, rules, topn
from portkey.orchestrator.planner.plan import Fragment, PlanOptions, SemiJoin


class SemiJoins:
    """Edge building for ``Splitter``: what it reads of the splitter's state."""

    options: PlanOptions
    engines: Mapping[str, Engine]
    fragments: list[Fragment]
    cte_fragments: dict[str, str]
    sizes: dict[str, reduction.Size]
    #: the query being split (the local step, as split so far)
    root: exp.Query

    def _local_reads(self, name: str) -> int:
        """How many times the local step (as split so far) reads CTE ``name``: reads moved
        into a fragment (which inlines its own copy) no longer count."""
        return sum(1 for t in self.root.find_all(exp.Table) if not t.catalog and t.name == name)

    def _readers(self, select: exp.Select) -> dict[str, Fragment]:
        """Sources of ``select`` that read a whole fragment: a CTE or a derived table."""
        by_name = {f.name: f for f in self.fragments}
        out: dict[str, Fragment] = {}
        for source in rules.select_sources(select):
            name = None
            if isinstance(source, exp.Table) and not source.catalog:
                name = self.cte_fragments.get(source.name)
            elif isinstance(source, exp.Subquery):
                name = tree.ref_name(source.this)
            if name in by_name:
                out[rules.source_alias(source)] = by_name[name]
        return out

    def _reducible(self, select: exp.Select, readers: Mapping[str, Fragment]) -> dict[str, Any]:
        """Readers whose fragment this SELECT alone reads, and whose rows a filter on an
        output column may narrow before the engine computes them: alias -> output -> column.
        """
        out: dict[str, Any] = {}
        for source in rules.select_sources(select):
            alias = rules.source_alias(source)
            if alias not in readers:
                continue
            if isinstance(source, exp.Table) and self._local_reads(source.name) != 1:
                continue
            columns = tree.filterable_outputs(readers[alias].expression)
            if columns:
                out[alias] = columns
        return out

    def _semijoins(
        self,
        select: exp.Select,
        where: list[exp.Expr],
        ons: Mapping[str, list[exp.Expr]],
        produced: Mapping[str, tuple[Fragment, dict[str, str]]],
        readers: Mapping[str, Fragment],
        outer: set[str],
    ) -> None:
        """Semi-join edges for the equi-joins whose semantics allow them (``_choose``).

        An equality in WHERE holds for every answer row: either side may be reduced. In the
        ON of an inner join, likewise. In the ON of a LEFT JOIN the right side may be reduced
        by the left side's keys, and the left by the right's only when WHERE rejects the
        NULL-extended rows (sqlglot's unnesting of IN/EXISTS leaves ``NOT _u.x IS NULL``).
        """
        rejecting = rules.null_rejected(where)
        pairs = [(a, b) for a, b in rules.equi_pairs(where)]
        pairs += [(b, a) for a, b in pairs]
        for alias, conds in ons.items():
            for a, b in rules.equi_pairs(conds):
                for src, dst in ((a, b), (b, a)):
                    if alias not in outer or dst.table == alias or src.table in rejecting:
                        pairs.append((src, dst))
        sources: dict[str, tuple[Fragment, dict[str, str]]] = {
            a: (f, {}) for a, f in readers.items()
        }
        sources.update(produced)
        inside = self._reducible(select, readers)
        derived = tree.through_derived(select, {f.name: f for f in self.fragments})
        candidates: list[tuple[Fragment, Fragment, SemiJoin]] = []
        for src, dst in pairs:
            found = None
            if src.table not in sources:
                continue
            if dst.table in produced:
                found = self._edge(src, dst, sources[src.table], produced[dst.table][0], None)
            elif dst.table in inside:
                found = self._edge(
                    src, dst, sources[src.table], readers[dst.table], inside[dst.table]
                )
            elif dst.name in derived.get(dst.table, {}):
                dfrag, output, column = derived[dst.table][dst.name]
                want = dfrag.types.get(output)
                inner = {dst.name: column}
                found = self._edge(src, dst, sources[src.table], dfrag, inner, want)
            if found is not None:
                candidates.append(found)
        reduction.choose(candidates, self.fragments, self.sizes)
        conds = list(where) + [c for a, cs in ons.items() if a not in outer for c in cs]
        self._bounds(conds, produced, readers, outer)

    def _ship_top(self, pushed: topn.Pushed) -> None:
        """Edges from a fragment cut to its top rows to the lookups it joins directly."""
        by_name = {f.name: f for f in self.fragments}
        top = pushed.fragment
        for out, target, column in pushed.lookups:
            body = target.expression
            assert isinstance(body, exp.Select)
            inner = next(p.unalias() for p in body.selects if p.alias_or_name == column)
            family = tree.family(top.types.get(out))
            if family is None or family != tree.family(target.types.get(column)):
                continue
            if not isinstance(inner, exp.Column) or reduction.feeds(target.name, top.name, by_name):
                continue
            if any(e.source == top.name and e.target_column == inner for e in target.semijoins):
                continue
            temp = self.options.temp_tables and self.engines[target.engine].temp_tables
            target.semijoins.append(SemiJoin(top.name, out, inner.copy(), temp_table=temp))

    def _bounds(
        self,
        conds: list[exp.Expr],
        produced: Mapping[str, tuple[Fragment, dict[str, str]]],
        readers: Mapping[str, Fragment],
        outer: set[str],
    ) -> None:
        """Comparisons with the one value of a global aggregate bound the other side."""
        for src, op, dst in rules.bound_pairs(conds):
            if src.table in readers and dst.table in produced and dst.table not in outer:
                self._bound(src, op, dst, readers[src.table], produced[dst.table])

    def _bound(
        self,
        src: exp.Column,
        op: str,
        dst: exp.Column,
        sfrag: Fragment,
        target: tuple[Fragment, dict[str, str]],
    ) -> None:
        """``dst >= value`` (or ``<=``) where ``src`` is a number of a one-row fragment."""
        dfrag, names = target
        want = dfrag.types.get(names.get(f"{dst.table}.{dst.name}", dst.name))
        by_name = {f.name: f for f in self.fragments}
        if not tree.one_row(sfrag.expression) or reduction.feeds(dfrag.name, sfrag.name, by_name):
            return
        if not (tree.numeric(sfrag.types.get(src.name)) and tree.numeric(want)):
            return
        column = exp.column(dst.name, dst.table, quoted=True)
        dfrag.semijoins.append(SemiJoin(sfrag.name, src.name, column, bound=op))

    def _edge(
        self,
        src: exp.Column,
        dst: exp.Column,
        source: tuple[Fragment, dict[str, str]],
        dfrag: Fragment,
        inside: Mapping[str, exp.Column] | None,
        want: str | None = None,
    ) -> tuple[Fragment, Fragment, SemiJoin] | None:
        """A candidate edge ``src`` -> ``dst`` where the keys compare as the local join does.

        ``inside``: for a reader target, its output columns as the fragment computes them.
        """
        sfrag, snames = source
        if sfrag is dfrag or sfrag.estimated_rows is None or dfrag.estimated_rows is None:
            return None
        out = snames.get(f"{src.table}.{src.name}", src.name)
        if out not in sfrag.types:
            return None  # only a filter the source applies reads it: not in its answer
        want = want or dfrag.types.get(dst.name) or dfrag.types.get(f"{dst.table}__{dst.name}")
        if tree.family(sfrag.types.get(out)) is None or tree.family(
            sfrag.types.get(out)
        ) != tree.family(want):
            return None  # keys of another type would not compare as the local join does
        if inside is not None and dst.name not in inside:
            return None
        column = (
            inside[dst.name].copy()
            if inside is not None
            else exp.column(dst.name, dst.table, quoted=True)
        )
        if any(j.source == sfrag.name and j.target_column == column for j in dfrag.semijoins):
            return None
        temp = self.options.temp_tables and self.engines[dfrag.engine].temp_tables
        return sfrag, dfrag, SemiJoin(sfrag.name, out, column, temp_table=temp)


def drop_idle(fragments: list[Fragment]) -> None:
    """Drop edges from fragments that answer every key of a table (read whole, reduced by
    nothing): a foreign key into that table matches all of them, so the IN-list (or temporary
    table) would cost its keys and filter nothing. Repeated: a target that loses its only
    reduction may itself become such a source."""
    changed = True
    while changed:
        changed = False
        idle = {f.name for f in fragments if not f.semijoins and _whole_table(f.expression)}
        for fragment in fragments:
            kept = [e for e in fragment.semijoins if e.source not in idle or e.bound]
            if len(kept) != len(fragment.semijoins):
                fragment.semijoins[:] = kept
                changed = True


def _whole_table(query: exp.Query) -> bool:
    """Whether ``query`` reads one table whole: no filter, join, grouping or limit."""
    if not isinstance(query, exp.Select):
        return False
    shaping = ("where", "joins", "group", "having", "limit", "qualify")
    return not any(query.args.get(arg) for arg in shaping)
