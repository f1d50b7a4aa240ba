"""The checks table: one row per check, updated by diffing, never cleared and refilled."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from dash.tui.palette import Palette
from dash.tui.view import HISTORY_WIDTH, RETRY_MARK, STALE_MARK, Row

# (key, label, width or None for "sized by the table"). Every column has a fixed
# width: auto-sized columns make DataTable re-measure whole columns on updates,
# which costs far too much at 1000 rows. The name column fits the longest name (up
# to NAME_WIDTH); the message column takes the rest of the screen.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "status", 9),
    ("breaker", "", 1),  # ⊘ open, ◐ half-open, ⊗ forced open: probes held back
    ("name", "name", None),
    ("kind", "kind", 4),
    ("latency", "took", 7),
    ("history", "recent", None),
    ("age", "age", 4),
    ("message", "message", None),
)
NAME_WIDTH = 24
VIEW_MARGIN = 5
NARROW = 100  # below this many columns the table tightens to leave room for the message
NARROW_HISTORY = 6  # rows above and below the screen kept up to date too
MIN_MESSAGE_WIDTH = 20


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
        self._outdated: set[str] = set()  # rows whose cells wait until they scroll into view
        self._make_row: Callable[[str], Row] | None = None
        self._palette = Palette()

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        if not self.columns:
            for key, label, width in COLUMNS:
                self.add_column(Text(label), key=key, width=width or len(label))

    def on_resize(self) -> None:
        self._fit_columns()
        with self.app.batch_update():
            self._update_visible()

    def _set_width(self, key: str, width: int) -> bool:
        column = self.columns.get(key)  # type: ignore[call-overload]
        if column is None or column.width == width:
            return False
        column.width = width
        return True

    def _fit_columns(self, names: Sequence[str] | None = None) -> None:
        """Size the name column to the names and give the message column the rest."""
        narrow = self.size.width < NARROW
        changed = self._set_width("history", NARROW_HISTORY if narrow else HISTORY_WIDTH)
        changed |= self._set_width("latency", 6 if narrow else 7)
        if changed:  # the history strips and statuses are redrawn at the new width
            self._outdated.update(self._shown)
        if names is not None:
            longest = max((len(n) for n in names), default=4)
            changed |= self._set_width("name", max(4, min(NAME_WIDTH, longest)))
        fixed = sum(c.width for key, c in self.columns.items() if key != "message")
        padding = 2 * self.cell_padding * len(self.columns)
        available = self.size.width - fixed - padding - 2  # room for the scrollbar
        changed |= self._set_width("message", max(MIN_MESSAGE_WIDTH, available))
        if changed:
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

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
        width = self.columns["history"].width if "history" in self.columns else HISTORY_WIDTH  # type: ignore[index]
        recent = row.history[-width:]
        history = Text(" " * (width - len(recent)), end="")
        for glyph, tone in recent:
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
            "breaker": Text(row.breaker or " ", style=palette(row.breaker_tone), end=""),
            "name": name,
            "kind": palette.text(row.kind, muted),
            "latency": Text(row.latency.rjust(6), style=palette(muted), end=""),
            "history": history,
            "age": Text(row.age.rjust(4), style=palette(muted), end=""),
            "message": message,
        }

    def sync(
        self,
        order: Sequence[str],
        make_row: Callable[[str], Row],
        palette: Palette,
        *,
        restyle: bool = False,
    ) -> None:
        """Show the checks named in `order`, in that order, with minimal changes.

        Only rows on screen (and a few around it) are rebuilt and compared; the
        others are brought up to date when they scroll into view, so a refresh
        costs the same at 40 checks and at 1000.
        """
        if restyle:  # a new theme: every cell's colours changed
            self._shown = {k: {c: Text("\x00") for c in v} for k, v in self._shown.items()}
            self._outdated.update(self._shown)
        self._ensure_columns()
        self._make_row, self._palette = make_row, palette
        wanted = set(order)
        if wanted != set(self._shown):
            self._fit_columns(order)
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in wanted]:
                self.remove_row(key)
                del self._shown[key]
                self._outdated.discard(key)
            for name in order:
                if name not in self._shown:
                    new = self.cells(make_row(name), palette)
                    self.add_row(*(new[key] for key, _, _ in COLUMNS), key=name)
                    self._shown[name] = new
                else:
                    self._outdated.add(name)
            self._reorder(list(order))
            self._update_visible()

    def _visible_names(self) -> list[str]:
        top = max(0, int(self.scroll_y) - VIEW_MARGIN)
        bottom = int(self.scroll_y) + self.size.height + VIEW_MARGIN
        return [str(row.key.value) for row in self.ordered_rows[top:bottom]]

    def _update_visible(self) -> None:
        """Rebuild the outdated rows that are on screen."""
        if self._make_row is None or not self._outdated:
            return
        changed = False
        for name in self._visible_names():
            if name not in self._outdated:
                continue
            self._outdated.discard(name)
            new = self.cells(self._make_row(name), self._palette)
            old = self._shown[name]
            row = self._data.get(RowKey(name))
            for key, cell in new.items():
                if row is not None and not _same(cell, old[key]):
                    self.set_cell(row, key, cell)
                    changed = True
            self._shown[name] = new
        if changed:
            self.refresh()

    def set_cell(self, row: dict, key: str, cell: Text) -> None:
        """What DataTable.update_cell does, without its refresh of the whole table per
        cell: the caller refreshes once for every change (fixed widths: nothing to measure)."""
        row[ColumnKey(key)] = cell
        self._update_count += 1

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if int(old) != int(new):
            with self.app.batch_update():
                self._update_visible()

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
