"""Extraction and scoring are two steps with an :class:`~cothub.types.Answer` between them.

``Task.extract_answer(sample, text)`` reads the answer a completion commits to (with a second
rule's reading where the task checks one); ``Task.score(sample, answer)`` judges it. ``grade`` is
the two in a row. Every built-in task offers both, an answer read elsewhere can be scored
without its text, and a disagreement travels with the answer, not with the text.
"""

from __future__ import annotations

import pytest

from cothub.tasks import TASKS
from cothub.tasks.base import Task
from cothub.types import Answer, Sample


@pytest.mark.parametrize("name", [n for n in TASKS.names() if n in TASKS])
def test_every_built_in_task_extracts_and_scores_in_two_steps(name: str) -> None:
    task = TASKS[name]
    cls = type(task)
    assert cls.extract_answer is not Task.extract_answer, name
    assert cls.score is not Task.score, name


def gsm8k_item(gold: str = "18") -> Sample:
    return Sample("test/0", "Janet has eggs.", gold)


@pytest.mark.parametrize(
    ("text", "value", "method", "alternative"),
    [
        ("She has 9 eggs. The answer is 18.", "18", "final-phrase", "18"),
        ("The answer is 18. (Check: 20 - 2 = 18.)", "18", "final-phrase", "18"),
        ("The answer is 18, leaving 4 for later.", "18", "final-phrase", "4"),
        ("16 - 3 - 4 = 9, so 9 * 2 = 18", "18", "last-number", None),  # it is the last number
        ("I cannot tell.", None, "refusal", None),
    ],
)
def test_gsm8k_answers_carry_their_second_reading(
    text: str, value: str | None, method: str, alternative: str | None
) -> None:
    task = TASKS["gsm8k"]
    answer = task.extract_answer(gsm8k_item(), text)
    assert (answer.value, answer.method) == (value, method)
    assert (answer.alternative.value if answer.alternative else None) == alternative
    assert task.score(gsm8k_item(), answer) == task.grade(gsm8k_item(), text)


def test_the_disagreement_is_the_second_reading_judged_otherwise() -> None:
    task = TASKS["gsm8k"]
    answer = task.extract_answer(gsm8k_item(), "The answer is 18, leaving 4 for later.")
    assert task.score(gsm8k_item(), answer).disagreement  # 18 right, 4 wrong
    assert not task.score(gsm8k_item("4"), answer).correct
    alone = Answer(answer.value, answer.span, answer.method)  # no second reading: none flagged
    graded = task.score(gsm8k_item(), alone)
    assert graded.correct and not graded.disagreement


def test_an_answer_read_elsewhere_is_scored_without_its_text() -> None:
    """A harness's extracted answer is judged by the task's own equivalence."""
    gsm8k, mmlu, math = TASKS["gsm8k"], TASKS["mmlu"], TASKS["math"]
    assert gsm8k.score(gsm8k_item("1000"), Answer("1,000.00")).correct
    assert not gsm8k.score(gsm8k_item("1000"), Answer("999")).correct
    item = Sample("x/0", "Which?", "B", choices=("a", "b", "c", "d"), subset="x")
    assert mmlu.score(item, Answer("B")).correct and not mmlu.score(item, Answer("C")).correct
    half = Sample("algebra/0", "What is 2/4?", "\\frac{1}{2}", subset="algebra")
    assert math.score(half, Answer("0.5")).correct
    assert not math.score(half, Answer(None, None, "none")).correct


def test_bbh_reads_the_published_rule_beside_the_lenient_one() -> None:
    bbh = TASKS["bbh"]
    item = Sample("navigate/0", "Do you return? Options:\n- Yes\n- No", "Yes", subset="navigate")
    lenient_only = "After all the steps I am back at the start.\n**Yes**"
    answer = bbh.extract_answer(item, lenient_only, "fewshot-cot")
    assert answer.value == "Yes" and answer.alternative is not None
    assert answer.alternative.method == "published-rule" and answer.alternative.value is None
    graded = bbh.score(item, answer, "fewshot-cot")
    assert graded.correct and graded.disagreement  # the published rule finds no answer
    agreed = bbh.extract_answer(item, "So the answer is Yes.", "fewshot-cot")
    assert agreed.alternative is not None and agreed.alternative.value == "Yes"
    assert not bbh.score(item, agreed, "fewshot-cot").disagreement
