"""The SLO screen (`L`): one card per check or service with an objective, worst first.

Each card: availability over 1h / 24h / 7d / 30d, the error budget left as a bar (red
and "overspent" below zero), the burn rates over 1h / 6h / 24h / 3d, MTTR, MTBF and
incidents, and the burn-rate alerts that fire now. The numbers come from the engine's
snapshot (computed from history about every 30 seconds); without an objective the
screen says how to add one.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from dash.model import Snapshot
from dash.tui.palette import Palette
from dash.tui.view import PARTIAL_MARK, SLO_HINT, SLOCard, budget_bar, slo_cards, slo_summary
from dash.tui.widgets.header import DashHeader

LABEL_WIDTH = 12
_REVERSE = Style(reverse=True)


def card_text(card: SLOCard, p: Palette) -> Text:
    """One objective as a few lines of literal text."""
    out = Text(end="", no_wrap=True, overflow="ellipsis")
    out.append(card.subject, style=p("strong"))
    if card.kind:
        out.append(f"  {card.kind}", style=p("muted"))
    out.append(f"  {card.objective}", style=p("muted"))
    if card.burning:
        out.append("  ")
        out.append(f" ⚠ {card.burning.upper()} ", style=p("crit" if card.burning == "page" else "warn") + p("strong")
                   + _REVERSE)

    def label(name: str) -> None:
        out.append("\n  ")
        out.append(name.ljust(LABEL_WIDTH), style=p("muted"))
        out.append("  ")

    def windows(values: Sequence[tuple[str, str, str, bool]]) -> None:
        for i, (window, value, tone, partial) in enumerate(values):
            if i:
                out.append("  ")
            out.append(f"{window} ", style=p("muted"))
            out.append(value, style=p(tone))
            if partial:
                out.append(PARTIAL_MARK, style=p("muted"))

    label("availability")
    windows(card.availabilities)
    label("error budget")
    out.append(budget_bar(card.budget_left), style=p(card.budget_tone))
    out.append("  ")
    out.append(card.budget, style=p(card.budget_tone) + (p("strong") if card.budget_left < 0 else p("")))
    if card.coverage:
        out.append(f"  ({card.coverage})", style=p("muted"))
    label("burn rate")
    windows(card.burns)
    label("reliability")
    out.append(card.reliability)
    for text, tone in card.alerts:
        out.append("\n  ")
        out.append(f"⚠ {text}", style=p(tone))
    return out


class SLOScreen(Screen):
    """Every objective and how it is doing; esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("j", "scroll_down", "Down", show=False, id="down"),
        Binding("k", "scroll_up", "Up", show=False, id="up"),
    ]

    def __init__(self, snapshot: Snapshot | None = None, palette: Palette | None = None) -> None:
        super().__init__(id="slo")
        self._snapshot = snapshot
        self._palette = palette or Palette()
        self._ready = False
        self.cards: list[SLOCard] = []
        self._body = Text("")

    def compose(self) -> ComposeResult:
        yield DashHeader(id="slo-header")
        yield Static(Text(""), markup=False, id="slo-title")
        with VerticalScroll(id="slo-body"):
            yield Static(Text(""), markup=False, id="slo-cards")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._ready = True
        self.query_one("#slo-body").focus()
        if self._snapshot is not None:
            self.show(self._snapshot, self._palette)

    def _kinds(self) -> dict[str, str]:
        """Subject -> "check" or "service", from the config (unknown when attached to an agent)."""
        config = getattr(self.app, "config", None)
        if config is None:
            return {}
        kinds = {s.name: "service" for s in config.services if s.slo is not None}
        kinds.update({c.name: "check" for c in config.checks if c.slo is not None})
        return kinds

    def _waiting(self) -> str:
        """Why there are no reports: nothing configured, no history, or not computed yet."""
        kinds = self._kinds()
        if not kinds:
            if getattr(self.app.engine, "remote", False):  # type: ignore[attr-defined]
                return f"no SLOs reported by the agent: {SLO_HINT} in the agent's config"
            return f"no SLOs configured: {SLO_HINT}"
        store, why = self.app.history()  # type: ignore[attr-defined]
        n = len(kinds)
        if store is None:
            return f"{n} SLO{'s' if n != 1 else ''} configured, but SLOs are computed from history: {why}"
        return f"{n} SLO{'s' if n != 1 else ''} configured: computing from history (about every 30s)…"

    def show(self, snapshot: Snapshot, palette: Palette, *, restyle: bool = False) -> None:
        """Draw the SLO reports of `snapshot`."""
        self._snapshot, self._palette = snapshot, palette
        if not self._ready:
            return
        p = palette
        cards = slo_cards(snapshot.slos, self._kinds())
        self.cards = cards
        title = Text(end="", no_wrap=True, overflow="ellipsis")
        title.append(" service level objectives", style=p("strong"))
        if cards:
            title.append(f"  {slo_summary(cards)}", style=p("muted"))
        if cards:
            body = Text("\n\n", end="").join(card_text(c, p) for c in cards)
            body.no_wrap, body.overflow = True, "ellipsis"
            if any(partial for c in cards for *_, partial in (*c.availabilities, *c.burns)):
                body.append(f"\n\n{PARTIAL_MARK} less history than the window: the value covers what there is",
                            style=p("muted"))
        else:
            body = Text(self._waiting(), style=p("muted"), end="")
        self._body = body
        with self.app.batch_update():
            self.query_one(DashHeader).show(snapshot, p, ["SLOs"])
            self.query_one("#slo-title", Static).update(title)
            self.query_one("#slo-cards", Static).update(body)

    @property
    def plain(self) -> str:
        """The cards as plain text (for tests and screen readers)."""
        return self._body.plain

    def action_scroll_down(self) -> None:
        self.query_one("#slo-body", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#slo-body", VerticalScroll).scroll_up()

    def action_back(self) -> None:
        self.app.pop_screen()
