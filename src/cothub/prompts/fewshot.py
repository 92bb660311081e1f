"""Few-shot exemplars: parsing published prompt files, rendering completion text or chat turns.

The published prompt files (Chain-of-Thought Hub ``lib_prompt``) are the exemplar sets behind the
published numbers, so a completion-style prompt built from an unchanged file reproduces them byte
for byte. Chat style turns the same exemplars into user/assistant pairs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cothub.errors import CothubError
from cothub.types import Message


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One worked example: question, reasoning lines and the final answer."""

    question: str
    rationale: str
    """The reasoning, without the final-answer line (empty for answer-only exemplars)."""
    answer: str


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


def chat_turns(
    exemplars: Sequence[Exemplar], user: str, user_of: str, assistant_of: str, system: str = ""
) -> tuple[Message, ...]:
    """Exemplars as alternating user/assistant turns, then the real question.

    ``user_of`` / ``assistant_of`` are ``str.format`` templates over an exemplar's fields
    (``{question}``, ``{rationale}``, ``{answer}``); ``user`` is the final, already rendered turn.
    """
    msgs: list[Message] = [Message("system", system)] if system else []
    for ex in exemplars:
        fields = {"question": ex.question, "rationale": ex.rationale, "answer": ex.answer}
        msgs.append(Message("user", user_of.format(**fields)))
        msgs.append(Message("assistant", assistant_of.format(**fields).strip()))
    msgs.append(Message("user", user))
    return tuple(msgs)
