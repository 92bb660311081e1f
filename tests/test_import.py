"""``cothub import``: published completions re-scored to their published accuracies, and the rules.

Acceptance on real third-party outputs (``shared/reference``, skipped when absent): the GSM8K
paper's GPT-3 solutions and the BBH paper's code-davinci-002 CoT and answer-only outputs.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED, CliResult
from cothub.errors import CothubError
from cothub.importer import (
    Record,
    SourceFile,
    lookup,
    match_records,
    parse_records,
)
from cothub.types import Prompt, Sample

REFERENCE = SHARED / "reference"
GSM8K_SOLUTIONS = REFERENCE / "gsm8k-model-solutions" / "example_model_solutions.jsonl"
BBH_OUTPUTS = REFERENCE / "bbh-code-davinci-002-outputs" / "code-davinci-002-outputs"
SUFFIX = "_few_shot_template_0-255000"
MODES = {"cot": "fewshot-cot", "direct": "fewshot-direct"}


def assert_one_line(r: CliResult, *needles: str) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err + r.out
    for n in needles:
        assert n in lines[0], lines[0]


def import_args(tmp: Path, data: Path, task: str, *files: Path | str) -> list[str]:
    return ["import", task, *map(str, files), "--model-name", "m", "--data-dir", str(data),
            "--store", str(tmp / "s.db"), "--json", str(tmp / "out.json")]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def gsm8k_questions(data: Path) -> list[str]:
    with (data / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f]


# ---- GSM8K: the GSM8K paper's GPT-3 solutions -----------------------------------------------


@pytest.mark.parametrize(
    ("model", "correct", "pct"),
    [
        ("6b_finetuning", 286, 21.68),
        ("6b_verification", 515, 39.04),
        ("175b_finetuning", 458, 34.72),
        ("175b_verification", 742, 56.25),
    ],
)
def test_gsm8k_gpt3_solutions_reproduce_published_accuracy(
    cli: Any, data_dir: Path, tmp_path: Path, model: str, correct: int, pct: float
) -> None:
    if not GSM8K_SOLUTIONS.is_file():
        pytest.skip(f"reference solutions not found at {GSM8K_SOLUTIONS}")
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", GSM8K_SOLUTIONS),
            "--completion-field", f"{model}.solution", "--question-field", "question")  # fmt: skip
    assert r.code == 0, r.err
    assert "matched 1,319 of 1,319 records to items (question 1,319)" in r.err
    out = json.loads((tmp_path / "out.json").read_text())
    g = out["tasks"]["gsm8k"]
    assert (g["n"], g["correct"], round(100 * g["accuracy"], 2)) == (1319, correct, pct)
    assert out["model"] == "import/m" and out["usage"]["requests"] == 0
    assert set(out) == {
        "run_id", "model", "status", "tasks", "formats", "strategy", "usage", "wall_s", "failed"
    }  # fmt: skip
    assert out["failed"] == [] and out["status"] == "complete"
    # Item by item, the verdicts are the paper's own is_correct flags.
    with GSM8K_SOLUTIONS.open(encoding="utf-8") as f:
        flags = [json.loads(line)[model]["is_correct"] for line in f]
    db = sqlite3.connect(tmp_path / "s.db")
    rows = db.execute("SELECT item_id, correct, completion_tokens FROM samples").fetchall()
    assert {i: bool(c) for i, c, _ in rows} == {f"test/{i}": v for i, v in enumerate(flags)}
    assert {t for _, _, t in rows} == {0}
    man = json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0])
    (entry,) = man["import"]["files"]
    assert entry["fields"] == {
        "completion": f"{model}.solution", "prompt": None, "question": "question", "id": None,
    }  # fmt: skip
    assert entry["matched_by"] == {"question": 1319} and entry["unmatched"] == []
    assert man["model"] == {"provider": "import", "model": "m"}


# ---- BBH: code-davinci-002, all 27 tasks, CoT and answer-only --------------------------------


def bbh_required(data: Path) -> None:
    if not BBH_OUTPUTS.is_dir():
        pytest.skip(f"reference outputs not found at {BBH_OUTPUTS}")
    if not (data / "bbh" / "bbh").is_dir():
        pytest.skip(f"BBH data not found under {data}")


def bbh_tasks() -> list[str]:
    files = sorted((BBH_OUTPUTS / "code-davinci-002-cot").glob(f"*{SUFFIX}.json"))
    return [f.name.removesuffix(f"{SUFFIX}.json") for f in files]


def outputs(mode: str, task: str) -> Path:
    return BBH_OUTPUTS / f"code-davinci-002-{mode}" / f"{task}{SUFFIX}.json"


def published(mode: str, task: str) -> float:
    path = outputs(mode, task).with_name(f"{task}{SUFFIX}_eval_metrics.jsonl")
    return float(json.loads(path.read_text(encoding="utf-8").splitlines()[0])["accuracy"])


@pytest.mark.parametrize(("mode", "mean"), [("cot", 73.71), ("direct", 52.76)])
def test_bbh_codex_outputs_in_one_import_reproduce_all_27_published_accuracies(
    cli: Any, data_dir: Path, tmp_path: Path, mode: str, mean: float
) -> None:
    bbh_required(data_dir)
    tasks = bbh_tasks()
    assert len(tasks) == 27
    files = [outputs(mode, t) for t in tasks]
    r = cli(*import_args(tmp_path, data_dir, "bbh", *files),
            "--format", MODES[mode], "--id-field", "@index")  # fmt: skip
    assert r.code == 0, r.err
    assert "matched 6,511 of 6,511 records to items (index 1, prompt 6,510)" in r.err
    out = json.loads((tmp_path / "out.json").read_text())
    for t in tasks:
        s = out["tasks"][f"bbh/{t}"]
        # The authors' own float expression, bit for bit.
        assert s["correct"] / s["n"] * 100 == published(mode, t), t
        assert 100 * s["accuracy"] == pytest.approx(published(mode, t), abs=1e-9)
    head = out["tasks"]["bbh"]
    assert head["aggregate"] == "macro" and head["n"] == 6511
    assert round(100 * head["accuracy"], 2) == mean
    assert out["formats"] == {"bbh": MODES[mode]}
    # Only the truncated snarks item 88 needed its position; the manifest says so.
    db = sqlite3.connect(tmp_path / "s.db")
    man = json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0])
    others = {f["name"]: f["other_methods"] for f in man["import"]["files"] if f["other_methods"]}
    assert others == {f"snarks{SUFFIX}.json": {"88": ["snarks/88", "index"]}}
    assert all(len(f["sha256"]) == 64 for f in man["import"]["files"])


def test_bbh_codex_cot_one_import_per_task_matches_published(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    bbh_required(data_dir)
    accuracies = []
    for t in bbh_tasks():
        extra = ["--id-field", "@index"] if t == "snarks" else []
        r = cli(*import_args(tmp_path, data_dir, f"bbh/{t}", outputs("cot", t)), *extra)
        assert r.code == 0, r.err
        s = json.loads((tmp_path / "out.json").read_text())["tasks"][f"bbh/{t}"]
        assert s["correct"] / s["n"] * 100 == published("cot", t), t
        accuracies.append(100 * s["correct"] / s["n"])
    assert len(accuracies) == 27 and round(sum(accuracies) / 27, 2) == 73.71
    runs = sqlite3.connect(tmp_path / "s.db").execute("SELECT count(*) FROM runs").fetchone()
    assert runs == (27,)


def test_bbh_truncated_snarks_item_is_reported_unmatched_without_index(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    bbh_required(data_dir)
    r = cli(*import_args(tmp_path, data_dir, "bbh/snarks", outputs("cot", "snarks")))
    assert r.code == 0, r.err
    assert "1 record matched no item, not scored" in r.err
    assert f"snarks{SUFFIX}.json#88: no item has this prompt" in r.err
    assert "1 of 178 dataset items have no record" in r.err
    assert json.loads((tmp_path / "out.json").read_text())["tasks"]["bbh/snarks"]["n"] == 177
    # Stored prompts are the published ones, byte for byte.
    published_inputs = [
        o["input"] for o in json.loads(outputs("cot", "snarks").read_text("utf-8"))["outputs"]
    ]
    db = sqlite3.connect(tmp_path / "s.db")
    stored = {
        i: json.loads(p)["prompt"] for i, p in db.execute("SELECT item_id, prompt FROM samples")
    }
    assert stored["snarks/3"] == published_inputs[3] and "snarks/88" not in stored


def test_index_that_contradicts_prompt_matches_is_refused(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    bbh_required(data_dir)
    doc = json.loads(outputs("cot", "snarks").read_text("utf-8"))
    doc["outputs"].reverse()  # no longer in dataset order: positions would be a guess
    shuffled = tmp_path / "snarks.json"
    shuffled.write_text(json.dumps(doc), encoding="utf-8")
    r = cli(*import_args(tmp_path, data_dir, "bbh/snarks", shuffled), "--id-field", "@index")
    assert_one_line(r, "contradicts matching by prompt", "not in dataset order")
    many = cli(*import_args(tmp_path, data_dir, "bbh", shuffled), "--id-field", "@index")
    assert_one_line(many, "contradicts matching by prompt")
    stray = write_jsonl(tmp_path / "stray.jsonl", [{"input": "Q: ?", "prediction": "(A)"}])
    r = cli(*import_args(tmp_path, data_dir, "bbh", stray), "--id-field", "@index")
    assert_one_line(r, "cannot tell which sub-task stray.jsonl follows", "TASK/SUB-TASK")


# ---- the rules, on small files ------------------------------------------------------------


def test_reimport_is_the_same_run_and_the_model_name_is_part_of_it(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    qs = gsm8k_questions(data_dir)
    f = write_jsonl(tmp_path / "a.jsonl", [{"question": q, "completion": "A: 1"} for q in qs[:5]])
    ids = []
    for name in ("m", "m", "other"):
        r = cli("import", "gsm8k", f, "--model-name", name, "--data-dir", data_dir,
                "--store", tmp_path / "s.db", "--json", tmp_path / "o.json")  # fmt: skip
        assert r.code == 0, r.err
        ids.append(json.loads((tmp_path / "o.json").read_text())["run_id"])
    assert ids[0] == ids[1] != ids[2]
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM samples").fetchone() == (10,)


def test_unmatched_records_are_listed_and_uncovered_items_counted(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    qs = gsm8k_questions(data_dir)
    rows: list[dict[str, Any]] = [
        {"question": f"  {qs[0]}\n", "prediction": "The answer is 18.", "finish_reason": "length"},
        {"id": "test/1", "prediction": "The answer is 3."},
        *({"question": f"no such question {i}", "prediction": "1"} for i in range(7)),
    ]
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", write_jsonl(tmp_path / "p.jsonl", rows)))
    assert r.code == 0, r.err
    assert "matched 2 of 9 records to items (id 1, question 1)" in r.err
    assert "7 records matched no item, not scored, first 5:" in r.err
    assert "p.jsonl#2: no item has this question" in r.err and "p.jsonl#7:" not in r.err
    assert "1,317 of 1,319 dataset items have no record" in r.err
    g = json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]
    assert (g["n"], g["correct"], g["truncated"]) == (2, 2, 1)
    db = sqlite3.connect(tmp_path / "s.db")
    (prompt, finish, key) = db.execute(
        "SELECT prompt, finish_reason, cache_key FROM samples WHERE item_id='test/1'"
    ).fetchone()
    assert json.loads(prompt)["prompt"].endswith(f"Question: {qs[1]}\n")  # the rendered prompt
    assert finish == "other" and key.startswith("import:") and key.endswith("#1")


def test_two_records_for_one_item_is_an_error(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    q = gsm8k_questions(data_dir)[4]
    a = write_jsonl(tmp_path / "a.jsonl", [{"question": q, "output": "1"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": "test/4", "output": "2"}])
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", a, b))
    assert_one_line(r, "2 records for 1 item test/4", "b.jsonl#0 (by id), a.jsonl#0 (by question)")
    twice = write_jsonl(tmp_path / "c.jsonl", [{"question": q, "output": "1"}] * 2)
    assert_one_line(cli(*import_args(tmp_path, data_dir, "gsm8k", twice)), "c.jsonl#0", "c.jsonl#1")


def test_dotted_paths_and_one_list_object_through_the_cli(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    qs = gsm8k_questions(data_dir)
    doc = {
        "canary": "x",
        "outputs": [{"q": {"text": qs[i]}, "gen": [{"text": "9"}]} for i in (2, 3)],
    }
    f = tmp_path / "o.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", f),
            "--question-field", "q.text", "--completion-field", "gen.0.text")  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "out.json").read_text())["tasks"]["gsm8k"]["n"] == 2


def test_positional_ids_on_a_task_without_subsets(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "p.jsonl", [{"completion": "x"}] * 3)
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", f), "--id-field", "@index")
    assert r.code == 0, r.err
    db = sqlite3.connect(tmp_path / "s.db")
    assert [i for (i,) in db.execute("SELECT item_id FROM samples ORDER BY item_id")] == [
        "test/0", "test/1", "test/2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "name", "extra", "needles"),
    [
        (None, "missing.jsonl", [], ["missing.jsonl: no such file"]),
        ('{"question": "a", ', "bad.json", [], ["bad.json: not valid JSON"]),
        ('{"question": "a"}\n{oops\n', "bad.jsonl", [], ["bad.jsonl:2: not valid JSON"]),
        ('{"a": [], "b": []}', "two.json", [], ["exactly one list of records", "a, b"]),
        ("[1, 2]", "scalars.json", [], ["scalars.json#0: a record must be a JSON object"]),
        ("[]", "empty.json", [], ["empty.json holds no records"]),
        ('[{"question": "q"}]', "nocomp.json", [], ["no completion field", "--completion-field"]),
        (
            '[{"r": {"s": "x"}}, {"r": {}}]',
            "hole.json",
            ["--completion-field", "r.s"],
            ["hole.json#1: no field 'r.s'", "--completion-field"],
        ),
        ('[{"completion": 3}]', "num.json", [], ["num.json#0: field 'completion' is a number"]),
        ('[{"completion": "x"}]', "ok.json", ["--format", "fewshot-pot"], ["no format"]),
        ('[{"completion": "x"}]', "nomatch.json", [], ["no record matched an item of gsm8k"]),
    ],
)
def test_bad_input_is_one_line(
    cli: Any,
    data_dir: Path,
    tmp_path: Path,
    content: str | None,
    name: str,
    extra: list[str],
    needles: list[str],
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert_one_line(cli(*import_args(tmp_path, data_dir, "gsm8k", path), *extra), *needles)


def test_unknown_task_and_missing_model_name_are_one_line(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [{"completion": "x"}])
    assert_one_line(cli(*import_args(tmp_path, data_dir, "gsm9k", f)), "unknown task 'gsm9k'")
    assert_one_line(cli("import", "gsm8k", f), "--model-name")


# ---- units: reading and matching ----------------------------------------------------------


def test_lookup_follows_dotted_paths() -> None:
    rec = {"a": {"b": {"c": "deep"}}, "x.y": "literal", "l": [{"t": "first"}], "n": None}
    assert lookup(rec, "a.b.c") == (True, "deep")
    assert lookup(rec, "x.y") == (True, "literal")
    assert lookup(rec, "l.0.t") == (True, "first")
    assert lookup(rec, "n") == (True, None)
    for missing in ("a.b.d", "a.b.c.d", "l.1.t", "l.x", "zz", "a..b"):
        assert lookup(rec, missing) == (False, None), missing


def test_parse_records_accepts_jsonl_lists_and_a_one_list_object(tmp_path: Path) -> None:
    rows = [{"k": 1}, {"k": 2}]
    jsonl = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    assert parse_records(tmp_path / "a.jsonl", jsonl.encode()) == rows
    assert parse_records(tmp_path / "a.json", jsonl.encode()) == rows  # JSON lines, .json name
    assert parse_records(tmp_path / "a.json", json.dumps(rows).encode()) == rows
    one_list = {"canary": "c", "n": 3, "meta": {"v": 1}, "outputs": rows}
    assert parse_records(tmp_path / "a.json", json.dumps(one_list).encode()) == rows
    for bad in ({"canary": "c"}, "text", 3):
        with pytest.raises(CothubError):
            parse_records(tmp_path / "b.json", json.dumps(bad).encode())
    with pytest.raises(CothubError, match="not UTF-8"):
        parse_records(tmp_path / "c.json", b"\xff\xfe")


def rec(i: int, completion: str, **kw: str | None) -> Record:
    return Record(
        file=0,
        index=i,
        completion=completion,
        prompt=kw.get("prompt"),
        question=kw.get("question"),
        id=kw.get("id"),
        finish_reason="other",
    )


def one_file(*records: Record) -> list[SourceFile]:
    fields: dict[str, str | None] = {"completion": "c", "prompt": "p", "question": "q", "id": "i"}
    return [SourceFile(0, Path("f.jsonl"), "f.jsonl", "0" * 64, fields, list(records))]


SAMPLES = [
    Sample(id="s/0", question="same", gold="A", subset="s"),
    Sample(id="s/1", question="same", gold="B", subset="s"),
    Sample(id="s/2", question="other", gold="C", subset="s"),
]
PROMPTS = {s.id: Prompt(style="completions", text=f"P {s.id}") for s in SAMPLES}


def test_repeated_question_matches_only_when_the_records_cannot_differ() -> None:
    same = match_records(one_file(rec(0, "x", question="same"), rec(1, "x", question="same")),
                         SAMPLES, PROMPTS)  # fmt: skip
    assert [(m.record.index, m.sample.id) for m in same.matches] == [(0, "s/0"), (1, "s/1")]
    differ = match_records(one_file(rec(0, "x", question="same"), rec(1, "y", question="same")),
                           SAMPLES, PROMPTS)  # fmt: skip
    assert differ.matches == [] and len(differ.unmatched) == 2
    assert "2 items share this question" in differ.unmatched[0].reason
    fewer = match_records(one_file(rec(0, "x", question="same")), SAMPLES, PROMPTS)
    assert fewer.matches == [] and "cannot be told apart" in fewer.unmatched[0].reason


def test_prompt_wins_over_id_and_id_over_question() -> None:
    m = match_records(
        one_file(
            rec(0, "a", prompt="P s/2", id="s/0", question="same"),
            rec(1, "b", prompt="unknown", id="s/0"),
            rec(2, "c", prompt="unknown", question="nothing"),
        ),
        SAMPLES,
        PROMPTS,
    )
    assert [(x.sample.id, x.method) for x in m.matches] == [("s/0", "id"), ("s/2", "prompt")]
    (u,) = m.unmatched
    assert u.where == "f.jsonl#2"
    assert u.reason == "no item has this prompt; no item has this question"


def test_more_records_than_items_for_a_key_is_an_error() -> None:
    records = [rec(i, "x", question="same") for i in range(3)]
    with pytest.raises(CothubError, match=r"3 records for 2 items s/0, s/1: f.jsonl#0 \(by q"):
        match_records(one_file(*records), SAMPLES, PROMPTS)


# ---- the replay: an import runs through the execute loop of every run ------------------------


def test_items_sharing_one_prompt_keep_their_own_recorded_completions(
    cli: Any, tmp_path: Path
) -> None:
    """Two items with the same question (and so the same prompt) but different golds, matched
    by id to records that answer differently: each item is graded on its own record. (A backend
    sees only the prompt and could not tell them apart; the replay sees the item.)"""
    task = write_jsonl(tmp_path / "twins.jsonl", [
        {"id": "a", "question": "Pick a number.", "answer": "3"},
        {"id": "b", "question": "Pick a number.", "answer": "4"},
    ])  # fmt: skip
    records = write_jsonl(tmp_path / "out.jsonl", [
        {"id": "b", "completion": "The answer is 4."},
        {"id": "a", "completion": "The answer is 3."},
    ])  # fmt: skip
    r = cli("import", f"jsonl:{task}", records, "--model-name", "m",
            "--store", tmp_path / "s.db", "--json", tmp_path / "o.json")  # fmt: skip
    assert r.code == 0, r.err
    head = json.loads((tmp_path / "o.json").read_text())["tasks"]["twins"]
    assert (head["n"], head["correct"]) == (2, 2)
    db = sqlite3.connect(tmp_path / "s.db")
    rows = db.execute("SELECT item_id, answer, cache_key FROM samples ORDER BY item_id").fetchall()
    assert [(i, a) for i, a, _ in rows] == [("a", "3"), ("b", "4")]
    assert [k.rpartition("#")[2] for _, _, k in rows] == ["1", "0"]  # each its own record


def test_an_import_sends_caches_and_leases_nothing(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """The replay answers every item from its record: no completion is cached (the sample row
    holds it), no lease is taken, no request or token is counted, and the run is timed."""
    qs = gsm8k_questions(data_dir)
    f = write_jsonl(tmp_path / "a.jsonl", [{"question": q, "completion": "A: 1"} for q in qs[:6]])
    r = cli(*import_args(tmp_path, data_dir, "gsm8k", f))
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["strategy"] == {"name": "single"} and out["status"] == "complete"
    assert all(v in (0, None) for v in out["usage"].values()), out["usage"]
    assert "requests_per_item" not in out["tasks"]["gsm8k"]  # no accounting: no usage behind it
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT count(*) FROM completions").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM leases").fetchone() == (0,)
    # How many requests the completions took where they were made is not known: NULL.
    assert db.execute("SELECT count(requests), count(*) FROM samples").fetchone() == (0, 6)
    (wall,) = db.execute("SELECT wall_s FROM runs").fetchone()
    assert wall is not None and wall >= 0


def test_the_recorded_model_refuses_to_generate() -> None:
    import asyncio

    from cothub.models.replay import RecordedModel
    from cothub.types import GenerateConfig

    model = RecordedModel("gpt3")
    assert model.identity == {"provider": "import", "model": "gpt3"}
    with pytest.raises(CothubError, match="import/gpt3 holds recorded completions only"):
        asyncio.run(model.generate(Prompt(style="completions", text="x"), GenerateConfig(8)))
