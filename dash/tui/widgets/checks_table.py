"""The checks table: one row per check, updated by diffing, never cleared and refilled."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from dash.tui.palette import Palette
from dash.tui.view import HISTORY_WIDTH, RETRY_MARK, STALE_MARK, Row

# (key, label, fixed width or None for "fit the content")
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "status", 9),
    ("name", "name", None),
    ("kind", "kind", 5),
    ("latency", "latency", 7),
    ("history", "history", HISTORY_WIDTH),
    ("age", "age", 4),
    ("message", "message", None),
)
_FIT = {key for key, _, width in COLUMNS if width is None}
NAME_WIDTH = 24


class NameCell(Text):
    """The name cell remembers its check, so rows can be ordered by check name."""

    check: str = ""


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class ChecksTable(DataTable):
    """Checks in display order; `sync()` applies a new list of rows with minimal changes."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Detail", id="detail"),
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._shown: dict[str, dict[str, Text]] = {}

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        if not self.columns:
            for key, label, width in COLUMNS:
                self.add_column(Text(label), key=key, width=width)

    # -- reading --------------------------------------------------------------

    @property
    def selected_check(self) -> str | None:
        """The check under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can sit past the end while rows are being removed
            return None

    def shown_order(self) -> list[str]:
        """Check names in the order the table shows them."""
        return [str(row.key.value) for row in self.ordered_rows]

    # -- writing ---------------------------------------------------------------

    def cells(self, row: Row, palette: Palette) -> dict[str, Text]:
        """The styled cells of one row."""
        muted = "muted" if row.stale else ""
        name = NameCell(_clip(row.name, NAME_WIDTH), end="")
        name.check = row.name
        if row.stale:
            name.stylize(palette("muted"))
        history = Text(" " * (HISTORY_WIDTH - len(row.history)), end="")
        for glyph, tone in row.history:
            history.append(glyph, style=palette(tone))
        message = Text(end="")
        if row.stale:
            message.append(STALE_MARK, style=palette("warn") + palette("strong"))
            message.append(" ")
        if row.retried:
            message.append(RETRY_MARK + " ", style=palette("warn"))
        message.append(row.message, style=palette(muted or ("muted" if row.tone == "pending" else "")))
        status = palette.text(row.status, row.tone)
        if row.stale:
            status.stylize(palette("muted"))
        return {
            "status": status,
            "name": name,
            "kind": palette.text(row.kind, muted),
            "latency": Text(row.latency.rjust(7), style=palette(muted), end=""),
            "history": history,
            "age": Text(row.age.rjust(4), style=palette(muted), end=""),
            "message": message,
        }

    def sync(self, rows: Sequence[Row], palette: Palette, *, restyle: bool = False) -> None:
        """Show exactly `rows`, in that order: add, remove and update cells only where they differ."""
        if restyle:  # a new theme: every cell's colours changed
            old_shown = self._shown
            self._shown = {k: {c: Text("\x00") for c in v} for k, v in old_shown.items()}
        self._ensure_columns()
        wanted = {r.name for r in rows}
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in wanted]:
                self.remove_row(key)
                del self._shown[key]
            for row in rows:
                new = self.cells(row, palette)
                old = self._shown.get(row.name)
                if old is None:
                    self.add_row(*(new[key] for key, _, _ in COLUMNS), key=row.name)
                else:
                    for key, cell in new.items():
                        if not _same(cell, old[key]):
                            self.update_cell(row.name, key, cell, update_width=key in _FIT)
                self._shown[row.name] = new
            self._reorder([r.name for r in rows])

    def _reorder(self, order: list[str]) -> None:
        if self.shown_order() == order:
            return
        # The cursor follows the check it was on, unless it sits on the top line,
        # which means "the worst check", whichever that is now.
        selected = self.selected_check if self.cursor_row > 0 else None
        rank = {name: i for i, name in enumerate(order)}
        self.sort("name", key=lambda cell: rank.get(getattr(cell, "check", ""), len(rank)))
        if selected is not None and selected in rank:
            self.move_cursor(row=self.get_row_index(selected), animate=False)
