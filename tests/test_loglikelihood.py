"""``--scoring loglikelihood`` without a real model: the tasks' options, the runner's path (with a
scripted scorer), its cache, and the one-line refusals."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.extract.choice import parse_choices
from cothub.models.base import Scorer
from cothub.runner import RunConfig, Runner, plan
from cothub.store import open_store
from cothub.tasks import PromptOptions
from cothub.tasks.bbh import BBH
from cothub.tasks.mmlu import MMLU
from cothub.types import Completion, GenerateConfig, Prompt, Sample

MMLU_Q = "What is 1 + 1?\nA. 1\nB. 2\nC. 3\nD. 4"
BBH_LETTERS = "Which is red?\nOptions:\n(A) sky\n(B) blood\n(C) grass"
BBH_DASH = "Is the argument valid?\nOptions:\n- valid \n- invalid"


@pytest.mark.parametrize(
    ("task", "subset", "question", "fmt", "expected"),
    [
        (MMLU(), "anatomy", MMLU_Q, "fewshot-direct", [" A", " B", " C", " D"]),
        (MMLU(), "anatomy", MMLU_Q, "zeroshot-direct", [" A", " B", " C", " D"]),
        (MMLU(), "anatomy", MMLU_Q, "fewshot-cot", None),
        (BBH(), "date_understanding", BBH_LETTERS, "fewshot-direct", [" (A)", " (B)", " (C)"]),
        (BBH(), "date_understanding", BBH_LETTERS, "fewshot-cot", None),
        (BBH(), "formal_fallacies", BBH_DASH, "zeroshot-direct", [" valid", " invalid"]),
        (BBH(), "boolean_expressions", "not ( True ) and ( True ) is", "fewshot-direct", None),
    ],
)
def test_choices(
    task: Any, subset: str, question: str, fmt: str, expected: list[str] | None
) -> None:
    sample = Sample("x/0", question, "", subset, choices=parse_choices(question))  # as adapters do
    assert task.choices(sample, fmt) == expected


class ScriptedScorer:
    """Scores the gold option highest on even items, ``(A)``/`` A`` on odd ones; counts calls."""

    def __init__(self, golds: dict[str, str]) -> None:
        self.golds = golds  # prompt tail -> gold letter
        self.calls = 0

    @property
    def identity(self) -> dict[str, object]:
        return {"provider": "scripted", "model": "scorer"}

    @property
    def style(self) -> Any:
        return "completions"

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        raise AssertionError("scoring must not generate")

    async def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        self.calls += 1
        context = requests[0][0]
        index, gold = next(v for k, v in self.golds.items() if context.endswith(k))
        want = gold if int(index) % 2 == 0 else "A"
        return [0.0 if option.strip() == want else -1.0 for _, option in requests]

    async def aclose(self) -> None:
        pass


def _config(**kw: Any) -> RunConfig:
    base: dict[str, Any] = dict(
        tasks=("mmlu/anatomy",),
        format=None,
        options=PromptOptions(style="completions"),
        limit=6,
        seed=0,
        max_tokens=None,
        temperature=0.0,
        scoring="loglikelihood",
    )
    return RunConfig(**{**base, **kw})


def test_runner_picks_the_most_likely_option_and_caches(data_dir: Path, tmp_path: Path) -> None:
    config = _config()
    plans = plan(config, DataSource.resolve(data_dir), "completions")
    samples = plans[0].samples
    golds = {s.question + "\nAnswer:": (s.id.split("/")[1], s.gold) for s in samples}
    scorer = ScriptedScorer(golds)
    assert isinstance(scorer, Scorer)

    def run() -> Any:
        store = open_store(tmp_path / "store.db")
        try:
            return asyncio.run(Runner(scorer, store, config).run(plans))  # type: ignore[arg-type]
        finally:
            store.close()

    result = run()
    even = sum(int(s.id.split("/")[1]) % 2 == 0 for s in samples)
    odd_a = sum(int(s.id.split("/")[1]) % 2 == 1 and s.gold == "A" for s in samples)
    assert result.summaries["mmlu"].correct == even + odd_a
    assert result.usage.requests == 6 and scorer.calls == 6
    rows = sqlite3.connect(tmp_path / "store.db").execute(
        "SELECT item_id, completion, steps FROM samples WHERE run_id = ?", (result.run_id,)
    )
    for item_id, completion, steps in rows:
        assert completion in (" A", " B", " C", " D")
        assert '"loglikelihood": 0.0' in steps and completion in steps
        if int(item_id.split("/")[1]) % 2 == 1:
            assert completion == " A"

    again = run()  # everything from the cache, same verdicts, same run
    assert scorer.calls == 6 and again.usage.cached == 6 and again.usage.requests == 0
    assert again.run_id == result.run_id
    assert again.summaries["mmlu"].correct == result.summaries["mmlu"].correct


def test_scoring_refusals_are_one_line(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    common = ["--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"), "--limit", "2"]
    cases = [
        (["gsm8k", "--model", "fake/repeat:1"], "has no options to score"),
        (["bbh/navigate", "--model", "fake/repeat:1"], "answer-only format"),
        (["mmlu/anatomy", "--model", "fake/repeat:A", "--api", "chat"], "--api completions"),
        (["mmlu/anatomy", "--model", "fake/repeat:A"], "only generate"),
        (
            ["mmlu/anatomy", "--model", "fake/repeat:A", "--strategy", "self-consistency:k=2"],
            "--strategy",
        ),
    ]
    for args, needle in cases:
        r = cli("run", *args, "--scoring", "loglikelihood", *common)
        assert r.code == 2, (args, r.err)
        assert r.err.count("\n") == 1 and needle in r.err, r.err
    db = tmp_path / "s.db"
    assert not db.exists() or not sqlite3.connect(db).execute("SELECT * FROM runs").fetchall()


def test_unscorable_task_is_refused_before_loading_the_model(data_dir: Path) -> None:
    with pytest.raises(CothubError, match="no options to score"):
        plan(_config(tasks=("gsm8k",)), DataSource.resolve(data_dir), "completions")
