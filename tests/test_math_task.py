"""MATH task: loading the 5,000 test files, prompt rendering, grading, and CLI runs over HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

import cothub
from cothub.data.source import DataSource, Rows
from cothub.errors import CothubError
from cothub.extract.latex import gold_from_solution, last_boxed
from cothub.prompts.fewshot import parse_exemplars
from cothub.tasks import TASKS, PromptOptions, math_task
from cothub.tasks.math_task import MATH, SUBJECTS
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import Prompt, Sample

SUBJECT_COUNTS = {
    "algebra": 1187,
    "counting_and_probability": 474,
    "geometry": 479,
    "intermediate_algebra": 903,
    "number_theory": 540,
    "prealgebra": 871,
    "precalculus": 546,
}
LEVEL_COUNTS = {"1": 437, "2": 894, "3": 1131, "4": 1214, "5": 1324}
INSTRUCTION = "Solve the problem step by step. Put your final answer in \\boxed{}."
GRAD3 = "cot-hub-prompts/MATH/lib_prompt/algebra/prompt_grad_3.txt"


def completions(seed: int = 0, **kw: Any) -> PromptOptions:
    return PromptOptions(style="completions", seed=seed, **kw)


# ---- loading ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_samples() -> list[Sample]:
    from conftest import DATA

    if not (DATA / "MATH" / "test").is_dir():
        pytest.skip(f"MATH data not found at {DATA}")
    return MATH().load(DataSource(DATA), []).samples


def test_loads_5000_problems_by_subject_and_level(test_samples: list[Sample]) -> None:
    assert len(test_samples) == 5000
    assert Counter(s.subset for s in test_samples) == SUBJECT_COUNTS
    assert Counter(dict(s.tags)["level"] for s in test_samples) == LEVEL_COUNTS
    assert len({s.id for s in test_samples}) == 5000
    assert all(s.gold.strip() for s in test_samples)
    assert all(s.id.startswith(f"test/{s.subset}/") for s in test_samples)


def test_ids_in_numeric_order_and_gold_is_the_last_box(
    test_samples: list[Sample], data_dir: Path
) -> None:
    algebra = [int(s.id.rsplit("/", 1)[1]) for s in test_samples if s.subset == "algebra"]
    assert algebra == sorted(algebra)
    by_id = {s.id: s for s in test_samples}
    first = by_id["test/algebra/1"]
    assert first.gold == "2" and first.question.startswith("How many vertical asymptotes")
    row = json.loads((data_dir / "MATH/test/precalculus/807.json").read_text())
    assert by_id["test/precalculus/807"].gold == gold_from_solution(row["solution"])
    assert by_id["test/precalculus/807"].tags == (("level", row["level"][-1]),)


def test_subset_load_and_one_digest_per_subject(data_dir: Path) -> None:
    loaded = MATH().load(DataSource(data_dir), ["geometry", "number_theory"])
    assert [s.subset for s in loaded.samples].count("geometry") == 479
    assert len(loaded.samples) == 479 + 540
    assert sorted(Path(k).name for k in loaded.provenance) == ["geometry", "number_theory"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in loaded.provenance.values())


def fake_math(root: Path, rows: dict[str, object]) -> DataSource:
    """A data dir whose MATH/test holds ``rows`` ({"<subject>/<id>": row}) and nothing else."""
    for name, row in rows.items():
        path = root / "MATH" / "test" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(row if isinstance(row, str) else json.dumps(row))
    return DataSource(root)


def row(level: str = "Level 2", solution: str = "So $\\boxed{4}$.") -> dict[str, str]:
    return {"problem": "What is 2+2?", "level": level, "type": "Algebra", "solution": solution}


def test_digest_follows_file_bytes(tmp_path: Path) -> None:
    a = fake_math(tmp_path / "a", {"algebra/10": row(), "algebra/2": row("Level 5")})
    b = fake_math(tmp_path / "b", {"algebra/10": row(), "algebra/2": row("Level 4")})
    la, lb = MATH().load(a, ["algebra"]), MATH().load(b, ["algebra"])
    assert [s.id for s in la.samples] == ["test/algebra/2", "test/algebra/10"]
    assert [s.tags for s in la.samples] == [(("level", "5"),), (("level", "2"),)]
    assert list(la.provenance.values()) != list(lb.provenance.values())
    c = fake_math(tmp_path / "c", {"algebra/10": row(), "algebra/2": row("Level 5")})
    again = MATH().load(c, ["algebra"])
    assert list(again.provenance.values()) == list(la.provenance.values())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"problem": "x", "level": "Level 1"}), "string fields"),
        (json.dumps(row(level="Level ?")), "a test problem needs a level"),
        (json.dumps(row(level="Hard")), "'Level 1'..'Level 5'"),
        (json.dumps(row(solution="no box here")), "boxes no answer"),
    ],
)
def test_malformed_file_is_one_line_error_naming_it(
    tmp_path: Path, content: str, needle: str
) -> None:
    data = fake_math(tmp_path, {"algebra/1": row(), "algebra/7": content})
    with pytest.raises(CothubError) as e:
        MATH().load(data, ["algebra"])
    msg = str(e.value)
    assert needle in msg and "7" in msg and "--data-dir" in msg and "\n" not in msg


def test_missing_subject_folder_names_it_and_data_dir(tmp_path: Path) -> None:
    data = fake_math(tmp_path, {"algebra/1": row()})
    with pytest.raises(CothubError) as e:
        MATH().load(data, [])
    msg = str(e.value)
    assert str(tmp_path / "MATH" / "test" / "counting_and_probability") in msg
    assert "--data-dir" in msg and "\n" not in msg


def test_hub_rows_become_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str | None, str]] = []

    def fake_hub(repo: str, config: str | None, split: str, required: Any) -> Rows:
        asked.append((repo, config, split))
        rows = [row("Level 3", "$\\boxed{\\frac{1}{2}}$"), row("Level 1")]
        return Rows(rows, f"hf:{repo}/{config}/{split}", "rev1")

    monkeypatch.setattr(math_task, "load_hub", fake_hub)
    loaded = MATH().load(DataSource(None), ["prealgebra"])
    assert asked == [("EleutherAI/hendrycks_math", "prealgebra", "test")]
    assert [(s.id, s.gold, s.tags) for s in loaded.samples] == [
        ("test/prealgebra/hub-0", "\\frac{1}{2}", (("level", "3"),)),
        ("test/prealgebra/hub-1", "4", (("level", "1"),)),
    ]
    assert loaded.provenance == {"hf:EleutherAI/hendrycks_math/prealgebra/test": "rev1"}


# ---- prompts ----------------------------------------------------------------------------------


def split_prompt(text: str) -> tuple[str, str]:
    """(exemplar block, final question) of a few-shot completion prompt."""
    block, _, question = text.rpartition("\nQuestion: ")
    return block, question


@lru_cache(maxsize=1)
def train_golds(data: Path) -> dict[str, str]:
    """Train problem (blank lines folded, as in exemplars) -> its boxed answer."""
    out = {}
    for f in (data / "MATH" / "train").glob("*/*.json"):
        r = json.loads(f.read_bytes())
        out[re.sub(r"\n\s*\n", "\n", r["problem"].strip())] = gold_from_solution(r["solution"])
    return out


def test_fewshot_completion_has_4_train_exemplars_ending_boxed(
    data_dir: Path, test_samples: list[Sample]
) -> None:
    task, sample = MATH(), test_samples[0]
    prompter = task.prompter(DataSource(data_dir), "fewshot-cot", completions(seed=0))
    prompt = prompter.render(sample)
    assert prompt.style == "completions" and prompt.n_exemplars == 4
    assert prompt.stop == ("\nQuestion:",)
    block, question = split_prompt(prompt.text)
    assert question == sample.question + "\n"
    exemplars = parse_exemplars(block, "rendered")
    assert len(exemplars) == 4
    for ex in exemplars:
        boxed = last_boxed(ex.rationale)
        assert boxed is not None and boxed[0] == ex.answer  # the solution boxes the answer line
        assert len(ex.question) + len(ex.rationale) <= 1000
        assert train_golds(data_dir)[ex.question] == ex.answer  # a real train problem's answer
    assert prompter.exemplar_source == "train:seed=0" and len(prompter.exemplar_hash) == 64

    same = task.prompter(DataSource(data_dir), "fewshot-cot", completions(seed=0))
    other = task.prompter(DataSource(data_dir), "fewshot-cot", completions(seed=1))
    assert same.render(sample) == prompt and same.exemplar_hash == prompter.exemplar_hash
    assert split_prompt(other.render(sample).text)[0] != block
    assert other.exemplar_hash != prompter.exemplar_hash


@pytest.mark.parametrize("choice", ["grad3", "prompt_grad_3.txt", "PATH"])
def test_prompt_file_grad3_renders_the_hub_file(
    data_dir: Path, test_samples: list[Sample], choice: str
) -> None:
    choice = str(data_dir / GRAD3) if choice == "PATH" else choice
    prompter = MATH().prompter(DataSource(data_dir), "fewshot-cot", completions(prompt_file=choice))
    prompt = prompter.render(test_samples[1])
    published = (data_dir / GRAD3).read_text()
    assert prompt.text == f"{published}\nQuestion: {test_samples[1].question}\n"
    assert prompt.n_exemplars == 8 and prompter.exemplar_source.endswith("prompt_grad_3.txt")


def test_unknown_prompt_file_and_named_prompt_without_data(data_dir: Path) -> None:
    with pytest.raises(CothubError, match="grad1, grad3, grad5"):
        MATH().prompter(DataSource(data_dir), "fewshot-cot", completions(prompt_file="grad4"))
    with pytest.raises(CothubError, match="needs --data-dir"):
        MATH().prompter(DataSource(None), "fewshot-cot", completions(prompt_file="grad1"))


def roles(prompt: Prompt) -> list[str]:
    return [m.role for m in prompt.messages]


def test_chat_turns_alternate_and_zero_shot_asks_for_a_box(
    data_dir: Path, test_samples: list[Sample]
) -> None:
    sample = test_samples[2]
    chat = PromptOptions(style="chat")
    few = MATH().prompter(DataSource(data_dir), "fewshot-cot", chat).render(sample)
    assert roles(few) == ["user", "assistant"] * 4 + ["user"] and few.n_exemplars == 4
    assert few.messages[-1].content == f"{INSTRUCTION}\n\n{sample.question}"
    assert all("\\boxed" in m.content for m in few.messages if m.role == "assistant")
    assert all(m.content.startswith(INSTRUCTION) for m in few.messages if m.role == "user")

    zero = MATH().prompter(DataSource(data_dir), "zeroshot-cot", chat)
    assert zero.exemplar_source == "none"
    assert zero.render(sample).messages[0].content == f"{INSTRUCTION}\n\n{sample.question}"
    assert roles(zero.render(sample)) == ["user"]
    text = MATH().prompter(DataSource(data_dir), "zeroshot-cot", completions()).render(sample)
    assert text.text == f"{INSTRUCTION}\n\nQuestion: {sample.question}\nLet's think step by step\n"
    assert text.n_exemplars == 0


def tokens(prompt: Prompt) -> int:
    chars = len(prompt.text) + sum(len(m.content) for m in prompt.messages)
    return -(-chars // 4)


@pytest.mark.parametrize("style", ["completions", "chat"])
def test_context_budget_drops_exemplars_from_the_end(
    data_dir: Path, test_samples: list[Sample], style: Any
) -> None:
    sample, data = test_samples[3], DataSource(data_dir)
    full = MATH().prompter(data, "fewshot-cot", PromptOptions(style=style)).render(sample)
    fits = MATH().prompter(
        data, "fewshot-cot", PromptOptions(style=style, max_prompt_tokens=tokens(full))
    )
    assert fits.render(sample) == full
    tight = MATH().prompter(
        data, "fewshot-cot", PromptOptions(style=style, max_prompt_tokens=tokens(full) - 1)
    )
    cut = tight.render(sample)
    assert cut.n_exemplars == 3 and tokens(cut) <= tokens(full) - 1
    if style == "chat":
        assert cut.messages == full.messages[:6] + full.messages[-1:]
    else:
        exemplars = parse_exemplars(split_prompt(full.text)[0], "full")
        assert parse_exemplars(split_prompt(cut.text)[0], "cut") == exemplars[:3]
    zero = MATH().prompter(data, "zeroshot-cot", PromptOptions(style=style)).render(sample)
    at_zero = PromptOptions(style=style, max_prompt_tokens=tokens(zero))
    assert MATH().prompter(data, "fewshot-cot", at_zero).render(sample) == zero
    none = MATH().prompter(data, "fewshot-cot", PromptOptions(style=style, max_prompt_tokens=5))
    with pytest.raises(CothubError, match="even with no exemplars"):
        none.render(sample)


# ---- grading ----------------------------------------------------------------------------------


def test_grade_through_the_public_api() -> None:
    g = cothub.grade("math", "Half of it: $\\boxed{\\frac12}$.", "\\frac{1}{2}")
    assert g.correct and g.answer == "\\frac12" and g.method == "boxed"
    assert cothub.grade("math/algebra", "So $x = \\boxed{2}$", "2").correct
    wrong = cothub.grade("math/precalculus", "$\\boxed{3}$", "\\frac{\\pi}{2}")
    assert not wrong.correct and wrong.answer == "3"
    assert cothub.grade("math", "I do not know.", "2").answer is None


def test_registry_entry() -> None:
    task = TASKS["math"]
    assert isinstance(task, MATH) and task.subsets == SUBJECTS and task.breakdowns == ("level",)
    assert task.max_tokens("fewshot-cot") == 1024 and task.aggregate == "micro"
    assert task.slow_grader


# ---- end to end over HTTP ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def math_items(data: Path) -> dict[str, tuple[str, str, str]]:
    """problem text -> (id, gold, level) for every test file."""
    out = {}
    for f in (data / "MATH" / "test").glob("*/*.json"):
        r = json.loads(f.read_bytes())
        out[r["problem"]] = (
            f"test/{f.parent.name}/{f.stem}",
            gold_from_solution(r["solution"]),
            r["level"][-1],
        )
    return out


def planned(item_id: str) -> str:
    """The scripted model's behaviour on an item: right, wrong or no answer."""
    return ("right", "wrong", "unparsed")[int(item_id.rsplit("/", 1)[1]) % 3]


def problem_of(request: dict[str, Any]) -> str:
    if "messages" in request:
        return str(request["messages"][-1]["content"]).split("\n\n", 1)[1]
    return split_prompt(str(request["prompt"]))[1].removesuffix("\n")


@pytest.fixture
def math_server(data_dir: Path) -> Iterator[OpenAIStandIn]:
    items = math_items(data_dir)

    def respond(request: dict[str, Any]) -> list[Choice]:
        item_id, gold, _ = items[problem_of(request)]
        kind = planned(item_id)
        if kind == "unparsed":
            return [Choice("Let me think. I cannot finish this one.")]
        answer = gold if kind == "right" else "-987654321"
        return [Choice(f"Some working.\nSo the result is $\\boxed{{{answer}}}$.")]

    with running_server(Script(responder=respond)) as srv:
        yield srv


def run_args(srv: OpenAIStandIn, data: Path, tmp: Path, task: str, *extra: str) -> list[str]:
    return [
        "run", task, "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        *extra,
    ]  # fmt: skip


def stored(tmp: Path) -> list[tuple[str, str, int, str | None]]:
    db = sqlite3.connect(tmp / "store.db")
    return db.execute("SELECT item_id, subset, correct, answer FROM samples").fetchall()


def test_cli_run_limit_is_per_subject_with_level_breakdown(
    cli: Any, math_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(*run_args(math_server, data_dir, tmp_path, "math", "--limit", "3"))
    assert r.code == 0, r.err
    tasks = json.loads((tmp_path / "out.json").read_text())["tasks"]
    rows = stored(tmp_path)
    assert len(rows) == 21 and math_server.stats.completion_requests == 21
    levels = {item_id: level for item_id, _, level in math_items(data_dir).values()}
    for item_id, _, correct, answer in rows:
        assert bool(correct) == (planned(item_id) == "right"), item_id
        assert (answer is None) == (planned(item_id) == "unparsed"), item_id
    kinds = Counter(planned(i) for i, *_ in rows)
    head = tasks["math"]
    assert (head["n"], head["correct"], head["unparsed"]) == (21, kinds["right"], kinds["unparsed"])
    assert head["aggregate"] == "micro" and head["accuracy"] == pytest.approx(kinds["right"] / 21)
    assert sorted(k for k in tasks if k.startswith("math/")) == [f"math/{s}" for s in SUBJECTS]
    for subject in SUBJECTS:
        mine = [i for i, s, *_ in rows if s == subject]
        entry = tasks[f"math/{subject}"]
        assert entry["n"] == 3 == len(mine)
        assert entry["correct"] == sum(planned(i) == "right" for i in mine)
    by_level = head["by_level"]
    assert {lv: v["n"] for lv, v in by_level.items()} == dict(Counter(levels[i] for i, *_ in rows))
    for lv, v in by_level.items():
        assert v["correct"] == sum(planned(i) == "right" for i, *_ in rows if levels[i] == lv)


def test_cli_level_filter_keeps_only_that_level(
    cli: Any, math_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    args = run_args(math_server, data_dir, tmp_path, "math", "--level", "5", "--limit", "2")
    r = cli(*args, "--api", "completions")
    assert r.code == 0, r.err
    tasks = json.loads((tmp_path / "out.json").read_text())["tasks"]
    rows = stored(tmp_path)
    levels = {item_id: level for item_id, _, level in math_items(data_dir).values()}
    assert len(rows) == 14 and {levels[i] for i, *_ in rows} == {"5"}
    assert list(tasks["math"]["by_level"]) == ["5"] and tasks["math"]["n"] == 14
    body = math_server.stats.bodies[0]
    assert body["stop"] == ["\nQuestion:"] and body["prompt"].count("\nQuestion: ") == 4


def test_level_on_gsm8k_is_a_one_line_error(
    cli: Any, math_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(*run_args(math_server, data_dir, tmp_path, "gsm8k", "--level", "5"))
    assert r.code == 2
    assert "--level" in r.err and "gsm8k" in r.err and len(r.err.strip().splitlines()) == 1
    assert math_server.stats.completion_requests == 0
