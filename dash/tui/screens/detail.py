"""One check in detail: configuration (secrets masked), recent results, latency, last error, runbook."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Markdown, Sparkline, Static

from dash.config import CheckConfig, Config, format_duration
from dash.model import CheckState, Snapshot
from dash.text import clean
from dash.tui.palette import Palette
from dash.tui.view import (
    SYMBOL,
    clock_text,
    config_lines,
    format_age,
    format_latency,
    last_error,
    latency_summary,
    runbook_target,
    status_label,
    tone_of,
)

RESULT_ROWS = 20
_REVERSE = Style(reverse=True)
RUNBOOK_LIMIT = 256 * 1024
RESULT_COLUMNS = (("time", 8), ("status", 9), ("reason", 11), ("attempts", 8), ("latency", 7), ("message", None))


def _read_runbook(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(RUNBOOK_LIMIT + 1)
    text = clean(data[:RUNBOOK_LIMIT], limit=None, one_line=False)
    return text + ("\n\n*(runbook truncated)*" if len(data) > RUNBOOK_LIMIT else "")


class DetailScreen(Screen):
    """Everything known about one check; esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("r", "run_this", "Run now", id="run"),
    ]

    def __init__(self, check: str, config: Config, snapshot: Snapshot | None = None, palette: Palette | None = None) -> None:
        super().__init__(id="detail")
        self.check_name = check
        self._config = config
        self._snapshot = snapshot
        self._palette = palette or Palette()
        self._results: list[tuple[str, ...]] = []
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Static(Text(self.check_name), markup=False, id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(Text("configuration", style="bold"), markup=False, classes="section")
            yield Static(Text(""), markup=False, id="detail-config")
            yield Static(Text("latency", style="bold"), markup=False, classes="section")
            yield Sparkline([], id="latency")
            yield Static(Text(""), markup=False, id="latency-summary")
            yield Static(Text("last error", style="bold"), markup=False, classes="section")
            yield Static(Text(""), markup=False, id="last-error")
            yield Static(Text("recent results", style="bold"), markup=False, classes="section")
            yield DataTable(cursor_type="none", id="results")
            yield Static(Text("runbook", style="bold"), markup=False, classes="section")
            yield Static(Text(""), markup=False, id="runbook")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#results", DataTable)
        for key, width in RESULT_COLUMNS:
            table.add_column(Text(key), key=key, width=width)
        self._ready = True
        self._show_config()
        self.query_one("#detail-body").focus()
        if self._snapshot is not None:
            self.show(self._snapshot, self._palette)

    # -- drawing -----------------------------------------------------------------------

    @property
    def check_config(self) -> CheckConfig | None:
        try:
            return self._config.check(self.check_name)
        except KeyError:
            return None

    def set_config(self, config: Config) -> None:
        """A reloaded config: redraw the configuration and runbook."""
        if config is not self._config:
            self._config = config
            if self._ready:
                self._show_config()

    def _show_config(self) -> None:
        check = self.check_config
        body = Text(end="")
        if check is None:
            body.append("this check is no longer configured", style="bold")
        else:
            lines = config_lines(check, self._config.redactor)
            width = max(len(k) for k, _ in lines)
            for i, (key, value) in enumerate(lines):
                if i:
                    body.append("\n")
                body.append(key.ljust(width), style="dim")
                body.append("  ")
                body.append(value)
        self.query_one("#detail-config", Static).update(body)
        self._show_runbook(check)

    def _show_runbook(self, check: CheckConfig | None) -> None:
        for old in self.query("#runbook-md"):
            old.remove()
        static = self.query_one("#runbook", Static)
        target = runbook_target(check.runbook if check else None, self._config.path)
        if target is None:
            static.update(Text("none configured (set runbook = \"URL or file.md\" on the check)", style="dim"))
            return
        kind, value = target
        if kind == "file":
            static.update(Text(str(value), style="dim"))
            self.run_worker(self._load_runbook(Path(value)), exclusive=True, group="runbook")
        else:
            static.update(Text(self._config.redactor(str(value))))

    async def _load_runbook(self, path: Path) -> None:
        try:
            text = await asyncio.to_thread(_read_runbook, path)
        except OSError as exc:
            self.query_one("#runbook", Static).update(
                Text(f"{path}: cannot read: {clean(exc.strerror or exc)}")
            )
            return
        await self.query_one("#detail-body").mount(Markdown(text, id="runbook-md"), after="#runbook")

    def show(self, snapshot: Snapshot, palette: Palette, *, restyle: bool = False) -> None:
        """Draw this check's state from `snapshot` (`restyle` after a theme change)."""
        self._snapshot, self._palette = snapshot, palette
        if not self._ready:  # drawn by on_mount once the widgets exist
            return
        if restyle:
            self._results = [("",) * len(RESULT_COLUMNS) for _ in self._results]
        state = next((c for c in snapshot.checks if c.name == self.check_name), None)
        with self.app.batch_update():
            self._show_title(state, snapshot.generated_at)
            self._show_latency(state)
            self._show_last_error(state)
            self._show_results(state)

    def _show_title(self, state: CheckState | None, now: float) -> None:
        p = self._palette
        title = Text(end="", no_wrap=True, overflow="ellipsis")
        title.append(" ")
        if state is None:
            title.append(self.check_name, style=p("strong"))
            title.append("  no longer configured", style=p("muted"))
        else:
            tone = tone_of(state)
            title.append(f" {status_label(state)} ", style=p(tone) + p("strong") + _REVERSE)
            title.append("  ")
            title.append(state.name, style=p("strong"))
            title.append(f"  ({state.kind}, every {format_duration(state.interval)})", style=p("muted"))
            if state.status_since is not None:
                title.append(f"  since {clock_text(state.status_since)} ({format_age(now - state.status_since)} ago)")
            if state.is_stale(now):
                title.append("  stale", style=p("warn") + p("strong"))
            if state.running:
                title.append("  running…", style=p("muted"))
        self.query_one("#detail-title", Static).update(title)

    def _show_latency(self, state: CheckState | None) -> None:
        history = state.history if state else ()
        chart = self.query_one("#latency", Sparkline)
        chart.data = [r.latency for r in history[-120:]]
        chart.styles.width = max(2, len(chart.data))  # one column per result, not stretched
        self.query_one("#latency-summary", Static).update(Text(latency_summary(history), style=self._palette("muted")))

    def _show_last_error(self, state: CheckState | None) -> None:
        p = self._palette
        err = last_error(state.history) if state else None
        body = Text(end="")
        if err is None:
            n = len(state.history) if state else 0
            body.append(f"no errors in the last {n} results" if n else "no results yet", style=p("muted"))
        else:
            body.append(f"{clock_text(err.finished_at)}  ", style=p("muted"))
            body.append(f"{SYMBOL[err.status]} {err.status.value}", style=p(err.status.value))
            body.append(f"  {err.reason.value}: ")
            body.append(err.message)
            if err.detail:
                body.append("\n")
                body.append(err.detail)
        self.query_one("#last-error", Static).update(body)

    def _show_results(self, state: CheckState | None) -> None:
        p = self._palette
        table = self.query_one("#results", DataTable)
        recent = list(reversed(state.history[-RESULT_ROWS:])) if state else []
        for i, r in enumerate(recent):
            values = (
                clock_text(r.finished_at),
                f"{SYMBOL[r.status]} {r.status.value}",
                r.reason.value,
                str(r.attempts),
                format_latency(r.latency),
                r.message,
            )
            cells = [Text(v, end="") for v in values]
            cells[1].stylize(p(r.status.value))
            key = f"r{i}"
            if i >= len(self._results):
                table.add_row(*cells, key=key)
            else:
                # Row i is always the i-th newest result: update only the cells that changed.
                for (col, _), old, new, cell in zip(RESULT_COLUMNS, self._results[i], values, cells):
                    if old != new:
                        table.update_cell(key, col, cell, update_width=col == "message")
            if i < len(self._results):
                self._results[i] = values
            else:
                self._results.append(values)

    # -- keys ---------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the overview."""
        self.app.pop_screen()

    def action_run_this(self) -> None:
        """Run this check now."""
        self.app.run_check_now(self.check_name)  # type: ignore[attr-defined]

