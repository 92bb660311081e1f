"""Strategies: voting, parsing and the accuracy-vs-k curve, then end to end over HTTP."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items
from cothub.errors import CothubError
from cothub.scoring.stats import pass_at_k
from cothub.strategies import parse_strategy
from cothub.strategies.base import vote
from cothub.strategies.self_consistency import SelfConsistency, VoteStats, curve, expected_majority
from cothub.testing.openai_server import Choice, Rule, Script, running_server


def same(a: str, b: str) -> bool:
    return a == b


def numeric(a: str, b: str) -> bool:
    return float(a) == float(b)


@pytest.mark.parametrize(
    ("answers", "equal", "winner", "groups"),
    [
        (["5", "6", "5", None, "6"], same, 0, [0, 1, 0, -1, 1]),  # tie 2-2: first seen wins
        (["6", "5", "5", "6", "5"], same, 1, [0, 1, 1, 0, 1]),
        ([None, None], same, None, [-1, -1]),
        (["0.5", "0.50", "1"], numeric, 0, [0, 0, 1]),  # equal answers vote together
        (["1", "0.5", "0.50", "1.0"], numeric, 0, [0, 1, 1, 0]),
        ([None, "3"], same, 1, [-1, 0]),
    ],
)
def test_vote(
    answers: list[str | None], equal: object, winner: int | None, groups: list[int]
) -> None:
    assert vote(answers, equal) == (winner, groups)  # type: ignore[arg-type]


def test_parse_strategy() -> None:
    sc = parse_strategy("self-consistency:k=8,temperature=0.5,top_p=0.9,batch=false")
    assert sc == SelfConsistency(k=8, temperature=0.5, top_p=0.9, batch=False)
    assert parse_strategy("single").name == "single"
    for bad, needle in [
        ("vote", "unknown strategy"),
        ("self-consistency", "k"),
        ("self-consistency:k=two", "not a valid"),
        ("self-consistency:kk=2", "bad setting"),
        ("self-consistency:k=0", "k >= 1"),
        ("self-consistency:k=4,temperature=0", "temperature > 0"),
        ("self-consistency:k=4,batch=maybe", "not a valid"),
    ]:
        with pytest.raises(CothubError, match=needle):
            parse_strategy(bad)


def test_pass_at_k_is_unbiased() -> None:
    assert pass_at_k(8, 0, 1) == 0.0 and pass_at_k(8, 8, 3) == 1.0
    assert pass_at_k(8, 2, 1) == pytest.approx(2 / 8)
    assert pass_at_k(8, 2, 2) == pytest.approx(1 - math.comb(6, 2) / math.comb(8, 2))
    assert pass_at_k(4, 3, 2) == 1.0


def test_expected_majority_enumerates_small_cases() -> None:
    # a a b (a right): k=1 -> 2/3; every pair holds an a that comes first or wins -> 1.0.
    groups, correct = [0, 0, 1], [True, True, False]
    rng = random.Random(0)
    assert expected_majority(groups, correct, 1, rng) == pytest.approx(2 / 3)
    assert expected_majority(groups, correct, 2, rng) == pytest.approx(1.0)
    # b a a, b wrong: pairs (0,1) tie -> b wrong; (0,2) tie -> b wrong; (1,2) a -> 1/3
    assert expected_majority([0, 1, 1], [False, True, True], 2, rng) == pytest.approx(1 / 3)


def test_curve_shape() -> None:
    stats = [
        VoteStats(("1", "1", "2", "1"), (True, True, False, True), (0, 0, 1, 0)),
        VoteStats(("3", "4", "4", None), (False, True, True, False), (0, 1, 1, -1)),
    ]
    c = curve(stats).as_json()
    assert c["k"] == [1, 2, 4]
    assert c["maj"][-1]["accuracy"] == pytest.approx(1.0)  # type: ignore[index]
    assert c["pass"][0]["accuracy"] == pytest.approx((3 / 4 + 2 / 4) / 2)  # type: ignore[index]


# ---- end to end: the CLI against the loopback server ----------------------------------------


def _sc_server_script(data: Path) -> tuple[Script, dict[int, str]]:
    """Item i's 8 chains: 5 say the gold (or gold+1 for odd i), 3 say something else."""
    items = gsm8k_items(data)[:12]
    majority: dict[int, str] = {}
    rules = []
    for i, it in enumerate(items):
        gold = int(gold_of(it).replace(",", ""))
        top = str(gold if i % 2 == 0 else gold + 1)
        majority[i] = top
        order = [top, "999", top, "998", top, top, "997", top]  # 5 of 8, scattered
        rules.append(Rule(it["question"], [f"Step.\nThe answer is {a}." for a in order]))
    return Script(rules=rules), majority


def _by_seed(script: Script) -> Script:
    """Answer a request with n=1 by its seed, so K seeded requests give the same K chains."""

    def respond(request: dict[str, Any]) -> list[Choice] | None:
        question = request["messages"][-1]["content"]
        rule = next((r for r in script.rules if r.match in question), None)
        if rule is None:
            return None  # falls through to the default answer
        return [Choice(rule.responses[int(request.get("seed", 0)) % len(rule.responses)])]

    return Script(responder=respond)


@pytest.mark.parametrize("batch", [True, False])
def test_self_consistency_votes_five_of_eight(
    cli: Any, data_dir: Path, tmp_path: Path, batch: bool
) -> None:
    script, majority = _sc_server_script(data_dir)
    with running_server(script if batch else _by_seed(script)) as srv:
        args = [
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"),
            "--json", str(tmp_path / "o.json"), "--limit", "1319", "--format", "zeroshot-cot",
            "--strategy", f"self-consistency:k=8,temperature=0.7,batch={str(batch).lower()}",
        ]  # fmt: skip
        srv.script.default = "No idea."  # the other items give no answer, so no vote
        r = cli(*args)
        assert r.code == 0, r.err
        out = json.loads((tmp_path / "o.json").read_text())
        sent = srv.stats.completion_requests
        assert sent == (1319 if batch else 1319 * 8)
        bodies = srv.stats.bodies
        assert all(b.get("n", 1) == (8 if batch else 1) for b in bodies[:50])
        assert {b["temperature"] for b in bodies} == {0.7}

        again = cli(*args)
        assert again.code == 0 and srv.stats.completion_requests == sent
        assert json.loads((tmp_path / "o.json").read_text())["tasks"] == out["tasks"]

    g = out["tasks"]["gsm8k"]
    assert g["correct"] == sum(1 for i in majority if i % 2 == 0)  # even items vote the gold
    assert g["unparsed"] == 1319 - 12
    assert out["strategy"]["name"] == "self-consistency" and out["strategy"]["k"] == 8
    sc = g["self_consistency"]
    assert sc["k"] == [1, 2, 4, 8]
    # pass@1 on the 6 right items is 5/8 each; 0 elsewhere
    assert sc["pass"][0]["accuracy"] == pytest.approx(6 * 5 / 8 / 1319)
    assert sc["maj"][-1]["accuracy"] == pytest.approx(6 / 1319)
    db = sqlite3.connect(tmp_path / "s.db")
    row = db.execute("SELECT answer, steps FROM samples WHERE item_id='test/0'").fetchone()
    assert row[0] == majority[0]
    steps = json.loads(row[1])
    assert [s["answer"] for s in steps].count(majority[0]) == 5 and len(steps) == 8
