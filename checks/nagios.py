"""The Nagios plugin output format: summary, long text and performance data.

Not a check kind (no `KIND`): a parser that `checks.exec` and any other kind
speaking the plugin protocol can reuse. It never raises; what it cannot read it
skips.

Output shape (Nagios plugin guidelines)::

    SUMMARY | PERFDATA
    LONG TEXT LINE 1
    LONG TEXT LINE N | PERFDATA LINE 2
    PERFDATA LINE 3

Perfdata items are `'label'=value[UOM];[warn];[crit];[min];[max]`, separated by
whitespace. Labels may be single-quoted (then they may contain spaces, and `''`
is a literal quote).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dash.model import Metric
from dash.text import clean

# A plain decimal number as plugins write it (no inf/nan/underscores, unlike float()).
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_VALUE = re.compile(rf"({_NUMBER})([^;\d.+\-][^;]*)?")
_PLAIN = re.compile(_NUMBER)
_LABEL_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PluginOutput:
    """A plugin's output split into its parts (raw text: clean before showing)."""

    summary: str
    long_text: str
    perfdata: str


def split_output(text: str) -> PluginOutput:
    """Split plugin output into summary (first line), long text and perfdata."""
    lines = text.replace("\r\n", "\n").split("\n")
    first, _, perf = lines[0].partition("|")
    perf_parts = [perf] if perf.strip() else []
    long_lines: list[str] = []
    rest = lines[1:]
    for i, line in enumerate(rest):
        if "|" in line:
            # From the first "|" in the long text on, everything is perfdata.
            before, _, after = line.partition("|")
            long_lines.append(before.rstrip())
            perf_parts.append(after)
            perf_parts.extend(rest[i + 1 :])
            break
        long_lines.append(line)
    return PluginOutput(first.strip(), "\n".join(long_lines).strip("\n"), " ".join(perf_parts))


def parse_output(text: str) -> tuple[PluginOutput, tuple[Metric, ...]]:
    """Split plugin output and parse its perfdata."""
    parts = split_output(text)
    return parts, parse_perfdata(parts.perfdata)


def _tokens(text: str) -> list[tuple[str, str]]:
    """(label, value-part) pairs; malformed items are skipped."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "'":
            # Quoted label: runs to a quote not doubled.
            j, label = i + 1, []
            while j < n:
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        label.append("'")
                        j += 2
                        continue
                    break
                label.append(text[j])
                j += 1
            if j >= n:
                break  # unterminated quote: nothing more can be trusted
            end = j + 1
            while end < n and not text[end].isspace():
                end += 1
            rest = text[j + 1 : end]
            if rest.startswith("="):
                out.append(("".join(label), rest[1:]))
            i = end
            continue
        end = i
        while end < n and not text[end].isspace():
            end += 1
        label, eq, value = text[i:end].rpartition("=")
        if eq and label:
            out.append((label, value))
        i = end
    return out


def _plain(text: str) -> float | None:
    """A plain finite number, else None (ranges such as `10:` or `@1:2` included)."""
    text = text.strip()
    if not _PLAIN.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_perfdata(text: str) -> tuple[Metric, ...]:
    """Parse Nagios perfdata into metrics; invalid items are skipped, never raises.

    Thresholds that are Nagios ranges rather than plain numbers become None.
    """
    metrics: list[Metric] = []
    try:
        tokens = _tokens(text)
    except Exception:  # defensive: a parser bug must not break a check
        return ()
    for raw_label, value_part in tokens:
        label = clean(raw_label, limit=_LABEL_LIMIT)
        if not label:
            continue
        fields = value_part.split(";")
        match = _VALUE.fullmatch(fields[0])
        if match is None:
            continue  # includes "U" (undetermined) and empty values
        value = float(match.group(1))
        if not math.isfinite(value):
            continue
        unit = clean(match.group(2) or "", limit=20)
        extra = [_plain(f) for f in fields[1:5]] + [None] * 4
        metrics.append(Metric(label, value, unit, *extra[:4]))
    return tuple(metrics)
