"""The problems panel: every non-ok check, worst and oldest first, one line each.

Config errors from a failed reload are listed above them, also one line each,
until the file is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from dash.model import CheckState
from dash.tui.palette import Palette
from dash.tui.view import SYMBOL, problem_line, problems


class ProblemsPanel(Widget):
    """What is wrong right now, and since when."""

    DEFAULT_CSS = """
    ProblemsPanel {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: list[Text] = []

    def show(self, checks: Sequence[CheckState], now: float, palette: Palette, errors: Sequence[str] = ()) -> None:
        """Draw the problems among `checks` at wall time `now`, after any config `errors`."""
        p = palette
        bad = problems(checks)
        lines: list[Text] = []
        if errors:
            lines.append(p.text(f"config not reloaded ({len(errors)} errors; still running the previous config):", "crit"))
            for e in errors:
                lines.append(p.join([("  ", ""), (e, "crit")]))
        head = Text(end="")
        head.append("problems", style=p("strong"))
        if bad:
            head.append(f" ({len(bad)})", style=p("strong"))
        else:
            head.append("  none", style=p("ok"))
        lines.append(head)
        name_width = min(24, max((len(c.name) for c in bad), default=0))
        for state in bad:
            tone = state.status.value
            line = Text(end="", no_wrap=True, overflow="ellipsis")
            line.append(f"{SYMBOL[state.status]} {tone:<7} ", style=p(tone))
            line.append(problem_line(state, now, name_width))
            lines.append(line)
        self._lines = lines
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
            hidden = len(lines) - height + 1
            lines = [*lines[: height - 1], Text(f"… {hidden} more (all are in the table, worst first)", style="dim")]
        out = Text("\n", end="", no_wrap=True, overflow="ellipsis").join(lines)
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out
