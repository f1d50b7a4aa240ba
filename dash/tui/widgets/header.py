"""The header: title, MONITOR OFFLINE, PAUSED, verdict, counts per status, sort/filter, clock.

When the board itself is in doubt (an attached dashboard lost its agent, Alertmanager
cannot be read) one more line per error says so under it: the agent's in reverse
red like MONITOR OFFLINE, the others in warning colour.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from dash.model import Snapshot, Status
from dash.tui.palette import Palette
from dash.tui.view import PENDING, SYMBOL, BoardError, board_errors, clock_text, counts, verdict

TITLE_WIDTH = 28
_REVERSE = Style(reverse=True)


class DashHeader(Widget):
    """One line that answers "is anything wrong, and is the board live?"."""

    DEFAULT_CSS = """
    DashHeader {
        height: auto;
        width: 1fr;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._snapshot: Snapshot | None = None
        self._palette = Palette()
        self._extra: list[str] = []
        self._errors: list[BoardError] = []

    def show(self, snapshot: Snapshot, palette: Palette, extra: list[str] | None = None) -> None:
        """Draw `snapshot`; `extra` is the screen's own state, e.g. ["filter: api", "sort: name"],
        most important first (the last ones are dropped when the line is too short)."""
        errors = board_errors(snapshot)
        resize = len(errors) != len(self._errors)
        self._snapshot, self._palette, self._extra, self._errors = snapshot, palette, list(extra or []), errors
        self.refresh(layout=resize)

    @property
    def error_lines(self) -> list[str]:
        """The lines under the header, as text (for tests and screen readers)."""
        return [e.text for e in self._errors]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + len(self._errors)

    def left_text(self) -> Text:
        snap, p = self._snapshot, self._palette
        out = Text(end="", no_wrap=True)
        if snap is None:
            out.append(" healthdash  starting…")
            return out
        title = snap.title if len(snap.title) <= TITLE_WIDTH else snap.title[: TITLE_WIDTH - 1] + "…"
        out.append(" ")
        out.append(title, style=p("strong"))
        out.append("  ")
        if snap.offline:  # a canary fails: every network check's verdict is in doubt
            out.append(" ⚠ MONITOR OFFLINE ", style=p("crit") + p("strong") + _REVERSE)
            out.append("  ")
        if snap.paused:
            out.append(" ⏸ PAUSED ", style=p("warn") + p("strong") + _REVERSE)
            out.append("  ")
        word, worst = verdict(snap)
        out.append(f" {word} ", style=p(worst.value) + p("strong") + _REVERSE)
        out.append("  ")
        n = counts(snap.checks)
        for status in (Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN):
            out.append(f"{SYMBOL[status]} {n[status.value]}", style=p(status.value) if n[status.value] else p("muted"))
            out.append(" ")
        if n["pending"]:
            out.append(f"{PENDING[0]} {n['pending']}", style=p("pending"))
        return out

    def render(self) -> Text:
        left = self.left_text()
        clock = clock_text(self._snapshot.generated_at) if self._snapshot else ""
        width = self.size.width
        extra = list(self._extra)
        while True:
            right = "  ".join([*extra, clock]) + " "
            if not extra or left.cell_len + len(right) + 1 <= width:
                break
            extra.pop()
        gap = max(1, width - left.cell_len - len(right))
        left.append(" " * gap)
        left.append(right)
        left.truncate(width)
        if not self._errors:
            return left
        p = self._palette
        lines = [left]
        for e in self._errors:
            line = Text(end="", no_wrap=True, overflow="ellipsis")
            if e.loud:
                line.append(f" {e.text} ".ljust(width), style=p(e.tone) + p("strong") + _REVERSE)
            else:
                line.append(f" {e.text}", style=p(e.tone))
            line.truncate(width, overflow="ellipsis")
            lines.append(line)
        return Text("\n", end="", no_wrap=True).join(lines)

