# ruff: noqa: E501  (table rows are model replies, kept on one line each)
"""Fidelity table: how real models and other harnesses write answers, per failure class.

Every row is written for this file from the patterns the fidelity issue lists (structured answers,
text after the committed answer, unrecognised final-answer phrases, non-answers, misread values),
in varied wording, for each task the class applies to. A non-answer (refusal, hedge, two
quantities, repetition loop, a continuation with nothing committed before it) is graded wrong
with ``answer`` None (so it counts as unparsed) and a ``method`` that says why.
"""

from __future__ import annotations

import pytest

from cothub.extract.region import answer_region, ends_in_loop
from cothub.extract.structured import find_answer_field
from cothub.scoring.choice import grade_bbh, grade_mmlu
from cothub.scoring.math_equiv import grade_math, math_equal
from cothub.scoring.numeric import grade_numeric

# --- GSM8K: (completion, gold, answer, correct, method) -------------------------------------

GSM8K: dict[str, tuple[str, str, str | None, bool, str]] = {
    # 1. structured final answers
    "json-fenced": (
        '```json\n{"reasoning": "16 - 3 - 4 = 9 eggs; 9 * 2 = 18", "answer": 18}\n```',
        "18",
        "18",
        True,
        "json",
    ),
    "json-then-prose": (
        'Working: 5 + 7 = 12.\n{"final_answer": "12"}\nLet me know if you want 3 more problems.',
        "12",
        "12",
        True,
        "json",
    ),
    "json-money-string": ('{"answer": "$1,250.00"}', "1250", "1250", True, "json"),
    "python-dict": ("Result: {'answer': 42, 'steps': 3}", "42", "42", True, "json"),
    "json-field-no-braces": ('Output -> "answer": 7', "7", "7", True, "json"),
    "json-null": ('{"answer": null, "note": "5 is a guess"}', "5", None, False, "json-null"),
    "json-answer-before-explanation": (
        '{"answer": 30, "explanation": "she has 45 left after giving 15"}',
        "30",
        "30",
        True,
        "json",
    ),
    "json-after-reasoning-numbers": (
        'She earns 20 * 3 = 60 and spends 25.\n\n```json\n{"answer": 35}\n```\n\nDone in 2 steps.',
        "35",
        "35",
        True,
        "json",
    ),
    # 2. text after the committed answer
    "restatement-after-phrase": (
        "84 / 12 = 7 trips.\nThe answer is 7.\nSo she needs 7 trips to carry 84 boxes.",
        "7",
        "7",
        True,
        "final-phrase",
    ),
    "closing-sentence-restates-other-numbers": (
        "Each trip carries 12 boxes and there are 84 boxes.\nSo she needs 7 trips to carry 84 boxes.",
        "7",
        "7",
        True,
        "conclusion",
    ),
    "therefore-with-computation": (
        "Janet sells 16 - 3 - 4 = 9 eggs.\nTherefore she makes 9 * 2 = $18 every day.",
        "18",
        "18",
        True,
        "conclusion",
    ),
    "key-steps-after-answer": (
        "Final answer: 18\n\nKey steps:\n1. 16 - 3 - 4 = 9 eggs\n2. 9 * $2 = $18\n3. Check in 3 ways",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "key-steps-after-conclusion": (
        "So she makes $18 every day.\n\n**Key steps:**\n1. Eggs left: 16 - 3 - 4 = 9\n2. Revenue: 9 x $2",
        "18",
        "18",
        True,
        "conclusion",
    ),
    "summary-after-bold-answer": (
        "She needs **7 trips**.\n\nSummary:\n- 84 boxes / 12 boxes per trip = 7\n- 12 boxes each time",
        "7",
        "7",
        True,
        "bold",
    ),
    "unit-note-after-conclusion": (
        "3 * 1.50 = 4.50\nThus, the total is $4.50, which would be 450 cents.",
        "4.5",
        "4.5",
        True,
        "conclusion",
    ),
    "unit-note-in-phrase": (
        "The answer is $18, which would be 1800 cents.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "phrase-result-after-equals": (
        "The answer is 84 boxes / 12 boxes per trip = 7 trips.",
        "7",
        "7",
        True,
        "final-phrase",
    ),
    "invented-question": (
        "She has 5 + 3 = 8 apples.\nThe answer is 8.\n\nQuestion: Tom has 3 cars and buys 4 more. "
        "How many cars?\nLet's think step by step\n3 + 4 = 7\nThe answer is 7.",
        "8",
        "8",
        True,
        "final-phrase",
    ),
    "invented-q-colon": (
        "The answer is 8.\nQ: What is 2 + 2?\nA: The answer is 4.",
        "8",
        "8",
        True,
        "final-phrase",
    ),
    "invented-problem-heading": (
        "So the speed is 12 km/h. The answer is 12.\n\n## Problem 2\nA train goes 60 km/h. "
        "The answer is 60.",
        "12",
        "12",
        True,
        "final-phrase",
    ),
    "invented-bold-question": (
        "Final answer: 9\n\n**Question:** How many legs do 3 dogs have?\nAnswer: 12",
        "9",
        "9",
        True,
        "final-phrase",
    ),
    "chat-template-token": (
        "The answer is 18.<|im_end|>\n<|im_start|>user\nNow: the answer is 5",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "restart-of-solution": (
        "Let's solve this step by step.\nJanet has 16 eggs and sells 9 for $2: 18.\n"
        "The answer is 18.\nLet's solve this step by step.\nJanet has 16 eggs. The answer is 20.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "continuation-after-unfinished-reasoning": (
        "Janet has 16 eggs and eats 3, so 13 are left. Then we need the price.\n\n"
        "Question: A new question.\nThe answer is 5.",
        "5",
        None,
        False,
        "cut-unanswered",
    ),
    "continuation-after-a-closing-number": (  # as if the stop sequence had fired
        "She sells 9 eggs at $2 each: 9 * 2 = 18 dollars.\n\nQuestion: A new one.\nAnswer: 5",
        "18",
        "18",
        True,
        "last-number",
    ),
    "self-correction-after-the-answer": (
        "The answer is 20. Wait, that's wrong: it's 18.",
        "18",
        "18",
        True,
        "correction",
    ),
    "correction-label": ("The answer is 20.\n\nCorrection: 18", "18", "18", True, "correction"),
    "wait-that-goes-on-computing-is-no-correction": (
        "The answer is 18. Wait, it's 9 eggs at $2 each, so 9 * 2 = 18.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "negated-correction-is-no-correction": (
        "The answer is 18. No, it's not 20.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "invented-human-turn-after-a-closing-number": (
        "She makes 18 dollars per day.\n\nHuman: And with 20 eggs?\n\nAssistant: 13 * 2 = 26.",
        "18",
        "18",
        True,
        "last-number",
    ),
    "restated-question-at-start-is-kept": (
        "Question: Janet has 16 eggs and eats 3. How many are left?\n16 - 3 = 13\nThe answer is 13.",
        "13",
        "13",
        True,
        "final-phrase",
    ),
    "note-with-conditional-would-be": (
        "Final answer: 18\n\nNote: had she sold 20 eggs, the answer would be 40.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    # 3. final-answer phrases
    "arabic-numerals-parenthetical": (
        "So the answer (arabic numerals) is 18.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "final-answer-is-colon": ("The final answer is: 18", "18", "18", True, "final-phrase"),
    "bold-answer-label": ("**Answer:** 18", "18", "18", True, "final-phrase"),
    "bold-final-answer-boxed": ("**Final Answer:** $\\boxed{18}$", "18", "18", True, "boxed"),
    "bold-after-think-block": (
        "<think>16 - 3 - 4 = 9, 9 * 2 = 18, or is it 20?</think>\n\n**18**\n\n"
        "She sells 9 eggs at $2 each.",
        "18",
        "18",
        True,
        "bold",
    ),
    "bold-in-short-first-paragraph": (
        "Janet earns **$18** per day.\n\nShe keeps 7 of her 16 eggs and sells 9 at $2.",
        "18",
        "18",
        True,
        "bold",
    ),
    "bold-in-closing-paragraph": (
        "16 - 3 - 4 = 9 eggs are sold.\n9 * 2 = 18 dollars.\n\nSo, Janet makes **$18** at the "
        "market, from 9 eggs.",
        "18",
        "18",
        True,
        "bold",
    ),
    "bold-step-heading-is-not-answer": (
        "**Step 3:** 9 eggs * $2 = $18.",
        "18",
        "18",
        True,
        "last-number",
    ),
    "answer-in-arabic-numerals": (
        "The answer in arabic numerals is 18.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "dollars-and-cents-is-one-amount": (
        "The answer is 18 dollars and 50 cents.",
        "18.5",
        "18.5",
        True,
        "final-phrase",
    ),
    "bold-answer-first-with-other-numbers": (
        "</think>\n\nJanet sells 9 eggs per day and makes **$18** daily.\n\n**Explanation:**\n"
        "- 16 - 3 - 4 = 9 eggs\n- 9 eggs at $2 each",
        "18",
        "18",
        True,
        "bold",
    ),
    "final-answer-heading": (
        "16 - 3 - 4 = 9 eggs; 9 * $2.\n\n**Final Answer**\nJanet makes $18 a day from 9 eggs.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "markdown-heading-answer": (
        "## Answer\n\n18 dollars, from 9 eggs at $2",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "bold-intermediate-is-not-the-answer": (
        "Step 1: She has **9** eggs.\nStep 2: 9 x 2 = 18.\nShe makes $18.",
        "18",
        "18",
        True,
        "last-number",
    ),
    "answer-mathbf": ("The answer is $\\mathbf{18}$.", "18", "18", True, "final-phrase"),
    "answer-equals-label": ("Answer = 18 dollars", "18", "18", True, "final-phrase"),
    # 4. non-answers
    "refusal-cannot-be-determined": (
        "The problem does not give the price of the apples, so the total cannot be determined.",
        "12",
        None,
        False,
        "refusal",
    ),
    "refusal-not-enough-information": (
        "There is not enough information to answer: we know 3 + 4 = 7 but not the rest.",
        "7",
        None,
        False,
        "refusal",
    ),
    "refusal-insufficient": (
        "She bought 3 bags of 4 apples.\n\nInsufficient information: the number of pears is missing.",
        "12",
        None,
        False,
        "refusal",
    ),
    "early-doubt-is-not-refusal": (
        "We cannot determine x directly from the first sentence.\n\nUsing the second: 3 + 4 = 7.\n"
        "So she has 7 apples.",
        "7",
        "7",
        True,
        "conclusion",
    ),
    "hedge-depending": (
        "It is 30 or 32, depending on whether we count the teacher.",
        "30",
        None,
        False,
        "hedge",
    ),
    "hedge-either": ("The answer is either 30 or 32.", "30", None, False, "hedge"),
    "hedge-or-maybe": ("The answer is 30 or maybe 32.", "32", None, False, "hedge"),
    "hedge-units": ("So the answer is 30 cookies or 32 cookies.", "30", None, False, "hedge"),
    "not-hedge-unit-restatement": (
        "The answer is $18, or 1800 cents.",
        "18",
        "18",
        True,
        "final-phrase",
    ),
    "not-hedge-percent-restatement": (
        "The answer is 25% or 0.25 of the total.",
        "25",
        "25",
        True,
        "final-phrase",
    ),
    "two-quantities": ("The answer is 5 apples and 3 oranges.", "5", None, False, "several"),
    "two-quantities-conclusion": (
        "Therefore, she has 12 red marbles and 8 blue marbles.",
        "12",
        None,
        False,
        "several",
    ),
    "repetition-loop": (
        "Let me compute. 5 + 5 = 10. " + "And then we add 5 more to get the next value. " * 20,
        "10",
        None,
        False,
        "repetition",
    ),
    "repetition-after-committed-answer": (
        "The answer is 10.\n" + "I hope this helps you with your homework today!\n" * 20,
        "10",
        "10",
        True,
        "final-phrase",
    ),
    "unclosed-think": ("<think>16 - 3 - 4 = 9 and 9 * 2 = 18", "18", None, False, "unclosed-think"),
    # 5. values
    "time-pm": ("The answer is 4:30 pm.", "4.5", "4.5", True, "final-phrase"),
    "time-whole-hour": ("She should start baking at 2:00 PM.", "2", "2", True, "last-number"),
    "time-24h": ("So she finishes at 11:00.", "11", "11", True, "conclusion"),
    "ratio-stays-two-numbers": (
        "The ratio of boys to girls is 3:2, so there are 2 girls",
        "2",
        "2",
        True,
        "last-number",
    ),
    "percent-restated-as-fraction": (
        "The answer is 0.25, i.e. 25%.",
        "25",
        "25",
        True,
        "final-phrase",
    ),
    "fraction-then-percent": ("The answer is 1/4, which is 25%.", "25", "25", True, "final-phrase"),
    "number-words-compound": (
        "The answer is three hundred twelve.",
        "312",
        "312",
        True,
        "final-phrase",
    ),
    "number-words-hyphen": ("The answer is twenty-five dollars.", "25", "25", True, "final-phrase"),
}


@pytest.mark.parametrize(
    ("completion", "gold", "answer", "correct", "method"), list(GSM8K.values()), ids=list(GSM8K)
)
def test_gsm8k(completion: str, gold: str, answer: str | None, correct: bool, method: str) -> None:
    grade = grade_numeric(completion, gold)
    assert (grade.answer, grade.correct, grade.method) == (answer, correct, method)
    if grade.span is not None and grade.answer is not None:
        assert 0 <= grade.span[0] < grade.span[1] <= len(completion)


# --- MATH: (completion, gold, answer, correct, method) ------------------------------------------

MATH: dict[str, tuple[str, str, str | None, bool, str]] = {
    "solutions-boxed-one-by-one": (
        "So $x = 2$ or $x = 3$: $\\boxed{2}$ and $\\boxed{3}$.",
        "2, 3",
        "2, 3",
        True,
        "boxed",
    ),
    "a-revised-box-is-not-joined": (
        "First \\boxed{2}. Checking again, that was wrong: \\boxed{3}",
        "3",
        "3",
        True,
        "boxed",
    ),
    "plain-final-line-fraction": ("1/2", "\\frac{1}{2}", "1/2", True, "last-line"),
    "plain-final-line-after-work": (
        "2x + 3 = 7\n2x = 4\nx = 2",
        "2",
        "2",
        True,
        "last-line",
    ),
    "plain-latex-reply": (
        "\\frac{\\sqrt{3}}{2}",
        "\\frac{\\sqrt3}{2}",
        "\\frac{\\sqrt{3}}{2}",
        True,
        "last-line",
    ),
    "an-equation-line-is-no-answer": ("2x + 3 = 7", "2", None, False, "none"),
    "a-cut-off-display-is-no-answer": ("so \\[ 4(6) -", "18", None, False, "none"),
    "a-box-repeated-is-one-answer": ("\\boxed{2} \\boxed{2}", "2", "2", True, "boxed"),
    "json-escaped": (
        '```json\n{"answer": "\\\\frac{1}{2}"}\n```',
        "\\frac{1}{2}",
        "\\frac{1}{2}",
        True,
        "json",
    ),
    "json-single-backslash": (
        '{"reasoning": "add them", "final_answer": "\\frac{1}{2}"}',
        "\\frac{1}{2}",
        "\\frac{1}{2}",
        True,
        "json",
    ),
    "json-dollars-then-prose": (
        '{"answer": "$3\\sqrt{2}$"}\nI hope this helps.',
        "3\\sqrt{2}",
        "3\\sqrt{2}",
        True,
        "json",
    ),
    "json-times-not-tab": ('{"answer": "2\\times 10^3"}', "2000", "2\\times 10^3", True, "json"),
    "json-sentence-value": (
        '{"answer": "The final answer is $\\\\frac{1}{2}$"}',
        "\\frac12",
        "\\frac{1}{2}",
        True,
        "json",
    ),
    "json-list-of-solutions": ('{"answer": ["3", "5"]}', "3, 5", "3, 5", True, "json"),
    "json-answer-latex-key": (
        '{"answer_latex": "2\\\\sqrt{2}"}',
        "2\\sqrt2",
        "2\\sqrt{2}",
        True,
        "json",
    ),
    "json-number": ('The roots sum to 7.\n{"answer": 7}', "7", "7", True, "json"),
    "json-boxed-inside": ('{"answer": "\\\\boxed{12}"}', "12", "12", True, "json"),
    "answer-line": (
        "We simplify.\nFinal answer: $\\frac{3}{4}$",
        "\\frac34",
        "\\frac{3}{4}",
        True,
        "final-phrase",
    ),
    "answer-colon-equation": ("Answer: $x = 5$", "5", "x = 5", True, "final-phrase"),
    "answer-heading-next-line": (
        "## Final Answer\n\n$\\frac{1}{2}$",
        "\\frac{1}{2}",
        "\\frac{1}{2}",
        True,
        "final-phrase",
    ),
    "bold-final-answer": ("**Final Answer:** $12\\pi$", "12\\pi", "12\\pi", True, "final-phrase"),
    "answer-parenthetical": (
        "The answer (in simplest form) is $\\frac{2}{3}$.",
        "\\frac23",
        "\\frac{2}{3}",
        True,
        "final-phrase",
    ),
    "math-line-dollars": ("Thus the area is\n$$12\\pi$$", "12\\pi", "12\\pi", True, "math-line"),
    "math-line-brackets": (
        "so we get\n\\[ \\frac{\\sqrt{3}}{2} \\]",
        "\\frac{\\sqrt3}{2}",
        "\\frac{\\sqrt{3}}{2}",
        True,
        "math-line",
    ),
    "math-line-inline": (
        "Combining both cases:\n$x \\in [2, 5)$",
        "[2,5)",
        "x \\in [2, 5)",
        True,
        "math-line",
    ),
    "invented-problem": (
        "Thus $\\boxed{5}$.\n\nProblem: Find $x$ if $2x = 8$.\nSolution: $\\boxed{4}$",
        "5",
        "5",
        True,
        "boxed",
    ),
    "invented-question": (
        "So \\boxed{5}.\nQuestion: what is 2+2?\n\\boxed{4}",
        "5",
        "5",
        True,
        "boxed",
    ),
    "im-end-token": ("\\boxed{5}<|im_end|>\n<|im_start|>user\n\\boxed{6}", "5", "5", True, "boxed"),
    "think-then-boxed": (
        "<think>maybe \\boxed{3}</think>\nThe final answer is $\\boxed{4}$",
        "4",
        "4",
        True,
        "boxed",
    ),
    "conclusion-count": (
        "So 5d = 20 and d = 4.\n\nTherefore, Hillary has 7 nickels.",
        "7",
        "7",
        True,
        "conclusion",
    ),
    "conclusion-after-is": (
        "Therefore, the remainder when $(n + 2)(n + 4)$ is divided by 7 is 3.\n\nThis shows how modular arithmetic works.",
        "3",
        "3",
        True,
        "conclusion",
    ),
    "conclusion-expression": (
        "So the ratio is $\\frac{2}{3}$.",
        "\\frac23",
        "\\frac{2}{3}",
        True,
        "conclusion",
    ),
    "conclusion-with-two-values-is-none": ("Thus 3 and 4 both work.", "3", None, False, "none"),
    "computation-after-conclusion-is-none": (
        "So it is 5.\nBut then 2 + 2 = 4 and",
        "5",
        None,
        False,
        "none",
    ),
    "ordinal-grade": (
        "\\boxed{12^{\\mathrm{th}} \\text{ grade}}",
        "12",
        "12^{\\mathrm{th}} \\text{ grade}",
        True,
        "boxed",
    ),
    "hedge": ("The answer is $3$ or $5$.", "3", None, False, "hedge"),
    "refusal": ("This cannot be determined without more information.", "2", None, False, "refusal"),
    "unclosed-think": ("<think>\\boxed{5}", "5", None, False, "unclosed-think"),
}


@pytest.mark.parametrize(
    ("completion", "gold", "answer", "correct", "method"), list(MATH.values()), ids=list(MATH)
)
def test_math(completion: str, gold: str, answer: str | None, correct: bool, method: str) -> None:
    grade = grade_math(completion, gold)
    assert (grade.answer, grade.correct, grade.method) == (answer, correct, method)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        # Exact-value answers compare exactly: no absolute tolerance swallows tiny magnitudes.
        ("10^{-20}", "15\\cdot 10^{-20}", False),
        ("\\frac{\\pi}{10^{20}}", "\\frac{15\\pi}{10^{20}}", False),
        ("\\frac{1}{3^{40}}", "\\frac{15}{3^{40}}", False),
        ("\\sqrt{2}\\times10^{-18}", "15\\sqrt{2}\\times10^{-18}", False),
        ("1.0\\times10^{-16}", "1.5\\times10^{-15}", False),
        # ... and equal tiny values stay equal.
        ("\\frac{1}{3^{40}}", "3^{-40}", True),
        ("10^{-20}", "\\frac{1}{10^{20}}", True),
        ("\\frac{\\sqrt{2}}{10^{12}}", "\\sqrt{2}\\cdot 10^{-12}", True),
    ],
)
def test_math_tiny_magnitudes(a: str, b: str, equal: bool) -> None:
    assert math_equal(a, b)[0] is equal


# --- BBH and MMLU ------------------------------------------------------------------------------

_MMLU_Q = "Which is heaviest?\nA. 1 kg\nB. 2 kg\nC. 42 kg\nD. 3 kg"

MMLU: dict[str, tuple[str, str, str | None, bool, str]] = {
    "which-is-option": (
        "The closest value is 42 kg, which is option (C).",
        "C",
        "C",
        True,
        "which-is",
    ),
    "which-corresponds": (
        "That gives 42 kg, which corresponds to choice C.",
        "C",
        "C",
        True,
        "which-is",
    ),
    "therefore-letter": ("A, B and D are all lighter.\nTherefore D.", "D", "D", True, "conclusion"),
    "thus-letter-paren": ("Only one fits. Thus (C).", "C", "C", True, "conclusion"),
    "bare-letter-is-correct": ("Comparing them all, D is correct.", "D", "D", True, "is-correct"),
    "bold-letter-is-correct": ("**B** is the correct answer.", "B", "B", True, "is-correct"),
    "json-letter": ('{"reasoning": "42 is largest", "answer": "C"}', "C", "C", True, "json"),
    "continuation": (
        "The answer is (B).\n\nQ: Which is lightest?\nA. 1 kg\nB. 2 kg\nA: The answer is (A).",
        "B",
        "B",
        True,
        "final-phrase",
    ),
    "continuation-question": (
        "The answer is (C).\nQuestion: Next one.\nThe answer is (A).",
        "C",
        "C",
        True,
        "final-phrase",
    ),
    "think-block": (
        "<think>The answer is (A)</think>\nThe answer is (C).",
        "C",
        "C",
        True,
        "final-phrase",
    ),
    "hedge-two-options": ("The answer is (A) or (C).", "C", None, False, "ambiguous"),
    "therefore-sentence-is-not-letter": (
        "Therefore A is wrong and we continue.\nThe answer is (C).",
        "C",
        "C",
        True,
        "final-phrase",
    ),
    "no-answer-stays-unparsed": ("I am not sure about this one.", "C", None, False, "none"),
    "letter-then-restated-value": (
        "So it weighs 42 kg.\n\nThe answer is (C). The answer is 42 kg.",
        "C",
        "C",
        True,
        "final-phrase",
    ),
    "restated-value-in-new-paragraph-is-unparsed": (
        "The answer is (C).\n\nOn reflection, the answer is none of these.",
        "C",
        None,
        False,
        "unparsed",
    ),
    "self-correction-letter": (
        "The best answer is D? No, actually it's C.",
        "C",
        "C",
        True,
        "correction",
    ),
    "correction-that-explains-is-no-correction": (
        "The answer is (C). Wait, it is (C) because 42 kg beats (D).",
        "C",
        "C",
        True,
        "final-phrase",
    ),
    "json-choice-key": ('{"choice": "C", "explanation": "42 kg"}', "C", "C", True, "json"),
    "json-selected-option-key": ('{"selected_option": "(C)"}', "C", "C", True, "json"),
    "two-letters-where-one-is-asked": ("The answer is (C) and (D).", "C", None, False, "ambiguous"),
    "ten-options-letter": ("The answer is (C).", "C", "C", True, "final-phrase"),
}


@pytest.mark.parametrize(
    ("completion", "gold", "answer", "correct", "method"), list(MMLU.values()), ids=list(MMLU)
)
def test_mmlu(completion: str, gold: str, answer: str | None, correct: bool, method: str) -> None:
    grade = grade_mmlu(completion, gold, question=_MMLU_Q)
    assert (grade.answer, grade.correct, grade.method) == (answer, correct, method)


BBH: dict[str, tuple[str, str, str, str | None, bool, str]] = {
    "evaluates-to-bold": (
        "boolean_expressions",
        "not ( True ) and ( True ) = False and True = False. The expression evaluates to **False**.",
        "False",
        "False",
        True,
        "evaluates",
    ),
    "simplifies-to": (
        "boolean_expressions",
        "We simplify step by step; the whole expression simplifies to True.",
        "True",
        "True",
        True,
        "evaluates",
    ),
    "result-is-integer": (
        "multistep_arithmetic_two",
        "(-3 * 4) = -12 and 0 - 0 = 0, so the sum -12 + 0 is computed.\nThe result is **-12**.",
        "-12",
        "-12",
        True,
        "evaluates",
    ),
    "dyck-backticks": (
        "dyck_languages",
        "So the answer is `) ] >`.",
        ") ] >",
        ") ] >",
        True,
        "final-phrase",
    ),
    "word-sorting-backticks": (
        "word_sorting",
        "The sorted list is: `apple banana cherry`",
        "apple banana cherry",
        "apple banana cherry",
        True,
        "sorted",
    ),
    "yes-no-continuation": (
        "navigate",
        "We end where we started. So the answer is Yes.\n\nQ: If you follow these instructions...\n"
        "A: So the answer is No.",
        "Yes",
        "Yes",
        True,
        "final-phrase",
    ),
    "option-therefore": (
        "date_understanding",
        "Today is 01/02/2020, so yesterday was 01/01/2020.\nTherefore (B).",
        "(B)",
        "(B)",
        True,
        "conclusion",
    ),
    "option-json": (
        "date_understanding",
        '```json\n{"answer": "(B)"}\n```',
        "(B)",
        "(B)",
        True,
        "json",
    ),
    "word-json": ("web_of_lies", '{"answer": "No"}', "No", "No", True, "json"),
    "integer-json": ("object_counting", '{"answer": 7}', "7", "7", True, "json"),
    "integer-closing-sentence": (
        "object_counting",
        "I have a piano, two flutes and four trombones. I count 7 instruments in total.",
        "7",
        "7",
        True,
        "last-number",
    ),
    "integer-hedge-is-unanswered": (
        "object_counting",
        "It could be 6 or 7.",
        "7",
        None,
        False,
        "none",
    ),
    "word-list-after-a-label": (
        "word_sorting",
        "Sorted: apple, banana, cherry",
        "apple banana cherry",
        "apple banana cherry",
        True,
        "bare",
    ),
    "word-correction": (
        "navigate",
        "So the answer is No. Wait, actually it is Yes.",
        "Yes",
        "Yes",
        True,
        "correction",
    ),
    "truncated-word-sorting-is-not-concluded": (
        "word_sorting",
        'We now have: (8) "chalk" < (15) "cowboy". Hence, we have "bust" < ["chalk" < "cowboy"] < ["dentistry" ?',
        "bust chalk cowboy dentistry",
        None,
        False,
        "none",
    ),
    "intermediate-step-is-not-an-answer": (
        "boolean_expressions",
        "not True evaluates to False.\n\nThen we look at the rest: True and",
        "True",
        None,
        False,
        "none",
    ),
    "refusal-is-unparsed": (
        "causal_judgement",
        "The story does not say, so the answer cannot be determined.",
        "No",
        None,
        False,
        "none",
    ),
}


@pytest.mark.parametrize(
    ("task", "completion", "gold", "answer", "correct", "method"), list(BBH.values()), ids=list(BBH)
)
def test_bbh(
    task: str, completion: str, gold: str, answer: str | None, correct: bool, method: str
) -> None:
    grade = grade_bbh(task, completion, gold)
    assert (grade.answer, grade.correct, grade.method) == (answer, correct, method)


# --- the shared pieces ------------------------------------------------------------------------


def test_region_cuts_and_records_why() -> None:
    text = "The answer is 8.\n\nQuestion: next\nThe answer is 4."
    region = answer_region(text)
    assert region is not None and region.cut == "continuation"
    assert text[region.start : region.end] == "The answer is 8.\n"
    stopped = answer_region("The answer is 8.###The answer is 4.", stops=("###",))
    assert stopped is not None and stopped.cut == "stop" and stopped.end == 16
    assert answer_region("<think>open") is None
    thought = answer_region("<think>x</think>The answer is 3.")
    assert thought is not None and thought.start == len("<think>x</think>")


def test_loop_detection() -> None:
    assert ends_in_loop("x = 1\n" + "= \\frac{1062882}{16777216}" * 30)
    assert ends_in_loop("Then: " + "\\boxed{}.\n" * 40)
    assert not ends_in_loop("A normal reply that ends with an answer. The answer is 18.")
    assert not ends_in_loop("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 " * 3)


def test_answer_field_decoding() -> None:
    field = find_answer_field('{"answer": "\\\\frac{1}{2}"}')
    assert field is not None and field.value == "\\frac{1}{2}"
    raw = find_answer_field('{"answer": "\\frac{1}{2}"}')  # single backslash: kept as written
    assert raw is not None and raw.value == "\\frac{1}{2}"
    assert find_answer_field("no fields here") is None
    last = find_answer_field('{"answer": 1} then {"answer": 2}')
    assert last is not None and last.value == "2"


def test_table_sizes() -> None:
    assert len(GSM8K) + len(MATH) + len(MMLU) + len(BBH) >= 100
