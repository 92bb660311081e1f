"""MATH grading: extraction, normalisation and equivalence tables, real golds, and time limits.

Every table row is hand-written: (input, expected) pairs whose expected value was decided from
the MATH conventions, not copied from the implementation's output.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import cothub.scoring.math_equiv as me
from cothub.extract.latex import extract_math_answer, gold_from_solution, last_boxed
from cothub.scoring.math_equiv import grade_math, math_equal, normalize_math

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COTHUB_SHARED", REPO.parent / "shared"))
DATA = Path(os.environ.get("COTHUB_DATA_DIR", SHARED / "data"))

# ---- last_boxed -------------------------------------------------------------------------------

BOXED = [
    # (text, expected boxed content or None)
    (r"so the area is $\boxed{5}$.", "5"),
    (r"$\boxed{\frac{1}{\sqrt{2}}}$", r"\frac{1}{\sqrt{2}}"),
    (r"\boxed{\frac{\sqrt{3}}{2}} and more text", r"\frac{\sqrt{3}}{2}"),
    (r"first \boxed{3}, then corrected: \boxed{4}", "4"),
    (r"\boxed{a}\boxed{b}", "b"),
    (r"\fbox{7}", "7"),
    (r"\boxed{3} but finally \fbox{8}", "8"),
    (r"so $x = \boxed 2$.", "2"),
    (r"It follows that $x^2 + y^2 = \boxed 9$.", "9"),
    (r"the answer is \boxed 9.", "9"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"\boxed{\left\{ 1 \right.}", r"\left\{ 1 \right."),  # escaped brace is not a group
    (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    (r"\boxed{ 5 }", "5"),
    (r"\boxed {12}", "12"),
    (r"\boxed{\text{(C)}}", r"\text{(C)}"),
    (r"\boxed{x^{2}", None),  # cut off inside the box
    (r"\boxed{3} and then \boxed{4", None),  # last box unclosed: no fallback to the draft
    ("no box here, the answer is 5", None),
    (r"\boxedanswer{3}", None),  # a different command
    ("\\boxed", None),
]


@pytest.mark.parametrize(("text", "expected"), BOXED)
def test_last_boxed(text: str, expected: str | None) -> None:
    found = last_boxed(text)
    if expected is None:
        assert found is None
        return
    assert found is not None
    content, (start, end) = found
    assert content == expected
    assert text[start:end] == expected


# ---- extract_math_answer ----------------------------------------------------------------------

EXTRACT = [
    # (completion text, expected value, expected method)
    (r"Thus $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed"),
    (r"\boxed{7} ... The answer is 8", "7", "boxed"),  # a box outranks a phrase
    ("The answer is 5.", "5", "final-phrase"),
    ("The answer is 5", "5", "final-phrase"),
    (
        "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
        r"\frac{1}{2}",
        "final-phrase",
    ),
    ("Final Answer: The final answer is $(1,2]$. I hope it is correct.", "(1,2]", "final-phrase"),
    ("Answer: 3.5", "3.5", "final-phrase"),
    ("answer: $-\\dfrac{1}{2}$.", r"-\dfrac{1}{2}", "final-phrase"),
    ("**Answer:** 12", "12", "final-phrase"),
    ("So the answer is $x = 2$", "x = 2", "final-phrase"),
    ("The answer is: (C).", "(C)", "final-phrase"),
    ("the final answer is 3.14. Done.", "3.14", "final-phrase"),
    ("The answer is 5\nWait, no. The answer is 6.", "6", "final-phrase"),
    ("The answer is \\(\\frac{3}{4}\\).", r"\frac{3}{4}", "final-phrase"),
    ("The answer is $$12$$", "12", "final-phrase"),
    ("The answer is \\[ 2\\sqrt{3} \\]", r"2\sqrt{3}", "final-phrase"),
    ("The answer is 10,000 dollars.", "10,000 dollars", "final-phrase"),
    ("so 2 + 2 = 4 and we are done", None, "none"),
    ("The answer is", None, "none"),
    (r"\boxed{}", None, "empty-boxed"),
    (r"so the answer is \boxed{\frac{1}{2", None, "unclosed-boxed"),
]


@pytest.mark.parametrize(("text", "value", "method"), EXTRACT)
def test_extract_math_answer(text: str, value: str | None, method: str) -> None:
    answer = extract_math_answer(text)
    assert (answer.value, answer.method) == (value, method)
    if value is not None:
        assert answer.span is not None
        assert text[answer.span[0] : answer.span[1]] == value


def test_gold_from_solution() -> None:
    sol = r"We get $\boxed{3}$ first, and in total $\boxed{\frac{7}{2}}$."
    assert gold_from_solution(sol) == r"\frac{7}{2}"
    assert gold_from_solution(r"So $x^2 + y^2 = \boxed 9$.") == "9"
    assert gold_from_solution(r"there are $\boxed{}$ primes") == ""
    with pytest.raises(ValueError):
        gold_from_solution("no boxed answer here")


# ---- normalize_math ---------------------------------------------------------------------------

NORMALIZE = [
    (r"\left( 1, 2 \right]", "(1,2]"),
    (r"10,\!000", "10000"),
    (r"10{,}000", "10000"),
    (r"\$1,234.50", "1234.50"),
    (r"5\text{ cm}^2", "5"),
    (r"5\text{cm}", "5"),
    (r"0.4\mbox{ miles}", "0.4"),
    (r"\text{(C)}", "C"),
    (r"(\text{E})", "E"),
    (r"\textbf{(B)}", "B"),
    (r"x \in [2, 5)", "[2,5)"),
    (r"y = 2x + 1", "2x+1"),
    (r"k=3", "3"),
    (r"\dfrac{\sqrt3}{2}", r"\frac{\sqrt{3}}{2}"),
    (r"\frac12", r"\frac{1}{2}"),
    (r"\tfrac 37", r"\frac{3}{7}"),
    (r"\frac\pi2", r"\frac{\pi}{2}"),
    (r"\frac1{72}", r"\frac{1}{72}"),
    (r"\frac{\frac12}{3}", r"\frac{\frac{1}{2}}{3}"),
    (r".5", r"\frac{1}{2}"),
    (r"0.5", r"\frac{1}{2}"),
    (r"-.25", "-0.25"),
    (r"3/4", r"\frac{3}{4}"),
    (r"-5/4", r"-\frac{5}{4}"),
    (r"30^\circ", "30"),
    (r"22.5^{\circ}", "22.5"),
    (r"25\%", "25"),
    (r"\{1, 2\}", "1,2"),
    (r"2, 1", "1,2"),
    (r"(2,1)", "(2,1)"),  # an ordered pair keeps its order
    (r"\begin{bmatrix} 1 & 2 \end{bmatrix}", r"\begin{pmatrix}1&2\end{pmatrix}"),
    (r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}.", r"\begin{pmatrix}-1&0\\0&-1\end{pmatrix}"),
    ("5.", "5"),
    ("1010_{2}", "1010_2"),
    (r"\text{Evelyn}", "evelyn"),
    (r"\!\sqrt{21}", r"\sqrt{21}"),
    (r"x<=5", "x<=5"),  # "<=" is not an assignment
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE)
def test_normalize_math(raw: str, expected: str) -> None:
    assert normalize_math(raw) == expected


# ---- math_equal -------------------------------------------------------------------------------

EQUAL = [
    # (pred, gold, equal, deciding check)
    # identical and cosmetic
    ("5", "5", True, "exact"),
    (r"\frac{3}{4}", r"\frac34", True, "normalized"),
    (r"\dfrac{3}{4}", r"\frac{3}{4}", True, "normalized"),
    (r"-\tfrac32", r"-\frac{3}{2}", True, "normalized"),
    ("1 + \\sqrt{2}", "1+\\sqrt{2}", True, "normalized"),
    (r"\left(3, 4\right)", "(3,4)", True, "normalized"),
    ("5", "6", False, "none"),
    ("-5", "5", False, "none"),
    # fractions and decimals: exactly equal counts, an approximation does not
    ("0.5", r"\frac{1}{2}", True, "normalized"),
    (".5", r"\frac12", True, "normalized"),
    ("0.25", r"\frac14", True, "math-verify"),
    ("1.5", r"\frac32", True, "math-verify"),
    (r"\dfrac{7}{2}", "3.5", True, "math-verify"),
    ("5.00", "5", True, "math-verify"),
    ("1/3", r"\frac{1}{3}", True, "normalized"),
    (r"\frac{-1}{2}", r"-\frac12", True, "math-verify"),
    ("0.333", r"\frac13", False, "none"),
    ("0.333333", r"\frac13", False, "none"),
    ("0.3333333333333333", r"\frac{1}{3}", False, "none"),
    ("0.67", r"\frac23", False, "none"),
    ("0.1", r"\frac19", False, "none"),
    (r"0.\overline{3}", r"\frac13", True, "math-verify"),
    (r"0.\overline{6}", r"\frac13", False, "none"),
    ("1.414", r"\sqrt{2}", False, "none"),
    ("1.4142135623730951", r"\sqrt{2}", False, "none"),
    ("3.14", r"\pi", False, "none"),
    ("3.14159", r"\pi", False, "none"),
    ("0.954929658551372", r"\frac{3}{\pi}", False, "none"),
    ("0.707", r"\frac{\sqrt{2}}{2}", False, "none"),
    # ... also where the plain-number shortcut cannot decide and SymPy sees the float
    ("1.414214", r"\sqrt{2}", False, "none"),
    ("0.707107", r"\frac{\sqrt{2}}{2}", False, "none"),
    ("0.785398", r"\frac{\pi}{4}", False, "none"),
    ("0.333333, 1", r"1, \frac13", False, "none"),
    ("0.5, 1", r"1, \frac12", True, "math-verify"),
    ("(0.333333, 1]", r"(\frac13, 1]", False, "none"),
    (
        r"\begin{pmatrix} 0.333333 \\ 1 \end{pmatrix}",
        r"\begin{pmatrix} \frac13 \\ 1 \end{pmatrix}",
        False,
        "none",
    ),
    # radicals and pi
    (r"\sqrt{2}/2", r"\frac{\sqrt2}{2}", True, "math-verify"),
    (r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}", True, "math-verify"),
    (r"\sqrt{128}", r"8\sqrt{2}", True, "math-verify"),
    (r"2\sqrt{2}", r"\sqrt{8}", True, "math-verify"),
    (r"2\sqrt{3}", r"3\sqrt{2}", False, "none"),
    (r"10\sqrt3", r"10 \sqrt{3}", True, "normalized"),
    (r"\pi/2", r"\frac{\pi}{2}", True, "math-verify"),
    (r"\frac{1}{2}\pi", r"\frac{\pi}{2}", True, "math-verify"),
    (r"\frac{\pi}{3}", r"\frac{\pi}{2}", False, "none"),
    (r"2\pi", r"2 \pi", True, "normalized"),
    # unordered answer sets vs ordered tuples
    ("1, 2", "2,1", True, "normalized"),
    (r"\{1,2\}", "1,2", True, "normalized"),
    (r"\{2, 1\}", r"\{1,2\}", True, "normalized"),
    ("2, -1", "-1,2", True, "normalized"),
    ("110, 70", "70,110", True, "normalized"),  # a solution list, not 70110
    ("1, 2, 3", "1,2", False, "none"),
    ("(2,1)", "(1,2)", False, "none"),
    ("(1, 2)", "(1,2)", True, "normalized"),
    (r"\pm 2", "2,-2", True, "math-verify"),
    ("x=2, x=3", "2, 3", True, "math-verify"),
    # intervals: endpoints' openness matters
    ("(1,2]", "[1,2]", False, "none"),
    ("[1,2)", "(1,2]", False, "none"),
    ("[3,4]", "(3,4)", False, "none"),
    ("(2,1]", "(1,2]", False, "none"),
    (r"x \in [2,5)", "[2,5)", True, "normalized"),
    (r"x \in (2,5)", "[2,5)", False, "none"),
    (r"(-\infty, 3) \cup (3, \infty)", r"(-\infty,3)\cup(3,\infty)", True, "normalized"),
    (r"(-\infty, 0]", r"(-\infty, 0)", False, "none"),
    (r"\left[ -\frac{1}{2}, 3 \right)", r"[-\tfrac12,3)", True, "normalized"),
    # equations and expressions
    ("y = 2x+1", "2x+1", True, "normalized"),
    ("2x+1", "y=2x+1", True, "normalized"),
    ("x+1", "y=2x+1", False, "none"),
    ("x^2+2x+1", "(x+1)^2", True, "math-verify"),
    ("x^2+1", "(x+1)^2", False, "none"),
    ("3+2i", "2i+3", True, "math-verify"),
    # degrees, percent, money, units
    (r"30^\circ", "30", True, "normalized"),
    ("30", r"30^{\circ}", True, "normalized"),
    (r"\frac{\pi}{6}", r"30^\circ", False, "none"),  # MATH asks for degrees
    ("50", r"50\%", True, "normalized"),
    ("0.5", r"50\%", False, "none"),  # a percentage was asked for
    (r"\frac{25}{2}", r"12.5\%", True, "math-verify"),
    (r"\$1.50", "1.5", True, "math-verify"),
    (r"\$ 54.60", "54.6", True, "math-verify"),
    (r"18\text{ ways.}", "18", True, "normalized"),
    (r"144 \mbox{ m}^3", "144", True, "normalized"),
    # matrices and vectors
    (
        r"\begin{pmatrix}1\\2\end{pmatrix}",
        r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}",
        True,
        "normalized",
    ),
    (
        r"\begin{pmatrix} 0.5 \\ 1 \end{pmatrix}",
        r"\begin{pmatrix} \frac12 \\ 1 \end{pmatrix}",
        True,
        "math-verify",
    ),
    (
        r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}",
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        True,
        "normalized",
    ),
    (
        r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}",
        r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}",
        False,
        "none",
    ),
    # text and multiple-choice answers
    (r"\text{(C)}", "C", True, "normalized"),
    ("C", r"\text{(C)}", True, "normalized"),
    ("(C)", r"\textbf{(C)}", True, "normalized"),
    ("B", r"\text{(C)}", False, "none"),
    ("evelyn", r"\text{Evelyn}", True, "normalized"),
    (r"\text{no}", "No", True, "normalized"),
    (r"\text{B,C}", "B, C", True, "normalized"),
    # base subscripts: the question fixes the base, a different one is wrong
    ("1010", "1010_2", True, "normalized"),
    ("1010_{2}", "1010_2", True, "normalized"),
    ("10", "1010_2", False, "none"),
    ("1010_7", "1010_2", False, "none"),
    ("A3", "A3_{16}", True, "normalized"),
    # large integers with separators
    ("10,000", "10000", True, "normalized"),
    (r"10,\!000", "10000", True, "normalized"),
    ("61328", "61,328", True, "normalized"),
    (r"1,\!000,\!000", "1000000", True, "normalized"),
    ("10,001", "10000", False, "none"),
]


@pytest.mark.parametrize(("pred", "gold", "equal", "check"), EQUAL)
def test_math_equal(pred: str, gold: str, equal: bool, check: str) -> None:
    assert math_equal(pred, gold) == (equal, check)


# ---- grade_math -------------------------------------------------------------------------------

GRADE = [
    # (completion, gold, correct, method, check, disagreement)
    ("So the answer is $\\boxed{6}$.", "6", True, "boxed", "exact", False),
    (
        "<think>maybe \\boxed{5}</think> The answer is \\boxed{6}",
        "6",
        True,
        "boxed",
        "exact",
        False,
    ),
    # a box inside discarded thinking is not the answer
    (
        "<think>It is \\boxed{5}.</think> The answer is 6.",
        "5",
        False,
        "final-phrase",
        "none",
        False,
    ),
    ("<think>It is \\boxed{5}.</think>", "5", False, "none", "", False),
    # the chat template opened the think block in the prompt
    ("thinking... </think> Therefore $\\boxed{5}$", "5", True, "boxed", "exact", False),
    (
        "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
        "0.5",
        True,
        "final-phrase",
        "normalized",
        False,
    ),
    ("The answer is 12 \\text{ cm}", "12", True, "final-phrase", "normalized", False),
    # correct only by the symbolic check: flagged for audit
    (r"$\boxed{\frac{\sqrt2}{2}}$", r"\frac{1}{\sqrt{2}}", True, "boxed", "math-verify", True),
    # correct by the list reading, which math-verify (reading 70,110 as a number) rejects
    (r"$\boxed{110, 70}$", "70,110", True, "boxed", "normalized", True),
    (r"$\boxed{(1,2]}$", "[1,2]", False, "boxed", "none", False),
    (r"first \boxed{2}, then \boxed{3}", "2", False, "boxed", "none", False),
    ("I could not solve it.", "2", False, "none", "", False),
]


@pytest.mark.parametrize(("completion", "gold", "correct", "method", "check", "dis"), GRADE)
def test_grade_math(
    completion: str, gold: str, correct: bool, method: str, check: str, dis: bool
) -> None:
    grade = grade_math(completion, gold)
    assert (grade.correct, grade.method, grade.check, grade.disagreement) == (
        correct,
        method,
        check,
        dis,
    )
    if grade.answer is not None:
        assert grade.span is not None


def test_unclosed_think_has_no_answer() -> None:
    grade = grade_math("<think>The answer is \\boxed{5} and I keep going", "5")
    assert (grade.correct, grade.answer, grade.method) == (False, None, "unclosed-think")


def test_grade_answer_span_points_into_the_completion() -> None:
    completion = "<think>x</think>So $\\boxed{\\frac{1}{\\sqrt{2}}}$."
    grade = grade_math(completion, r"\frac{\sqrt2}{2}")
    assert grade.correct and grade.answer == r"\frac{1}{\sqrt{2}}"
    assert grade.span is not None
    # As for every grader: the span indexes the completion itself, thinking included.
    assert completion[grade.span[0] : grade.span[1]] == grade.answer


# ---- the in-process shortcut agrees with math-verify ------------------------------------------

PLAIN_NUMBERS = ["5", "6", "-3", "0.5", r"\frac12", "1.25", r"\frac{5}{4}", "1,000", "1000"]
PLAIN_NUMBERS += ["0.333", r"\frac13", "x = 6", r"\$5"]


def test_plain_number_shortcut_agrees_with_math_verify() -> None:
    """Two different plain numbers are decided without SymPy; that must be math-verify's answer."""
    for a in PLAIN_NUMBERS:
        for b in PLAIN_NUMBERS:
            reply = me._pool.run(me._symbolic_input(a), me._symbolic_input(b), 5.0)
            assert "equal" in reply, (a, b, reply)
            equal, check = math_equal(a, b)
            assert equal == reply["equal"], (a, b, check)


# ---- time limits ------------------------------------------------------------------------------

PATHOLOGICAL = [
    (r"10^{10^{10^{10}}}", "5"),
    (r"(10^{10})!", "3"),
    (r"9^{9^{9}}", "1"),
    (r"1000000!", "5"),
    ("\\sqrt{" * 60 + "2" + "}" * 60, "2"),
]


@pytest.mark.parametrize(("pred", "gold"), PATHOLOGICAL)
def test_pathological_pair_returns_within_the_limit(pred: str, gold: str) -> None:
    start = time.monotonic()
    equal, check = math_equal(pred, gold, timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert not equal
    assert check in ("timeout", "none")
    assert elapsed < 3.0  # 1 s limit, plus a worker start when the pool is cold


def test_hard_kill_when_the_workers_own_alarm_is_too_late(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(me, "_SOFT_FRACTION", 50.0)  # the worker would give up only after 50 s
    start = time.monotonic()
    assert math_equal(r"10^{10^{10^{10}}}", "5", timeout_s=1.0) == (False, "timeout")
    assert time.monotonic() - start < 3.0
    monkeypatch.undo()
    # the killed worker is replaced transparently
    assert math_equal(r"\pi/2", r"\frac{\pi}{2}") == (True, "math-verify")


def test_time_limit_and_symbolic_checks_work_off_the_main_thread() -> None:
    """math-verify's own signal-based timeout raises ValueError outside the main thread."""
    results: list[tuple[tuple[bool, str], tuple[bool, str], float]] = []

    def job() -> None:
        start = time.monotonic()
        slow = math_equal(r"9^{9^{9}}", "1", timeout_s=1.0)
        fast = math_equal(r"\sqrt{2}/2", r"\frac{\sqrt2}{2}")
        results.append((slow, fast, time.monotonic() - start))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 3
    for slow, fast, elapsed in results:
        assert slow == (False, "timeout")
        assert fast == (True, "math-verify")
        assert elapsed < 6.0


def test_time_limit_inside_asyncio() -> None:
    async def grade_all() -> list[tuple[bool, str]]:
        grades = await asyncio.gather(
            asyncio.to_thread(grade_math, r"\boxed{(10^{10})!}", "3", 1.0),
            asyncio.to_thread(grade_math, r"\boxed{0.25}", r"\frac14", 1.0),
        )
        return [(g.correct, g.check) for g in grades]

    start = time.monotonic()
    assert asyncio.run(grade_all()) == [(False, "timeout"), (True, "math-verify")]
    assert time.monotonic() - start < 4.0


def test_import_is_cheap_and_sympy_stays_out_of_the_caller() -> None:
    code = (
        "import sys\n"
        "import cothub.scoring.math_equiv as m\n"
        "print('sympy' in sys.modules, 'math_verify' in sys.modules)\n"
        "print(m.math_equal(r'\\sqrt{2}/2', r'\\frac{\\sqrt2}{2}'))\n"
        "print('sympy' in sys.modules, 'math_verify' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["False False", "(True, 'math-verify')", "False False"]


# ---- real MATH golds --------------------------------------------------------------------------


def _math_test_golds() -> list[str]:
    files = sorted((DATA / "MATH" / "test").glob("*/*.json"))
    if len(files) != 5000:
        pytest.skip(f"MATH test data not found under {DATA}")
    return [gold_from_solution(json.loads(f.read_text())["solution"]) for f in files]


def test_every_math_test_solution_boxes_a_gold() -> None:
    golds = _math_test_golds()
    assert all(golds)


def test_sample_of_golds_equals_itself() -> None:
    golds = random.Random(20240601).sample(_math_test_golds(), 200)
    for gold in golds:
        grade = grade_math(f"The working. So the answer is $\\boxed{{{gold}}}$.", gold)
        assert (grade.correct, grade.answer, grade.check) == (True, gold, "exact"), gold
        # the symbolic path must also read every gold as equal to itself
        reply = me._pool.run(me._symbolic_input(gold), me._symbolic_input(gold), 5.0)
        assert reply == {"equal": True}, gold


def test_sample_of_rewritten_golds_still_equal() -> None:
    golds = random.Random(7).sample(_math_test_golds(), 200)
    for gold in golds:
        rewritten = gold.replace("\\frac", "\\dfrac").replace(" ", "  ")
        if "=" not in gold and "\\in" not in gold:
            rewritten = "x = " + rewritten
        assert math_equal(rewritten, gold)[0], (rewritten, gold)


def test_distinct_golds_are_not_equal() -> None:
    """Random pairs of different answers: a lenient numeric tolerance would pass some of them."""
    golds = _math_test_golds()
    rng = random.Random(11)
    checked = 0
    while checked < 200:
        a, b = rng.sample(golds, 2)
        if normalize_math(a) == normalize_math(b):
            continue  # the same answer written twice
        assert math_equal(a, b, timeout_s=3.0)[0] is False, (a, b)
        checked += 1
