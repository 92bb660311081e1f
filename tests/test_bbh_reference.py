"""grade_bbh reproduces the published code-davinci-002 BBH accuracies (Suzgun et al. 2022).

Reads the released Codex completions (27 tasks x CoT/answer-only) from
``<repo>/../shared/reference/bbh-code-davinci-002-outputs`` and the item inputs from the BBH
data (``$COTHUB_DATA_DIR`` else ``<repo>/../shared/data``); skips when either is absent.
The published ``accuracy`` is ``correct / n * 100`` in floating point (checked: bit-equal for
all 54 files), so it is compared exactly, and to 1e-9 as a percentage.
"""

from __future__ import annotations

import json
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cothub.extract.choice import BBH_TASKS
from cothub.scoring.choice import grade_bbh
from cothub.types import Grade

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COTHUB_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference" / "bbh-code-davinci-002-outputs" / "code-davinci-002-outputs"
MODES = ("cot", "direct")


def _data_dir() -> Path:
    env = os.environ.get("COTHUB_DATA_DIR")
    return Path(env) if env else SHARED / "data"


def _outputs(mode: str, task: str) -> Path:
    return REFERENCE / f"code-davinci-002-{mode}" / f"{task}_few_shot_template_0-255000.json"


def _require() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference outputs not found at {REFERENCE}")
    if not (_data_dir() / "bbh" / "bbh").is_dir():
        pytest.skip(f"BBH data not found under {_data_dir()}")


@cache
def _graded(mode: str, task: str) -> tuple[list[dict[str, Any]], list[Grade], float]:
    """(published outputs, grades, published accuracy) for one file."""
    outputs = json.loads(_outputs(mode, task).read_text(encoding="utf-8"))["outputs"]
    items = json.loads((_data_dir() / "bbh" / "bbh" / f"{task}.json").read_text("utf-8"))
    examples = items["examples"]
    assert len(outputs) == len(examples)
    grades = []
    for out, ex in zip(outputs, examples, strict=True):
        assert out["target"] == ex["target"]  # same items, same order
        grades.append(
            grade_bbh(task, out["prediction"], out["target"], question=ex["input"], mode=mode)
        )
    metrics = _outputs(mode, task).with_name(
        f"{task}_few_shot_template_0-255000_eval_metrics.jsonl"
    )
    published = float(json.loads(metrics.read_text("utf-8").splitlines()[0])["accuracy"])
    return outputs, grades, published


@pytest.mark.parametrize("task", BBH_TASKS)
@pytest.mark.parametrize("mode", MODES)
def test_task_accuracy_equals_published(mode: str, task: str) -> None:
    _require()
    outputs, grades, published = _graded(mode, task)
    n = len(grades)
    correct = sum(g.correct for g in grades)
    assert abs(100 * correct / n - published) < 1e-9
    assert correct / n * 100 == published  # the authors' own float expression, bit for bit
    # The lenient verdict agrees with the published rule on every single item, not just in sum.
    differing = [
        (i, outputs[i]["prediction"][-80:], g.answer)
        for i, g in enumerate(grades)
        if g.disagreement
    ]
    assert differing == []


@pytest.mark.parametrize(("mode", "mean"), [("cot", 73.71), ("direct", 52.76)])
def test_unweighted_mean_over_27_tasks(mode: str, mean: float) -> None:
    _require()
    accuracies = []
    for task in BBH_TASKS:
        _, grades, _ = _graded(mode, task)
        accuracies.append(100 * sum(g.correct for g in grades) / len(grades))
    assert len(accuracies) == 27
    assert round(sum(accuracies) / 27, 2) == mean


def test_grading_all_items_is_fast() -> None:
    _require()
    rows = []
    for task in BBH_TASKS:
        outputs = json.loads(_outputs("cot", task).read_text(encoding="utf-8"))["outputs"]
        items = json.loads((_data_dir() / "bbh" / "bbh" / f"{task}.json").read_text("utf-8"))
        rows += [
            (task, o["prediction"], o["target"], ex["input"])
            for o, ex in zip(outputs, items["examples"], strict=True)
        ]
    assert len(rows) == 6511
    start = time.perf_counter()
    for task, prediction, target, question in rows:
        grade_bbh(task, prediction, target, question=question)
    assert time.perf_counter() - start < 1.0
