"""The `n` form: a one-line operator note for the timeline, about the selected check or the whole board.

The engine stamps the note with the time enter is pressed. With a check selected the
note is about it unless the "about <check>" box is unticked (tab, space); without
one it is a general note.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

NOTE_LIMIT = 500  # characters; the engine keeps as much


@dataclass(frozen=True, slots=True)
class NoteRequest:
    """What the form asks for: `text` about `check` (None: the whole board)."""

    text: str
    check: str | None


def read_note(text: str, check: str | None, about_check: bool) -> NoteRequest:
    """Validate the form; ValueError with a one-line reason when there is nothing to save."""
    text = " ".join(text.split())  # one line, as the timeline shows it
    if not text:
        raise ValueError("write the note first (esc cancels)")
    return NoteRequest(text[:NOTE_LIMIT], check if about_check and check else None)


class NoteForm(ModalScreen[NoteRequest | None]):
    """One line of text; enter saves it, esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="close_note")]

    DEFAULT_CSS = """
    NoteForm {
        align: center middle;
    }
    NoteForm > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $primary;
        padding: 0 1;
        background: $surface;
    }
    NoteForm Input {
        margin-bottom: 1;
    }
    NoteForm Checkbox {
        border: none;
        padding: 0;
        margin-bottom: 1;
    }
    NoteForm #note-error {
        color: $text-error;
    }
    """

    def __init__(self, check: str | None = None) -> None:
        super().__init__(id="note-form")
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("note for the timeline", style="bold"), markup=False)
            if self.check:
                yield Static(Text("about the selected check (untick for a general note):", style="dim"), markup=False)
            else:
                yield Static(Text("a general note (no check selected)", style="dim"), markup=False)
            yield Input(compact=True, max_length=NOTE_LIMIT, placeholder="what you saw or did", id="note-text")
            if self.check:
                yield Checkbox(Text(f"about {self.check}"), value=True, compact=True, id="note-about")
            yield Static(Text(""), markup=False, id="note-error")
            yield Static(Text("enter saves it, time-stamped · tab space: general note · esc cancels", style="dim"),
                         markup=False)

    def on_mount(self) -> None:
        self.text_input.focus()

    @property
    def text_input(self) -> Input:
        return self.query_one("#note-text", Input)

    @property
    def about_check(self) -> bool:
        """True when the note will be about the selected check."""
        boxes = self.query("#note-about")
        return bool(boxes) and boxes.first(Checkbox).value

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Save the note (or say why not)."""
        try:
            request = read_note(self.text_input.value, self.check, self.about_check)
        except ValueError as exc:
            self.query_one("#note-error", Static).update(Text(str(exc)))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)
