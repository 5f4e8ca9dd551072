"""The compiled, immutable routing plan: groups (a strategy over children) and leaves (a call)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portkey.providers.base import ProviderSpec

if TYPE_CHECKING:
    from portkey.gateway.strategies import RoutingStrategy
    from portkey.guardrails.spec import Guard

#: Portkey's defaults, plus 529 (Anthropic's "overloaded")
DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 0
    on_status_codes: frozenset[int] = DEFAULT_RETRY_STATUSES
    use_retry_after: bool = False


NO_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Leaf:
    """A call to one provider, with everything that can be precomputed, precomputed."""

    path: str  # Portkey's json path, e.g. "config.targets[1]"
    name: str | None
    weight: float
    spec: ProviderSpec
    api_key: str | None = field(repr=False)
    urls: Mapping[str, str]  # route kind -> full URL (passthrough formats)
    base_url: str  # custom_host or the provider's base (translating formats add their path)
    #: provider-specific target fields, defaults applied; may hold secrets (aws_secret_access_key)
    options: Mapping[str, str] = field(repr=False)
    #: headers sent on every call; holds the auth header when the key is known at compile time
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    override_params: Mapping[str, Any] | None
    retry: RetryPolicy
    timeout_s: float
    first_token_timeout_s: float | None
    idle_timeout_s: float
    forward_headers: tuple[str, ...]
    cache: Mapping[str, Any] | None
    #: the named provider entry (virtual key) this target uses, if any
    virtual_key: str | None = None
    #: request model -> route -> URL, when the target maps models (Azure deployments)
    model_urls: Mapping[str, Mapping[str, str]] | None = None
    #: guardrails (portkey.guardrails.spec.Guard) this target runs; None: none, at no cost
    guard: Guard | None = None

    @property
    def sets_model(self) -> bool:
        return bool(self.override_params and "model" in self.override_params)


@dataclass(frozen=True, slots=True)
class Group:
    path: str
    name: str | None
    weight: float
    strategy: RoutingStrategy
    children: tuple[Node, ...]


Node = Leaf | Group


@dataclass(frozen=True, slots=True)
class Plan:
    root: Node
    #: every leaf sets ``model`` through override_params, so the body may omit it
    model_optional: bool
    #: the config's name in portkey.yaml or the store (None for inline configs)
    name: str | None = None


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in node.children for leaf in leaves(child)]
