"""Text from outside is data: neutralise it once, at the boundary.

`clean()` makes any string safe to show in a terminal: escape sequences (CSI, OSC,
DCS, ...) are removed whole, other control characters become visible `\\xNN`
escapes, and the result is one line unless asked otherwise. Markup is never
interpreted anywhere in healthdash, so square brackets need no escaping here; the
UI renders cleaned text as plain `rich.text.Text`.

`Redactor` replaces secret values (from `${VAR}` substitutions) wherever they
appear in text that is about to be shown, written or logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ESC-based sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC (ESC ] ... BEL or ST),
# and two-byte escapes; plus their 8-bit C1 forms.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]              # CSI
  | \x9b[0-?]*[ -/]*[@-~]                # 8-bit CSI
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])  # OSC, DCS, SOS, PM, APC ...
    .*?(?:\x07|\x1b\\|\x9c|$)            # ... up to BEL or ST (or the end)
  | \x1b[@-Z\\-_]                        # other two-byte escapes (Fe)
  | \x1b[ -/]*[0-~]                      # nF / Fp / Fs escapes
  | \x1b                                 # a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates (a JSON "\ud800" escape, os.environ) cannot be encoded for output or storage.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_NEWLINES = re.compile(r"[\r\n\t]+")

REDACTED = "********"


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def clean(text: object, *, limit: int | None = 500, one_line: bool = True) -> str:
    """Neutralise outside text for display.

    Removes terminal escape sequences, shows other control characters as `\\xNN`,
    folds line breaks and tabs to single spaces when `one_line`, strips the
    ends, and truncates to `limit` characters with an ellipsis.
    Bytes are decoded as UTF-8 with replacement characters.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        s = bytes(text).decode("utf-8", "replace")
    else:
        s = str(text)
    s = _ESCAPES.sub("", s)
    if one_line:
        s = _NEWLINES.sub(" ", s).strip()
    else:
        s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    s = _CONTROLS.sub(_escape_control, s)
    s = _SURROGATES.sub("\ufffd", s)
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


def first_line(text: str) -> str:
    """The first non-empty line of `text` (already cleaned with one_line=False)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


class Redactor:
    """Replaces known secret values with a fixed mask.

    Secrets shorter than 4 characters are still masked when they stand alone but
    are not searched for inside other text, to avoid masking every "a" or "1".
    """

    __slots__ = ("_secrets", "_pattern")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = frozenset(s for s in secrets if s)
        searchable = sorted((s for s in self._secrets if len(s) >= 4), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, searchable))) if searchable else None

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets

    def __call__(self, text: str) -> str:
        if text in self._secrets:
            return REDACTED
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def merged(self, other: "Redactor") -> "Redactor":
        return Redactor(self._secrets | other._secrets)


# Header names whose values are credentials, whatever their origin.
_SECRET_HEADER = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey"
    r"|.*token.*|.*secret.*|.*password.*|.*session.*)$",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    """True for Authorization, Cookie and token-like header names."""
    return bool(_SECRET_HEADER.match(name.strip()))
