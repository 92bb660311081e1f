"""Errors a user can fix, and the two filters every line cothub prints goes through.

The CLI prints a :class:`CothubError`'s message as one line and exits with code 2. Whatever it
prints (errors, warnings, progress, tables, model text) first passes :func:`redact`, so a key
echoed back by a server never reaches the terminal; model text also passes :func:`harmless`, so
escape sequences in it are shown, not obeyed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence


class CothubError(Exception):
    """Bad input or an unusable environment: the message names the problem and the fix."""


class BackendError(CothubError):
    """The model server failed in a way retries could not cure; finished work is kept."""


# ---- redaction ------------------------------------------------------------------------------

SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
"""Variables known to hold keys; any other ``*_API_KEY``, ``*_TOKEN`` or ``*_SECRET`` counts too."""
_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_SECRET = 4
"""Shorter values (``1``, ``x``) would blank ordinary text; no real key is that short."""
MASK = "***"

_registered: set[str] = set()
# user:password@ in a URL; Bearer / x-api-key values in echoed headers.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@'\"]+@")
_HEADER_VALUE = re.compile(
    r"(?i)(\b(?:x-api-key|api[-_]?key|authorization)[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic)\s+)?"
    r"|\bbearer\s+(?=[A-Za-z0-9._~+/=-]{12,}))(?!\*\*\*)[^\s\"',;}]+"
)

_HEADER_WORDS = ("bearer", "basic", "key", "authorization")


def add_secret(value: str | None) -> None:
    """Treat ``value`` (a key read from a flag or file) as a secret in everything printed."""
    if value and len(value.strip()) >= _MIN_SECRET:
        _registered.add(value.strip())


def secrets() -> list[str]:
    """Known secret values, longest first (a key that contains another is masked whole)."""
    found = set(_registered)
    for name, value in os.environ.items():
        if (name in SECRET_ENV or _SECRET_NAME.search(name)) and len(value.strip()) >= _MIN_SECRET:
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)


def redact(text: str, known: Sequence[str] | None = None) -> str:
    """``text`` with known secrets, URL credentials and header values replaced by ``***``.

    ``known``: the secrets to mask, when the caller read :func:`secrets` once for many texts
    (a report page masks thousands)."""
    for value in secrets() if known is None else known:
        if value in text:
            text = text.replace(value, MASK)
    if "://" in text and "@" in text:
        text = _URL_CREDENTIALS.sub(MASK + "@", text)
    low = text.lower()  # the header pattern is slow on megabytes; most texts have no header
    if any(word in low for word in _HEADER_WORDS):
        text = _HEADER_VALUE.sub(lambda m: m.group(1) + MASK, text)
    return text


# ---- terminal safety ------------------------------------------------------------------------

# C0 controls but tab and newline, DEL, and the C1 block (U+0080-U+009F, which includes the
# one-character CSI U+009B and OSC U+009D); also the bidi overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def harmless(text: str) -> str:
    """Model text made safe for a terminal: control characters (ESC, CSI, OSC, BEL, backspace,
    carriage return, C1 controls, bidi overrides) are written out as visible ``\\x1b``-style
    escapes; newlines and tabs are kept."""
    text = text.replace("\r\n", "\n")  # a Windows line end is a line end, not a trick
    return _CONTROL.sub(_visible, text) if _CONTROL.search(text) else text


def printable(text: str) -> str:
    """What cothub prints: :func:`harmless` and :func:`redact`."""
    return redact(harmless(text))
