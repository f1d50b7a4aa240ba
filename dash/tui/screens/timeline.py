"""The timeline (`T`): status changes, alerts, silences, breaker transitions and operator
notes, newest first.

With history on, the last 24 hours come from the store (read in a worker thread, again
every few seconds while the screen is open). Without it (history off, an attached
dashboard, tests) the screen shows what this session remembers (notes, alerts fired and
resolved, silences, breaker transitions) and says that history is off. `f` keeps only
the selected line's check (or service, or breaker); `n` writes a note about it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dash.model import Snapshot
from dash.store import StoreError
from dash.tui.palette import Palette
from dash.tui.view import (
    BOARD_SUBJECT,
    TIMELINE_LIMIT,
    TIMELINE_SINCE,
    TimelineRow,
    memory_timeline,
    timeline_rows,
)
from dash.tui.widgets.header import DashHeader

REFRESH_SECONDS = 3.0
# (key, label, width); the subject column is fitted, the text takes the rest.
COLUMNS = (("time", "time", 9), ("what", "event", 10), ("subject", "subject", 0), ("text", "what happened", 0))
SUBJECT_WIDTH = 20
MIN_TEXT_WIDTH = 20


class TimelineScreen(Screen):
    """What happened, newest first; esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        Binding("f", "filter_subject", "Only this", id="timeline_filter"),
    ]

    def __init__(self, snapshot: Snapshot | None = None, palette: Palette | None = None, *,
                 subject: str | None = None) -> None:
        super().__init__(id="timeline")
        self._snapshot = snapshot
        self._palette = palette or Palette()
        self.subject = subject  # only this subject's entries; None: everything
        self.entries: list[Any] = []  # dash.store.TimelineEntry, oldest first
        self.source = ""  # "history" (the store) or "memory"
        self.why = ""  # why there is no history, or why it could not be read
        self._rows: list[TimelineRow] = []
        self._shown: list[tuple[str, ...]] = []
        self._ready = False

    def compose(self) -> ComposeResult:
        yield DashHeader(id="timeline-header")
        yield Static(Text(""), markup=False, id="timeline-title")
        yield DataTable(cursor_type="row", id="timeline-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.table
        for key, label, width in COLUMNS:
            table.add_column(Text(label), key=key, width=width or len(label))
        self._ready = True
        table.focus()
        self.reload()
        self.set_interval(REFRESH_SECONDS, self.reload, name="timeline-refresh")

    @property
    def table(self) -> DataTable:
        return self.query_one("#timeline-table", DataTable)

    # -- reading -----------------------------------------------------------------------

    @property
    def rows(self) -> list[TimelineRow]:
        """The lines shown, newest first."""
        return list(self._rows)

    @property
    def selected(self) -> TimelineRow | None:
        """The line under the cursor."""
        if not self._rows or not self.table.row_count:
            return None
        return self._rows[min(max(0, self.table.cursor_row), len(self._rows) - 1)]

    def note_subject(self) -> str | None:
        """The check a note written here is about: the filtered one, else none (a general note)."""
        return self.subject if self.subject and self._is_check(self.subject) else None

    def _is_check(self, name: str) -> bool:
        snap = self._snapshot
        return snap is not None and any(c.name == name for c in snap.checks)

    # -- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the timeline again: from the store in a worker thread, else from memory."""
        store, why = self.app.history()  # type: ignore[attr-defined]
        if store is None:
            self.why = why
            self._from_memory()
            return
        self.run_worker(self._load(store), group="timeline", exclusive=True, exit_on_error=False)

    async def _load(self, store: Any) -> None:
        now = self.app.engine.clock.wall()  # type: ignore[attr-defined]
        try:
            entries = await asyncio.to_thread(store.timeline, now - TIMELINE_SINCE, None, limit=TIMELINE_LIMIT)
        except StoreError as exc:
            self.why = str(exc)
            self._from_memory()
            return
        self.entries, self.source, self.why = list(entries), "history", ""
        self._draw()

    def _from_memory(self) -> None:
        app: Any = self.app
        snap = self._snapshot or app.engine.snapshot()
        remote = getattr(app.engine, "remote", False)
        # An agent's breakers keep the agent's monotonic time: only ours can be placed in wall time.
        mono = None if remote else app.snapshot_mono or app.engine.clock.now()
        self.entries = memory_timeline(snap, getattr(app.engine, "notes", ()), mono)
        self.source = "memory"
        self._draw()

    # -- drawing -------------------------------------------------------------------------

    def show(self, snapshot: Snapshot, palette: Palette, *, restyle: bool = False) -> None:
        """A new snapshot: redraw the header (and the timeline when it comes from memory)."""
        self._snapshot, self._palette = snapshot, palette
        if not self._ready:
            return
        if self.source == "memory":
            self._from_memory()
        else:
            self._draw(restyle=restyle)

    def _draw(self, *, restyle: bool = False) -> None:
        snap, p = self._snapshot, self._palette
        if not self._ready:
            return
        now = snap.generated_at if snap is not None else self.app.engine.clock.wall()  # type: ignore[attr-defined]
        rows = timeline_rows(self.entries, now, self.subject)
        with self.app.batch_update():
            if snap is not None:
                self.query_one(DashHeader).show(snap, p, ["timeline"])
            self.query_one("#timeline-title", Static).update(self._title(rows))
            self._sync(rows, restyle=restyle)

    def _title(self, rows: Sequence[TimelineRow]) -> Text:
        p = self._palette
        title = Text(end="", no_wrap=True, overflow="ellipsis")
        title.append(" timeline", style=p("strong"))
        if self.subject is not None:
            title.append(f" of {self.subject or BOARD_SUBJECT}", style=p("strong"))
        n = len(rows)
        span = "last 24h" if self.source == "history" else "this session"
        title.append(f"  {n} event{'s' if n != 1 else ''}, {span}, newest first", style=p("muted"))
        title.append("  f: " + ("show all" if self.subject is not None else "only the selected"), style=p("muted"))
        if self.source != "history" and self.why:
            title.append("\n ")
            title.append(f"{self.why}; showing what this session remembers", style=p("warn"))
        return title

    def _cells(self, row: TimelineRow) -> tuple[Text, ...]:
        p = self._palette
        subject = row.subject or BOARD_SUBJECT
        width = self.table.columns["subject"].width  # type: ignore[index]
        if len(subject) > width:
            subject = subject[: width - 1] + "…"
        return (
            Text(row.time.rjust(9), style=p("muted"), end=""),
            Text(row.what, style=p(row.tone), end=""),
            Text(subject, style=p("strong") if row.what == "note" else p("muted") if not row.subject else p(""), end=""),
            Text(row.text, style=p("strong") if row.what == "note" else p(""), end=""),
        )

    def _fit(self, rows: Sequence[TimelineRow]) -> bool:
        """Size the subject column to the subjects and give the text the rest; True if a width changed."""
        table = self.table
        widths = {key: width for key, _, width in COLUMNS}
        widths["subject"] = max(7, min(SUBJECT_WIDTH, max((len(r.subject or BOARD_SUBJECT) for r in rows), default=7)))
        fixed = sum(w for k, w in widths.items() if k != "text")
        padding = 2 * table.cell_padding * len(COLUMNS)
        widths["text"] = max(MIN_TEXT_WIDTH, self.app.size.width - fixed - padding - 2)
        changed = False
        for key, width in widths.items():
            column = table.columns[key]  # type: ignore[index]
            if column.width != width:
                column.width = width
                changed = True
        return changed

    def _sync(self, rows: list[TimelineRow], *, restyle: bool = False) -> None:
        """Refill the table when the lines changed, keeping the cursor on the same line."""
        table = self.table
        changed = self._fit(rows)
        values = [(r.key, r.time, r.what, r.subject, r.text, r.tone) for r in rows]
        if values == self._shown and not changed and not restyle:
            self._rows = rows
            return
        keep = self.selected.key if self.selected is not None and table.cursor_row > 0 else None
        self._rows = rows
        table.clear()
        for r in rows:
            table.add_row(*self._cells(r), key=r.key)
        self._shown = values
        keys = [r.key for r in rows]
        if keep in keys:
            table.move_cursor(row=keys.index(keep), animate=False)
        table.refresh()

    def on_resize(self) -> None:
        if self._ready:
            self._draw(restyle=True)

    # -- keys ----------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_filter_subject(self) -> None:
        """Keep only the selected line's subject, or show everything again."""
        if self.subject is not None:
            self.subject = None
        else:
            row = self.selected
            if row is None:
                return
            self.subject = row.subject
        self.table.move_cursor(row=0, animate=False)
        self._draw()
