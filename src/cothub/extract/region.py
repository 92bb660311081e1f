"""The committed-answer region: the part of a completion a careful human grader reads.

Every task's extractor searches only this region (one shared step, not a copy per task):

1. **Thinking** is never graded: everything up to the last closing ``</think>`` tag goes (an
   opened, never closed block means the reply holds no answer: ``None``).
2. **Stop sequences** given by the caller (an imported completion-style run that was never cut)
   end the region at the first one.
3. **Invented continuations** end it: a base model (or a chat model that keeps going) writes a new
   ``Q:`` / ``Question:`` / ``Problem:`` / ``## Problem 2`` / ``User:`` turn, or a chat-template
   token such as ``<|im_end|>``. Such a marker counts only at a line start and only after some
   text: a reply that opens by restating "Question: ..." is not cut to nothing.
4. **Restarts**: when the region's opening line (at least 16 characters) appears again at a line
   start, the model has started the same solution over; the region ends there.

:meth:`Region.loop` says whether the reply ends in a **degenerate repetition loop** (the same chunk
of up to 300 characters repeated over its last 240+ characters): the weakest fallbacks (last
number, a closing sentence) must not read an answer out of a loop.

Text after a committed final-answer statement (a restatement with other numbers, a list of key
steps, a unit-conversion note) is not cut here: each extractor ranks a committed statement above
every weaker rule, so what follows it cannot decide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cothub.extract.reasoning import strip_thinking

__all__ = ["Region", "answer_region", "ends_in_loop"]

# A new turn the model invented. "Q:" and "Question:" are the few-shot layouts of BBH, MMLU,
# GSM8K and MATH prompts; "Problem"/"Exercise" headings and "User:"/"Human:" are what chat models
# write when they carry on with a made-up next item.
_CONTINUATION = re.compile(
    r"\n[ \t]*(?:[*_#>]+[ \t]*)?"
    r"(?:"
    r"(?:Q|Question|Problem|Exercise|Human|User)(?:[ \t]+\d+)?[ \t]*[*_]*[ \t]*[:：]"
    r"|(?:Problem|Question|Exercise|Example)(?:[ \t]+\d+)?[*_ \t]*(?=\n)"
    r")"
    r"|<\|(?:im_start|im_end|endoftext|eot_id|end_of_turn|user)\|>|<end_of_turn>|</s>"
)
_MIN_RESTART = 16
_LOOP_MIN_SPAN = 240
_LOOP_MAX_PERIOD = 300
_LOOP_WINDOW = 1500


@dataclass(frozen=True, slots=True)
class Region:
    """Where the committed answer is looked for: ``text[start:end]`` of the completion."""

    start: int
    """Offset of the region in the completion (past any thinking)."""
    end: int
    """Offset where the region ends (a stop, an invented continuation, a restart, or the end)."""
    cut: str = ""
    """What ended it early: ``stop``, ``continuation``, ``restart``; "" when nothing did."""

    def loop(self, text: str) -> bool:
        """Whether the region of ``text`` ends in a degenerate repetition loop."""
        return ends_in_loop(text, self.start, self.end)


def _cut_continuation(text: str, start: int, end: int) -> int | None:
    for m in _CONTINUATION.finditer(text, start, end):
        at = m.start()
        if text[start:at].strip():
            return at
    return None


def _cut_restart(text: str, start: int, end: int) -> int | None:
    body = text[start:end]
    lead = len(body) - len(body.lstrip())
    nl = body.find("\n", lead)
    first = (body[lead:] if nl < 0 else body[lead:nl]).strip()
    if len(first) < _MIN_RESTART or nl < 0:
        return None
    at = body.find(first, nl)
    while at >= 0:
        line = body.rfind("\n", 0, at)
        if line >= nl and not body[line + 1 : at].strip(" \t"):
            return start + line
        at = body.find(first, at + 1)
    return None


def ends_in_loop(text: str, start: int = 0, end: int | None = None) -> bool:
    """Whether ``text[start:end]`` ends with one chunk repeated over its last 240+ characters."""
    stop = len(text) if end is None else end
    tail = text[max(start, stop - _LOOP_WINDOW) : stop].rstrip()
    n = len(tail)
    if n < _LOOP_MIN_SPAN + 2 or tail.count(tail[-20:]) < 3:
        return False  # a loop repeats its last characters at least twice before them
    for period in range(1, min(_LOOP_MAX_PERIOD, n // 3) + 1):
        span = max(_LOOP_MIN_SPAN, 3 * period)
        if span + period > n:
            break
        seg = tail[n - span - period :]
        if seg[:-period] == seg[period:] and seg[-period:].strip():
            return True
    return False


def answer_region(text: str, stops: Sequence[str] = ()) -> Region | None:
    """The region of ``text`` a grader searches; None when an unclosed thinking block leaves no
    answer. See the module docstring for the rules."""
    visible = strip_thinking(text)
    if visible is None:
        return None
    start = len(text) - len(visible)  # strip_thinking returns a suffix of ``text``
    end = len(text)
    cut = ""
    for stop in stops:
        if stop:
            found = text.find(stop, start, end)
            if found >= 0:
                end, cut = found, "stop"
    at = _cut_continuation(text, start, end)
    if at is not None:
        end, cut = at, "continuation"
    again = _cut_restart(text, start, end)
    if again is not None:
        end, cut = again, "restart"
    return Region(start, end, cut)
