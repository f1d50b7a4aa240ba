"""The services panel: each service's status and active degraded modes, in words.

Worst first, one line each ("✖ checkout  down — orders-db crit", "▲ search  degraded:
search disabled"); the ok ones share one line ("✔ 3 ok  web, admin, docs"). The
overview hides the panel when the config has no services.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from dash.core.services import ServiceStatus
from dash.tui.palette import Palette
from dash.tui.view import service_lines

NAME_WIDTH = 20


class ServicesPanel(Widget):
    """What each service can do right now."""

    DEFAULT_CSS = """
    ServicesPanel {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: list[Text] = []
        self._names: list[str] = []  # per line: what the "… more" line names when it is cut

    def show(self, services: Sequence[ServiceStatus] | None, palette: Palette) -> None:
        """Draw `services` (the snapshot's, in config order); None: no services configured."""
        p = palette
        lines: list[Text] = []
        items = service_lines(services or ())
        if services is None:
            self._lines, self._names = [], []
            self.refresh(layout=True)
            return
        if not items:
            lines.append(p.text("services: waiting for the first results", "pending"))
        width = min(NAME_WIDTH, max((len(i.name) for i in items), default=0))
        for item in items:
            line = Text(end="", no_wrap=True, overflow="ellipsis")
            line.append(f"{item.symbol} ", style=p(item.tone))
            name = item.name if len(item.name) <= width else item.name[: width - 1] + "…"
            line.append(name.ljust(width), style=p("strong") if item.tone != "ok" else p(""))
            line.append("  ")
            line.append(item.text, style=p(item.tone) if item.tone != "ok" else p("muted"))
            lines.append(line)
        self._lines = lines
        self._names = [i.name if i.tone == "ok" else f"{i.name} {i.text.split()[0].rstrip(':')}" for i in items]
        self.refresh(layout=True)

    @property
    def plain_lines(self) -> list[str]:
        """The panel's text, line by line (for tests and screen readers)."""
        return [line.plain for line in self._lines]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._lines))

    def render(self) -> Text:
        lines = self._lines
        height = self.content_region.height
        if 2 <= height < len(lines):  # cut by max-height: say how many are not shown
            hidden = self._names[height - 1 :]
            lines = [*lines[: height - 1], Text(f"… more: {', '.join(hidden)}", style="dim")]
        out = Text("\n", end="", no_wrap=True, overflow="ellipsis").join(lines)
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out
