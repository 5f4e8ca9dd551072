"""Routing modes as small strategy objects, looked up by ``strategy.mode``.

Each answers two questions about a group: in which order to try its children for this
request, and whether to try the next one after a child failed with a given status.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from portkey.errors import InvalidRequest
from portkey.gateway.conditions import Facts, Predicate, compile_query

if TYPE_CHECKING:
    from portkey.config.routing import Strategy
    from portkey.gateway.plan import Node


class StrategyConfigError(ValueError):
    """A strategy that cannot be built; ``loc`` is the path inside ``strategy``."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class RoutingStrategy(Protocol):
    mode: ClassVar[str]

    def order(self, children: tuple[Node, ...], facts: Facts) -> Iterable[Node]: ...

    def falls_back(self, status: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class Single:
    """Use the first target only."""

    mode: ClassVar[str] = "single"

    @classmethod
    def build(cls, cfg: Strategy, names: Mapping[str, int], children: tuple[Node, ...]) -> Single:
        return cls()

    def order(self, children: tuple[Node, ...], facts: Facts) -> Iterable[Node]:
        return children[:1]

    def falls_back(self, status: int) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Fallback:
    """Try targets in order until one succeeds (or fails with a status not listed)."""

    mode: ClassVar[str] = "fallback"
    on_status_codes: frozenset[int] | None = None

    @classmethod
    def build(cls, cfg: Strategy, names: Mapping[str, int], children: tuple[Node, ...]) -> Fallback:
        codes = frozenset(cfg.on_status_codes) if cfg.on_status_codes else None
        return cls(codes)

    def order(self, children: tuple[Node, ...], facts: Facts) -> Iterable[Node]:
        return children

    def falls_back(self, status: int) -> bool:
        return self.on_status_codes is None or status in self.on_status_codes


@dataclass(frozen=True, slots=True)
class LoadBalance:
    """Pick one target at random, in proportion to its ``weight`` (default 1)."""

    mode: ClassVar[str] = "loadbalance"
    cum_weights: tuple[float, ...]

    @classmethod
    def build(
        cls, cfg: Strategy, names: Mapping[str, int], children: tuple[Node, ...]
    ) -> LoadBalance:
        cum = tuple(itertools.accumulate(child.weight for child in children))
        if not cum or cum[-1] <= 0:
            raise StrategyConfigError((), "loadbalance needs a target with a weight above 0")
        return cls(cum)

    def order(self, children: tuple[Node, ...], facts: Facts) -> Iterable[Node]:
        return random.choices(children, cum_weights=self.cum_weights)

    def falls_back(self, status: int) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Conditional:
    """Route by the first condition whose query matches; else the ``default`` target."""

    mode: ClassVar[str] = "conditional"
    rules: tuple[tuple[Predicate, int], ...]
    default: int | None

    @classmethod
    def build(
        cls, cfg: Strategy, names: Mapping[str, int], children: tuple[Node, ...]
    ) -> Conditional:
        if not cfg.conditions:
            raise StrategyConfigError(("conditions",), "conditional mode needs 'conditions'")
        rules = []
        for i, cond in enumerate(cfg.conditions):
            if cond.then not in names:
                raise StrategyConfigError(
                    ("conditions", i, "then"), f"no target is named {cond.then!r}"
                )
            rules.append((compile_query(cond.query), names[cond.then]))
        if cfg.default is not None and cfg.default not in names:
            raise StrategyConfigError(("default",), f"no target is named {cfg.default!r}")
        default = names[cfg.default] if cfg.default is not None else None
        return cls(tuple(rules), default)

    def order(self, children: tuple[Node, ...], facts: Facts) -> Iterable[Node]:
        for predicate, index in self.rules:
            if predicate(facts):
                return (children[index],)
        if self.default is None:
            raise InvalidRequest(
                "no condition matched the request and the conditional strategy has no default",
                param="strategy.conditions",
            )
        return (children[self.default],)

    def falls_back(self, status: int) -> bool:
        return False


STRATEGIES: dict[str, Any] = {s.mode: s for s in (Single, Fallback, LoadBalance, Conditional)}
