"""Few-shot exemplars: parsing published prompt files, rendering completion text or chat turns.

The published prompt files (Chain-of-Thought Hub ``lib_prompt``) are the exemplar sets behind the
published numbers, so a completion-style prompt built from an unchanged file reproduces them byte
for byte. Chat style turns the same exemplars into user/assistant pairs. A task supplies the
templates (``str.format`` over an exemplar's ``{question}``, ``{rationale}``, ``{answer}``); the
joining is done here, the same way for every task.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cothub.errors import CothubError
from cothub.types import Message


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One worked example: question, reasoning lines and the final answer."""

    question: str
    rationale: str
    """The reasoning, without the final-answer line (empty for answer-only exemplars)."""
    answer: str

    def format(self, template: str) -> str:
        """``template`` with this exemplar's ``{question}``, ``{rationale}``, ``{answer}``."""
        return template.format(question=self.question, rationale=self.rationale, answer=self.answer)


_Q_PREFIX = re.compile(r"^(?:Question|Q):\s?", re.MULTILINE)
_TRIGGER = re.compile(r"^(?:A:\s*)?Let's think step by step\.?\s*$", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"(?:So )?[Tt]he answer is\s*(.+?)\.?\s*$")


def parse_exemplars(text: str, origin: str) -> list[Exemplar]:
    """Parse a ``Question: ...`` / ``Let's think step by step`` / ``The answer is N`` file."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    out: list[Exemplar] = []
    for block in blocks:
        if not _Q_PREFIX.match(block):
            raise CothubError(
                f"{origin}: exemplar {len(out) + 1} does not start with 'Question:' or 'Q:'; "
                "use a prompt file in the lib_prompt format"
            )
        lines = _Q_PREFIX.sub("", block, count=1).split("\n")
        answer_at = next(
            (i for i in range(len(lines) - 1, -1, -1) if _ANSWER_LINE.search(lines[i])), None
        )
        if answer_at is None or answer_at == 0:
            raise CothubError(
                f"{origin}: exemplar {len(out) + 1} has no final 'The answer is ...' line; "
                "use a prompt file in the lib_prompt format"
            )
        match = _ANSWER_LINE.search(lines[answer_at])
        assert match is not None
        body = lines[:answer_at]
        trigger = next((i for i, ln in enumerate(body) if _TRIGGER.match(ln)), None)
        question_lines = body if trigger is None else body[:trigger]
        rationale_lines = [] if trigger is None else body[trigger + 1 :]
        out.append(
            Exemplar(
                question="\n".join(question_lines).strip(),
                rationale="\n".join(rationale_lines).strip(),
                answer=match.group(1).strip(),
            )
        )
    if not out:
        raise CothubError(
            f"{origin}: no exemplars found; use a prompt file in the lib_prompt format"
        )
    return out


def completion(head: str, shots: Sequence[str], item: str, sep: str) -> str:
    """One completion-style prompt: ``head`` (a task description, a subject header), the rendered
    exemplars, then the item, joined by ``sep``; an empty head or item is left out with its
    separator (a prompt with no description starts at its first exemplar)."""
    return sep.join(part for part in (head, *shots, item) if part)


def chat_turns(
    exemplars: Sequence[Exemplar],
    user: str,
    user_of: str,
    assistant_of: str,
    system: str = "",
    lead: str = "",
) -> tuple[Message, ...]:
    """Exemplars as alternating user/assistant turns, then the real question.

    ``user_of`` / ``assistant_of`` are templates for :meth:`Exemplar.format`; ``user`` is the final,
    already rendered turn. ``lead`` (a task description) opens the first user turn, whichever it
    is: some chat templates reject a system message, and so the turns read like the completion.
    """
    msgs: list[Message] = [Message("system", system)] if system else []
    for ex in exemplars:
        user_turn, assistant_turn = _turn_pair(ex, user_of, assistant_of)
        msgs.append(Message("user", lead + user_turn.content) if lead else user_turn)
        msgs.append(assistant_turn)
        lead = ""
    msgs.append(Message("user", lead + user))
    return tuple(msgs)


@lru_cache(maxsize=8192)
def _turn_pair(ex: Exemplar, user_of: str, assistant_of: str) -> tuple[Message, Message]:
    """One exemplar's (user, assistant) turns, made once and shared by every prompt that shows
    it (the turns are immutable): a run renders the same few exemplars for thousands of items,
    and formatting them per item costs a copy of every exemplar's text per item held."""
    return Message("user", ex.format(user_of)), Message(
        "assistant", ex.format(assistant_of).strip()
    )
