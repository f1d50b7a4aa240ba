"""Host metrics (CPU, memory, swap, load, disks, network) with short sparklines.

Fed from the first check of kind "host". Readings are packed into as few lines
as the width allows: two or three lines at 80 columns, one per line in the wide
layout's side column.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from dash.model import CheckState
from dash.tui.palette import Palette
from dash.tui.view import Reading, host_readings, spark

GAP = "  "


class HostPanel(Widget):
    """Compact host metrics; one line of text when there is no host check."""

    DEFAULT_CSS = """
    HostPanel {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._state: CheckState | None = None
        self._palette = Palette()

    def show(self, state: CheckState | None, palette: Palette) -> None:
        """Draw the host check's latest readings (`state` None: no host check configured)."""
        self._state, self._palette = state, palette
        self.refresh(layout=True)

    def _points(self) -> int:
        return 16 if self.screen.has_class("-wide") else 6

    def _cell(self, r: Reading, points: int, label_width: int) -> Text:
        p = self._palette
        out = Text(end="", no_wrap=True)
        out.append(r.label.ljust(label_width), style=p("muted"))
        out.append(" ")
        out.append(r.value.rjust(8 if r.label in ("rx", "tx") else 5), style=p(r.tone) if r.tone != "ok" else p(""))
        out.append(" ")
        out.append(spark(r.series[-points:], r.low, r.high).ljust(points), style=p(r.tone))
        return out

    def lines(self, width: int) -> list[Text]:
        """The panel's lines at `width` columns."""
        p = self._palette
        state = self._state
        if state is None:
            return [p.text("no host check configured", "muted")]
        points = self._points()
        readings = host_readings(state, points=points)
        if not readings:
            return [p.text(f"host: {state.name}: waiting for the first reading", "pending")]
        # The wide side column lists one reading per line, labels aligned; narrow packs them.
        aligned = max(len(r.label) for r in readings) if self.screen.has_class("-wide") else 0
        lines: list[Text] = []
        line = Text(end="", no_wrap=True)
        for r in readings:
            cell = self._cell(r, points, max(aligned, len(r.label)))
            if line.cell_len and line.cell_len + len(GAP) + cell.cell_len > width:
                lines.append(line)
                line = Text(end="", no_wrap=True)
            if line.cell_len:
                line.append(GAP)
            line.append_text(cell)
        if line.cell_len:
            lines.append(line)
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.lines(width)))

    def render(self) -> Text:
        width = self.content_region.width or self.size.width
        return Text("\n", end="").join(self.lines(width))
