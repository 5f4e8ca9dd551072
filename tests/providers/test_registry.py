"""The provider registry: one module per provider, data only, no provider names in shared code."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest

import portkey
import portkey.providers
from portkey.providers import registry
from portkey.providers.base import OPENAI_FORMAT, ProviderSpec

NOT_PROVIDERS = {"base", "registry"}
PACKAGE = Path(portkey.__file__).parent


def test_registry_matches_the_provider_modules() -> None:
    modules = {
        m.name
        for m in pkgutil.iter_modules(portkey.providers.__path__)
        if m.name not in NOT_PROVIDERS and not m.name.startswith("_")  # _x: shared helpers
    }
    registered = {path.rsplit(".", 1)[1] for path in registry.BUILTIN.values()}
    assert registered == modules


@pytest.mark.parametrize("provider_id", sorted(registry.BUILTIN))
def test_every_provider_exports_a_spec_with_its_id(provider_id: str) -> None:
    spec = registry.get(provider_id)
    assert isinstance(spec, ProviderSpec)
    assert spec.id == provider_id
    assert spec.base_url
    assert spec.docs.startswith("https://")


@pytest.mark.parametrize("provider_id", sorted(registry.BUILTIN))
def test_openai_compatible_providers_are_small_data_modules(provider_id: str) -> None:
    spec = registry.get(provider_id)
    assert spec is not None
    if spec.format is OPENAI_FORMAT:
        source = Path(registry.BUILTIN[provider_id].replace(".", "/") + ".py")
        lines = (PACKAGE.parent / source).read_text().splitlines()
        assert len(lines) <= 60, f"{source} has {len(lines)} lines"


def test_unknown_provider_is_none() -> None:
    assert registry.get("no-such-provider") is None


def test_shared_code_never_names_a_provider() -> None:
    """Quirks live in provider modules: no `provider == "groq"` style branching elsewhere."""
    ids = "|".join(re.escape(i) for i in registry.BUILTIN)
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*["']({ids})["']|["']({ids})["']\s*(==|!=)""")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "providers" in path.parts or "devtools" in path.parts or "cli" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
