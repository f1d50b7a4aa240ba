"""The alert panel: alerts by priority then age, root causes with their symptoms folded
under them, then failing checks that have no alert yet (dimmer, "unconfirmed"), then
Alertmanager's alerts (marked "am"), then the recently resolved. Config errors from a
failed reload stay on top until fixed.

The panel takes the focus (tab) so an alert that is not a check in the table, such
as a service's, can be selected for `a`, `A` and `x`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from dash.core.alerts import Alert
from dash.model import CheckState
from dash.tui.palette import Palette
from dash.tui.view import AlertLine, alert_lines, alert_summary

NAME_WIDTH = 24
_SELECTED = Style(reverse=True)


class AlertsPanel(Widget, can_focus=True):
    """What is wrong right now, as alerts; one line each."""

    DEFAULT_CSS = """
    AlertsPanel {
        height: auto;
        width: 1fr;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("down", "cursor_down", "Down", show=False),
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        Binding("enter", "open", "Detail", show=False, id="detail"),
    ]

    class OpenCheck(Message):
        """The user asked for the detail of the check behind the selected line."""

        def __init__(self, check: str) -> None:
            super().__init__()
            self.check = check

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._head: list[Text] = []
        self._items: list[AlertLine] = []
        self._texts: list[Text] = []
        self._cursor = 0
        self._selected_key: str | None = None

    # -- data ------------------------------------------------------------------------

    def show(
        self,
        alerts: Sequence[Alert],
        checks: Sequence[CheckState],
        now: float,
        palette: Palette,
        errors: Sequence[str] = (),
        *,
        expanded: bool = False,
        external: Sequence[Any] = (),
    ) -> None:
        """Draw the alerts and unconfirmed failures at wall time `now`, after any config `errors`;
        `external` are Alertmanager's alerts (dash.alertmanager.ExternalAlert), shown after ours."""
        p = palette
        items = alert_lines(alerts, checks, now, expanded=expanded, external=external)
        head: list[Text] = []
        if errors:
            head.append(p.text(f"config not reloaded ({len(errors)} errors; still running the previous config):", "crit"))
            for e in errors:
                head.append(p.join([("  ", ""), (e, "crit")]))
        heading = Text(end="", no_wrap=True, overflow="ellipsis")
        heading.append("alerts", style=p("strong"))
        summary = alert_summary(items)
        if summary:
            heading.append(f" ({summary})", style=p("strong"))
        else:
            heading.append("  none", style=p("ok"))
        if any(i.kind in ("folded", "symptom") for i in items):
            heading.append("  e: " + ("fold symptoms" if expanded else "show symptoms"), style=p("muted"))
        head.append(heading)
        self._head = head
        self._items = items
        self._texts = self._format(items, p)
        self._restore_cursor()
        self.refresh(layout=True)

    def _format(self, items: Sequence[AlertLine], p: Palette) -> list[Text]:
        main = [i for i in items if i.kind != "folded"]
        state_width = max((len(i.state) for i in main), default=0)
        name_width = min(NAME_WIDTH, max((len(i.name) + 2 * (i.kind == "symptom") for i in main), default=0))
        seen_width = max((len(i.seen) for i in main), default=0)
        count_width = max((len(i.count) for i in main), default=0)
        out = []
        for i in items:
            line = Text(end="", no_wrap=True, overflow="ellipsis")
            dim = p("muted") if i.muted else Style()
            if i.kind == "folded":
                line.append(f"   {i.name}: ", style=p("strong"))
                line.append(i.text, style=dim)
                out.append(line)
                continue
            line.append(f"{i.priority:<2} ", style=p(i.tone) + dim)
            line.append(f"{i.state:<{state_width}} ", style=p(i.tone) + dim)
            # Longer names push the rest of their line right: a name is never cut.
            name = f"└ {i.name}" if i.kind == "symptom" else i.name
            line.append(f"{name:<{name_width}} ", style=dim if i.muted else p("strong"))
            line.append(f"{i.count:>{count_width}} {i.seen:<{seen_width}}  ", style=dim)
            line.append(i.text, style=dim)
            out.append(line)
        return out

    # -- selection ---------------------------------------------------------------------

    @property
    def selected(self) -> AlertLine | None:
        """The line under the cursor (alert, symptom or unconfirmed check), if any."""
        if 0 <= self._cursor < len(self._items) and self._items[self._cursor].selectable:
            return self._items[self._cursor]
        return None

    def _restore_cursor(self) -> None:
        keys = [i.key for i in self._items]
        if self._selected_key in keys:
            self._cursor = keys.index(self._selected_key)
        else:
            self._cursor = min(self._cursor, max(0, len(self._items) - 1))
            self._step(0)
        line = self.selected
        self._selected_key = line.key if line else None

    def _step(self, delta: int) -> None:
        """Move to the next selectable line in direction `delta` (0: stay, or the nearest below)."""
        n = len(self._items)
        i = self._cursor + delta
        direction = delta or 1
        while 0 <= i < n and not self._items[i].selectable:
            i += direction
        if 0 <= i < n:
            self._cursor = i
        line = self.selected
        self._selected_key = line.key if line else None

    def action_cursor_down(self) -> None:
        self._step(1)
        self.refresh()

    def action_cursor_up(self) -> None:
        self._step(-1)
        self.refresh()

    def action_open(self) -> None:
        line = self.selected
        if line is not None and line.check is not None:
            self.post_message(self.OpenCheck(line.check))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing -------------------------------------------------------------------------

    @property
    def plain_lines(self) -> list[str]:
        """The panel's text, line by line (for tests and screen readers)."""
        return [line.plain for line in (*self._head, *self._texts)]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._head) + len(self._texts))

    def render(self) -> Text:
        texts = list(self._texts)
        if self.has_focus and self.selected is not None:
            texts[self._cursor] = texts[self._cursor].copy()
            texts[self._cursor].stylize(_SELECTED)
        height = self.content_region.height
        room = height - len(self._head)
        if height >= 2 and 1 <= room < len(texts):  # cut by max-height: keep the cursor in view
            shown = max(1, room - 1)
            start = self._cursor - shown + 1 if self.has_focus and self._cursor >= shown else 0
            below = len(texts) - start - shown
            hint = "↑↓ scroll" if self.has_focus else "tab, then ↑↓ to scroll"
            more = f"… {below} more" + (f", {start} above" if start else "") + f" ({hint})"
            texts = [*texts[start : start + shown], Text(more, style="dim")]
        out = Text("\n", end="", no_wrap=True, overflow="ellipsis").join([*self._head, *texts])
        out.no_wrap = True
        out.overflow = "ellipsis"
        return out
