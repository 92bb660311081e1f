"""Program-aided strategy: code extraction, then the CLI against the loopback server end to end.

The scripted model answers the k-th of the six selected GSM8K items with the program
``KINDS[k]`` (right, wrong, an infinite loop, an exception, a network attempt, or an answer
printed as a float); each has a known sandbox status and verdict, so the run's numbers and stored
steps follow from the script.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, stored_samples
from cothub.data.source import seeded_subset
from cothub.strategies import parse_strategy
from cothub.strategies.program import EXAMPLE, Program, extract_code, program_prompt
from cothub.testing.openai_server import Choice, Script, running_server


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("```python\ndef solution():\n    return 4\n```", "def solution():\n    return 4"),
        ("Sure.\n```\nx = 1\n```\nThen:\n```py\nans = 2\n```", "ans = 2"),  # python first
        ("```python\nimport math\n```\n```python\ndef solution():\n    return 1\n```",
         "def solution():\n    return 1"),  # the block that defines solution() wins
        ("```\nans = 3\n```", "ans = 3"),  # an untagged fence
        ("```python\ndef solution():\n    return 5", "def solution():\n    return 5"),  # cut off
        ("def solution():\n    return 6\n", "def solution():\n    return 6"),  # no fence at all
        ("<think>```python\nans = 1\n```</think>```python\nans = 2\n```", "ans = 2"),
        ("<think>still thinking", None),  # an unclosed thinking block holds no program
        ("   \n", None),
    ],
)  # fmt: skip
def test_extract_code(reply: str, code: str | None) -> None:
    assert extract_code(reply) == code


def test_settings_and_prompt() -> None:
    assert parse_strategy("program") == Program()
    assert parse_strategy("program:timeout=2.5,memory_mb=256,site_packages=true") == Program(
        2.5, 256, True
    )
    limits = Program(2.5, 256).limits()
    assert (limits.wall_s, limits.cpu_s, limits.memory_mb) == (2.5, 3, 256)
    chat = program_prompt("chat", "  How many?\n", Program())
    assert chat.messages[0].content.endswith(f"{EXAMPLE}\n\nQ: How many?")
    assert "standard library only" in chat.messages[0].content
    text = program_prompt("completions", "How many?", Program(site_packages=True))
    assert text.text.endswith("Q: How many?\n\n```python\n") and text.stop == ("```",)
    assert "installed packages" in text.text
    assert Program().describe()["prompts_sha256"] == Program(9).describe()["prompts_sha256"]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("program:timeout=0", "0 < timeout <= 600"),
        ("program:memory_mb=8", "memory_mb >= 64"),
        ("program:timeout=soon", "not a valid float"),
        ("program:memory=5", "bad setting"),
        ("program:isolation=none", "isolation=bwrap (the default) or isolation=unsafe"),
    ],
)
def test_bad_settings_fail_in_one_line(cli: Any, spec: str, needle: str) -> None:
    r = cli("run", "gsm8k", "--model", "openai/m", "--strategy", spec)
    assert r.code == 2
    assert r.err.count("\n") == 1 and needle in r.err and r.err.startswith("cothub: error:")


def test_without_isolation_the_strategy_refuses_before_any_request(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No bubblewrap: one line on why and how to allow it; the unsafe opt-in is recorded."""
    from cothub import sandbox
    from cothub.sandbox import _isolation

    assert "isolation" not in Program().describe()  # isolated runs keep the run ids they had
    monkeypatch.setattr(_isolation.shutil, "which", lambda name: None)
    sandbox._find_launcher.cache_clear()
    try:
        # No server listens on this port: a request would fail differently.
        r = cli("run", "gsm8k", "--model", "openai/m", "--base-url", "http://127.0.0.1:9/v1",
                "--strategy", "program")  # fmt: skip
        assert r.code == 2 and r.err.count("\n") == 1, r.err
        assert r.err.startswith("cothub: error:")
        assert "refused: the program sandbox cannot be isolated" in r.err
        assert "bubblewrap (bwrap) is not installed" in r.err
        assert "--strategy program:isolation=unsafe" in r.err
        unsafe = parse_strategy("program:isolation=unsafe")
        assert isinstance(unsafe, Program) and unsafe.limits().isolation == "unsafe"
        assert unsafe.describe()["isolation"] == "unsafe"
    finally:
        sandbox._find_launcher.cache_clear()


# ---- end to end -------------------------------------------------------------------------------

KINDS = ("right", "wrong", "loop", "error", "network", "printed")
STATUS = {"right": "ok", "wrong": "ok", "loop": "timeout", "error": "error",
          "network": "forbidden", "printed": "ok"}  # fmt: skip


def program_for(kind: str, gold: int, port: int) -> str:
    body = {
        "right": f"def solution():\n    total = {gold - 1}\n    return total + 1\n",
        "wrong": f"def solution():\n    return {gold} + 1\n",
        "loop": "def solution():\n    while True:\n        pass\n",
        "error": "def solution():\n    return [1, 2][5]\n",
        "network": "import socket\n\ndef solution():\n"
        f"    socket.create_connection(('127.0.0.1', {port}))\n    return {gold}\n",
        "printed": f"print('working')\nprint({gold} * 1.0)\n",  # no solution(): the last line
    }
    return body[kind]


class ProgramModel:
    """Writes item i's program: fenced with a sentence around it (chat), bare (completions)."""

    def __init__(self, data: Path, port: int) -> None:
        items = gsm8k_items(data)
        self.index = {it["question"].strip(): i for i, it in enumerate(items)}
        self.gold = [int(gold_of(it).replace(",", "")) for it in items]
        self.port = port
        n = len(items)  # --limit 6 runs these items (seed 0), one of each kind
        chosen = seeded_subset(range(n), [f"test/{i}" for i in range(n)], len(KINDS), 0)
        self.kind = {i: KINDS[k] for k, i in enumerate(chosen)}

    def item_of(self, body: dict[str, Any]) -> int:
        text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        question = text.rsplit("\nQ: ", 1)[1].removesuffix("\n\n```python\n")
        return self.index[question.strip()]

    def program(self, i: int) -> str:
        return program_for(self.kind[i], self.gold[i], self.port)

    def reply(self, i: int, api: str) -> str:
        if api == "chat":
            return f"Here is the program:\n```python\n{self.program(i)}```\nIt returns the answer."
        return self.program(i)  # the prompt opened the fence; the stop sequence closes it

    def respond(self, body: dict[str, Any]) -> list[Choice]:
        api = "chat" if "messages" in body else "completions"
        return [Choice(self.reply(self.item_of(body), api))]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.settimeout(0.05)
        yield s


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_programs_end_to_end(
    cli: Any, data_dir: Path, tmp_path: Path, listener: socket.socket, api: str
) -> None:
    model = ProgramModel(data_dir, listener.getsockname()[1])
    with running_server(Script(responder=model.respond)) as srv:
        args = [
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"),
            "--json", str(tmp_path / "o.json"), "--limit", "6", "--api", api,
            "--strategy", "program:timeout=1,memory_mb=256",
        ]  # fmt: skip
        r = cli(*args)
        assert r.code == 0, r.err
        bodies = list(srv.stats.bodies)
        out = json.loads((tmp_path / "o.json").read_text())
        again = cli(*args)  # the replies are cached: nothing is sent twice, the numbers hold
        assert again.code == 0 and srv.stats.completion_requests == len(bodies) == 6
        rerun = json.loads((tmp_path / "o.json").read_text())
        assert rerun["tasks"] == out["tasks"] and rerun["run_id"] == out["run_id"]
        assert (rerun["usage"]["requests"], rerun["usage"]["cached"]) == (0, 6)
    with pytest.raises(TimeoutError):
        listener.accept()  # no program ever reached the listening socket

    samples = stored_samples(tmp_path, out["run_id"])
    assert {model.kind[i] for i in samples} == set(KINDS)
    g = out["tasks"]["gsm8k"]
    assert (g["n"], g["correct"], g["unparsed"]) == (6, 2, 3)  # right, printed; loop, error, net
    assert g["program"] == {
        "ok": 3, "error": 1, "timeout": 1, "memory": 0, "killed": 0, "forbidden": 1, "no_code": 0
    }  # fmt: skip
    assert out["strategy"] == {
        "name": "program", "timeout": 1.0, "memory_mb": 256, "site_packages": False,
        "prompts_sha256": Program().describe()["prompts_sha256"],
    }  # fmt: skip

    for i, s in samples.items():
        kind, gold = model.kind[i], model.gold[i]
        (step,) = s["steps"]
        assert step["kind"] == "program" and step["code"] == model.program(i).strip("\n")
        assert step["status"] == STATUS[kind] and s["stats"] == {"status": STATUS[kind]}
        assert s["completion"] == model.reply(i, api)
        expected = {"right": str(gold), "wrong": str(gold + 1), "printed": str(gold)}.get(kind)
        assert s["answer"] == expected  # the task's grader normalised "1248.0" to "1248"
        assert step["answer"] == (f"{gold * 1.0}" if kind == "printed" else expected)
        assert s["correct"] == (kind in ("right", "printed"))
        if kind == "loop":
            assert "time limit of 1" in step["detail"]
        if kind == "error":
            assert step["detail"].startswith("IndexError") and "program.py" in step["stderr"]
        if kind == "network":
            assert "socket." in step["detail"]
        if kind == "printed":
            assert step["stdout"] == f"working\n{gold * 1.0}\n"

    body = bodies[0]
    if api == "chat":
        (message,) = body["messages"]
        assert message["role"] == "user" and EXAMPLE in message["content"]
    else:
        assert body["prompt"].endswith("\n\n```python\n") and body["stop"] == ["```"]
