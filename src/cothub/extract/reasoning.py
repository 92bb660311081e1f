"""Separate a reasoning model's thinking from its answer.

Thinking is never graded: a number a model tried and rejected while thinking is not its answer.
Servers differ: some return thinking in a separate field, some inline ``<think>...</think>``,
and chat templates that open the block inside the prompt leave only the closing tag.
"""

from __future__ import annotations

import re
from dataclasses import replace

from cothub.types import Completion

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


def unclosed_thinking(text: str) -> bool:
    """True when ``text`` opens a thinking block and never closes it: no answer, and reported
    apart from wrong answers (a server may still say ``stop`` for such a reply)."""
    return split_thinking(text)[0] is None


def inline_thinking(text: str) -> str | None:
    """The thinking written inline in ``text`` (None when it has no thinking tags).

    :func:`with_thinking` copies it into :attr:`Completion.reasoning` for display; the text
    itself keeps it.
    """
    if _CLOSE.search(text) is None and _OPEN.search(text) is None:
        return None
    return split_thinking(text)[1]


def with_thinking(c: Completion) -> Completion:
    """``c`` with the thinking written inline in its text copied to ``reasoning`` (for reading;
    never graded), unless the server returned thinking apart. Done once, as each response
    enters the run (:mod:`cothub.run.cache`), whichever backend made it: backends only
    translate what their server sent."""
    if c.reasoning:
        return c
    thinking = inline_thinking(c.text)
    if thinking is None:
        return c if c.reasoning is None else replace(c, reasoning=None)
    return replace(c, reasoning=thinking)


def open_thinking_tail(rendered_prompt: str) -> str:
    """The part of a rendered prompt from a thinking tag it leaves open to its end, else "".

    Chat templates such as DeepSeek-R1's end the prompt with ``<think>\n``: the model's reply
    then holds only the closing tag, and an unclosed block would look like a plain answer.
    Prepending this tail to the reply restores what the assistant turn really holds.
    """
    opens = list(_OPEN.finditer(rendered_prompt))
    if not opens:
        return ""
    last = opens[-1]
    if _CLOSE.search(rendered_prompt, last.end()) is not None:
        return ""
    return rendered_prompt[last.start() :]
