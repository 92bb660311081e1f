"""TheoremQA: the authors' prompt, their typed-answer grader as a case table, and the published
GPT-4 / ChatGPT / Claude-v1 numbers reached by importing the authors' own output files.

Data and reference outputs are read in place from ``shared/`` (never copied); tests skip without.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED
from cothub.data.source import DataSource
from cothub.tasks import TASKS, PromptOptions, resolve_task
from cothub.tasks.theoremqa import SYSTEM, TheoremQA, compare, last_line_answer, normalize
from cothub.types import Sample

OUTPUTS = SHARED / "reference" / "theoremqa-model-outputs" / "outputs"
RUNS = {  # run file: (published correct of 800, ours by import against the current data)
    "GPT4_s0_e-1_06_15_22_38": (350, 350),
    "GPT4_PoT_s0_e-1_06_15_22_59": (419, 410),
    "ChatGPT_s0_e-1_05_13_10_25": (242, 231),
    "anthropic_v1_s0_e-1_05_12_23_41": (199, 190),
}


@pytest.fixture
def tqa_data(data_dir: Path) -> Path:
    if not (data_dir / "theoremqa" / "theoremqa_test.json").is_file():
        pytest.skip("TheoremQA data not found")
    return data_dir


@pytest.fixture
def outputs(tqa_data: Path) -> Path:
    if not OUTPUTS.is_dir():
        pytest.skip(f"reference outputs not found at {OUTPUTS}")
    return OUTPUTS


CASES: list[tuple[str, Any, str, bool]] = [
    # (prediction text, gold, answer type, correct)
    ("3", 3, "integer", True),
    ("2.6", 3, "integer", True),  # round(pred) == gold
    ("3.6", 3, "integer", False),
    ("11759.6", 11760, "integer", True),
    ("0.0208", 0.02, "float", True),  # within 4 %
    ("0.0209", 0.02, "float", False),
    ("x = 1.96", 2.0, "float", True),  # after the last "="
    ("approximately 1.5 meters", 1.5, "float", True),
    ("$\\frac{1}{12}$", 0.0833, "float", True),
    ("1 - 2/π", 0.363, "float", True),
    ("3.0 x 10^8", 3e8, "float", True),
    ("16,777,216", 16777216, "integer", True),
    ("[1, 2, 3]", [3, 2, 1], "list of integer", True),  # sorted, pairwise
    ("[1, 2]", [1, 2, 3], "list of integer", False),
    ("[0.5, 1.03]", [1.0, 0.5], "list of float", True),
    ("True", True, "bool", True),
    ("yes", True, "bool", True),
    ("False", True, "bool", False),
    ("(b)", "(b)", "option", True),
    ("(c)", "(b)", "option", False),
    ("True", 1.0, "float", True),  # Python semantics, as theirs: True == 1
    ("no idea", 3, "integer", False),
]


@pytest.mark.parametrize(("text", "gold", "kind", "correct"), CASES)
def test_grader_cases(text: str, gold: Any, kind: str, correct: bool) -> None:
    value = normalize(text, kind)
    assert compare(value, gold, kind) is correct
    sample = Sample("x", "q", json.dumps(gold), tags=(("answer_type", kind),))
    grade = TheoremQA().grade(sample, f"Some work.\nTherefore, the answer is {text}.")
    assert grade.correct is correct and grade.check.startswith("theoremqa")


def test_authors_extraction_rule() -> None:
    assert last_line_answer("work\nTherefore, the answer is 0.25.") == "0.25"
    assert last_line_answer("So the value should be: [1, 2]") == "[1, 2]"
    assert last_line_answer("The answer:\n42") == "42"


def test_loading_renders_the_authors_prompt_and_skips_pictures(tqa_data: Path) -> None:
    data = DataSource.resolve(tqa_data)
    task = TASKS["theoremqa"]
    loaded = task.load(data, [])
    assert len(loaded.samples) == 747
    assert "53 items with a picture" in loaded.provenance["theoremqa:skipped"]
    full, _ = resolve_task("theoremqa:images=text-only")
    samples = full.load(data, []).samples
    assert len(samples) == 800
    assert sum(dict(s.tags)["visual"] == "yes" for s in samples) == 53
    chat = task.prompter(data, "", PromptOptions(style="chat")).render(samples[0])
    assert [m.role for m in chat.messages] == ["system", "user"]
    assert chat.messages[0].content == SYSTEM
    assert chat.messages[1].content == f"Question: {samples[0].question}\n"
    assert "no symbol and no unit at all" in SYSTEM
    assert task.max_tokens("zeroshot-cot") == 1028


def test_every_gold_is_graded_correct_against_itself(tqa_data: Path) -> None:
    task, _ = resolve_task("theoremqa:images=text-only")
    for s in task.load(DataSource.resolve(tqa_data), []).samples:
        gold = json.loads(s.gold)
        shown = gold if isinstance(gold, str) else json.dumps(gold).replace("true", "True")
        shown = shown.replace("false", "False")
        assert task.grade(s, f"Therefore, the answer is {shown}").correct, s.id


@pytest.mark.parametrize("run", list(RUNS))
def test_stored_verdicts_reproduce_the_published_numbers(outputs: Path, run: str) -> None:
    """The authors' comparison rule on their stored normalised predictions: 800/800 verdicts."""
    corrected = json.loads((outputs / f"{run}.jsonl.corrected").read_text("utf-8"))
    verdicts = [compare(c["prediction"], c["answer"], c["answer_type"]) for c in corrected]
    assert verdicts == [c["correct"] for c in corrected]
    assert sum(verdicts) == RUNS[run][0]


@pytest.mark.parametrize("run", list(RUNS))
def test_import_of_the_published_outputs(cli: Any, outputs: Path, tmp_path: Path, run: str) -> None:
    """``cothub import`` of the raw files, graded against today's data: the published figure
    less the items whose gold was corrected after the run and those the authors' online
    normalisers (gpt-3.5-turbo, WolframAlpha) read differently (see the module docstring)."""
    r = cli("import", "theoremqa:images=text-only", outputs / f"{run}.jsonl",
            "--model-name", run, "--completion-field", "rationale",
            "--answer-field", "prediction", "--data-dir", outputs.parents[2] / "data",
            "--store", tmp_path / "s.db", "--json", tmp_path / "out.json")  # fmt: skip
    assert r.code == 0, r.err
    head = json.loads((tmp_path / "out.json").read_text())["tasks"]["theoremqa"]
    assert head["n"] == 800 and head["correct"] == RUNS[run][1]
    assert set(head["by_visual"]) == {"yes", "no"}


def test_run_over_http_reports_by_answer_type(cli: Any, tqa_data: Path, tmp_path: Path) -> None:
    from cothub.testing.openai_server import Choice, Script, running_server

    samples = TASKS["theoremqa"].load(DataSource.resolve(tqa_data), []).samples
    gold = {f"Question: {s.question}\n": s.gold for s in samples}

    def respond(request: dict[str, Any]) -> list[Choice]:
        assert request["messages"][0]["content"] == SYSTEM
        answer = json.loads(gold[request["messages"][-1]["content"]])
        shown = answer if isinstance(answer, str) else str(answer)
        return [Choice(f"Some reasoning.\nTherefore, the answer is {shown}.")]

    with running_server(Script(responder=respond)) as srv:
        r = cli("run", "theoremqa", "--model", "openai/stand-in", "--base-url", srv.base_url,
                "--data-dir", tqa_data, "--limit", "40", "--store", tmp_path / "s.db",
                "--json", tmp_path / "out.json")  # fmt: skip
        assert r.code == 0, r.err
        bodies = srv.stats.bodies
    assert all(b["max_tokens"] == 1028 for b in bodies)
    head = json.loads((tmp_path / "out.json").read_text())["tasks"]["theoremqa"]
    assert head["n"] == 40 and head["correct"] == 40
    assert set(head["by_visual"]) == {"no"}  # the 53 with a picture are left out
    assert sum(v["n"] for v in head["by_answer_type"].values()) == 40


@pytest.mark.parametrize(
    ("text", "gold", "correct"),
    [
        ("Therefore, the answer is 3.14.", "3.14159", True),  # within the 4 % tolerance
        ("Therefore, the answer is 3.5.", "3.14159", False),
        ("The answer is True.", "True", True),
        ("The answer is [1, 2, 3].", "[1, 2, 3]", True),
        ("The answer is 12.", "12", True),
        ("The answer is (b).", "(b)", True),
    ],
)
def test_grade_api_takes_a_plain_gold(text: str, gold: str, correct: bool) -> None:
    """cothub.grade("theoremqa", ...) with a gold typed by hand: its answer type is read off
    the value, never a traceback."""
    import cothub

    assert cothub.grade("theoremqa", text, gold).correct is correct
