"""The breaker panel (`b`): every circuit breaker, ours and the watched applications'.

One row per breaker, errors first: state, error %, calls per minute, latency
percentiles, when the half-open trial comes, an error-rate sparkline and the last
transition. Narrow terminals show the most telling columns; the pane under the
table shows everything about the selected breaker. `o` `c` `m` `z` override our
own breakers (the applications' are read-only).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dash.model import Snapshot
from dash.tui.palette import Palette
from dash.tui.view import BreakerRow, breaker_counts, breaker_detail, breaker_rows, spark
from dash.tui.widgets.header import DashHeader

WIDE = 120  # from this many columns the table also shows p50, p90 and the sparkline
NAME_WIDTH = 30
MIN_LAST_WIDTH = 16
SPARK_POINTS = 30
# (key, label, width or None for "fitted"), narrow and wide.
NARROW_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("state", "state", 13),  # at most: FORCED-CLOSED; fitted to the states shown
    ("name", "breaker", None),
    ("error", "err%", 4),
    ("rate", "/min", 4),
    ("p99", "p99", 5),
    ("trial", "trial", 7),
    ("last", "last change", None),
)
WIDE_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("state", "state", 13),
    ("name", "breaker", None),
    ("error", "err%", 4),
    ("rate", "/min", 5),
    ("p50", "p50", 6),
    ("p90", "p90", 6),
    ("p99", "p99", 6),
    ("trial", "trial", 8),
    ("errors", "errors", SPARK_POINTS),
    ("last", "last change", None),
)
# What the override keys do: engine command, the words for the confirmation.
COMMANDS = {
    "force_open": "forced open",
    "force_closed": "forced closed",
    "metrics_only": "set to metrics-only",
    "reset": "reset to closed",
}


class BreakersScreen(Screen):
    """All breakers; `o` `c` `m` `z` override the selected one of ours; esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        # Short words for the footer; the title line, help and palette spell them out.
        Binding("o", "override('force_open')", "Open", id="force_open"),
        Binding("c", "override('force_closed')", "Closed", id="force_closed"),
        Binding("m", "override('metrics_only')", "Metrics", id="metrics_only"),
        Binding("z", "override('reset')", "Reset", id="reset_breaker"),
    ]

    def __init__(self, snapshot: Snapshot | None = None, palette: Palette | None = None, mono_now: float = 0.0) -> None:
        super().__init__(id="breakers")
        self._snapshot = snapshot
        self._palette = palette or Palette()
        self._mono = mono_now
        self._rows: list[BreakerRow] = []
        self._shown: list[tuple[Text, ...]] = []
        self._columns: tuple[tuple[str, str, int | None], ...] = ()
        self._ready = False

    def compose(self) -> ComposeResult:
        yield DashHeader(id="breakers-header")
        yield Static(Text(""), markup=False, id="breakers-title")
        yield DataTable(cursor_type="row", zebra_stripes=False, id="breakers-table")
        yield Static(Text(""), markup=False, id="breaker-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._ready = True
        self.table.focus()
        if self._snapshot is not None:
            self.show(self._snapshot, self._palette, self._mono)

    @property
    def table(self) -> DataTable:
        return self.query_one("#breakers-table", DataTable)

    # -- reading ----------------------------------------------------------------------

    @property
    def rows(self) -> list[BreakerRow]:
        """The rows in display order."""
        return list(self._rows)

    @property
    def selected(self) -> BreakerRow | None:
        """The breaker under the cursor."""
        table = self.table
        if not self._rows or not table.row_count:
            return None
        return self._rows[min(max(0, table.cursor_row), len(self._rows) - 1)]

    # -- drawing ----------------------------------------------------------------------

    def show(self, snapshot: Snapshot, palette: Palette, mono_now: float, *, restyle: bool = False) -> None:
        """Draw the breakers of `snapshot`; `mono_now` is the engine's monotonic time at that snapshot."""
        self._snapshot, self._palette, self._mono = snapshot, palette, mono_now
        if not self._ready:
            return
        selected = self.selected.key if self.selected else None
        rows = breaker_rows(snapshot, mono_now)
        with self.app.batch_update():
            self.query_one(DashHeader).show(snapshot, palette, ["breakers"])
            title = Text(end="", no_wrap=True, overflow="ellipsis")
            title.append(" circuit breakers  ", style=palette("strong"))
            title.append(breaker_counts(rows), style=palette("muted"))
            title.append("   o force open · c force closed · m metrics-only · z reset", style=palette("muted"))
            self.query_one("#breakers-title", Static).update(title)
            self._sync(rows, selected, restyle=restyle)
            self._show_detail()

    def _layout(self) -> tuple[tuple[str, str, int | None], ...]:
        return WIDE_COLUMNS if self.app.size.width >= WIDE else NARROW_COLUMNS

    def _widths(self, columns: Sequence[tuple[str, str, int | None]], rows: Sequence[BreakerRow]) -> dict[str, int]:
        name = max(7, min(NAME_WIDTH, max((len(r.name) for r in rows), default=7)))
        widths = {key: width or 0 for key, _, width in columns}
        widths["name"] = name
        widths["state"] = max(5, min(widths["state"], max((len(r.state) for r in rows), default=5)))
        fixed = sum(w for k, w in widths.items() if k != "last")
        padding = 2 * self.table.cell_padding * len(columns)
        widths["last"] = max(MIN_LAST_WIDTH, self.app.size.width - fixed - padding - 2)
        return widths

    def _cells(self, row: BreakerRow, keys: Sequence[str], widths: dict[str, int]) -> tuple[Text, ...]:
        p = self._palette
        name = row.name if len(row.name) <= widths["name"] else row.name[: widths["name"] - 1] + "…"
        last = f"{row.changed:>3} {row.why}" if row.changed else row.why
        values = {
            "state": Text(row.state, style=p(row.tone) + (p("strong") if row.tone == "crit" else p("")), end=""),
            "name": Text(name, style=p("") if row.own else p("muted"), end=""),
            "error": Text(row.error.rjust(widths["error"]), style=p("crit") if row.error not in ("-", "0%") else p(""), end=""),
            "rate": Text(row.rate.rjust(widths["rate"]), end=""),
            "p50": Text(row.p50.rjust(widths.get("p50", 0)), end=""),
            "p90": Text(row.p90.rjust(widths.get("p90", 0)), end=""),
            "p99": Text(row.p99.rjust(widths["p99"]), end=""),
            "trial": Text(row.trial, style=p(row.tone), end=""),
            "errors": Text(spark(row.errors[-SPARK_POINTS:], 0.0, 100.0) if row.errors else "", style=p("crit"), end=""),
            "last": Text(last, style=p("muted") if not row.own else p(""), end=""),
        }
        return tuple(values[k] for k in keys)

    def _sync(self, rows: list[BreakerRow], selected: str | None, *, restyle: bool) -> None:
        """Apply `rows` to the table: changed cells only, unless the rows or layout changed."""
        table = self.table
        columns = self._layout()
        widths = self._widths(columns, rows)
        keys = [k for k, _, _ in columns]
        cells = [self._cells(r, keys, widths) for r in rows]
        same_rows = [r.key for r in rows] == [r.key for r in self._rows]
        same_layout = columns == self._columns and all(
            table.columns[k].width == widths[k] for k in keys if k in table.columns  # type: ignore[index]
        )
        self._rows = rows
        if same_rows and same_layout and not restyle:
            for r, new, old in zip(rows, cells, self._shown):
                for key, a, b in zip(keys, new, old):
                    if a.plain != b.plain or a.spans != b.spans or a.style != b.style:
                        table.update_cell(r.key, key, a)
            self._shown = cells
            return
        table.clear(columns=not same_layout or not table.columns)
        if not table.columns:
            for key, label, _ in columns:
                table.add_column(Text(label), key=key, width=widths[key])
            self._columns = columns
        for r, c in zip(rows, cells):
            table.add_row(*c, key=r.key)
        self._shown = cells
        order = [r.key for r in rows]
        if selected in order:
            table.move_cursor(row=order.index(selected), animate=False)

    def on_resize(self) -> None:
        if self._snapshot is not None and self._ready:
            self.show(self._snapshot, self._palette, self._mono, restyle=True)

    def _show_detail(self) -> None:
        p = self._palette
        row = self.selected
        pane = self.query_one("#breaker-detail", Static)
        if row is None or self._snapshot is None:
            pane.update(Text("no breakers", style=p("muted")))
            return
        config = getattr(self.app, "config", None)
        users = [c.name for c in config.checks if (c.breaker or c.name) == row.name] if config and row.own else []
        lines = breaker_detail(row, self._mono, self._snapshot.generated_at, users)
        width = max(len(label) for label, _, _ in lines)
        out = Text(end="", no_wrap=True, overflow="ellipsis")
        out.append(row.name, style=p("strong"))
        for label, text, tone in lines:
            out.append("\n")
            out.append(label.ljust(width), style=p("muted"))
            out.append("  ")
            out.append(text, style=p(tone))
        pane.update(out)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # -- keys ---------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_back(self) -> None:
        """Back to where `b` was pressed."""
        self.app.pop_screen()

    def action_override(self, command: str) -> None:
        """Apply an operator override to the selected breaker (ours only)."""
        row = self.selected
        if row is None:
            return
        if not row.own:
            self.notify(
                f"{row.name} is the application's own breaker (reported by {row.source}): "
                "o c m z change healthdash's breakers only",
                severity="warning",
                timeout=5,
                markup=False,
            )
            return
        self.app.override_breaker(row.name, command)  # type: ignore[attr-defined]
