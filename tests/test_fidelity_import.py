"""``cothub import`` for outputs of other harnesses: stop sequences, answer fields, text logs,
and the warning line for replies whose answers are not found or only guessed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from cothub.importer import cut_at_stop, parse_qa_log
from cothub.scoring.metrics import extraction_warnings


def _args(tmp: Path, data: Path, task: str, *files: Path | str) -> list[str]:
    return ["import", task, *map(str, files), "--model-name", "m", "--data-dir", str(data),
            "--store", str(tmp / "s.db"), "--json", str(tmp / "out.json")]  # fmt: skip


def _gsm8k(data: Path, n: int) -> list[tuple[str, str]]:
    with (data / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(n)]
    return [(r["question"], r["answer"].rsplit("####", 1)[1].strip()) for r in rows]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _manifest(tmp: Path) -> dict[str, Any]:
    db = sqlite3.connect(tmp / "s.db")
    return dict(json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0]))


def test_cut_at_stop() -> None:
    assert cut_at_stop("The answer is 8.\nQuestion: next", ["\nQuestion:"]) == "The answer is 8."
    assert cut_at_stop("\nB\n\nmore", ["\n"]) == "\nB"  # a leading newline is layout
    assert cut_at_stop("no stop here", ["###"]) == "no stop here"
    assert cut_at_stop("a ### b @@ c", ["@@", "###"]) == "a "


def test_qa_log_reader() -> None:
    log = "header line\nQ: What is 2+2?\nA: 2 + 2 = 4.\nThe answer is 4.\n\nQ: And 3+3?\nA: 6\n"
    assert parse_qa_log(log) == [
        {"question": "What is 2+2?", "completion": "2 + 2 = 4.\nThe answer is 4."},
        {"question": "And 3+3?", "completion": "6"},
    ]
    assert parse_qa_log("Question: x\nno answer line") == [
        {"question": "x\nno answer line", "completion": ""}
    ]


def test_default_stop_cuts_an_invented_question(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    items = _gsm8k(data_dir, 3)
    rows = [
        {
            "question": q,
            "completion": f"Easy.\nThe answer is {g}.\nQuestion: Made up?\nThe answer is 999.",
        }
        for q, g in items
    ]
    r = cli(*_args(tmp_path, data_dir, "gsm8k", _write(tmp_path / "c.jsonl", rows)))
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["tasks"]["gsm8k"]["correct"] == 3
    stop = _manifest(tmp_path)["import"]["stop"]
    assert stop == {"sequences": ["\nQuestion:"], "source": "task", "cut": 3}
    # Off: nothing is cut (the grader's own answer region still ends at the invented question).
    r = cli(*_args(tmp_path / "off", data_dir, "gsm8k", tmp_path / "c.jsonl"), "--no-stop")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]["correct"] == 3


def test_explicit_stop(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    items = _gsm8k(data_dir, 2)
    rows = [{"question": q, "completion": f"So {g}.\n###\nThe answer is 999."} for q, g in items]
    f = _write(tmp_path / "c.jsonl", rows)
    r = cli(*_args(tmp_path, data_dir, "gsm8k", f), "--stop", "###")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]["correct"] == 2
    assert _manifest(tmp_path)["import"]["stop"]["source"] == "--stop"
    r = cli(*_args(tmp_path, data_dir, "gsm8k", f), "--stop", "###", "--no-stop")
    assert r.code == 2


def test_answer_field(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    items = _gsm8k(data_dir, 4)
    rows = [
        {"question": q, "response": "long reasoning 1 2 3", "pred": [g] if i % 2 else g}
        for i, (q, g) in enumerate(items)
    ]
    rows[3]["pred"] = None
    f = _write(tmp_path / "c.jsonl", rows)
    r = cli(*_args(tmp_path, data_dir, "gsm8k", f), "--completion-field", "response",
            "--answer-field", "pred")  # fmt: skip
    assert r.code == 0, r.err
    g = json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]
    assert (g["correct"], g["unparsed"]) == (3, 1)
    assert g["methods"] == {"answer-field": 3, "answer-field-empty": 1}
    # 1 of 4 unparsed is over 5 %: the warning line names it.
    assert "warning: gsm8k: 25.0% of 4 items have no committed answer" in r.err
    assert "--unparsed" in r.err and "--answer-field or --stop may read them" in r.err


def test_text_log_import(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    items = _gsm8k(data_dir, 2)
    log = "".join(f"Q: {q}\nA: Let's see.\nThe answer is {g}.\n\n" for q, g in items)
    path = tmp_path / "run.log"
    path.write_text(log, encoding="utf-8")
    r = cli(*_args(tmp_path, data_dir, "gsm8k", path))
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]["correct"] == 2


def test_warning_for_weakest_fallback() -> None:
    summary = {"n": 100, "unparsed": 2, "weakest_fallback_rate": 0.3, "methods": {}}
    (line,) = extraction_warnings({"gsm8k": summary})
    assert "30.0% of 100 items were decided by the weakest fallback" in line
    assert (
        extraction_warnings({"gsm8k": {"n": 100, "unparsed": 5, "weakest_fallback_rate": 0.05}})
        == []
    )
    # Subsets are spoken for by their benchmark's headline.
    bad = {"n": 10, "unparsed": 9}
    assert extraction_warnings({"bbh": {"n": 100, "unparsed": 0}, "bbh/navigate": bad}) == []


def test_the_unparsed_warning_of_a_run_says_how_to_look(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """A run (not an import) whose replies commit to nothing: the advice names the run's own
    `cothub show ... --unparsed` with its store, and following it lists those samples."""
    store = tmp_path / "my store.db"
    r = cli("run", "gsm8k", "-m", "fake/repeat:I am not sure.", "--limit", "4",
            "--data-dir", data_dir, "--store", store)  # fmt: skip
    assert r.code == 0, r.err
    (line,) = [ln for ln in r.err.splitlines() if "no committed answer" in ln]
    assert "cothub import" not in line and "--answer-field" not in line
    command = line.split("`")[1]
    import shlex

    args = shlex.split(command)
    assert args[:2] == ["cothub", "show"] and args[-2:] == ["--store", str(store)]
    shown = cli(*args[1:])
    assert shown.code == 0, shown.err
    assert "I am not sure." in shown.out
