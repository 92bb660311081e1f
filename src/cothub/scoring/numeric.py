"""Exact numeric grading (GSM8K): is the number a completion commits to the gold number?

Equality is exact on rationals: ``"18.00" == "18"`` and ``"0.5" == "1/2"``, but
``"0.333" != "1/3"``. A float tolerance would make a wrong answer that happens to be close count
as right, and GSM8K golds are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cothub.extract.numeric import committed_number, find_last_number, parse_number
from cothub.extract.region import answer_region
from cothub.types import Answer, Grade

__all__ = ["extract_numeric", "grade_numeric", "numbers_equal", "score_numeric"]


def numbers_equal(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` each hold one number and the two are exactly equal.

    Both sides go through the same parsing (commas, currency, ``%``, fractions); a side that
    holds no number, or several, is never equal to anything.
    """
    va = parse_number(a)
    if va is None:
        return False
    vb = parse_number(b)
    return vb is not None and va == vb


def extract_numeric(completion: str, stops: Sequence[str] = ()) -> Answer:
    """The number a completion commits to (:func:`committed_number`: a JSON answer field, an
    explicit final-answer marker, an answer in bold, a closing "Therefore ..." sentence, and
    only then the last number, each recorded as its own ``method``), searched in the
    committed-answer region (thinking, invented continuations and ``stops`` removed); ``span``
    indexes ``completion`` itself. A refusal, a hedge, two quantities or a repetition loop is no
    answer. Where a rule other than the last number found it, the last number of the region is
    its ``alternative`` reading."""
    answer = committed_number(completion, stops)
    if answer.value is not None and answer.method != "last-number":
        region = answer_region(completion, stops)
        if region is not None:
            lenient = find_last_number(completion[region.start : region.end])
            return replace(answer, alternative=lenient)
    return answer


def score_numeric(answer: Answer, gold: str) -> Grade:
    """The verdict on an extracted number: exactly the gold number (no answer: wrong, counted
    unparsed). ``disagreement`` flags an answer whose alternative reading (the last number)
    exists and would be graded otherwise.

    Raises ValueError when ``gold`` is not one number: a bad gold must not silently grade wrong.
    """
    gold_value = parse_number(gold)
    if gold_value is None:
        raise ValueError(f"gold is not a single number: {gold!r}")

    def right(ans: Answer) -> bool:
        return ans.value is not None and parse_number(ans.value) == gold_value

    alt = answer.alternative
    return Grade(
        correct=right(answer),
        answer=answer.value,
        method=answer.method,
        span=answer.span,
        check="numeric",
        disagreement=alt is not None and alt.value is not None and right(alt) != right(answer),
    )


def grade_numeric(completion: str, gold: str, stops: Sequence[str] = ()) -> Grade:
    """Grade one completion against a numeric gold: :func:`score_numeric` of
    :func:`extract_numeric`."""
    return score_numeric(extract_numeric(completion, stops), gold)
