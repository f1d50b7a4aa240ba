"""Tones to styles, taken from the current theme.

Colours come from the theme's contrast-adjusted text variables ($text-success,
$text-warning, $text-error ...), so they stay readable on light themes and follow
the terminal palette on the ANSI themes. All text is built as `rich.text.Text`
from plain strings: nothing here ever parses markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from dash.tui.view import Tone

_VARIABLES: dict[Tone, tuple[str, ...]] = {
    "ok": ("text-success", "success"),
    "warn": ("text-warning", "warning"),
    "crit": ("text-error", "error"),
    "unknown": ("text-accent", "accent"),
}


def _colour(variables: Mapping[str, str], names: tuple[str, ...]) -> Style:
    for name in names:
        value = variables.get(name)
        if not value:
            continue
        try:
            return Style(color=Color.parse(value).rich_color)
        except (ColorParseError, ValueError):
            continue
    return Style()


class Palette:
    """Styles per tone for one theme; build a new one when the theme changes."""

    def __init__(self, variables: Mapping[str, str] | None = None) -> None:
        v = variables or {}
        self.styles: dict[Tone, Style] = {tone: _colour(v, names) for tone, names in _VARIABLES.items()}
        self.styles["crit"] += Style(bold=True)
        self.styles["pending"] = Style(dim=True)
        self.styles["muted"] = Style(dim=True)
        self.styles["strong"] = Style(bold=True)
        self.styles[""] = Style()

    def __call__(self, tone: Tone) -> Style:
        return self.styles.get(tone, Style())

    def text(self, content: str, tone: Tone = "") -> Text:
        """`content` as literal text in `tone`."""
        return Text(content, style=self(tone), end="")

    def join(self, parts: Iterable[tuple[str, Tone]]) -> Text:
        """Literal pieces, each in its own tone."""
        out = Text(end="")
        for content, tone in parts:
            out.append(content, style=self(tone))
        return out
