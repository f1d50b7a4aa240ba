"""The one small protocol every check kind implements.

A check kind is a module in `checks/` that defines:

    KIND = "http"                       # the `kind = ...` value in dash.toml
    FIELDS: dict[str, Field] = {...}    # its own keys, validated by dash.config
    def make(check: CheckConfig, resources: Resources) -> Probe

`make` is called once per configured check; the returned probe's `probe()` is
awaited once per attempt. A probe returns an `Outcome` and never raises: the
engine also wraps every attempt, but a probe should turn every failure it can
foresee into a precise reason. Probes know nothing of breakers, alerts or the UI,
and they do not enforce their own deadline: the engine cancels them when it
expires, so they must clean up on `asyncio.CancelledError` (close sockets, kill
processes) and re-raise it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from dash.model import Outcome

if TYPE_CHECKING:
    from dash.config import CheckConfig


# Field types understood by dash.config's validator.
#   "str", "int", "number" (int or float), "bool", "duration" (e.g. "250ms" -> float seconds),
#   "size" (e.g. "1MiB" or an int -> int bytes), "str_list", "int_list", "str_map" (table of strings),
#   "table" (nested `fields`), "any".
FieldType = str


@dataclass(frozen=True)
class Field:
    """One key a check kind accepts in its `[[check]]` table.

    `validate` gets the converted value and returns an error text ("must be ...")
    or None. Defaults are filled in by the config loader, so `make` can index
    `check.options[key]` for every declared key (None when optional and unset).
    """

    type: FieldType
    default: Any = None
    required: bool = False
    help: str = ""
    fields: dict[str, "Field"] | None = None
    validate: Callable[[Any], str | None] | None = None
    choices: tuple[Any, ...] | None = None


@dataclass
class Resources:
    """Things probes share across checks, owned and closed by the engine.

    `cache` lets a kind keep one shared object (e.g. an HTTP client per TLS
    setting) keyed by whatever it likes; `closers` are awaited on shutdown.
    """

    cache: dict[Any, Any] = field(default_factory=dict)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            try:
                result = close()
                if hasattr(result, "__await__"):
                    await result
            except Exception:  # closing must never fail shutdown
                pass
        self.closers.clear()
        self.cache.clear()


class Probe(abc.ABC):
    """Probes one configured thing. One instance per check, reused across attempts."""

    @abc.abstractmethod
    async def probe(self) -> Outcome:
        """Run one attempt and describe what was found. Must not raise."""

    async def aclose(self) -> None:
        """Release anything this probe holds on its own (shared things go in Resources)."""
