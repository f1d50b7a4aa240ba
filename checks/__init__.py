"""Check kinds: one module per kind, each implementing the protocol in `checks.base`.

Adding a kind is adding a module here; it is found by name, no registration needed.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_NOT_KINDS = {"base"}


def kinds() -> dict[str, ModuleType]:
    """Every available check kind, by its `KIND` name."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_KINDS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if kind:
            found[kind] = module
    return found
