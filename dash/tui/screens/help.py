"""The `?` screen: every key and what it does, with the user's remappings applied."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """A list of (keys, what it does) lines; esc, ? or q closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="close_help"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),  # like a pager: q leaves the help, not the app
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, lines: Sequence[tuple[str, str]]) -> None:
        super().__init__(id="help")
        self._lines = list(lines)

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self._lines), default=4)
        text = Text(end="")
        text.append("healthdash keys\n\n", style="bold")
        for keys, what in self._lines:
            text.append(keys.ljust(width), style="bold")
            text.append(f"  {what}\n")
        text.append("\nctrl+p opens the command palette with the same actions.")
        with VerticalScroll():
            yield Static(text, markup=False, id="help-text")
