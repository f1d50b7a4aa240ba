"""The Nagios plugin output parser: splitting, perfdata, robustness."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checks.nagios import parse_output, parse_perfdata, split_output
from dash.model import Metric
from dash.text import clean

UNITS = ["", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"]


def test_plain_item_with_all_fields() -> None:
    assert parse_perfdata("time=0.5s;1;2;0;10") == (Metric("time", 0.5, "s", 1.0, 2.0, 0.0, 10.0),)


def test_ranges_become_none_and_missing_fields_are_none() -> None:
    got = parse_perfdata("a=1;10:;@10:20;0 b=2%;~:5 c=3")
    assert got == (
        Metric("a", 1.0, "", None, None, 0.0, None),
        Metric("b", 2.0, "%", None, None, None, None),
        Metric("c", 3.0, ""),
    )


def test_quoted_labels_with_spaces_and_quotes() -> None:
    got = parse_perfdata("'free space /'=12MB;;; 'it''s'=1")
    assert [m.name for m in got] == ["free space /", "it's"]
    assert got[0].unit == "MB"


def test_invalid_items_are_skipped() -> None:
    got = parse_perfdata("ok=1 novalue= =5 x=U y=abc z=1.2.3 'open=4 w=5")
    assert [m.name for m in got] == ["ok"]


def test_split_output_long_text_and_perfdata_on_several_lines() -> None:
    text = "DISK OK - fine | a=1;2;3\nline one\nline two | b=2\nc=3\n"
    parts, metrics = parse_output(text)
    assert parts.summary == "DISK OK - fine"
    assert parts.long_text == "line one\nline two"
    assert [m.name for m in metrics] == ["a", "b", "c"]


def test_split_output_without_perfdata() -> None:
    parts = split_output("CRITICAL - down\ndetails here")
    assert (parts.summary, parts.long_text, parts.perfdata) == ("CRITICAL - down", "details here", "")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    for metric in parse_perfdata(text):
        assert isinstance(metric, Metric)
    parse_output(text)


labels = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=30
).filter(lambda s: clean(s) == s and s != "")
numbers = st.floats(allow_nan=False, allow_infinity=False)
optional = st.one_of(st.none(), numbers)
items = st.tuples(labels, numbers, st.sampled_from(UNITS), optional, optional, optional, optional, st.booleans())


def _render(label: str, value: float, unit: str, rest: tuple, quote: bool) -> str:
    plain = not quote and not any(c.isspace() or c in "'=" for c in label)
    name = label if plain else "'" + label.replace("'", "''") + "'"
    fields = [repr(value) + unit] + ["" if v is None else repr(v) for v in rest]
    return name + "=" + ";".join(fields)


@settings(max_examples=300, deadline=None)
@given(st.lists(items, min_size=1, max_size=5), st.sampled_from([" ", "  ", "\n", " \t "]))
def test_valid_items_round_trip(generated: list, separator: str) -> None:
    text = separator.join(_render(l, v, u, (w, c, mn, mx), q) for l, v, u, w, c, mn, mx, q in generated)
    got = parse_perfdata(text)
    assert got == tuple(Metric(l, v, u, w, c, mn, mx) for l, v, u, w, c, mn, mx, _ in generated)
