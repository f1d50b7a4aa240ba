"""The Prometheus text exposition format (0.0.4, and the OpenMetrics text it resembles).

Not a check kind (no `KIND`): a parser that `checks.breakers` and any later scraper
(e.g. of node_exporter) can reuse. It never raises: lines it cannot read are
skipped and counted, so one broken line from a buggy exporter costs one sample,
not the scrape.

Line shapes::

    # HELP name text with \\\\ and \\n escapes
    # TYPE name counter|gauge|histogram|summary|untyped|...
    # any other comment, or "# EOF" (OpenMetrics)
    name 12.5
    name{label="value",other="a \\"quoted\\" \\\\ word\\n"} +Inf 1712345678000
    name{label="value",} 1.0                  <- trailing comma (old Java simpleclient)
    name{a="b"} 3 # {trace_id="abc"} 1.0      <- OpenMetrics exemplar, ignored
    {"utf8.name", label="x"} 1                <- quoted names (Prometheus 3)

Values are floats as Go reads them (NaN, +Inf, -Inf, exponents); timestamps are
kept as written (milliseconds in 0.0.4, seconds in OpenMetrics). All text in a
`Sample` is raw outside text: clean it before showing it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A quoted string, unrolled so matching stays linear on long values.
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_SPACE = re.compile(r"[ \t]*")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"n": "\n", "\\": "\\", '"': '"'}
# What Go's ParseFloat accepts in practice here: decimals, exponents, NaN and infinities.
_FLOAT = re.compile(
    r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])"
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One series value: `name{labels} value [timestamp]`."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp: float | None = None

    def label(self, key: str, default: str | None = None) -> str | None:
        """The value of label `key` (the last one, if repeated), or `default`."""
        found = default
        for k, v in self.labels:
            if k == key:
                found = v
        return found


@dataclass(frozen=True, slots=True)
class Exposition:
    """A parsed scrape: samples in order, HELP and TYPE by family name, lines skipped."""

    samples: tuple[Sample, ...] = ()
    help: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    skipped: int = 0

    def named(self, *names: str) -> list[Sample]:
        """The samples whose metric name is one of `names`, in order."""
        wanted = set(names)
        return [s for s in self.samples if s.name in wanted]


def unescape(text: str) -> str:
    """Undo label-value / HELP escaping: \\\\, \\" and \\n; other escapes stay as written."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), text)


def parse_float(text: str) -> float | None:
    """A sample value as Prometheus reads it, or None when it is not a number."""
    if not _FLOAT.fullmatch(text):
        return None
    try:
        return float(text)
    except ValueError:  # pragma: no cover - the pattern only lets floats through
        return None


def parse(text: str | bytes) -> Exposition:
    """Parse a whole exposition; never raises. Bytes are read as UTF-8 with replacement."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    samples: list[Sample] = []
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    skipped = 0
    for raw in text.split("\n"):
        line = raw.strip(" \t\r")
        if not line:
            continue
        if line[0] == "#":
            _comment(line, helps, types)
            continue
        sample = parse_line(line)
        if sample is None:
            skipped += 1
        else:
            samples.append(sample)
    return Exposition(tuple(samples), helps, types, skipped)


def _comment(line: str, helps: dict[str, str], types: dict[str, str]) -> None:
    """Record `# HELP` and `# TYPE` lines; any other comment is ignored."""
    parts = line[1:].lstrip(" \t").split(None, 2)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return
    name = parts[1]
    rest = parts[2] if len(parts) > 2 else ""
    if parts[0] == "HELP":
        helps.setdefault(name, unescape(rest))
    else:
        types.setdefault(name, rest.strip().lower())


def parse_line(line: str) -> Sample | None:
    """One sample line (no comment), or None when it is not a valid sample."""
    labels: list[tuple[str, str]] = []
    m = _NAME.match(line)
    name, pos = (m.group(), m.end()) if m else ("", 0)
    brace = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
    if brace < len(line) and line[brace] == "{":
        end = _labels(line, brace + 1, labels, need_name=not name)
        if end is None:
            return None
        pos = end
        if not name and labels and not labels[0][0]:  # {"quoted.name", ...}
            name = labels.pop(0)[1]
    if not name or any(not k for k, _ in labels):
        return None
    if line[pos : pos + 1] not in (" ", "\t"):  # the value is separated by whitespace
        return None
    rest = line[pos:].split("#", 1)[0].split()  # drop an OpenMetrics exemplar
    if not 1 <= len(rest) <= 2:
        return None
    value = parse_float(rest[0])
    if value is None:
        return None
    timestamp = None
    if len(rest) == 2:
        timestamp = parse_float(rest[1])
        if timestamp is None or not math.isfinite(timestamp):
            return None
    return Sample(name, tuple(labels), value, timestamp)


def _labels(line: str, pos: int, out: list[tuple[str, str]], need_name: bool) -> int | None:
    """Read `label="value", ...}` from `pos`; the index after `}`, or None if malformed.

    Label names may be quoted (`"a.b"="x"`). When `need_name`, a first bare quoted
    string is the metric name; it is recorded with an empty label name.
    """
    n = len(line)
    while True:
        pos = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return None
        if line[pos] == "}":
            return pos + 1
        if (m := _LABEL_NAME.match(line, pos)) is not None:
            key, pos = m.group(), m.end()
        elif (q := _QUOTED.match(line, pos)) is not None:
            key, pos = unescape(q.group(1)), q.end()
        else:
            return None
        pos = _SPACE.match(line, pos).end()  # type: ignore[union-attr]
        if pos < n and line[pos] == "=":
            pos = _SPACE.match(line, pos + 1).end()  # type: ignore[union-attr]
            q = _QUOTED.match(line, pos)
            if q is None or not key:
                return None
            out.append((key, unescape(q.group(1))))
            pos = _SPACE.match(line, q.end()).end()  # type: ignore[union-attr]
        elif need_name and not out and m is None:
            out.append(("", key))  # {"quoted.metric.name", ...}
        else:
            return None
        if pos < n and line[pos] == ",":
            pos += 1
        elif pos < n and line[pos] != "}":
            return None
