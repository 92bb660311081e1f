"""A final answer given in a structured field: ``{"answer": ...}`` in a JSON object.

Chat models asked for JSON (or that choose it) end their reply with an object such as
``{"reasoning": "...", "final_answer": "\\frac{1}{2}"}``, with or without a ```` ```json ````
fence, sometimes followed by prose. The last such field in the searched text is the committed
answer, whatever the task; each task then reads its own kind of value out of it.

The value is returned as written, with JSON string escapes decoded only when the string
really is JSON (it holds an escaped backslash ``\\\\``): models often write LaTeX into JSON with
single backslashes, where decoding would turn ``\\frac`` into a form feed and ``\\times`` into a
tab. ``null`` or an empty string is a field that commits to nothing.
"""

from __future__ import annotations

import json
import re

__all__ = ["Field", "find_answer_field"]

# The key, quoted (JSON) or single-quoted (a Python dict), then its value: a string, a number,
# a literal, or a flat list. Keys are the ones harnesses and models use for the final answer
# (``answer``, ``final_answer``, ``result``; for multiple choice also ``choice``, ``option``,
# ``selected_option``, ``answer_letter``; ``prediction`` as prediction files write it).
_FIELD = re.compile(
    r"""(?P<q>["'])(?i:(?:final[_ ]?)?answer(?:[_ ]?(?:value|latex|text|expression|letter
        |choice|option|number))?|final[_ ]?result|final|result|solution_value
        |(?:(?:final|selected|chosen|correct)[_ ]?)?(?:choice|option)|prediction)(?P=q)
    \s*:\s*
    (?:
        "(?P<dq>(?:[^"\\\n]|\\.)*)"
      | '(?P<sq>(?:[^'\\\n]|\\.)*)'
      | (?P<lit>-?[0-9][0-9.,/eE+\-]*|true|false|True|False|null|None)
      | (?P<list>\[[^\[\]\n]*\])
    )""",
    re.VERBOSE,
)


_KEY_PARTS = ("nswer", "NSWER", "esult", "ESULT", "inal", "INAL", "olution_value", "hoice",
              "HOICE", "ption", "PTION", "rediction", "REDICTION")  # fmt: skip


class Field:
    """One answer field: its value (None for ``null``/empty) and the value's span in the text."""

    __slots__ = ("span", "value")

    def __init__(self, value: str | None, span: tuple[int, int]) -> None:
        self.value = value
        self.span = span


def _decode(raw: str) -> str:
    if "\\\\" in raw or '\\"' in raw or "\\u" in raw:
        try:
            out = json.loads(f'"{raw}"')
        except json.JSONDecodeError:
            return raw.replace('\\"', '"')
        return str(out)
    return raw


def _list_value(raw: str) -> str:
    """``["3", "5"]`` -> ``3, 5`` (several solutions, as MATH writes them); as written if the
    list is not JSON."""
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if not isinstance(items, list) or not all(isinstance(x, str | int | float) for x in items):
        return raw
    return ", ".join(str(x) for x in items)


def find_answer_field(text: str, start: int = 0, end: int | None = None) -> Field | None:
    """The last answer field in ``text[start:end]``; None when there is none."""
    stop = len(text) if end is None else end
    if not any(k in text for k in _KEY_PARTS) or ('"' not in text and "'" not in text):
        return None  # cheap substring tests before the regex
    last = None
    for m in _FIELD.finditer(text, start, stop):
        last = m
    if last is None:
        return None
    for group in ("dq", "sq", "lit", "list"):
        raw = last.group(group)
        if raw is not None:
            span = (last.start(group), last.end(group))
            if group == "dq":
                value: str | None = _decode(raw).strip()
            elif group == "sq":
                value = raw.replace("\\'", "'").strip()
            elif raw in ("null", "None"):
                value = None
            elif group == "list":
                value = _list_value(raw)
            else:
                value = raw
            return Field(value or None, span)
    return None  # pragma: no cover - one group always matches
