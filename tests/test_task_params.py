"""Task parameters: one syntax (``NAME[/SUB-TASK][:key=value,...]``), checked per task, recorded in
the run manifest only when given, so that every run without them keeps its id."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.errors import CothubError
from cothub.tasks import TaskSpec, parse_task_spec, resolve_task, task_params


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("gsm8k", TaskSpec("gsm8k")),
        (" GSM8K ", TaskSpec("gsm8k")),
        ("bbh/date_understanding", TaskSpec("bbh", "date_understanding")),
        ("gsm8k:prompt_file=complex", TaskSpec("gsm8k", "", (("prompt_file", "complex"),))),
        ("math:levels=4,5", TaskSpec("math", "", (("levels", "4,5"),))),
        (
            "math/algebra:levels=5,prompt-file=grad1",
            TaskSpec("math", "algebra", (("levels", "5"), ("prompt_file", "grad1"))),
        ),
        ("jsonl:data/my qa.jsonl", TaskSpec("jsonl:data/my qa.jsonl")),
        ("jsonl:/a/b:c.jsonl", TaskSpec("jsonl:/a/b:c.jsonl")),
        (
            "jsonl:/a/b.jsonl:answer_type=exact,question=q",
            TaskSpec("jsonl:/a/b.jsonl", "", (("answer_type", "exact"), ("question", "q"))),
        ),
        ("tasks/Mine.toml", TaskSpec("toml:tasks/Mine.toml")),
        ("toml:x.toml:name=y", TaskSpec("toml:x.toml", "", (("name", "y"),))),
        ("my_task.py", TaskSpec("py:my_task.py")),
    ],
)
def test_parse_task_spec(text: str, spec: TaskSpec) -> None:
    assert parse_task_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("gsm8k:k=1,k=2", "twice"),
        ("csv:data.csv", "neither NAME"),
        ("gsm8k:colour=red", "no parameter 'colour'"),
        ("gsm8k:levels=5", "no parameter 'levels'"),
        ("gsm8k:prompt_file=", "no value"),
        ("gsm9k:prompt_file=x", "unknown task 'gsm9k'"),
    ],
)
def test_bad_specs_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(CothubError) as e:
        resolve_task(text)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_plain_tasks_are_the_registered_objects() -> None:
    from cothub.tasks import TASKS

    task, subset = resolve_task("mmlu/anatomy")
    assert task is TASKS["mmlu"] and subset == "anatomy" and task_params(task) == {}


def test_math_levels_filter_and_manifest(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    base = ["-m", "fake/repeat:The answer is \\boxed{2}.", "--data-dir", data_dir, "--store", store]
    r = cli("run", "math:levels=4,5", "--limit", "3", "--json", tmp_path / "a.json", *base)
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "a.json").read_text())
    assert set(out["tasks"]["math"]["by_level"]) == {"4", "5"}

    r = cli("run", "math", "--level", "4", "--level", "5", "--limit", "3",
            "--json", tmp_path / "b.json", *base)  # fmt: skip
    assert r.code == 0, r.err
    plain = json.loads((tmp_path / "b.json").read_text())
    assert plain["run_id"] != out["run_id"]
    assert plain["tasks"]["math"]["n"] == out["tasks"]["math"]["n"]

    manifests = {
        rid: json.loads(m)["tasks"]["math"]
        for rid, m in sqlite3.connect(store).execute("SELECT run_id, manifest FROM runs")
    }
    assert manifests[out["run_id"]]["params"] == {"levels": "4,5"}
    assert "params" not in manifests[plain["run_id"]]

    bad = cli("run", "math:levels=6", *base)
    assert bad.code == 2 and "levels are 1, 2, 3, 4, 5" in bad.err

    assert "MATH (fewshot-cot" not in cli("leaderboard", "--store", store).out  # both --limit
    board = cli("leaderboard", "--store", store, "--include-partial").out
    assert "MATH (fewshot-cot levels=4,5)" in board and "MATH (fewshot-cot)" in board


def test_prompt_file_parameter_is_the_tasks_own_prompt_file(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    base = ["-m", "fake/repeat:The answer is 2.", "--data-dir", data_dir, "--store", store]
    r = cli("run", "gsm8k:prompt_file=complex", "--limit", "2", *base)
    assert r.code == 0, r.err
    (manifest,) = [json.loads(m) for (m,) in sqlite3.connect(store).execute(
        "SELECT manifest FROM runs")]  # fmt: skip
    entry = manifest["tasks"]["gsm8k"]
    assert entry["exemplars"]["source"].endswith("prompt_hardest.txt")
    assert entry["params"] == {"prompt_file": "complex"}

    clash = cli("run", "gsm8k", "gsm8k:prompt_file=complex", *base)
    assert clash.code == 2 and "different parameters" in clash.err
