"""Operator notes posted to the agent ("restarted orders-db", "vendor says 30 min").

The agent hands each note to a `NoteSink`. `MemoryNotes` keeps the latest ones in
memory; a persistent store can take its place by implementing the same two methods.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Note:
    """One note: `at` is wall-clock epoch seconds; `check` the check it is about, if any."""

    id: str
    at: float
    text: str
    by: str = ""
    check: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "text": self.text, "check": self.check, "by": self.by}


class NoteSink(Protocol):
    """Where the agent puts notes. Text arrives already validated and cleaned."""

    async def add(self, *, at: float, text: str, by: str = "", check: str | None = None) -> Note:
        """Keep a note and return it with its id."""
        ...

    def recent(self, limit: int = 100) -> Sequence[Note]:
        """The latest notes, oldest first; called on the event loop, so it must not block."""
        ...


class MemoryNotes:
    """The latest `keep` notes, in memory (lost on restart)."""

    def __init__(self, keep: int = 200) -> None:
        self._notes: deque[Note] = deque(maxlen=keep)
        self._ids = itertools.count(1)

    async def add(self, *, at: float, text: str, by: str = "", check: str | None = None) -> Note:
        note = Note(id=f"n{next(self._ids)}", at=at, text=text, by=by, check=check)
        self._notes.append(note)
        return note

    def recent(self, limit: int = 100) -> Sequence[Note]:
        return tuple(self._notes)[-limit:] if limit > 0 else ()
