"""The Hub-only sets (GSM8K-Platinum, AIME 2024/2025/2026, GPQA-Diamond): loading and grading on
small fixtures written here in each Hub copy's schema, the offline message, and a run over HTTP.

There is no Hub access in the test environment: ``load_hub`` is replaced by a reader of fixture
files named after (repo, config, split), so everything after it (the adapters, the shuffle, the
prompts, the graders) is the code that runs on the real copies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cothub.data import source
from cothub.data.source import DataSource, Rows, read_jsonl
from cothub.errors import CothubError
from cothub.tasks import TASKS, PromptOptions, hub_sets, resolve_task
from cothub.tasks.hub_sets import AIME, GPQADiamond, GSM8KPlatinum, shuffled
from cothub.testing.openai_server import Choice, Script, running_server
from cothub.types import Sample

GPQA_ROWS = [
    {"Question": f"Which particle is number {i}?", "Correct Answer": f"right {i}",
     "Incorrect Answer 1": f"wrong {i}a", "Incorrect Answer 2": f"wrong {i}b",
     "Incorrect Answer 3": f"wrong {i}c", "Record ID": f"rec{i}",
     "High-level domain": ["Physics", "Chemistry", "Biology"][i % 3], "Subdomain": "x"}
    for i in range(6)
]  # fmt: skip
AIME_2024 = [
    {"id": 60 + i, "problem": f"Find the number {i}.", "solution": "...", "answer": a,
     "url": "https://artofproblemsolving.com/...", "year": 2024}
    for i, a in enumerate(["204", "033", "0"])
]  # fmt: skip
PLATINUM = [
    {"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=5\n#### 5",
     "cleaning_status": "consensus"},
    {"question": "A flawed question?", "answer": "#### 7", "cleaning_status": "rejected"},
    {"question": "Sam sells 1,000 pens at $2. Revenue?", "answer": "#### 2,000",
     "cleaning_status": "revised"},
]  # fmt: skip
FIXTURES: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {
    ("Idavidrein/gpqa", "gpqa_diamond", "train"): GPQA_ROWS,
    ("HuggingFaceH4/aime_2024", None, "train"): AIME_2024,
    ("opencompass/AIME2025", "AIME2025-I", "test"): [{"question": "I-1?", "answer": "70"}],
    ("opencompass/AIME2025", "AIME2025-II", "test"): [{"question": "II-1?", "answer": 588}],
    ("MathArena/aime_2026", None, "train"): [{"problem_idx": 1, "problem": "P?", "answer": 17}],
    ("madrylab/gsm8k-platinum", "main", "test"): PLATINUM,
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str | None]]]:
    """``load_hub`` served from JSONL fixtures written under tmp_path; yields the calls."""
    calls: list[tuple[str, str | None]] = []

    def fake(repo: str, config: str | None, split: str, required: Sequence[str]) -> Rows:
        rows = FIXTURES.get((repo, config, split))
        if rows is None:
            raise CothubError(f"no benchmark data: {repo} ({config}/{split}) is not cached")
        path = tmp_path / "hub" / repo / f"{config}-{split}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        calls.append((repo, config))
        read = read_jsonl(path, required)
        return Rows(read.rows, f"hf:{repo}/{config or 'default'}/{split}", "rev-fixture")

    monkeypatch.setattr(hub_sets, "load_hub", fake)
    yield calls


NO_DATA = DataSource(None)


def test_registered_and_described() -> None:
    for name in ("gsm8k-platinum", "aime2024", "aime2025", "aime2026", "gpqa-diamond"):
        task = TASKS[name]
        assert task.name == name and task.citation and task.default_format
    assert "Vendrow" in TASKS["gsm8k-platinum"].citation


# ---- GSM8K-Platinum -----------------------------------------------------------------------------


def test_platinum_drops_rejected_rows_and_grades_as_gsm8k(hub: list[Any]) -> None:
    samples = GSM8KPlatinum().load(NO_DATA, []).samples
    assert [(s.id, s.gold) for s in samples] == [("test/0", "5"), ("test/1", "2,000")]
    assert hub == [("madrylab/gsm8k-platinum", "main")]
    task = GSM8KPlatinum()
    assert task.grade(samples[1], "So the answer is 2000.").correct
    assert not task.grade(samples[0], "The answer is 6.").correct
    assert task.default_format.name == "fewshot-cot"


def test_platinum_prefers_a_local_copy(tmp_path: Path, hub: list[Any]) -> None:
    (tmp_path / "gsm8k-platinum").mkdir()
    (tmp_path / "gsm8k-platinum" / "test.jsonl").write_text(json.dumps(PLATINUM[0]) + "\n")
    loaded = GSM8KPlatinum().load(DataSource(tmp_path), [])
    assert len(loaded.samples) == 1 and hub == []


# ---- AIME ---------------------------------------------------------------------------------------


def test_aime_golds_are_integers_and_2025_reads_both_papers(hub: list[Any]) -> None:
    a24 = AIME(2024).load(NO_DATA, []).samples
    assert [(s.id, s.gold) for s in a24] == [("2024/0", "204"), ("2024/1", "33"), ("2024/2", "0")]
    a25 = AIME(2025).load(NO_DATA, [])
    assert [(s.question, s.gold) for s in a25.samples] == [("I-1?", "70"), ("II-1?", "588")]
    assert list(a25.provenance) == [
        "hf:opencompass/AIME2025/AIME2025-I/test", "hf:opencompass/AIME2025/AIME2025-II/test"
    ]  # fmt: skip
    assert [s.gold for s in AIME(2026).load(NO_DATA, []).samples] == ["17"]


@pytest.mark.parametrize(
    ("text", "correct"),
    [
        ("... so $\\boxed{33}$.", True),
        ("The final answer is $\\boxed{033}$", True),
        ("$\\boxed{34}$", False),
        ("I think it is 33 but cannot finish", False),
    ],
)
def test_aime_grading(hub: list[Any], text: str, correct: bool) -> None:
    sample = AIME(2024).load(NO_DATA, []).samples[1]
    assert AIME(2024).grade(sample, text).correct is correct


def test_aime_bad_answer_is_one_line(hub: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FIXTURES, ("MathArena/aime_2026", None, "train"),
                        [{"problem": "P", "answer": "1/2"}])  # fmt: skip
    with pytest.raises(CothubError, match=r"an AIME answer is an integer 0-999, got text \"1/2\""):
        AIME(2026).load(NO_DATA, [])


def test_aime_prompt_is_math500s(hub: list[Any]) -> None:
    s = AIME(2024).load(NO_DATA, []).samples[0]
    chat = AIME(2024).prompter(NO_DATA, "", PromptOptions(style="chat")).render(s)
    assert chat.messages[0].content.startswith("Please reason step by step")
    assert chat.messages[1].content == s.question


# ---- GPQA-Diamond -------------------------------------------------------------------------------


def simple_evals_shuffle(rows: list[dict[str, Any]], seed: int) -> list[tuple[list[str], str]]:
    """gpqa_eval.py, rewritten from its text: one Random(seed), sample(range(4), 4) per row."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        permutation = rng.sample(range(4), 4)
        choices = [row["Correct Answer"], row["Incorrect Answer 1"], row["Incorrect Answer 2"],
                   row["Incorrect Answer 3"]]  # fmt: skip
        choices = [choices[i] for i in permutation]
        out.append((choices, "ABCD"[choices.index(row["Correct Answer"])]))
    return out


def test_gpqa_shuffle_is_simple_evals_and_recorded(hub: list[Any]) -> None:
    loaded = GPQADiamond().load(NO_DATA, [])
    assert [(list(s.choices), s.gold) for s in loaded.samples] == simple_evals_shuffle(GPQA_ROWS, 0)
    assert shuffled(GPQA_ROWS, 0) == simple_evals_shuffle(GPQA_ROWS, 0)
    assert len({s.gold for s in loaded.samples}) > 1  # the correct answer is not always A
    assert loaded.samples[0].id == "rec0" and dict(loaded.samples[0].tags)["domain"] == "Physics"
    assert "Random(0)" in loaded.provenance["options"]
    other, _ = resolve_task("gpqa-diamond:shuffle_seed=3")
    again = other.load(NO_DATA, [])
    assert [s.gold for s in again.samples] == [g for _, g in simple_evals_shuffle(GPQA_ROWS, 3)]
    assert "Random(3)" in again.provenance["options"]
    with pytest.raises(CothubError, match="shuffle_seed='x' is not an integer"):
        resolve_task("gpqa-diamond:shuffle_seed=x")


@pytest.mark.parametrize(
    ("text", "answer", "disagreement"),
    [
        ("Reasoning...\nAnswer: C", "C", False),
        ("answer:$b$", "B", False),
        ("Answer : D\nAnswer: A", "D", False),  # the first, as simple-evals (both wrong)
        ("Answer: A\nNo, that is wrong.\nAnswer: C", "A", True),  # a careful reader: C
        ("The answer is (C).", None, True),  # not the asked-for form: flagged, never silent
        ("The answer is (B).", None, False),
    ],
)
def test_gpqa_grading(text: str, answer: str | None, disagreement: bool) -> None:
    s = Sample("r", "q", "C", "", (), ("a", "b", "c", "d"))
    g = GPQADiamond().grade(s, text)
    assert g.answer == answer and g.correct is (answer == "C")
    assert g.disagreement is disagreement


def test_gpqa_prompt_is_simple_evals_template(hub: list[Any]) -> None:
    s = GPQADiamond().load(NO_DATA, []).samples[0]
    chat = GPQADiamond().prompter(NO_DATA, "", PromptOptions(style="chat")).render(s)
    (turn,) = chat.messages
    a, b, c, d = s.choices
    assert turn.content == (
        "Answer the following multiple choice question. The last line of your response should "
        "be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of "
        f"ABCD. Think step by step before answering.\n\n{s.question}\n\nA) {a}\nB) {b}\nC) {c}\n"
        f"D) {d}"
    )


def test_gpqa_failure_says_how_to_get_access(
    hub: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(FIXTURES, ("Idavidrein/gpqa", "gpqa_diamond", "train"))
    with pytest.raises(CothubError) as e:
        GPQADiamond().load(NO_DATA, [])
    message = str(e.value)
    assert "\n" not in message and "GPQA is gated" in message
    assert "huggingface.co/datasets/Idavidrein/gpqa" in message and "HF_TOKEN" in message


# ---- offline: the real loader, one line -----------------------------------------------------


def test_offline_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setattr(source, "_REACHABLE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(CothubError) as e:
        AIME(2024).load(NO_DATA, [])
    assert "\n" not in str(e.value)
    assert "HuggingFaceH4/aime_2024" in str(e.value) and "not reachable" in str(e.value)
    assert "read from the Hub only" in str(e.value) and "--data-dir" not in str(e.value)


# ---- end to end over HTTP -----------------------------------------------------------------------


def test_gpqa_run_over_http(cli: Any, hub: list[Any], tmp_path: Path) -> None:
    golds = {s.question: s.gold for s in GPQADiamond().load(NO_DATA, []).samples}

    def respond(request: dict[str, Any]) -> list[Choice]:
        text = request["messages"][-1]["content"]
        question = text.split("\n\n")[1]
        letter = golds[question] if question.endswith(("0?", "1?", "2?", "3?")) else "Z"
        return [Choice(f"Thinking.\nAnswer: {letter}")]

    with running_server(Script(responder=respond)) as srv:
        r = cli("run", "gpqa-diamond", "--model", "openai/stand-in", "--base-url", srv.base_url,
                "--store", str(tmp_path / "s.db"),
                "--json", str(tmp_path / "out.json"))  # fmt: skip
    assert r.code == 0, r.err
    head = json.loads((tmp_path / "out.json").read_text())["tasks"]["gpqa-diamond"]
    assert (head["n"], head["correct"], head["unparsed"]) == (6, 4, 2)
    assert set(head["by_domain"]) == {"Physics", "Chemistry", "Biology"}
