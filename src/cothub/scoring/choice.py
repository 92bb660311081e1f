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
from dataclasses import replace

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

__all__ = [
    "bbh_target_type",
    "extract_bbh",
    "extract_mmlu",
    "grade_bbh",
    "grade_mmlu",
    "score_against",
    "score_bbh",
    "score_mmlu",
]

_LETTER_GOLD = re.compile(r"\([A-Z]\)")
_MODES = ("cot", "direct")


def extract_bbh(
    task: str,
    completion: str,
    gold: str,
    question: str = "",
    mode: str = "cot",
    choices: Sequence[str] | None = None,
) -> Answer:
    """The answer of one BBH completion as the lenient rule reads it, with the published
    (strict) rule's reading as its ``alternative``.

    ``choices`` (``Sample.choices``; None: read from ``question``, the item's ``input``) are
    the options, so option text can be mapped to its letter and only offered letters count;
    without any the task's letter range is used. ``mode`` (``cot`` or ``direct``) selects the
    published rule. ``gold`` matters only for the three broken upstream items whose gold is not
    an option letter: for those, the text written out is read, never a letter.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
    kind = bbh_target_type(task)
    strict = Answer(published_bbh_answer(completion, mode), None, "published-rule")
    if kind == OPTION:
        if _LETTER_GOLD.fullmatch(gold) is None:
            found = extract_text(completion)
        else:
            options = parse_options(question) if choices is None else lettered(choices)
            letters = "".join(options) or bbh_option_letters(task)
            found = extract_option(completion, letters, options)
    elif kind == INTEGER:
        found = extract_integer(completion)
    elif kind == DYCK:
        found = extract_dyck(completion)
    elif kind == WORD_LIST:
        found = extract_word_list(completion)
    else:
        found = extract_word(completion, bbh_vocabulary(task))
    return replace(found, alternative=strict)


def score_bbh(task: str, answer: Answer, gold: str) -> Grade:
    """The verdict on a BBH answer: equal to the gold in the task's canonical form; a
    ``disagreement`` where the published rule's reading (``answer.alternative``) would decide
    otherwise."""
    kind = bbh_target_type(task)
    if kind == OPTION:
        if _LETTER_GOLD.fullmatch(gold) is None:
            # A gold that is not an option letter (three broken upstream items): only the
            # same text, written out, is correct; no letter is mapped to it.
            canonical, check = normalize_text(gold), "exact-string"
        else:
            canonical, check = gold, "letter"
    elif kind == INTEGER:
        canonical, check = normalize_integer(gold) or gold, "integer"
    elif kind == DYCK:
        canonical, check = normalize_dyck(gold), "dyck"
    elif kind == WORD_LIST:
        canonical, check = normalize_word_list(gold), "word-list"
    else:
        canonical, check = gold, "word"
    return score_against(answer, canonical, gold, check)


def grade_bbh(
    task: str,
    completion: str,
    gold: str,
    question: str = "",
    mode: str = "cot",
    choices: Sequence[str] | None = None,
) -> Grade:
    """Grade one BBH completion against the dataset's ``target``: :func:`score_bbh` of
    :func:`extract_bbh`."""
    return score_bbh(task, extract_bbh(task, completion, gold, question, mode, choices), gold)


def extract_mmlu(
    completion: str, question: str = "", choices: Sequence[str] | None = None
) -> Answer:
    """The option letter (``A``-``D``) of one MMLU completion, with the published rule's reading
    (the hub's CoT rule: the letter after the first "the answer is (", or for answer-only
    completions without that phrase the whole stripped completion) as its ``alternative``.

    ``choices`` (``Sample.choices``; None: read from ``question``) map option text to letters.
    """
    options = parse_options(question) if choices is None else lettered(choices)
    letters = "".join(options) or "ABCD"
    found = extract_option(completion, letters, options)
    answer = Answer(found.value[1:-1], found.span, found.method) if found.value else found
    strict = Answer(published_mmlu_answer(completion), None, "published-rule")
    return replace(answer, alternative=strict)


def score_mmlu(answer: Answer, gold: str) -> Grade:
    """The verdict on an MMLU letter; a ``disagreement`` where the published rule would decide
    otherwise."""
    return score_against(answer, gold, gold, "letter")


def grade_mmlu(
    completion: str, gold: str, question: str = "", choices: Sequence[str] | None = None
) -> Grade:
    """Grade one MMLU completion; ``gold`` is the letter ``A``-``D`` and so is the answer:
    :func:`score_mmlu` of :func:`extract_mmlu`."""
    return score_mmlu(extract_mmlu(completion, question, choices), gold)


def score_against(answer: Answer, canonical_gold: str, gold: str, check: str) -> Grade:
    """Correct when the answer is ``canonical_gold`` (the gold in the form the lenient rule
    writes it); a ``disagreement`` when the published rule's reading (``answer.alternative``)
    is judged otherwise against the dataset's ``gold`` as written."""
    strict = answer.alternative
    strict_right = strict is not None and strict.value is not None and strict.value == gold
    correct = answer.value is not None and answer.value == canonical_gold
    return Grade(
        correct=correct,
        answer=answer.value,
        method=answer.method,
        span=answer.span,
        check=check,
        disagreement=correct != strict_right,
    )
