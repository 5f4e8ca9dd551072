"""The provider registry: built-ins by module path, third parties by entry point; loaded lazily."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import entry_points

from portkey.providers.base import ProviderSpec

ENTRY_POINT_GROUP = "portkey.providers"

#: provider id -> module exporting ``SPEC``. Adding a provider adds one line here.
BUILTIN: dict[str, str] = {
    "openai": "portkey.providers.openai",
    "azure-openai": "portkey.providers.azure_openai",
    "groq": "portkey.providers.groq",
    "deepseek": "portkey.providers.deepseek",
    "mistral-ai": "portkey.providers.mistral_ai",
    "together-ai": "portkey.providers.together_ai",
    "fireworks-ai": "portkey.providers.fireworks_ai",
    "openrouter": "portkey.providers.openrouter",
    "perplexity-ai": "portkey.providers.perplexity_ai",
    "x-ai": "portkey.providers.x_ai",
    "ollama": "portkey.providers.ollama",
    "vllm": "portkey.providers.vllm",
    "cohere": "portkey.providers.cohere",
    "snowflake-cortex": "portkey.providers.snowflake_cortex",
    "snowflake-cortex-rest": "portkey.providers.snowflake_cortex_rest",
    "bedrock": "portkey.providers.bedrock",
    "google": "portkey.providers.google",
    "vertex-ai": "portkey.providers.vertex_ai",
    "anthropic": "portkey.providers.anthropic",
}


@cache
def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def provider_ids() -> list[str]:
    return sorted({*BUILTIN, *_plugins()})


@cache
def get(provider_id: str) -> ProviderSpec | None:
    """The spec for ``provider_id``, importing its module on first use; None if unknown."""
    target = BUILTIN.get(provider_id) or _plugins().get(provider_id)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    spec = getattr(importlib.import_module(module_name), attr or "SPEC")
    if not isinstance(spec, ProviderSpec) or spec.id != provider_id:
        raise TypeError(f"{target} does not export a ProviderSpec with id {provider_id!r}")
    return spec


def all_specs() -> Iterator[ProviderSpec]:
    for provider_id in provider_ids():
        spec = get(provider_id)
        if spec is not None:
            yield spec


@cache
def option_names() -> frozenset[str]:
    """Every provider-specific target field any registered provider declares."""
    return frozenset(opt.name for spec in all_specs() for opt in spec.options)
