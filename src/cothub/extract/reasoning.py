"""Separate a reasoning model's thinking from its answer.

Thinking is never graded: a number a model tried and rejected while thinking is not its answer.
Servers differ: some return thinking in a separate field, some inline ``<think>...</think>``,
and chat templates that open the block inside the prompt leave only the closing tag.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)


def split_thinking(text: str) -> tuple[str | None, str]:
    """Return ``(answer_text, thinking_text)``.

    ``answer_text`` is None when a thinking block was opened and never closed: the model ran out
    of room (or rambled) before committing to anything, so there is no answer to grade.
    """
    closes = list(_CLOSE.finditer(text))
    last_close = closes[-1] if closes else None
    if last_close is not None:
        # Everything up to the last closing tag is thinking, whether or not its opening tag is
        # in the completion (templates such as DeepSeek-R1's put ``<think>`` in the prompt).
        thinking = _OPEN.sub("", text[: last_close.start()])
        return text[last_close.end() :], thinking.strip()
    opened = _OPEN.search(text)
    if opened is not None:
        return None, text[opened.end() :].strip()
    return text, ""


def strip_thinking(text: str) -> str | None:
    """The gradeable part of ``text``; None when an unclosed thinking block leaves no answer."""
    return split_thinking(text)[0]
