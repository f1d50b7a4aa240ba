"""The incident timeline as a post-mortem wants it: Markdown or JSON.

Pure formatting over the store's `TimelineEntry`s. Text from outside (check
messages, notes) is redacted and made literal: Markdown's special characters are
escaped, so a message like `[bold]x[/]` or `*not emphasis*` reads as typed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence

from dash.store import TimelineEntry
from dash.text import clean

# Only what formats inline text (every line starts with "- **time**", so block
# markers such as # or - at a line's start cannot occur); raw Markdown stays readable.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")

KIND_LABELS = {
    "status": "status",
    "alert": "alert",
    "ack": "acknowledged",
    "silence": "silence",
    "breaker": "breaker",
    "note": "note",
}


def md_literal(text: str) -> str:
    """`text` escaped so Markdown shows it as typed, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text, limit=2000))


def utc(at: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.gmtime(at))


def to_markdown(
    entries: Sequence[TimelineEntry],
    *,
    title: str,
    since: float,
    until: float,
    redact: Callable[[str], str] = lambda s: s,
) -> str:
    """A Markdown timeline ready to paste into a post-mortem."""
    lines = [
        f"# Timeline: {md_literal(redact(title))}",
        "",
        f"From {utc(since)} to {utc(until)} UTC, {len(entries)} event{'s' if len(entries) != 1 else ''}.",
        "",
    ]
    if not entries:
        lines.append("Nothing happened in this period.")
    day = ""
    for e in entries:
        if utc(e.at, "%Y-%m-%d") != day:
            day = utc(e.at, "%Y-%m-%d")
            lines += ["", f"## {day}", ""] if lines[-1] != "" else [f"## {day}", ""]
        what = KIND_LABELS.get(e.kind, e.kind)
        if e.event and e.kind in ("alert", "silence") and e.event != e.kind:
            what = f"{what} {e.event}"
        who = f" ({md_literal(redact(e.author))})" if e.author else ""
        name = redact(e.subject).replace("`", "'")
        subject = f" `{name}`" if name else ""
        lines.append(f"- **{utc(e.at, '%H:%M:%S')}** {what}{who}{subject}: {md_literal(redact(e.text))}")
    return "\n".join(lines).rstrip() + "\n"


def to_json(entries: Sequence[TimelineEntry], *, redact: Callable[[str], str] = lambda s: s) -> str:
    """The timeline as a JSON document: {"events": [{"at", "time", "kind", "event", "subject", "text", "author"}]}."""
    return json.dumps(
        {
            "events": [
                {
                    "at": e.at,
                    "time": utc(e.at, "%Y-%m-%dT%H:%M:%SZ"),
                    "kind": e.kind,
                    "event": e.event,
                    "subject": redact(e.subject),
                    "text": redact(clean(e.text, limit=2000)),
                    "author": redact(e.author),
                }
                for e in entries
            ]
        },
        indent=2,
        ensure_ascii=False,
    )
