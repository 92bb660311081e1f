"""The one execute loop: every strategy solves its items through the same cache, so identical
requests are sent once whichever strategy asks, each request counts for the first item that used
it, and a second run of the same command is served whole from the store (over real HTTP)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import Rule, Script, running_server

QUESTIONS = [
    ("a", "What is the capital of France?", "Paris"),
    ("b", "What is the capital of France?", "Paris"),  # the same prompt as "a"
    ("c", "What is the capital of Japan?", "Tokyo"),
    ("d", "What is the capital of France?", "Paris"),  # and again
]


def _data(tmp: Path) -> Path:
    path = tmp / "capitals.jsonl"
    rows = [{"id": i, "question": q, "answer": a} for i, q, a in QUESTIONS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _script() -> Script:
    return Script(
        rules=[Rule("France", ["It is Paris.\nThe answer is Paris."])],
        default="The answer is Tokyo.",
    )


def _stored(tmp: Path) -> dict[str, tuple[int, int]]:
    """item id -> (requests, correct) as stored."""
    db = sqlite3.connect(tmp / "s.db")
    rows = db.execute("SELECT item_id, requests, correct FROM samples").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.mark.parametrize(
    ("strategy", "per_request"),
    [("single", 1), ("self-consistency:k=3,temperature=0.7,batch=false", 3)],
)
def test_identical_requests_are_sent_once_and_counted_by_the_first_item(
    cli: Any, tmp_path: Path, strategy: str, per_request: int
) -> None:
    data = _data(tmp_path)
    args = [
        "run", f"jsonl:{data}", "--model", "openai/stand-in", "--store", tmp_path / "s.db",
        "--strategy", strategy, "--concurrency", "4", "--json", tmp_path / "out.json",
    ]  # fmt: skip
    with running_server(_script()) as srv:
        r = cli(*args, "--base-url", srv.base_url)
        assert r.code == 0, r.err
        # Two distinct prompts: `per_request` requests each, whatever the strategy.
        assert srv.stats.completion_requests == 2 * per_request
        first = json.loads((tmp_path / "out.json").read_text())
        assert first["tasks"]["capitals"]["correct"] == 4
        assert first["usage"]["requests"] == 2 * per_request and first["usage"]["cached"] == 0
        counts = _stored(tmp_path)
        assert counts["a"] == counts["c"] == (per_request, 1)
        assert counts["b"] == counts["d"] == (0, 1)  # answered by "a"'s requests

        again = cli(*args, "--base-url", srv.base_url)
        assert again.code == 0, again.err
        assert srv.stats.completion_requests == 2 * per_request  # nothing sent again
    second = json.loads((tmp_path / "out.json").read_text())
    assert second["run_id"] == first["run_id"] and second["usage"]["requests"] == 0
    assert second["usage"]["cached"] == 4
    # A cache hit keeps the count of the run that made it; duplicates still count 0.
    counts = _stored(tmp_path)
    assert counts["a"] == counts["c"] == (per_request, 1)
    assert counts["b"] == counts["d"] == (0, 1)


def test_collections_are_fewer_while_starting_and_in_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Start-up (the `cothub` entry point) raises the collector's thresholds; the loop sets its
    own, freezes what start-up made, and puts everything back when it ends."""
    import gc

    import cothub._entry as entry
    import cothub.cli
    from cothub.run.execute import LOOP_THRESHOLDS, _fewer_collections

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cothub.cli, "main", lambda: seen.append(gc.get_threshold()))
    try:
        entry.main()
        assert seen == [entry.STARTUP_THRESHOLDS]
        with _fewer_collections():
            assert gc.get_threshold() == LOOP_THRESHOLDS
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == entry.STARTUP_THRESHOLDS and gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
