"""Grading BBH and MMLU completions: a lenient verdict, checked against the published rule.

Each grade runs two rules. The **strict** rule is the one behind the published numbers
(BBH: Suzgun et al.'s, which reproduces every Codex per-task accuracy; MMLU: Chain-of-Thought
Hub's ``test_answer_mmlu_``). The **lenient** rule is :mod:`cothub.extract.choice`, which
also accepts chat habits (``**(B)**``, ``Answer: b)``, ``\\boxed{B}``, option text instead of
the letter). The verdict is the lenient one; ``Grade.disagreement`` flags every item where the
strict rule would have decided otherwise, so a run can report how much leniency moved the score.
On the released Codex BBH outputs (6,511 CoT + 6,511 answer-only) the two rules agree on every
item, so all 54 published per-task accuracies are reproduced.

``Grade.check`` names the comparison that decided: ``letter``, ``word``, ``integer``, ``dyck``,
``word-list`` or ``exact-string`` (the three BBH golds that are not letters, see
:mod:`cothub.extract.choice`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cothub.extract.choice import (
    DYCK,
    INTEGER,
    OPTION,
    WORD_LIST,
    bbh_option_letters,
    bbh_target_type,
    bbh_vocabulary,
    extract_dyck,
    extract_integer,
    extract_option,
    extract_text,
    extract_word,
    extract_word_list,
    lettered,
    normalize_dyck,
    normalize_integer,
    normalize_text,
    normalize_word_list,
    parse_options,
    published_bbh_answer,
    published_mmlu_answer,
)
from cothub.types import Answer, Grade

__all__ = ["bbh_target_type", "grade_bbh", "grade_mmlu"]

_LETTER_GOLD = re.compile(r"\([A-Z]\)")
_MODES = ("cot", "direct")


def _grade(answer: Answer, canonical_gold: str, strict_correct: bool, check: str) -> Grade:
    correct = answer.value is not None and answer.value == canonical_gold
    return Grade(
        correct=correct,
        answer=answer.value,
        method=answer.method,
        span=answer.span,
        check=check,
        disagreement=correct != strict_correct,
    )


def grade_bbh(
    task: str,
    completion: str,
    gold: str,
    question: str = "",
    mode: str = "cot",
    choices: Sequence[str] | None = None,
) -> Grade:
    """Grade one BBH completion against the dataset's ``target``.

    ``choices`` (``Sample.choices``; None: read from ``question``, the item's ``input``) are
    the options, so option text can be mapped to its letter and only offered letters count;
    without any the task's letter range is used. ``mode`` (``cot`` or ``direct``) selects the
    published rule the verdict is checked against.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
    kind = bbh_target_type(task)
    strict = published_bbh_answer(completion, mode)
    strict_correct = strict is not None and strict == gold

    if kind == OPTION:
        if _LETTER_GOLD.fullmatch(gold) is None:
            # A gold that is not an option letter (three broken upstream items): only the
            # same text, written out, is correct; no letter is mapped to it.
            return _grade(
                extract_text(completion), normalize_text(gold), strict_correct, "exact-string"
            )
        options = parse_options(question) if choices is None else lettered(choices)
        letters = "".join(options) or bbh_option_letters(task)
        return _grade(extract_option(completion, letters, options), gold, strict_correct, "letter")
    if kind == INTEGER:
        canonical = normalize_integer(gold)
        return _grade(extract_integer(completion), canonical or gold, strict_correct, "integer")
    if kind == DYCK:
        return _grade(extract_dyck(completion), normalize_dyck(gold), strict_correct, "dyck")
    if kind == WORD_LIST:
        return _grade(
            extract_word_list(completion), normalize_word_list(gold), strict_correct, "word-list"
        )
    return _grade(extract_word(completion, bbh_vocabulary(task)), gold, strict_correct, "word")


def grade_mmlu(
    completion: str, gold: str, question: str = "", choices: Sequence[str] | None = None
) -> Grade:
    """Grade one MMLU completion; ``gold`` is the letter ``A``-``D`` and so is the answer.

    ``choices`` (``Sample.choices``; None: read from ``question``) map option text to letters.
    The strict rule is the hub's CoT rule (the letter after the first "the answer is (") or,
    for answer-only completions without that phrase, ``completion.strip() == gold``.
    """
    options = parse_options(question) if choices is None else lettered(choices)
    letters = "".join(options) or "ABCD"
    found = extract_option(completion, letters, options)
    answer = Answer(found.value[1:-1], found.span, found.method) if found.value else found
    strict = published_mmlu_answer(completion)
    return _grade(answer, gold, strict is not None and strict == gold, "letter")
