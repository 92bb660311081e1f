"""Exact numeric grading (GSM8K): is the number a completion commits to the gold number?

Equality is exact on rationals: ``"18.00" == "18"`` and ``"0.5" == "1/2"``, but
``"0.333" != "1/3"``. A float tolerance would make a wrong answer that happens to be close count
as right, and GSM8K golds are exact.
"""

from __future__ import annotations

from cothub.extract.numeric import find_final_answer, find_last_number, parse_number
from cothub.extract.reasoning import strip_thinking
from cothub.types import Answer, Grade

__all__ = ["grade_numeric", "numbers_equal"]


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


def grade_numeric(completion: str, gold: str) -> Grade:
    """Grade one completion against a numeric gold.

    The answer is the last explicit final-answer marker's number, else the last number in the
    text (see :mod:`cothub.extract.numeric`). ``disagreement`` flags items where those two
    readings both exist and one would be graded right and the other wrong: the verdict then
    depends on the grader's convention, which is worth knowing when comparing to published
    numbers. ``span`` indexes ``completion`` itself (thinking included).

    Raises ValueError when ``gold`` is not one number: a bad gold must not silently grade wrong.
    """
    gold_value = parse_number(gold)
    if gold_value is None:
        raise ValueError(f"gold is not a single number: {gold!r}")
    text = strip_thinking(completion)
    if text is None:
        return Grade(correct=False, answer=None, method="unclosed-think", check="numeric")
    # strip_thinking returns a suffix of the completion; shift spans back onto the completion.
    offset = len(completion) - len(text)

    def right(ans: Answer) -> bool:
        return ans.value is not None and parse_number(ans.value) == gold_value

    strict = find_final_answer(text)
    lenient = find_last_number(text)
    answer = strict if strict.value is not None else lenient
    span = None if answer.span is None else (answer.span[0] + offset, answer.span[1] + offset)
    disagreement = (
        strict.value is not None and lenient.value is not None and right(strict) != right(lenient)
    )
    return Grade(
        correct=right(answer),
        answer=answer.value,
        method=answer.method,
        span=span,
        check="numeric",
        disagreement=disagreement,
    )
