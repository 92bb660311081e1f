"""HumanEval: code extraction (a case table), the sandboxed judge's verdicts, the canonical
solutions imported as completions (164/164) and deliberately broken ones, and runs end to end
over real HTTP against the loopback stand-in (completions, chat, pass@k from n samples)."""

from __future__ import annotations

import gzip
import json
import math
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.data.source import seeded_subset
from cothub.extract.code import Code, entry_point_of, solution_program
from cothub.scoring.stats import pass_at_k
from cothub.testing.openai_server import Choice, Script, running_server

PROMPT = 'from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    """Sum."""\n'
TESTS = "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"


def _sandbox_problem() -> str | None:
    from cothub.sandbox import isolation_problem

    return isolation_problem()


needs_sandbox = pytest.mark.skipif(
    _sandbox_problem() is not None, reason="the bubblewrap sandbox is unavailable here"
)


@pytest.fixture
def humaneval_dir(data_dir: Path) -> Path:
    if not (data_dir / "humaneval" / "HumanEval.jsonl.gz").is_file():
        pytest.skip("HumanEval data not found in the data dir")
    return data_dir


def problems(data: Path) -> list[dict[str, str]]:
    with gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- extraction: a case table ------------------------------------------------------------------

FULL = "def add(xs):\n    return sum(xs)\n"
CASES: list[tuple[str, str, str | None, str]] = [
    # (case, reply, the code appended to the prompt (None: no code), method)
    ("completion body", "    return sum(xs)\n", "    return sum(xs)\n", "completion"),
    ("completion, leading newline", "\n    return sum(xs)", "\n    return sum(xs)\n", "completion"),
    ("fenced python, full def", f"Here:\n```python\n{FULL}```\nDone.", "\n" + FULL, "code-block"),
    ("fenced, no language", f"```\n{FULL}```", "\n" + FULL, "code-block"),
    ("fenced py3, unclosed (cut)", f"```py3\n{FULL}", "\n" + FULL, "code-block"),
    (
        "several blocks: the one defining the entry point",
        f"```python\n{FULL}```\nUsage:\n```python\nprint(add([1]))\n```",
        "\n" + FULL,
        "code-block",
    ),
    (
        "several defining blocks: the last",
        "```python\ndef add(xs):\n    return 0\n```\nFixed:\n```python\n" + FULL + "```",
        "\n" + FULL,
        "code-block",
    ),
    (
        "full def with helpers and imports",
        "```python\nimport math\n\ndef _h(x):\n    return x\n\ndef add(xs):\n"
        "    return sum(map(_h, xs))\n```",
        "\nimport math\n\ndef _h(x):\n    return x\n\ndef add(xs):\n    return sum(map(_h, xs))\n",
        "code-block",
    ),
    (
        "bare body, unindented",
        "```python\ntotal = sum(xs)\nreturn total\n```",
        "    total = sum(xs)\n    return total\n",
        "code-block-body",
    ),
    (
        "bare body, indented by 2",
        "```python\n  if xs:\n    return sum(xs)\n  return 0\n```",
        "    if xs:\n      return sum(xs)\n    return 0\n",
        "code-block-body",
    ),
    (
        "bare body, indented by 4",
        "```python\n    return sum(xs)\n```",
        "    return sum(xs)\n",
        "code-block-body",
    ),
    ("only a non-Python block", "```bash\necho hi\n```", None, "no-code"),
    ("prose only", "The function should add the numbers up.", None, "no-code"),
    ("empty reply", "", None, "no-code"),
    ("unfenced full def", FULL, "\n" + FULL, "reply-code"),
    (
        "thinking, then a block",
        f"<think>hmm</think>```python\n{FULL}```",
        "\n" + FULL,
        "code-block",
    ),
    ("thinking never closed", "<think>let me see", None, "unclosed-think"),
    (
        "a def of another function only",
        "```python\ndef other():\n    pass\n```",
        "    def other():\n        pass\n",
        "code-block-body",
    ),
]


@pytest.mark.parametrize(
    ("reply", "appended", "method"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_extraction(reply: str, appended: str | None, method: str) -> None:
    expected = Code(None if appended is None else PROMPT + appended, method)
    assert solution_program(PROMPT, reply, "add") == expected


def test_entry_point_is_the_last_top_level_def() -> None:
    assert entry_point_of("def helper():\n    pass\n\n\ndef main(x):\n    '''Doc.'''\n") == "main"
    assert entry_point_of("x = 1\n") is None


# ---- the judge -------------------------------------------------------------------------------

JUDGED = [
    ("right", "    return sum(xs)\n", "passed", ""),
    (
        "wrong",
        "    return 0\n",
        "failed",
        "failed test (tests.py line 2): assert candidate([1, 2]) == 3",
    ),
    ("loop", "    while True:\n        pass\n", "timed-out", "time limit"),
    ("raises", "    return xs[5]\n", "crashed", "IndexError: list index out of range (solution.py"),
    ("syntax", "    return (\n", "crashed", "SyntaxError in the solution"),
    ("recursion", "    return add(xs)\n", "crashed", "RecursionError"),
    ("memory", "    return len([0] * (1 << 40))\n", "crashed", "MemoryError"),
    ("exits early", "    raise SystemExit(0)\n", "crashed", "exited before its tests finished"),
    ("os._exit", "    import os\n    os._exit(0)\n", "crashed", "exited before its tests finished"),
    ("forged answer", "    print('passed')\n    raise SystemExit(0)\n", "crashed", "exited"),
    (
        "network",
        "    import socket\n    socket.socket().connect(('127.0.0.1', 9))\n",
        "sandbox-refused",
        "forbidden: socket",
    ),
    (
        "process",
        "    import subprocess\n    subprocess.run(['true'])\n",
        "sandbox-refused",
        "forbidden",
    ),
    (
        "write outside",
        "    open('/etc/cothub-owned', 'w')\n",
        "sandbox-refused",
        "outside the sandbox",
    ),
    ("fork", "    import os\n    os.fork()\n", "sandbox-refused", "forbidden: os.fork"),
]


@needs_sandbox
@pytest.mark.parametrize(
    ("body", "verdict", "needle"), [j[1:] for j in JUDGED], ids=[j[0] for j in JUDGED]
)
def test_judge_verdicts(body: str, verdict: str, needle: str) -> None:
    from cothub.sandbox.judge import limits_for
    from cothub.scoring.code import Problem, judge, message_of

    g = judge(Problem(PROMPT, TESTS, "add"), body, limits_for(1.0, 256))
    assert g.method == verdict, g.check
    assert g.correct is (verdict == "passed")
    assert g.answer == PROMPT + body
    assert needle in message_of(g)
    assert (g.check == "tests") is (verdict == "passed")


@needs_sandbox
def test_grade_api_judges_a_chat_reply_in_the_sandbox() -> None:
    import cothub

    reply = f"Sure:\n```python\n{FULL}```"
    g = cothub.grade("humaneval", reply, gold=TESTS, question=PROMPT)
    assert (g.correct, g.method) == (True, "passed")
    g = cothub.grade("humaneval", "I cannot help.", gold=TESTS, question=PROMPT)
    assert (g.correct, g.answer, g.method) == (False, None, "no-code")


def test_without_isolation_a_run_refuses_before_any_request(
    cli: Any, humaneval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cothub import sandbox
    from cothub.sandbox import _isolation

    monkeypatch.setattr(_isolation.shutil, "which", lambda name: None)
    sandbox._find_launcher.cache_clear()
    try:
        r = cli(
            "run",
            "humaneval",
            "--model",
            "openai/m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--data-dir",
            str(humaneval_dir),
        )
        assert r.code == 2 and r.err.count("\n") == 1, r.err
        assert "refused: humaneval runs completions only in the sandbox" in r.err
        assert "bubblewrap (bwrap) is not installed" in r.err
        assert "unsafe" not in r.err  # no way around the sandbox is offered
    finally:
        sandbox._find_launcher.cache_clear()


def test_bad_parameters_fail_in_one_line(cli: Any) -> None:
    for spec, needle in (
        ("humaneval:timeout=0", "0 < timeout <= 600"),
        ("humaneval:timeout=soon", "is not a number"),
        ("humaneval:memory_mb=8", "memory_mb >= 64"),
    ):
        r = cli("run", spec, "--model", "openai/m", "--base-url", "http://127.0.0.1:9/v1")
        assert r.code == 2 and r.err.count("\n") == 1 and needle in r.err, r.err


# ---- the canonical solutions and broken ones, imported as completions ------------------------


def import_bodies(
    cli: Any, data: Path, tmp: Path, name: str, bodies: dict[str, str], task: str = "humaneval"
) -> dict[str, Any]:
    path = tmp / f"{name}.jsonl"
    path.write_text(
        "".join(json.dumps({"task_id": k, "completion": v}) + "\n" for k, v in bodies.items())
    )
    r = cli(
        "import",
        task,
        str(path),
        "--model-name",
        name,
        "--data-dir",
        str(data),
        "--store",
        str(tmp / "s.db"),
        "--json",
        str(tmp / f"{name}.json"),
    )
    assert r.code == 0, r.err
    out: dict[str, Any] = json.loads((tmp / f"{name}.json").read_text())
    return out


def verdicts(tmp: Path, run_id: str) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(tmp / "s.db")
    rows = db.execute("SELECT item_id, method, check_name FROM samples WHERE run_id=?", (run_id,))
    return {item: (method, check) for item, method, check in rows}


@needs_sandbox
def test_canonical_solutions_score_164_of_164(
    cli: Any, humaneval_dir: Path, tmp_path: Path
) -> None:
    rows = problems(humaneval_dir)
    out = import_bodies(
        cli,
        humaneval_dir,
        tmp_path,
        "canonical",
        {p["task_id"]: p["canonical_solution"] for p in rows},
    )
    h = out["tasks"]["humaneval"]
    assert (h["n"], h["correct"], h["accuracy"], h["unparsed"]) == (164, 164, 1.0, 0)
    assert h["methods"] == {"passed": 164}
    assert set(verdicts(tmp_path, out["run_id"]).values()) == {("passed", "tests")}
    # The leaderboard's columns come from the stored runs: HumanEval gets its own.
    board = cli("leaderboard", "--store", str(tmp_path / "s.db"))
    assert board.code == 0 and "humaneval (zeroshot-direct)" in board.out
    assert "100.0 ±" in board.out and out["run_id"] in board.out


@needs_sandbox
def test_broken_solutions_score_what_they_should(
    cli: Any, humaneval_dir: Path, tmp_path: Path
) -> None:
    rows = problems(humaneval_dir)
    # Every body replaced by ``return None``: nothing passes; a test that compares fails, one that
    # computes with the result (abs(None - x), tuple(None)) crashes.
    out = import_bodies(
        cli, humaneval_dir, tmp_path, "none", {p["task_id"]: "    return None\n" for p in rows}
    )
    h = out["tasks"]["humaneval"]
    assert (h["n"], h["correct"]) == (164, 0)
    assert set(h["methods"]) <= {"failed", "crashed"} and h["methods"]["failed"] > 140
    found = verdicts(tmp_path, out["run_id"])
    assert found["HumanEval/0"] == (
        "failed",
        "tests: failed test (tests.py line 10): "
        "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True",
    )
    assert found["HumanEval/4"][0] == "crashed" and "TypeError" in found["HumanEval/4"][1]

    # Twelve problems, four kinds of damage: each gets its own verdict, only the intact pass.
    kinds = ("intact", "loop", "raise", "empty")
    mixed = {}
    for i, p in enumerate(rows[:12]):
        kind = kinds[i % 4]
        mixed[p["task_id"]] = {
            "intact": p["canonical_solution"],
            "loop": "    while True:\n        pass\n",
            "raise": "    raise RuntimeError('broken on purpose')\n",
            "empty": "",  # nothing written: no code, unparsed
        }[kind]
    out = import_bodies(cli, humaneval_dir, tmp_path, "mixed", mixed, "humaneval:timeout=1")
    h = out["tasks"]["humaneval"]
    assert (h["n"], h["correct"], h["unparsed"]) == (12, 3, 3)
    found = verdicts(tmp_path, out["run_id"])
    for i, p in enumerate(rows[:12]):
        method, check = found[p["task_id"]]
        kind = kinds[i % 4]
        if kind == "intact":
            assert method == "passed"
        elif kind == "loop":
            assert (method, check) == ("timed-out", "tests: wall time limit of 1 s exceeded")
        elif kind == "raise":
            assert method == "crashed" and "RuntimeError: broken on purpose" in check
        else:
            assert (method, check) == ("no-code", "tests")


# ---- end to end over real HTTP -------------------------------------------------------------------

E2E_KINDS = ("right", "wrong", "loop", "crash", "hostile")


class CodeModel:
    """Answers problem i with a body of its kind (completions) or a fenced function (chat)."""

    def __init__(self, data: Path, port: int, kinds: tuple[str, ...]) -> None:
        self.rows = problems(data)
        self.index = {p["prompt"]: i for i, p in enumerate(self.rows)}
        n = len(self.rows)
        chosen = seeded_subset(range(n), [p["task_id"] for p in self.rows], len(kinds), 0)
        self.kind = {i: kinds[k] for k, i in enumerate(chosen)}
        self.port = port

    def item_of(self, body: dict[str, Any]) -> int:
        if "messages" in body:
            text = body["messages"][-1]["content"]
            return self.index[text.split("```python\n", 1)[1].removesuffix("```")]
        return self.index[body["prompt"]]

    def body(self, i: int) -> str:
        return {
            "right": self.rows[i]["canonical_solution"],
            "wrong": "    return None\n",
            "loop": "    while True:\n        pass\n",
            "crash": "    raise ValueError('no idea')\n",
            "hostile": "    import socket\n"
            f"    socket.create_connection(('127.0.0.1', {self.port}), timeout=1)\n",
        }[self.kind[i]]

    def respond(self, body: dict[str, Any]) -> list[Choice]:
        i = self.item_of(body)
        if "messages" not in body:
            return [Choice(self.body(i))]
        if self.kind[i] == "prose":
            return [Choice("You could loop over the list and add the items.")]
        function = self.rows[i]["prompt"] + self.body(i)
        return [Choice(f"Here is the function:\n```python\n{function}```\nIt works.")]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.settimeout(0.05)
        yield s


def run_args(srv: Any, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run",
        "humaneval:timeout=1",
        "--model",
        "openai/m",
        "--base-url",
        srv.base_url,
        "--data-dir",
        str(data),
        "--store",
        str(tmp / "s.db"),
        "--json",
        str(tmp / "o.json"),
        *extra,
    ]


@needs_sandbox
def test_completions_end_to_end(
    cli: Any, humaneval_dir: Path, tmp_path: Path, listener: socket.socket
) -> None:
    model = CodeModel(humaneval_dir, listener.getsockname()[1], E2E_KINDS)
    with running_server(Script(responder=model.respond)) as srv:
        args = run_args(srv, humaneval_dir, tmp_path, "--api", "completions", "--limit", "5")
        r = cli(*args)
        assert r.code == 0, r.err
        bodies = list(srv.stats.bodies)
        assert all(b["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"] for b in bodies)
        out = json.loads((tmp_path / "o.json").read_text())
        again = cli(*args)
        assert again.code == 0 and srv.stats.completion_requests == len(bodies) == 5
        rerun = json.loads((tmp_path / "o.json").read_text())
        assert (rerun["usage"]["requests"], rerun["usage"]["cached"]) == (0, 5)
        assert rerun["tasks"] == out["tasks"] and rerun["run_id"] == out["run_id"]
    with pytest.raises(TimeoutError):
        listener.accept()  # the hostile completion never reached the socket

    h = out["tasks"]["humaneval"]
    assert (h["n"], h["correct"], h["accuracy"]) == (5, 1, 0.2)
    assert h["methods"] == {
        "passed": 1,
        "failed": 1,
        "timed-out": 1,
        "crashed": 1,
        "sandbox-refused": 1,
    }
    found = verdicts(tmp_path, out["run_id"])
    expected = {
        "right": "passed",
        "wrong": "failed",
        "loop": "timed-out",
        "crash": "crashed",
        "hostile": "sandbox-refused",
    }
    for i, kind in model.kind.items():
        method, check = found[model.rows[i]["task_id"]]
        assert method == expected[kind], (kind, check)
        if kind == "wrong":
            assert check.startswith("tests: failed test (tests.py line ")
        if kind == "crash":
            assert "ValueError: no idea (solution.py line" in check

    shown = cli("show", out["run_id"], "--wrong", "--store", str(tmp_path / "s.db"))
    assert shown.code == 0, shown.err
    assert "tests failed test (tests.py line " in shown.out
    assert "tests wall time limit of 1 s exceeded" in shown.out
    assert "tests forbidden: socket" in shown.out


@needs_sandbox
def test_chat_end_to_end(cli: Any, humaneval_dir: Path, tmp_path: Path) -> None:
    model = CodeModel(humaneval_dir, 9, ("right", "wrong", "prose"))
    with running_server(Script(responder=model.respond)) as srv:
        r = cli(*run_args(srv, humaneval_dir, tmp_path, "--api", "chat", "--limit", "3"))
        assert r.code == 0, r.err
        (first, *_) = srv.stats.bodies
        assert "Complete the following Python function" in first["messages"][0]["content"]
    out = json.loads((tmp_path / "o.json").read_text())
    h = out["tasks"]["humaneval"]
    assert (h["n"], h["correct"], h["unparsed"]) == (3, 1, 1)
    assert h["methods"] == {"passed": 1, "failed": 1, "no-code": 1}


@needs_sandbox
def test_pass_at_k_from_n_samples_in_one_request(
    cli: Any, humaneval_dir: Path, tmp_path: Path
) -> None:
    rows = problems(humaneval_dir)
    by_prompt = {p["prompt"]: p for p in rows}

    def respond(body: dict[str, Any]) -> list[Choice]:
        p = by_prompt[body["prompt"]]
        return [Choice(p["canonical_solution"])] * 2 + [Choice("    return None\n")] * 18

    with running_server(Script(responder=respond)) as srv:
        r = cli(
            *run_args(
                srv,
                humaneval_dir,
                tmp_path,
                "--api",
                "completions",
                "--limit",
                "2",
                "--strategy",
                "self-consistency:k=20,temperature=0.8",
            )
        )
        assert r.code == 0, r.err
        assert srv.stats.completion_requests == 2  # n=20 in one request per problem
        assert all(b["n"] == 20 for b in srv.stats.bodies)
    sc = json.loads((tmp_path / "o.json").read_text())["tasks"]["humaneval"]["self_consistency"]
    assert sc["k"] == [1, 2, 4, 8, 10, 16, 20]
    at = dict(zip(sc["k"], (e["accuracy"] for e in sc["pass"]), strict=True))
    assert at[1] == pytest.approx(0.1)
    assert at[10] == pytest.approx(pass_at_k(20, 2, 10)) and at[20] == 1.0
    assert pass_at_k(20, 2, 10) == pytest.approx(1 - math.comb(18, 10) / math.comb(20, 10))


def test_humaneval_is_registered() -> None:
    from cothub.tasks import TASKS

    t = TASKS.get("humaneval")
    assert t is not None and type(t).__name__ == "HumanEval"
    assert (t.name, str(t.default_format), t.slow_grader) == ("humaneval", "zeroshot-direct", True)
