"""BBEH: the authors' instruction, the official scorer's rules as a case table, BBEH Mini's task
recovery, and a run over real HTTP whose headline is the authors' adjusted harmonic mean.

The data is read in place from ``shared/data/bbeh`` (never copied); tests skip without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cothub.data.source import DataSource
from cothub.scoring.metrics import summarize
from cothub.tasks import TASKS, PromptOptions
from cothub.tasks.bbeh import INSTRUCTION, TASK_NAMES, bbeh_correct, extract_bbeh
from cothub.testing.openai_server import Choice, Script, running_server
from cothub.types import Completion, Grade, Prompt, Sample, SampleRecord


@pytest.fixture
def bbeh_data(data_dir: Path) -> Path:
    if not (data_dir / "bbeh" / "mini" / "data.json").is_file():
        pytest.skip("BBEH data not found")
    return data_dir


# (completion, target, correct): one block per answer type of the data README's table.
CASES: list[tuple[str, str, bool]] = [
    # options "(A)".."(J)": "(a)" <-> "a" both ways
    ("Reasoning.\nThe answer is: (B)", "(B)", True),
    ("The answer is: B", "(B)", True),
    ("The answer is: (b).", "(B)", True),
    ("The answer is: (C)", "(B)", False),
    ("The answer is: (B) because ...", "(B)", False),  # no partial credit
    # bare letters (hyperbaton): "(a)" -> "a"
    ("The answer is: (D)", "D", True),
    ("The answer is: DE", "D", False),
    # words: proved / disproved / unknown, Yes / No / Ambiguous
    ("The answer is: Proved", "proved", True),
    ("The answer is: **disproved**", "disproved", True),
    ("The final answer is unknown.", "unknown", True),
    ("The answer is: ambiguous", "Ambiguous", True),
    # numbers: float equality
    ("The answer is: 404", "404.0", True),
    ("The answer is: $67.75$", "67.75", True),
    ("The answer is: \\boxed{-12}", "-12", True),
    ("The answer is: 67.8", "67.75", False),
    # comma lists: ", " -> ","
    ("The answer is: 1, 0, 0", "1,0,0", True),
    ("The answer is: no, unknown, no", "no, unknown, no", True),
    ("The answer is: AC, D, BD", "AC, D, BD", True),
    ("The answer is: 90,2", "90, 2", True),
    # brackets: "[x]" <-> "x"; quotes; a trailing "?"
    ("The answer is: [friday, thursday]", "[friday, thursday]", True),
    ("The answer is: friday,thursday", "[friday, thursday]", True),
    ("The answer is: 'els llaços'", "els llaços", True),
    ("The answer is: unknown?", "unknown", True),
    # only the first line after the prefix counts; the last prefix wins
    ("The answer is: 3\nbecause 3 is odd", "3", True),
    ("The answer is: 2. Wait. The answer is: 5", "5", True),
    ("The answer is 7", "7", True),
    # no prefix: the whole (first line of the) text is compared, as the scorer does
    ("42", "42", True),
    ("I think 42", "42", False),
    # a target ending in "." can never match (the prediction's final "." is stripped)
    ("The answer is: I danced.", "I danced.", False),
]


@pytest.mark.parametrize(("completion", "target", "correct"), CASES)
def test_official_scorer_cases(completion: str, target: str, correct: bool) -> None:
    assert bbeh_correct(completion, target) is correct
    sample = Sample("x/0", "q", target, "x")
    grade = TASKS["bbeh"].grade(sample, completion)
    assert grade.correct is correct and grade.check == "bbeh-evaluate"


def test_extraction_reports_a_missing_prefix() -> None:
    assert extract_bbeh("The answer is: (A)") == ("(a)", True)
    assert extract_bbeh("No idea") == ("no idea", False)
    grade = TASKS["bbeh"].grade(Sample("x/0", "q", "a", "x"), "<think>The answer is: b</think>a")
    assert grade.correct and grade.method == "no-prefix"


def test_loads_23_tasks_and_mini_by_matching_inputs(bbeh_data: Path) -> None:
    data = DataSource.resolve(bbeh_data)
    task = TASKS["bbeh"]
    full = task.load(data, []).samples
    assert len(full) == 4520 and len({s.subset for s in full}) == 23
    mini = task.load(data, ["mini"]).samples
    assert len(mini) == 460
    by_task: dict[str, int] = {}
    for s in mini:
        by_task[s.subset] = by_task.get(s.subset, 0) + 1
    assert by_task == dict.fromkeys(TASK_NAMES, 20)
    index = {s.id: s for s in full}
    assert all(index[s.id] == s for s in mini)  # the ids of the full set


def test_every_gold_is_graded_correct_against_itself(bbeh_data: Path) -> None:
    task = TASKS["bbeh"]
    samples = task.load(DataSource.resolve(bbeh_data), []).samples
    wrong = [s for s in samples if not task.grade(s, f"The answer is: {s.gold}").correct]
    # the official scorer strips a final "." from the prediction, never from the target
    assert {s.subset for s in wrong} == {"linguini"} and len(wrong) == 11
    assert all(s.gold.endswith(".") for s in wrong)


def test_prompt_is_the_input_then_the_authors_instruction(bbeh_data: Path) -> None:
    data = DataSource.resolve(bbeh_data)
    task = TASKS["bbeh"]
    s = task.load(data, ["nycc"]).samples[0]
    chat = task.prompter(data, "", PromptOptions(style="chat")).render(s)
    assert [m.role for m in chat.messages] == ["user"]
    assert chat.messages[0].content == f"{s.question}\n\n{INSTRUCTION}"
    assert INSTRUCTION.startswith("Think step by step, and when you provide the final answer")
    text = task.prompter(data, "", PromptOptions(style="completions")).render(s)
    assert text.text == f"{s.question}\n\n{INSTRUCTION}\n"


def _record(task: str, i: int, correct: bool) -> SampleRecord:
    sample = Sample(f"{task}/{i}", "q", "a", task)
    grade = Grade(correct, "a" if correct else "b", "answer-prefix")
    return SampleRecord("bbeh", sample, Prompt("chat"), Completion("x", "stop"), grade, "k")


def test_headline_is_the_adjusted_harmonic_mean() -> None:
    # two tasks: 50 % (2 of 4) and 0 % (0 of 2)
    records = [_record("a", i, i < 2) for i in range(4)] + [
        _record("b", i, False) for i in range(2)
    ]
    out = summarize("bbeh", records, TASKS["bbeh"].aggregate)
    head = out["bbeh"]
    assert head.aggregate == "harmonic"
    assert head.accuracy == pytest.approx(2 / (1 / 51 + 1 / 1) / 100)
    assert head.macro_accuracy == pytest.approx(0.25)
    assert head.micro_accuracy == pytest.approx(2 / 6)
    assert out["bbeh/a"].accuracy == 0.5 and out["bbeh/b"].accuracy == 0.0


def test_mini_end_to_end_over_http(cli: Any, bbeh_data: Path, tmp_path: Path) -> None:
    """A stand-in that answers right on even-numbered tasks: per-task rows and the headline."""
    samples = TASKS["bbeh"].load(DataSource.resolve(bbeh_data), ["mini"]).samples
    index = {f"{s.question}\n\n{INSTRUCTION}": s for s in samples}
    good = set(TASK_NAMES[::2])

    def respond(request: dict[str, Any]) -> list[Choice]:
        s = index[request["messages"][-1]["content"]]
        answer = s.gold if s.subset in good else "something else"
        return [Choice(f"Let me think.\nThe answer is: {answer}")]

    with running_server(Script(responder=respond)) as srv:
        r = cli("run", "bbeh/mini", "--model", "openai/stand-in", "--base-url", srv.base_url,
                "--data-dir", bbeh_data, "--store", tmp_path / "s.db",
                "--json", tmp_path / "out.json")  # fmt: skip
        assert r.code == 0, r.err
        # two mini items share an input (and so a prompt): the cache sends it once
        assert srv.stats.completion_requests == 459
    tasks = json.loads((tmp_path / "out.json").read_text())["tasks"]
    head = tasks["bbeh"]
    assert head["n"] == 460 and head["aggregate"] == "harmonic" and head["subsets"] == 23
    per_task = [tasks[f"bbeh/{t}"]["accuracy"] for t in TASK_NAMES]
    right = {t: a for t, a in zip(TASK_NAMES, per_task, strict=True) if t in good}
    assert right.pop("linguini") < 1.0  # targets ending in "." (see the gold test above)
    assert list(right.values()) == [1.0] * 11
    assert all(a == 0.0 for t, a in zip(TASK_NAMES, per_task, strict=True) if t not in good)
    assert head["macro_accuracy"] == pytest.approx(sum(per_task) / 23)
    adjusted = 23 / sum(1 / (100 * a + 1) for a in per_task) / 100
    assert head["accuracy"] == pytest.approx(adjusted)
    assert head["accuracy"] < head["macro_accuracy"]
    assert head["micro_accuracy"] == pytest.approx(head["correct"] / 460)
