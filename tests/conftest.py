"""Shared fixtures: the real data folder, a loopback OpenAI server, and an in-process CLI."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COTHUB_SHARED", REPO.parent / "shared"))
DATA = Path(os.environ.get("COTHUB_DATA_DIR", SHARED / "data"))


@pytest.fixture
def data_dir() -> Path:
    if not (DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"benchmark data not found at {DATA}")
    return DATA


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's store, key or endpoint by accident."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COTHUB_STORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


RUN_LINE = re.compile(r"^cothub: run \S+ (started|· \S+ done) · ")
"""A run's progress lines where stderr is not a terminal: at start, and per task done."""


def said(err: str) -> list[str]:
    """stderr's lines less a run's progress lines: what a command said besides its progress."""
    return [ln for ln in err.strip().splitlines() if not RUN_LINE.match(ln)]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self, path: Path) -> Any:
        return json.loads(path.read_text())


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``cothub ARGS`` in-process; returns exit code, stdout and stderr."""
    from cothub.cli import main

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


# ---- a model whose behaviour on each GSM8K item is known in advance ------------------------

_LAST_Q = re.compile(r"Question: (.*?)\n", re.DOTALL)


def gsm8k_items(data: Path) -> list[dict[str, str]]:
    with (data / "gsm8k" / "test.jsonl").open() as f:
        return [json.loads(line) for line in f]


def gold_of(item: dict[str, str]) -> str:
    return item["answer"].rsplit("####", 1)[1].strip()


def planned(i: int) -> str:
    """What the scripted model does on item ``i``: right, wrong, no answer or truncated."""
    if i % 10 == 0:
        return "unparsed"
    if i % 13 == 0:
        return "truncated"
    return "right" if i % 2 == 0 else "wrong"


def question_of(request: dict[str, Any]) -> str:
    if "messages" in request:
        return str(request["messages"][-1]["content"]).split("\n")[0]
    return _LAST_Q.findall(str(request["prompt"]))[-1]


def scripted_gsm8k(data: Path) -> Script:
    items = gsm8k_items(data)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        i = index[question_of(request)]
        gold = gold_of(items[i]).replace(",", "")
        kind = planned(i)
        if kind == "unparsed":
            return [Choice("Let's think step by step\nI cannot solve this.")]
        if kind == "truncated":
            return [Choice("Let's think step by step\nFirst we", finish_reason="length")]
        answer = gold if kind == "right" else str(int(gold) + 1)
        return [
            Choice(f"Let's think step by step\nSome working: 3 + 4 = 7.\nThe answer is {answer}.")
        ]

    return Script(responder=respond)


@pytest.fixture
def gsm8k_server(data_dir: Path) -> Iterator[OpenAIStandIn]:
    with running_server(scripted_gsm8k(data_dir)) as srv:
        yield srv


def stored_samples(tmp: Path, run_id: str) -> dict[int, dict[str, Any]]:
    """A GSM8K run's stored samples by item index, from ``tmp/s.db``, with steps and stats."""
    db = sqlite3.connect(tmp / "s.db")
    rows = db.execute(
        "SELECT item_id, correct, answer, completion, steps, stats FROM samples WHERE run_id=?",
        (run_id,),
    ).fetchall()
    return {
        int(r[0].split("/")[1]): {
            "correct": bool(r[1]), "answer": r[2], "completion": r[3],
            "steps": json.loads(r[4]), "stats": json.loads(r[5]),
        }
        for r in rows
    }  # fmt: skip
