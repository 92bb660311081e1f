"""Hand-written cases for BBH/MMLU answer extraction and grading (cothub.extract/scoring.choice).

Each row of CASES is (task, completion, gold, question, expected answer, expected verdict);
task ``mmlu`` goes through grade_mmlu, every other task through grade_bbh (CoT mode).
The questions are made up for these tests, in the BBH and MMLU layouts.
"""

from __future__ import annotations

import pytest

from cothub.extract.choice import (
    BBH_TASKS,
    bbh_option_letters,
    bbh_target_type,
    bbh_vocabulary,
    extract_option,
    normalize_dyck,
    normalize_integer,
    normalize_text,
    normalize_word_list,
    parse_options,
    published_bbh_answer,
    published_mmlu_answer,
)
from cothub.scoring.choice import grade_bbh, grade_mmlu
from cothub.types import Grade

DAY = (
    "Today is Friday. What day is tomorrow?\n"
    "Options:\n(A) Thursday\n(B) Saturday\n(C) Sunday\n(D) Monday"
)
DATE = (
    "Yesterday was 01/08/1987. What is the date one week ago from today?\n"
    "Options:\n(A) 12/25/1986\n(B) 01/09/1987\n(C) 01/02/1987\n(D) 01/02/1988\n"
    "(E) 12/26/1986\n(F) 01/03/1987"
)
DUPLICATE = "Which is a humorous edit of 'rita'?\nOptions:\n(A) rita\n(B) sue\n(C) rita\n(D) bob"
SHAPES = (
    'This SVG path <path d="M 1,1 L 2,2"/> draws a\nOptions:\n(A) circle\n(B) heptagon\n'
    "(C) hexagon\n(D) kite\n(E) line\n(F) octagon\n(G) pentagon\n(H) rectangle\n(I) sector\n"
    "(J) triangle\n(K) trapezoid"
)
SPLIT_MOVIE = (
    "Find a movie similar to Toy Story, Shrek:\nOptions:\n"
    "(A) Monsters\n(B) Inc\n(C) Heat\n(D) Fargo"
)
SPLIT_BAND = (
    "Which of the following is a humorous edit of this artist or movie name: 'earth, wind, & fire'?"
    "\nOptions:\n(A) earth\n(B) wind\n(C) & fire\n(D) dearth"
)
MMLU_LINES = "Which gas do plants absorb?\nA. Oxygen\nB. Carbon dioxide\nC. Nitrogen\nD. Helium"
MMLU_INLINE = "Which gas do plants absorb?\n(A) Oxygen (B) Carbon dioxide (C) Nitrogen (D) Helium"

RESTATED = (
    "Question: Today is Saturday. What day is tomorrow?\n"
    "Options:\n(A) Thursday\n(B) Saturday\n(C) Sunday\n(D) Monday\n\n"
    "Saturday plus one day is Sunday.\nSo the answer is (C)."
)

D = "date_understanding"
G = "geometric_shapes"
BOOL = "boolean_expressions"
WEB = "web_of_lies"
NAV = "navigate"
CAUSAL = "causal_judgement"
SPORTS = "sports_understanding"
FALLACY = "formal_fallacies"
ARITH = "multistep_arithmetic_two"
COUNT = "object_counting"
DYCK = "dyck_languages"
SORT = "word_sorting"
MOVIE = "movie_recommendation"
RUIN = "ruin_names"

Case = tuple[str, str, str, str, str | None, bool]

CASES: list[Case] = [
    # --- option letters: chat habits that must not cost a correct answer
    (D, "(B)", "(B)", DAY, "(B)", True),
    (D, " (B)\n", "(B)", DAY, "(B)", True),
    (D, "**(B)**", "(B)", DAY, "(B)", True),
    (D, "Answer: B", "(B)", DAY, "(B)", True),
    (D, "**Answer:** (b)", "(B)", DAY, "(B)", True),
    (D, "b)", "(B)", DAY, "(B)", True),
    (D, "B.", "(B)", DAY, "(B)", True),
    (D, "`B`", "(B)", DAY, "(B)", True),
    (D, "(B) because tomorrow is Saturday.", "(B)", DAY, "(B)", True),
    (D, "B. Saturday", "(B)", DAY, "(B)", True),
    (D, "B: Saturday", "(B)", DAY, "(B)", True),
    (D, "\\boxed{B}", "(B)", DAY, "(B)", True),
    (D, "\\boxed{(B)}", "(B)", DAY, "(B)", True),
    (D, "Friday + 1 = Saturday, so $\\boxed{\\text{B}}$.", "(B)", DAY, "(B)", True),
    (D, "The answer is (B) Saturday.", "(B)", DAY, "(B)", True),
    (D, "After checking, the correct option is B", "(B)", DAY, "(B)", True),
    (D, "The answer is: **(B)**", "(B)", DAY, "(B)", True),
    (D, "The answer is B, because Saturday follows Friday.", "(B)", DAY, "(B)", True),
    (D, "the answer is b.", "(B)", DAY, "(B)", True),
    (D, "Friday comes first.\n\n### Final Answer\n\n**B**", "(B)", DAY, "(B)", True),
    (D, "Friday is today, so tomorrow is Saturday.\n\n**(B)**", "(B)", DAY, "(B)", True),
    (D, "Option (B) is correct.", "(B)", DAY, "(B)", True),
    (D, "(B) is the correct answer, since Saturday follows Friday.", "(B)", DAY, "(B)", True),
    (D, "I would choose (B).", "(B)", DAY, "(B)", True),
    (D, "Answer: (B)\n\nWhy: option (A) is correct only in a leap week.", "(B)", DAY, "(B)", True),
    (D, "**Final Answer: (B)**", "(B)", DAY, "(B)", True),
    (D, "Therefore, the answer is **B) Saturday**.", "(B)", DAY, "(B)", True),
    (D, "ANSWER: B", "(B)", DAY, "(B)", True),
    (D, "Answer: I think it is (B)", "(B)", DAY, "(B)", True),
    (D, "The answer is, I believe, (B).", "(B)", DAY, "(B)", True),
    (D, "The answer is not (A). The answer is (B).", "(B)", DAY, "(B)", True),
    (
        D,
        "Final answer: (B)\n\nQ: Today is Monday.\nA: So the answer is (A).",
        "(B)",
        DAY,
        "(B)",
        True,
    ),
    (D, "So the answer is (B).", "(C)", DAY, "(B)", False),
    (D, "The answer is A because Thursday is before Friday.", "(B)", DAY, "(A)", False),
    (D, "Thursday. So the answer is (A).", "(B)", DAY, "(A)", False),
    # --- option letters: two options named, revisions, invalid letters, no commitment
    (D, "So the answer is (A) or (B).", "(B)", DAY, None, False),
    (D, "The answer is A or B.", "(B)", DAY, None, False),
    (D, "The answer is (A), (B), and (C).", "(B)", DAY, None, False),
    (D, "The answer is either (B) or (C).", "(B)", DAY, None, False),
    (D, "Both (B) and (C) could be right.", "(B)", DAY, None, False),
    (D, "The answer is (B). Though it could also be (B) or (C).", "(B)", DAY, "(B)", True),
    (
        D,
        "The answer is (A) or (B). Checking again, the final answer is (B).",
        "(B)",
        DAY,
        "(B)",
        True,
    ),
    (D, "The answer is (A). Wait, actually the answer is (C).", "(C)", DAY, "(C)", True),
    (D, "The answer is (A). Wait, actually the answer is (C).", "(A)", DAY, "(C)", False),
    (D, "The answer is (B).\nHmm, no: the answer is (A) or (B).", "(B)", DAY, None, False),
    (D, "The answer is (E).", "(B)", DAY, None, False),
    (
        D,
        "(B) is correct.\nOn reflection no.\nSo the answer is (None of the above).",
        "(B)",
        DAY,
        None,
        False,
    ),
    (
        D,
        "Let me check each option.\n(A) Thursday: no.\n(B) Saturday: yes.\n(C) Sunday: no.",
        "(B)",
        DAY,
        None,
        False,
    ),
    (D, "Tomorrow comes after today, and today is Friday, so tomorrow", "(B)", DAY, None, False),
    (D, "A man walks into a bar.", "(A)", DAY, None, False),
    (D, "", "(B)", DAY, None, False),
    # --- "(B)" in a restated question before the real final answer
    (D, RESTATED, "(C)", DAY, "(C)", True),
    (D, RESTATED.replace("So the answer is (C).", "Answer: (D)"), "(D)", DAY, "(D)", True),
    (
        D,
        "Options:\n(A) Thursday\n(B) Saturday\nThe day after Friday.\n\nFinal answer: C",
        "(C)",
        DAY,
        "(C)",
        True,
    ),
    # --- option text instead of the letter
    (D, "So the answer is Saturday.", "(B)", DAY, "(B)", True),
    (D, "so the answer is saturday", "(B)", DAY, "(B)", True),
    (D, "Saturday", "(B)", DAY, "(B)", True),
    (D, "The answer is Saturday, the day after Friday.", "(B)", DAY, "(B)", True),
    (D, "The answer is Saturday or Sunday.", "(B)", DAY, None, False),
    (D, "The answer is (C) Saturday.", "(B)", DAY, "(C)", False),
    (D, "So the answer is 01/02/1987.", "(C)", DATE, "(C)", True),
    (D, "The answer is 01/02/1987 (one week before 01/09/1987).", "(C)", DATE, "(C)", True),
    (D, "So the answer is 01/02/1988.", "(C)", DATE, "(D)", False),
    (D, "So the answer is 02/01/1987.", "(C)", DATE, None, False),
    (D, "So the answer is 01/02/1987.", "(C)", "", None, False),
    ("ruin_names", "The answer is rita.", "(A)", DUPLICATE, None, False),
    ("ruin_names", "The answer is bob.", "(D)", DUPLICATE, "(D)", True),
    # --- letters past D, and the English words "A" and "I"
    (G, "So the answer is (K).", "(K)", SHAPES, "(K)", True),
    (G, "So the answer is (I).", "(I)", SHAPES, "(I)", True),
    (G, "The answer is I.", "(I)", SHAPES, "(I)", True),
    (G, "So the answer is trapezoid.", "(K)", SHAPES, "(K)", True),
    (G, "The answer is I think a sector.", "(I)", SHAPES, None, False),
    (G, "So the answer is (L).", "(K)", SHAPES, None, False),
    (G, "So the answer is (K).", "(K)", "", "(K)", True),
    ("hyperbaton", "So the answer is (C).", "(A)", "", None, False),
    # --- thinking blocks
    (D, "<think>Friday plus one is Saturday, so (B)", "(B)", DAY, None, False),
    (D, "<think>The answer is (B).", "(B)", DAY, None, False),
    (D, "<think>maybe (A)</think>\nThe answer is (B).", "(B)", DAY, "(B)", True),
    (D, "<think>The answer is (A).</think>\n**(B)**", "(B)", DAY, "(B)", True),
    (D, "Reasoning done.</think>The answer is (B).", "(B)", DAY, "(B)", True),
    # --- True / False
    (BOOL, "True", "True", "", "True", True),
    (BOOL, "False", "True", "", "False", False),
    (BOOL, "**True**", "True", "", "True", True),
    (BOOL, "The answer is true.", "True", "", "True", True),
    (BOOL, "not True = False, so the answer is False.", "False", "", "False", True),
    (BOOL, "The final answer is \\boxed{True}", "True", "", "True", True),
    (BOOL, "The answer is not True.", "False", "", None, False),
    (BOOL, "False.\n\nExplanation: not True is False.", "False", "", "False", True),
    (
        BOOL,
        "We evaluate: True and False = False.\nSo the answer is True.",
        "True",
        "",
        "True",
        True,
    ),
    (BOOL, "not ( True ) and ( True ) = not True and True = False and", "False", "", None, False),
    (BOOL, "The answer is True or False.", "True", "", None, False),
    # --- Yes / No (capitalised golds) and yes / no (sports_understanding)
    (WEB, "Yes", "Yes", "", "Yes", True),
    (WEB, "yes", "Yes", "", "Yes", True),
    (WEB, "**No**", "No", "", "No", True),
    (WEB, "So the answer is Yes.", "Yes", "", "Yes", True),
    (WEB, "So the answer is Yes.", "No", "", "Yes", False),
    (NAV, "No, you do not return to the starting point.", "No", "", "No", True),
    (NAV, "The answer is: no", "No", "", "No", True),
    (NAV, "The answer is that you end up where you started, so yes.", "Yes", "", "Yes", True),
    (CAUSAL, "The answer is yes and no.", "Yes", "", None, False),
    (CAUSAL, "Answer: Yes", "Yes", "", "Yes", True),
    (SPORTS, "Yes", "yes", "", "yes", True),
    (SPORTS, "So the answer is yes.", "yes", "", "yes", True),
    (SPORTS, "The answer is No.", "no", "", "no", True),
    (SPORTS, "Yes, it is plausible.", "yes", "", "yes", True),
    (SPORTS, "Answer: plausible", "yes", "", None, False),
    # --- valid / invalid
    (FALLACY, "valid", "valid", "", "valid", True),
    (FALLACY, "Invalid", "invalid", "", "invalid", True),
    (FALLACY, "So the answer is invalid.", "invalid", "", "invalid", True),
    (FALLACY, "So the answer is invalid.", "valid", "", "invalid", False),
    (FALLACY, "The answer is: the argument is deductively valid.", "valid", "", "valid", True),
    (FALLACY, "The premise is valid. So the answer is invalid.", "invalid", "", "invalid", True),
    (FALLACY, "the answer is not valid", "invalid", "", None, False),
    (FALLACY, "- valid", "valid", "", "valid", True),
    # --- integers, negative ones included
    (ARITH, "-11520", "-11520", "", "-11520", True),
    (ARITH, "The answer is −12.", "-12", "", "-12", True),
    (ARITH, "The answer is –12.", "-12", "", "-12", True),
    (ARITH, "So the answer is 1,234.", "1234", "", "1234", True),
    (ARITH, "So the answer is -1,234.", "-1234", "", "-1234", True),
    (ARITH, "The answer is (-3 * 4) = -12.", "-12", "", "-12", True),
    (ARITH, "So the answer is 3 + 4 = 7.", "7", "", "7", True),
    (ARITH, "The answer is 12.0", "12", "", "12", True),
    (ARITH, "The answer is 12.5.", "12", "", "12.5", False),
    (ARITH, "Answer: **-7**", "-7", "", "-7", True),
    (ARITH, "\\boxed{-42}", "-42", "", "-42", True),
    (ARITH, "The answer is $-5$.", "-5", "", "-5", True),
    (ARITH, "The answer is minus 4.", "-4", "", "-4", True),
    (ARITH, "The answer is -12.", "12", "", "-12", False),
    (ARITH, "So the answer is 135,210.", "3255", "", "135210", False),
    (ARITH, "(8 + -6) = 2 = (8 + -6) = 2 = (8 + -6) =", "2", "", None, False),
    (COUNT, "The answer is 7 (3 fruits + 4 vegetables).", "7", "", "7", True),
    (COUNT, "I count five fruits. The answer is seven.", "7", "", "7", True),
    (COUNT, "Three apples and four pears.\n\n7", "7", "", "7", True),
    (COUNT, "So the answer is 7.", "8", "", "7", False),
    (COUNT, "The answer is one of the above.", "1", "", None, False),
    (COUNT, "The answer is: I have 6 musical instruments.", "6", "", "6", True),
    # --- Dyck closing sequences
    (DYCK, ") ] >", ") ] >", "", ") ] >", True),
    (DYCK, ")]>", ") ] >", "", ") ] >", True),
    (DYCK, ">", ">", "", ">", True),
    (DYCK, "> >", "> >", "", "> >", True),
    (DYCK, "The answer is ) ] >.", ") ] >", "", ") ] >", True),
    (DYCK, "So the answer is ] , ) , >.", "] ) >", "", "] ) >", True),
    (DYCK, "So the answer is  }   ].", "} ]", "", "} ]", True),
    (DYCK, "The answer is `} ]`", "} ]", "", "} ]", True),
    (DYCK, "The answer is [ ] )", ")", "", None, False),
    (DYCK, "So the answer is empty.", ")", "", None, False),
    (DYCK, "So the answer is ) ].", ") ] >", "", ") ]", False),
    (DYCK, "{ { } ( ( ) ) }", "}", "", None, False),
    # --- sorted word lists
    (SORT, "apple banana cherry", "apple banana cherry", "", "apple banana cherry", True),
    (
        SORT,
        "The answer is apple, banana, cherry.",
        "apple banana cherry",
        "",
        "apple banana cherry",
        True,
    ),
    (
        SORT,
        "So the answer is: 'apple', 'banana', 'cherry'",
        "apple banana cherry",
        "",
        "apple banana cherry",
        True,
    ),
    (
        SORT,
        "The sorted list is:\n1. Apple\n2. banana\n3. cherry\n\nDone.",
        "apple banana cherry",
        "",
        "apple banana cherry",
        True,
    ),
    (
        SORT,
        "The answer is:\napple\nbanana\ncherry\n",
        "apple banana cherry",
        "",
        "apple banana cherry",
        True,
    ),
    (SORT, "Answer: it&t o'connor z's", "it&t o'connor z's", "", "it&t o'connor z's", True),
    (
        SORT,
        "So the answer is banana apple cherry.",
        "apple banana cherry",
        "",
        "banana apple cherry",
        False,
    ),
    (
        SORT,
        'Now sort ["dot" ? "damp"] by their second letters.\nThe second letter: "dot"',
        "damp dot",
        "",
        None,
        False,
    ),
    # --- golds that are not letters: exact text only
    (MOVIE, "So the answer is (B).", "Monsters, Inc", SPLIT_MOVIE, "(B)", False),
    (MOVIE, "So the answer is (A).", "Monsters, Inc", SPLIT_MOVIE, "(A)", False),
    (MOVIE, "So the answer is Monsters, Inc.", "Monsters, Inc", SPLIT_MOVIE, "Monsters, Inc", True),
    (MOVIE, "The answer is **Monsters, Inc**", "Monsters, Inc", SPLIT_MOVIE, "Monsters, Inc", True),
    (MOVIE, "Monsters, Inc", "Monsters, Inc", SPLIT_MOVIE, "Monsters, Inc", True),
    (
        MOVIE,
        "So the answer is monsters, inc.",
        "Monsters, Inc",
        SPLIT_MOVIE,
        "monsters, inc",
        False,
    ),
    (
        RUIN,
        "So the answer is dearth, wind, & fire.",
        "dearth, wind, & fire",
        SPLIT_BAND,
        "dearth, wind, & fire",
        True,
    ),
    (RUIN, "So the answer is (D).", "dearth, wind, & fire", SPLIT_BAND, "(D)", False),
    (RUIN, "(A), (B), (C), (D)", "dearth, wind, & fire", SPLIT_BAND, "(A), (B), (C), (D)", False),
    # --- MMLU: gold and answer are bare letters
    ("mmlu", "B", "B", MMLU_LINES, "B", True),
    ("mmlu", " (B)", "B", MMLU_LINES, "B", True),
    ("mmlu", "b", "B", MMLU_LINES, "B", True),
    ("mmlu", "The answer is (B).", "B", MMLU_INLINE, "B", True),
    (
        "mmlu",
        "Let's think step by step. Plants take in CO2. The answer is (C).",
        "B",
        MMLU_INLINE,
        "C",
        False,
    ),
    ("mmlu", "Answer: B. Carbon dioxide", "B", MMLU_LINES, "B", True),
    ("mmlu", "**B. Carbon dioxide**", "B", MMLU_LINES, "B", True),
    ("mmlu", "Carbon dioxide", "B", MMLU_LINES, "B", True),
    ("mmlu", "The answer is carbon dioxide.", "B", MMLU_INLINE, "B", True),
    ("mmlu", "\\boxed{B}", "B", "", "B", True),
    ("mmlu", "The answer is (E).", "B", MMLU_LINES, None, False),
    ("mmlu", "The answer is (A) or (B).", "B", MMLU_LINES, None, False),
    ("mmlu", "<think>Plants absorb carbon dioxide, so B", "B", MMLU_LINES, None, False),
    ("mmlu", "The answer is (B). Wait, no: the answer is (A).", "B", MMLU_LINES, "A", False),
]


def _grade(task: str, completion: str, gold: str, question: str) -> Grade:
    if task == "mmlu":
        return grade_mmlu(completion, gold, question=question)
    return grade_bbh(task, completion, gold, question=question)


def test_case_table_is_large_and_covers_every_target_type() -> None:
    assert len(CASES) >= 120
    kinds = {bbh_target_type(c[0]) for c in CASES if c[0] != "mmlu"}
    assert kinds == {bbh_target_type(t) for t in BBH_TASKS}
    assert any(c[0] == "mmlu" for c in CASES)


@pytest.mark.parametrize(
    ("task", "completion", "gold", "question", "answer", "correct"),
    CASES,
    ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)],
)
def test_grade(
    task: str, completion: str, gold: str, question: str, answer: str | None, correct: bool
) -> None:
    grade = _grade(task, completion, gold, question)
    assert grade.answer == answer
    assert grade.correct is correct
    if grade.span is not None and grade.answer is not None and grade.method != "is-correct":
        # The span points into the completion as given (thinking included).
        assert completion[grade.span[0] : grade.span[1]].strip()


# --- strict vs lenient ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "gold", "mode", "disagree", "check"),
    [
        ("So the answer is (B).", "(B)", "cot", False, "letter"),
        ("So the answer is (B) because Saturday.", "(B)", "cot", True, "letter"),
        ("So the answer is **(B)**.", "(B)", "cot", True, "letter"),
        ("So the answer is (A) or (B).", "(B)", "cot", False, "letter"),
        ("<think>so the answer is (B).", "(B)", "cot", True, "letter"),
        ("(B)", "(B)", "direct", False, "letter"),
        (" (B) \n", "(B)", "direct", False, "letter"),
        ("B", "(B)", "direct", True, "letter"),
        ("(B)", "(B)", "cot", True, "letter"),
    ],
)
def test_disagreement_flags_where_the_published_rule_differs(
    completion: str, gold: str, mode: str, disagree: bool, check: str
) -> None:
    grade = grade_bbh(D, completion, gold, question=DAY, mode=mode)
    assert grade.disagreement is disagree
    assert grade.check == check


def test_check_names_the_comparison() -> None:
    assert grade_bbh(ARITH, "The answer is 5.", "5").check == "integer"
    assert grade_bbh(DYCK, "The answer is ).", ")").check == "dyck"
    assert grade_bbh(SORT, "The answer is a b.", "a b").check == "word-list"
    assert grade_bbh(WEB, "The answer is Yes.", "Yes").check == "word"
    assert grade_bbh(MOVIE, "(A)", "Monsters, Inc", SPLIT_MOVIE).check == "exact-string"
    assert grade_mmlu("B", "B").check == "letter"


def test_methods_name_the_rule_that_found_the_answer() -> None:
    assert grade_bbh(D, "(B)", "(B)", DAY).method == "bare"
    assert grade_bbh(D, "So the answer is (B).", "(B)", DAY).method == "final-phrase"
    assert grade_bbh(D, "Work.\nAnswer: (B)", "(B)", DAY).method == "label"
    assert grade_bbh(D, "Work. $\\boxed{B}$ is it", "(B)", DAY).method == "boxed"
    assert grade_bbh(D, "Work.\n\n**(B)**", "(B)", DAY).method == "last-line"
    assert grade_bbh(D, "(B) since it follows.\nMore.", "(B)", DAY).method == "leading"
    assert grade_bbh(D, "So the answer is (A) or (B).", "(B)", DAY).method == "ambiguous"
    assert grade_bbh(D, "<think>(B)", "(B)", DAY).method == "unclosed-think"
    assert grade_bbh(D, "No idea", "(B)", DAY).method == "none"
    assert grade_bbh(D, "So the answer is (None of the above).", "(B)", DAY).method == "unparsed"


def test_span_points_into_the_original_completion() -> None:
    text = "<think>(A)?</think>So the answer is (B) Saturday."
    grade = grade_bbh(D, text, "(B)", DAY)
    assert grade.span is not None
    assert text[grade.span[0] : grade.span[1]] == "(B)"
    text = "Answer: **-12**"
    grade = grade_bbh(ARITH, text, "-12")
    assert grade.span is not None
    assert text[grade.span[0] : grade.span[1]] == "-12"


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        grade_bbh(D, "(B)", "(B)", DAY, mode="zero-shot")


def test_mmlu_strict_rule_is_the_hubs() -> None:
    assert published_mmlu_answer("So THE ANSWER IS (b).") == "B"
    # The hub splits on the first occurrence.
    assert published_mmlu_answer("the answer is (A). No, the answer is (C).") == "A"
    assert published_mmlu_answer(" B ") == "B"
    assert published_mmlu_answer("") is None
    revised = grade_mmlu("the answer is (A). No, the answer is (C).", "C")
    assert revised.correct and revised.disagreement


# --- the published BBH rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "mode", "expected"),
    [
        ("So the answer is (B).", "cot", "(B)"),
        ("the answer is (A). So the answer is (C).\nQ: next", "cot", "(C)"),
        ("The answer is Yes.", "cot", "Yes"),
        ("The answer is (A). so the answer is (B).", "cot", "(B)"),
        ("the answer is (A).\nThe answer is (B).", "cot", "(A)"),  # lower case wins, by design
        ("So the answer is ) ] >..", "cot", ") ] >."),
        ("no phrase here", "cot", None),
        ("  (B) \n", "direct", "(B)"),
    ],
)
def test_published_bbh_rule(prediction: str, mode: str, expected: str | None) -> None:
    assert published_bbh_answer(prediction, mode) == expected


# --- tables and normalisers ----------------------------------------------------------------


def test_bbh_task_table() -> None:
    assert len(BBH_TASKS) == 27
    counts: dict[str, int] = {}
    for task in BBH_TASKS:
        counts[bbh_target_type(task)] = counts.get(bbh_target_type(task), 0) + 1
    assert counts == {
        "option": 17,
        "yes_no": 4,
        "true_false": 1,
        "valid_invalid": 1,
        "integer": 2,
        "dyck": 1,
        "word_list": 1,
    }
    assert bbh_vocabulary("sports_understanding") == ("yes", "no")
    assert bbh_vocabulary("navigate") == ("Yes", "No")
    assert bbh_option_letters("reasoning_about_colored_objects") == "ABCDEFGHIJKLMNOPQR"
    assert bbh_option_letters("word_sorting") == ""
    with pytest.raises(KeyError):
        bbh_target_type("not_a_task")


def test_parse_options() -> None:
    assert parse_options(DAY) == {"A": "Thursday", "B": "Saturday", "C": "Sunday", "D": "Monday"}
    assert parse_options(MMLU_LINES)["B"] == "Carbon dioxide"
    assert parse_options(MMLU_INLINE) == {
        "A": "Oxygen",
        "B": "Carbon dioxide",
        "C": "Nitrogen",
        "D": "Helium",
    }
    assert parse_options("What is 2 + 2?") == {}
    # Exemplar options first, the item's own options last: the last run wins.
    two = DAY + "\n\nQ: Another?\nOptions:\n(A) yes\n(B) no"
    assert parse_options(two) == {"A": "yes", "B": "no"}


def test_option_text_is_only_mapped_with_options() -> None:
    assert extract_option("So the answer is Saturday.", "ABCD").value is None
    opts = parse_options(DAY)
    assert extract_option("So the answer is Saturday.", "ABCD", opts).value == "(B)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-11,520", "-11520"), ("−12", "-12"), ("12.0", "12"), ("12.5", "12.5"), ("x", None)],
)
def test_normalize_integer(text: str, expected: str | None) -> None:
    assert normalize_integer(text) == expected


def test_other_normalisers() -> None:
    assert normalize_dyck(")]>") == ") ] >"
    assert normalize_dyck(" ) ,  ] , > ") == ") ] >"
    assert normalize_word_list("Apple, 'banana';  cherry.") == "apple banana cherry"
    assert normalize_word_list("o'connor z's it&t") == "o'connor z's it&t"
    assert normalize_text(" **Monsters, Inc.** ") == "Monsters, Inc"
    assert normalize_text('"dearth, wind, & fire".') == "dearth, wind, & fire"
