"""User-defined tasks: a JSONL file, a TOML task file, a Python file; run over real HTTP, stored,
cached, on the leaderboard; and every bad task file is one line naming the field, before any
request is sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import Rule, Script, running_server

# Ten capital-city questions; the scripted model knows the first seven.
CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Egypt", "Cairo"),
    ("Chile", "Santiago"),
    ("Norway", "Oslo"),
    ("Canada", "Ottawa"),
]


def question(country: str) -> str:
    return f"What is the capital of {country}?"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def capitals(tmp: Path, **fields: str) -> Path:
    q, a = fields.get("question", "question"), fields.get("answer", "answer")
    rows = [{q: question(c), a: city, "id": c.lower()} for c, city in CAPITALS]
    return write_jsonl(tmp / "capitals.jsonl", rows)


def script() -> Script:
    rules = [
        Rule(question(c), [f"Let's think step by step.\nIt is {city}.\nThe answer is {city}."])
        for c, city in CAPITALS[:7]
    ]
    return Script(rules=rules, default="The answer is Atlantis.")


def run_args(url: str, tmp: Path, task: str, *extra: str) -> list[str]:
    return [
        "run", task, "--model", "openai/stand-in", "--base-url", url,
        "--store", str(tmp / "s.db"), "--json", str(tmp / "out.json"), *extra,
    ]  # fmt: skip


def test_user_jsonl_runs_is_stored_cached_and_on_the_leaderboard(cli: Any, tmp_path: Path) -> None:
    data = capitals(tmp_path)
    with running_server(script()) as srv:
        r = cli(*run_args(srv.base_url, tmp_path, f"jsonl:{data}"))
        assert r.code == 0, r.err
        out = json.loads((tmp_path / "out.json").read_text())
        head = out["tasks"]["capitals"]
        assert (head["n"], head["correct"]) == (10, 7)
        assert srv.stats.completion_requests == 10

        again = cli(*run_args(srv.base_url, tmp_path, f"jsonl:{data}"))
        assert again.code == 0, again.err
        out2 = json.loads((tmp_path / "out.json").read_text())
        assert out2["run_id"] == out["run_id"] and out2["usage"]["requests"] == 0
        assert out2["usage"]["cached"] == 10 and srv.stats.completion_requests == 10

    db = sqlite3.connect(tmp_path / "s.db")
    rows = db.execute("SELECT item_id, answer, correct, gold FROM samples").fetchall()
    assert {r[0] for r in rows} == {c.lower() for c, _ in CAPITALS}
    assert ("france", "Paris", 1, "Paris") in rows and ("chile", "Atlantis", 0, "Santiago") in rows
    man = json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0])
    entry = man["tasks"]["capitals"]
    assert entry["version"].startswith("1/") and str(data) in entry["data"]
    assert entry["format"] == "zeroshot-cot" and "params" not in entry

    board = cli("leaderboard", "--store", tmp_path / "s.db")
    assert board.code == 0, board.err
    assert "capitals (zeroshot-cot)" in board.out.splitlines()[0]
    assert "70.0" in board.out and out["run_id"] in board.out
    listing = json.loads(cli("leaderboard", "--format", "json", "--store", tmp_path / "s.db").out)
    assert listing["columns"] == [{"benchmark": "capitals", "format": "zeroshot-cot"}]


def test_toml_task_with_exemplars_field_names_and_parameters(cli: Any, tmp_path: Path) -> None:
    data = capitals(tmp_path, question="prompt", answer="city")
    write_jsonl(
        tmp_path / "shots.jsonl",
        [{"prompt": "What is the capital of Germany?", "city": "Berlin",
          "rationale": "Germany's government sits in Berlin."}],
    )  # fmt: skip
    (tmp_path / "cap.toml").write_text(
        'name = "world_capitals"\n'
        f'data = "{data.name}"\n'
        'question = "prompt"\nanswer = "city"\nanswer_type = "exact"\n'
        'exemplars = "shots.jsonl"\nformats = ["fewshot-cot", "zeroshot-direct"]\n'
        'max_tokens = 200\ncitation = "A capitals quiz"\n',
        encoding="utf-8",
    )
    with running_server(script()) as srv:
        r = cli(*run_args(srv.base_url, tmp_path, str(tmp_path / "cap.toml"), "--limit", "4"))
        assert r.code == 0, r.err
        body = srv.stats.bodies[0]
        assert body["max_tokens"] == 200
        msgs = body["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
        assert "Germany" in msgs[0]["content"] and "Berlin" in msgs[1]["content"]
        out = json.loads((tmp_path / "out.json").read_text())
        assert out["tasks"]["world_capitals"]["n"] == 4

        # The same file under a parameter: recorded in the manifest, another run id.
        spec = f"toml:{tmp_path / 'cap.toml'}:max_tokens=100"
        r2 = cli(*run_args(srv.base_url, tmp_path, spec, "--limit", "4"))
        assert r2.code == 0, r2.err
        out2 = json.loads((tmp_path / "out.json").read_text())
        assert out2["run_id"] != out["run_id"]
    db = sqlite3.connect(tmp_path / "s.db")
    manifests = [json.loads(m) for (m,) in db.execute("SELECT manifest FROM runs")]
    params = [m["tasks"]["world_capitals"].get("params") for m in manifests]
    assert sorted(params, key=str) == [None, {"max_tokens": "100"}]
    assert all(m["tasks"]["world_capitals"]["citation"] == "A capitals quiz" for m in manifests)


@pytest.mark.parametrize(
    ("rows", "answer_type", "completion", "correct"),
    [
        ([{"question": "2+2?", "answer": 4}], "number", "So 2+2 = 4.\nThe answer is 4.", True),
        (
            [{"question": "x?", "answer": "\\frac{1}{2}"}],
            "math",
            "The answer is $\\boxed{0.5}$",
            True,
        ),
        (
            [{"question": "Largest planet?", "choices": ["Mars", "Jupiter"], "answer": "Jupiter"}],
            "choice",
            "The answer is (B).",
            True,
        ),
        ([{"question": "Is it?", "answer": "Yes"}], "freeform", "So the answer is yes.", True),
        ([{"question": "Say hi", "answer": "Hello"}], "exact", "The answer is hello.", False),
    ],
)
def test_each_answer_type_uses_the_builtin_grader(
    tmp_path: Path, rows: list[dict[str, Any]], answer_type: str, completion: str, correct: bool
) -> None:
    import cothub

    data = write_jsonl(tmp_path / "t.jsonl", rows)
    spec = f"jsonl:{data}" + (
        "" if answer_type in ("number", "choice") else f":answer_type={answer_type}"
    )
    from cothub.tasks import resolve_task

    task, _ = resolve_task(spec)
    sample = task.load(None, ()).samples[0]  # type: ignore[arg-type]
    assert task.grade(sample, completion, "zeroshot-cot").correct is correct
    if answer_type == "choice":
        assert sample.gold == "B" and sample.choices == ("Mars", "Jupiter")
        assert "B. Jupiter" in sample.question
        assert cothub.grade(spec, completion, "B", question=sample.question).correct


def test_python_task_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "parity.py").write_text(
        """
from cothub import Sample, Task
from cothub.tasks import Loaded, Prompter
from cothub.types import Grade, Message, Prompt


class Parity(Task):
    name = "parity"
    version = "1"
    citation = "none"
    formats = ("zeroshot-direct",)
    default_format = "zeroshot-direct"

    def max_tokens(self, fmt):
        return 8

    def load(self, data, subsets):
        return Loaded([Sample(str(i), f"Is {i} even?", "yes" if i % 2 == 0 else "no")
                       for i in range(6)])

    def prompter(self, data, fmt, options):
        def render(s):
            return Prompt("chat", messages=(Message("user", s.question),))

        return Prompter(render, "none", "")

    def grade(self, sample, text, fmt=""):
        answer = text.strip().lower()
        return Grade(answer == sample.gold, answer, "exact")
""",
        encoding="utf-8",
    )
    r = cli("run", tmp_path / "parity.py", "-m", "fake/repeat:yes", "--store", tmp_path / "s.db",
            "--json", tmp_path / "o.json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["tasks"]["parity"]["correct"] == 3


def _toml(body: str, data: bool = True) -> Any:
    def setup(tmp: Path) -> str:
        capitals(tmp)
        (tmp / "t.toml").write_text(body, encoding="utf-8")
        return str(tmp / "t.toml")

    return setup


def _jsonl(text: str, params: str = "") -> Any:
    def setup(tmp: Path) -> str:
        (tmp / "d.jsonl").write_text(text, encoding="utf-8")
        return f"jsonl:{tmp / 'd.jsonl'}{params}"

    return setup


BAD = [
    ("missing data field", _toml('name = "x"\n'), ("'data'", "add data =")),
    ("data file missing", _toml('data = "nope.jsonl"\n'), ("'data'", "nope.jsonl", "not found")),
    (
        "unknown answer type",
        _toml('data = "capitals.jsonl"\nanswer_type = "numeric"\n'),
        ("'answer_type'", "number | choice | math | exact | freeform", "numeric"),
    ),
    (
        "wrong type",
        _toml('data = "capitals.jsonl"\nmax_tokens = "lots"\n'),
        ("'max_tokens'", "positive integer", "max_tokens = 512"),
    ),
    (
        "unknown field",
        _toml('data = "capitals.jsonl"\nquestoin = "q"\n'),
        ("'questoin'", "the fields are"),
    ),
    ("bad toml", _toml('data = "capitals.jsonl\n'), ("not valid TOML", "line")),
    (
        "bad format",
        _toml('data = "capitals.jsonl"\nformats = ["fewshot-pot"]\n'),
        ("'formats'", "fewshot-pot", "zeroshot-cot"),
    ),
    (
        "fewshot without exemplars",
        _toml('data = "capitals.jsonl"\nformats = ["fewshot-cot"]\n'),
        ("exemplars",),
    ),
    (
        "field name absent from data",
        _toml('data = "capitals.jsonl"\nquestion = "prompt"\n'),
        ("'prompt'", 'question = "FIELD"'),
    ),
    ("name taken", _toml('data = "capitals.jsonl"\nname = "gsm8k"\n'), ("gsm8k", "name =")),
    (
        "bad json line",
        _jsonl('{"question": "a", "answer": 1}\n{"question": "b", answer: 2}\n'),
        ("d.jsonl:2", "not valid JSON"),
    ),
    (
        "missing answer in a row",
        _jsonl('{"question": "a", "answer": 1}\n{"question": "b"}\n'),
        ("d.jsonl:2", "'answer'"),
    ),
    (
        "not a number",
        _jsonl('{"question": "a", "answer": "x"}\n', ":answer_type=number"),
        ("d.jsonl:1", "not a number", "answer_type"),
    ),
    (
        "choice gold not an option",
        _jsonl('{"question": "a", "choices": ["x", "y"], "answer": "z"}\n'),
        ("d.jsonl:1", "options"),
    ),
    (
        "unknown parameter",
        _jsonl('{"question": "a", "answer": 1}\n', ":colour=red"),
        ("colour", "parameter"),
    ),
    ("empty data", _jsonl("\n"), ("no items",)),
    (
        "duplicate ids",
        _jsonl(
            '{"question": "a", "answer": 1, "id": 1}\n{"question": "b", "answer": 2, "id": 1}\n'
        ),
        ("'id'", "twice"),
    ),
]


@pytest.mark.parametrize(("case", "setup", "needles"), BAD, ids=[c[0] for c in BAD])
def test_bad_task_files_are_one_line_and_send_nothing(
    cli: Any, tmp_path: Path, case: str, setup: Any, needles: tuple[str, ...]
) -> None:
    spec = setup(tmp_path)
    with running_server(script()) as srv:
        r = cli(*run_args(srv.base_url, tmp_path, spec))
        assert srv.stats.completion_requests == 0
    assert r.code == 2, (case, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert (
        not (tmp_path / "s.db").exists()
        or not sqlite3.connect(tmp_path / "s.db")
        .execute("SELECT name FROM sqlite_master WHERE name='runs'")
        .fetchone()
        or not sqlite3.connect(tmp_path / "s.db").execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    )
