"""The overview: header, checks table, host panel, services, alerts, filter, footer.

At 80 columns the host panel sits above the table (docked), services and alerts
below it; from 140 columns host and services move to a side column next to the
table (a grid) and the alerts span the width below.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from dash.core.alerts import fingerprint
from dash.model import Snapshot
from dash.tui.palette import Palette
from dash.tui.view import SORTS, breaker_marks, host_check, next_sort, table_row, visible_checks
from dash.tui.widgets.alerts import AlertsPanel
from dash.tui.widgets.checks_table import ChecksTable
from dash.tui.widgets.header import DashHeader
from dash.tui.widgets.host_panel import HostPanel
from dash.tui.widgets.services import ServicesPanel


class OverviewScreen(Screen):
    """Every check at a glance."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    # Below 20 lines the host panel goes and the lower panels shrink: checks come first.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "cycle_sort", "Sort", show=False, id="sort"),  # the header shows the sort
        Binding("r", "run_selected", "Run", show=False, id="run"),
        Binding("a", "ack", "Ack", id="ack"),
        Binding("A", "unack", "Unack", show=False, id="unack"),
        Binding("x", "silence", "Silence", id="silence"),
        Binding("e", "toggle_symptoms", "Symptoms", show=False, id="symptoms"),
        Binding("tab", "toggle_focus", "Alerts", show=False, id="focus_alerts"),
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
        self.show_symptoms = False
        self._snapshot: Snapshot | None = None
        self._palette = Palette()
        self._errors: tuple[str, ...] = ()
        self._ready = False
        self._breaker_of: tuple[object, dict[str, str]] = (None, {})

    def compose(self) -> ComposeResult:
        yield DashHeader(id="header")
        with Container(id="body"):
            yield ChecksTable(id="checks")
            yield HostPanel(id="host")
            yield ServicesPanel(id="services")
            yield AlertsPanel(id="alerts")
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

    @property
    def alerts_panel(self) -> AlertsPanel:
        return self.query_one(AlertsPanel)

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

    def _breakers_by_check(self) -> dict[str, str]:
        """Check name -> breaker name, from the app's config (rebuilt when it is reloaded)."""
        config = getattr(self.app, "config", None)
        if config is None:
            return {}
        if self._breaker_of[0] is not config:
            self._breaker_of = (config, {c.name: c.breaker or c.name for c in config.checks})
        return self._breaker_of[1]

    def _draw(self, *, restyle: bool = False) -> None:
        snap = self._snapshot
        if snap is None or not self._ready:
            return
        now = snap.generated_at
        extra = [f"filter: {self.filter_text.strip()}"] if self.filter_text.strip() else []
        extra.append(f"sort: {self.sort_mode}")
        marks = breaker_marks(snap, self._breakers_by_check())
        config = getattr(self.app, "config", None)
        with self.app.batch_update():
            self.query_one(DashHeader).show(snap, self._palette, extra)
            shown = visible_checks(snap.checks, self.filter_text, self.sort_mode)
            by_name = {c.name: c for c in shown}
            self.table.sync(
                [c.name for c in shown],
                lambda name: table_row(by_name[name], now, marks.get(name)),
                self._palette,
                restyle=restyle,
            )
            self.query_one(HostPanel).show(host_check(snap.checks), self._palette)
            services = self.query_one(ServicesPanel)
            configured = bool(config is not None and config.services)
            services.set_class(not configured, "-none")  # hidden; the wide grid keeps its cell
            services.show(snap.services if configured else None, self._palette)
            self.alerts_panel.show(
                snap.alerts, snap.checks, now, self._palette, self._errors, expanded=self.show_symptoms,
                external=snap.external,
            )

    # -- what the alert keys act on ------------------------------------------------------

    def selection(self) -> tuple[str | None, str | None]:
        """(alert fingerprint, subject name) of what `a`, `A` and `x` act on: the selected
        line of the alert panel when it has the focus, else the check under the table's cursor."""
        if self.alerts_panel.has_focus:
            line = self.alerts_panel.selected
            if line is None:
                return None, None
            return line.fingerprint, line.name
        name = self.table.selected_check
        if name is None:
            return None, None
        return fingerprint("check", name), name

    def note_subject(self) -> str | None:
        """The check a note written now is about: the selected alert line's check when the
        alert panel has the focus, else the check under the table's cursor."""
        if self.alerts_panel.has_focus:
            line = self.alerts_panel.selected
            return line.check if line is not None else None
        return self.table.selected_check

    def _external_selected(self) -> bool:
        """True (and the user told why nothing happens) when the selected alert is Alertmanager's."""
        line = self.alerts_panel.selected if self.alerts_panel.has_focus else None
        if line is None or not line.external:
            return False
        self.notify(
            f"{line.name} is {line.source}'s alert: acknowledge or silence it in Alertmanager",
            severity="warning",
            timeout=5,
            markup=False,
        )
        return True

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

    def action_ack(self) -> None:
        """Acknowledge the alert of the selected check (or the selected alert)."""
        if self._external_selected():
            return
        fp, name = self.selection()
        if name is not None:
            self.app.acknowledge_alert(fp, name)  # type: ignore[attr-defined]

    def action_unack(self) -> None:
        """Take back the acknowledgement of the selected check's (or the selected) alert."""
        if self._external_selected():
            return
        fp, name = self.selection()
        if name is not None:
            self.app.unacknowledge_alert(fp, name)  # type: ignore[attr-defined]

    def action_silence(self) -> None:
        """Open the silence form, matching the selected check (or alert) by default."""
        if self._external_selected():
            return
        _, name = self.selection()
        self.app.open_silence_form(name or "")  # type: ignore[attr-defined]

    def action_toggle_symptoms(self) -> None:
        """Show or fold the symptoms under their root-cause alerts."""
        self.show_symptoms = not self.show_symptoms
        self._draw()

    def action_toggle_focus(self) -> None:
        """Move the focus between the checks table and the alert panel."""
        if self.alerts_panel.has_focus:
            self.table.focus()
        else:
            self.alerts_panel.focus()

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

    @on(AlertsPanel.OpenCheck)
    def _alert_selected(self, event: AlertsPanel.OpenCheck) -> None:
        self.post_message(self.OpenDetail(event.check))
