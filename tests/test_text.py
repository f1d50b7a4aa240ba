"""Outside text is neutralised: no escape sequence survives, nothing is lost silently."""

from __future__ import annotations

from hypothesis import given, strategies as st

from dash.text import REDACTED, Redactor, clean, is_secret_header


def test_escape_sequences_are_removed_and_controls_made_visible():
    hostile = "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \x1b]0;title\x1b\\ bell\x07 nul\x00"
    assert clean(hostile) == "red link  bell\\x07 nul\\x00"


def test_markup_is_kept_as_plain_characters():
    assert clean("[bold red]x[/] [@click=app.quit]y[/]") == "[bold red]x[/] [@click=app.quit]y[/]"


def test_one_line_and_limit():
    assert clean("a\r\nb\tc\n") == "a b c"
    assert clean("x" * 20, limit=5) == "xxxx…"
    assert clean("line 1\nline 2", one_line=False) == "line 1\nline 2"


def test_bytes_are_decoded_with_replacement():
    assert clean(b"ok \xff") == "ok \ufffd"


@given(st.text())
def test_no_control_character_survives(text):
    out = clean(text, limit=None)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)


@given(st.text(), st.text(min_size=4))
def test_redactor_never_leaks_a_secret(prefix, secret):
    out = Redactor([secret])(prefix + secret + prefix)
    assert secret not in out or secret in REDACTED


def test_secret_headers():
    assert is_secret_header("Authorization") and is_secret_header("x-auth-token") and is_secret_header("Cookie")
    assert not is_secret_header("Accept")
