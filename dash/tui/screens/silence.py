"""Silences: the `x` form that adds one, and the `X` screen that lists them (`d` removes one).

A silence always ends: the form asks for a duration ("1h" by default, parsed like the
config's durations) and refuses to submit without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from dash.config import parse_duration
from dash.model import Snapshot
from dash.tui.palette import Palette
from dash.tui.view import silence_rows
from dash.tui.widgets.header import DashHeader

DEFAULT_DURATION = "1h"


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    """What the form asks for: silence names matching `match` for `seconds`."""

    match: str
    seconds: float
    comment: str


def read_form(match: str, duration: str, comment: str) -> SilenceRequest:
    """Validate the form's fields; ValueError with a one-line reason when they do not make a silence."""
    match = match.strip()
    if not match:
        raise ValueError("match: give a check or service name, or a glob like api-*")
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise ValueError(f"for: {exc}") from None
    if seconds <= 0:
        raise ValueError("for: a silence must last longer than 0s")
    return SilenceRequest(match, seconds, comment.strip())


class SilenceForm(ModalScreen[SilenceRequest | None]):
    """Match, duration and comment; enter silences, esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="close_silence")]

    DEFAULT_CSS = """
    SilenceForm {
        align: center middle;
    }
    SilenceForm > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    SilenceForm Input {
        margin-bottom: 1;
    }
    SilenceForm #silence-error {
        color: $text-error;
    }
    """

    def __init__(self, match: str = "") -> None:
        super().__init__(id="silence-form")
        self._match = match

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("silence alerts", style="bold"), markup=False)
            yield Static(Text("match: a check or service name, or a glob (api-*)", style="dim"), markup=False)
            yield Input(value=self._match, compact=True, id="silence-match")
            yield Static(Text("for: how long (15m, 1h, 2h30m, 1d); it always ends", style="dim"), markup=False)
            yield Input(value=DEFAULT_DURATION, compact=True, id="silence-for")
            yield Static(Text("comment (optional)", style="dim"), markup=False)
            yield Input(compact=True, id="silence-comment")
            yield Static(Text(""), markup=False, id="silence-error")
            yield Static(Text("enter silences · tab next field · esc cancels", style="dim"), markup=False)

    def on_mount(self) -> None:
        self.query_one("#silence-for", Input).focus()

    def field(self, name: str) -> Input:
        return self.query_one(f"#silence-{name}", Input)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            request = read_form(self.field("match").value, self.field("for").value, self.field("comment").value)
        except ValueError as exc:
            self.query_one("#silence-error", Static).update(Text(str(exc)))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)


# (key, label, width); match is fitted to the patterns, the comment takes the rest.
COLUMNS = (("id", "id", 4), ("match", "match", 0), ("ends", "ends", 17), ("silenced", "alerts", 6),
           ("comment", "by: comment", 0))
MATCH_WIDTH = 24
MIN_COMMENT_WIDTH = 20


class SilencesScreen(Screen):
    """The active silences, the soonest to end first; `d` ends the selected one early."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        Binding("d", "delete", "Remove", id="delete_silence"),
        Binding("x", "add", "New", id="silence"),
    ]

    def __init__(self, snapshot: Snapshot | None = None, palette: Palette | None = None) -> None:
        super().__init__(id="silences")
        self._snapshot = snapshot
        self._palette = palette or Palette()
        self._ready = False
        self._shown: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        yield DashHeader(id="silences-header")
        yield Static(Text(""), markup=False, id="silences-title")
        yield DataTable(cursor_type="row", id="silences-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(Text(label), key=key, width=width or len(label))
        self._ready = True
        table.focus()
        if self._snapshot is not None:
            self.show(self._snapshot, self._palette)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def selected_id(self) -> str | None:
        """The id of the silence under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # the cursor sits past the end while rows are being removed
            return None

    def show(self, snapshot: Snapshot, palette: Palette, *, restyle: bool = False) -> None:
        """Draw the silences of `snapshot`."""
        self._snapshot, self._palette = snapshot, palette
        if not self._ready:
            return
        rows = silence_rows(snapshot.silences, snapshot.alerts, snapshot.generated_at)
        values = [(r.id, r.match, r.ends, r.silenced, f"{r.by}: {r.comment}" if r.comment else r.by) for r in rows]
        with self.app.batch_update():
            self.query_one(DashHeader).show(snapshot, palette, ["silences"])
            n = len(rows)
            title = Text(end="", no_wrap=True, overflow="ellipsis")
            title.append(" silences", style=palette("strong"))
            if n:
                title.append(f" ({n} active)  d removes the selected one · x adds one · esc back", style=palette("muted"))
            else:
                title.append("  none active · x adds one (on the overview: for the selected check) · esc back",
                             style=palette("muted"))
            self.query_one("#silences-title", Static).update(title)
            if values == self._shown and not restyle:
                return
            table = self.table
            keep = self.selected_id
            table.clear()
            self._fit(values)
            for v in values:
                table.add_row(*(Text(x, end="") for x in v), key=v[0])
            ids = [v[0] for v in values]
            if keep in ids:
                table.move_cursor(row=ids.index(keep), animate=False)
            self._shown = values

    def _fit(self, values: list[tuple[str, ...]]) -> None:
        """Size the match column to the patterns and give the comment the rest of the width."""
        table = self.table
        widths = {key: width for key, _, width in COLUMNS}
        widths["match"] = max(5, min(MATCH_WIDTH, max((len(v[1]) for v in values), default=5)))
        fixed = sum(w for k, w in widths.items() if k != "comment")
        padding = 2 * table.cell_padding * len(COLUMNS)
        widths["comment"] = max(MIN_COMMENT_WIDTH, self.app.size.width - fixed - padding - 2)
        for key, width in widths.items():
            table.columns[key].width = width  # type: ignore[index]
        table.refresh()

    def on_resize(self) -> None:
        if self._snapshot is not None and self._ready:
            self.show(self._snapshot, self._palette, restyle=True)

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_delete(self) -> None:
        """End the selected silence now."""
        sid = self.selected_id
        if sid is not None:
            self.app.remove_silence(sid)  # type: ignore[attr-defined]

    def action_add(self) -> None:
        self.app.open_silence_form("")  # type: ignore[attr-defined]
