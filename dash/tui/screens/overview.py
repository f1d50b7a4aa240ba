"""The overview: header, checks table, host panel, problems, filter, footer.

At 80 columns the host panel sits above the table (docked) and the problems below
it; from 140 columns both move to a side column next to the table (a grid).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from dash.model import Snapshot
from dash.tui.palette import Palette
from dash.tui.view import SORTS, host_check, next_sort, table_row, visible_checks
from dash.tui.widgets.checks_table import ChecksTable
from dash.tui.widgets.header import DashHeader
from dash.tui.widgets.host_panel import HostPanel
from dash.tui.widgets.problems import ProblemsPanel


class OverviewScreen(Screen):
    """Every check at a glance."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("r", "run_selected", "Run", id="run"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
    ]

    class OpenDetail(Message):
        """The user asked for the detail of one check."""

        def __init__(self, check: str) -> None:
            super().__init__()
            self.check = check

    def __init__(self) -> None:
        super().__init__(id="overview")
        self.sort_mode: str = SORTS[0]
        self.filter_text: str = ""
        self._snapshot: Snapshot | None = None
        self._palette = Palette()
        self._errors: tuple[str, ...] = ()
        self._ready = False

    def compose(self) -> ComposeResult:
        yield DashHeader(id="header")
        with Container(id="body"):
            yield ChecksTable(id="checks")
            yield HostPanel(id="host")
            yield ProblemsPanel(id="problems")
        yield Input(placeholder="filter: name, kind, tag or message; !text hides matches; esc clears", id="filter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._ready = True
        self.query_one(ChecksTable).focus()
        self._draw()  # the app may have handed over a snapshot before this screen was mounted

    # -- drawing ------------------------------------------------------------------

    @property
    def table(self) -> ChecksTable:
        return self.query_one(ChecksTable)

    def show(
        self,
        snapshot: Snapshot,
        palette: Palette,
        errors: tuple[str, ...] = (),
        *,
        restyle: bool = False,
    ) -> None:
        """Draw `snapshot` (`restyle` after a theme change; `errors` from a failed reload)."""
        self._snapshot, self._palette, self._errors = snapshot, palette, errors
        self._draw(restyle=restyle)

    def _draw(self, *, restyle: bool = False) -> None:
        snap = self._snapshot
        if snap is None or not self._ready:
            return
        now = snap.generated_at
        extra = [f"filter: {self.filter_text.strip()}"] if self.filter_text.strip() else []
        extra.append(f"sort: {self.sort_mode}")
        with self.app.batch_update():
            self.query_one(DashHeader).show(snap, self._palette, extra)
            shown = visible_checks(snap.checks, self.filter_text, self.sort_mode)
            by_name = {c.name: c for c in shown}
            self.table.sync(
                [c.name for c in shown], lambda name: table_row(by_name[name], now), self._palette, restyle=restyle
            )
            self.query_one(HostPanel).show(host_check(snap.checks), self._palette)
            self.query_one(ProblemsPanel).show(snap.checks, now, self._palette, self._errors)

    # -- keys ------------------------------------------------------------------------

    def action_filter(self) -> None:
        """Open the filter line and put the cursor in it."""
        box = self.query_one("#filter", Input)
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        """Empty and close the filter line."""
        box = self.query_one("#filter", Input)
        box.value = ""
        self.filter_text = ""
        box.remove_class("-open")
        self.table.focus()
        self._draw()

    def action_cycle_sort(self) -> None:
        """Next sort order: severity, name, latency, last change."""
        self.sort_mode = next_sort(self.sort_mode)
        self.notify(f"sort: {self.sort_mode}", timeout=2, markup=False)
        self._draw()

    def action_run_selected(self) -> None:
        """Run the check under the cursor now."""
        name = self.table.selected_check
        if name is not None:
            self.app.run_check_now(name)  # type: ignore[attr-defined]

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._draw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.action_clear_filter()
            return
        self.table.focus()

    @on(DataTable.RowSelected, "#checks")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(self.OpenDetail(str(event.row_key.value)))
