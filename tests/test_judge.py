"""``--judge MODEL``: a second opinion on unparsed and disagreeing items only, over real HTTP.

A GSM8K run against one loopback stand-in (some replies unparsed, some where two rules disagree),
then a judge pass against a second stand-in whose verdicts are scripted per question.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, planned, question_of
from cothub.judge import PROMPT_VERSION, judge_prompt, parse_verdict, reason_of
from cothub.store import Store
from cothub.store.sqlite import SCHEMA_VERSION
from cothub.testing.openai_server import (
    Choice,
    FaultPlan,
    Faults,
    OpenAIStandIn,
    Script,
    running_server,
)
from cothub.types import Completion, Grade, Message, Prompt, Sample, SampleRecord

LIMIT = "120"
UNSURE = ("unparsed", "truncated", "disagree")


# ---- what the judged model and the judge do, per GSM8K item -----------------------------------


def kind(i: int) -> str:
    """right, wrong, unparsed, truncated, or disagree (a right answer, then another number)."""
    k = planned(i)
    if k in ("right", "wrong") and i % 7 == 0:
        return "disagree"
    return k


def judge_reply(i: int) -> str:
    """The judge's scripted reply about item ``i`` (only unsure items should ever reach it)."""
    k = kind(i)
    if k == "unparsed":
        return "VERDICT: correct" if i % 20 == 0 else "VERDICT: no-answer"
    if k == "truncated":
        return "Looks fine to me."  # not a verdict line: judge-unparsed, never guessed
    if k == "disagree":
        return "VERDICT: incorrect" if i % 3 == 0 else "VERDICT: correct"
    raise AssertionError(f"item {i} ({k}) was sent to the judge")


def judge_verdict(i: int) -> str:
    return parse_verdict(judge_reply(i))


@pytest.fixture
def model_server(data_dir: Path) -> Any:
    items = gsm8k_items(data_dir)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        i = index[question_of(request)]
        gold = int(gold_of(items[i]).replace(",", ""))
        k = kind(i)
        head = "Let's think step by step\n"
        if k == "unparsed":
            return [Choice(head + "I cannot solve this.")]
        if k == "truncated":
            return [Choice(head + "First we", finish_reason="length")]
        if k == "disagree":
            return [Choice(head + f"The answer is {gold}, not {gold + 2}.")]
        answer = gold if k == "right" else gold + 1
        return [Choice(head + f"Some working: 3 + 4 = 7.\nThe answer is {answer}.")]

    with running_server(Script(responder=respond)) as srv:
        yield srv


_QUESTION = re.compile(r"Question:\n(.*?)\n\nReference answer:", re.DOTALL)


def judge_script(data_dir: Path, seen: list[int]) -> Script:
    items = gsm8k_items(data_dir)
    index = {it["question"].strip(): i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        text = request["messages"][-1]["content"]
        found = _QUESTION.search(text)
        assert found is not None, text
        i = index[found.group(1)]
        seen.append(i)
        return [Choice(judge_reply(i))]

    return Script(responder=respond)


def run_args(srv: OpenAIStandIn, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        "--limit", LIMIT, *extra,
    ]  # fmt: skip


def stored_ids(tmp: Path) -> list[int]:
    db = sqlite3.connect(tmp / "store.db")
    return [int(r[0].split("/")[1]) for r in db.execute("SELECT item_id FROM samples")]


def expected(ids: list[int]) -> dict[str, Any]:
    """The judge summary the scripts above must produce over items ``ids``."""
    unsure = [i for i in ids if kind(i) in ("unparsed", "truncated", "disagree")]
    rule = [i for i in ids if kind(i) in ("right", "disagree")]
    flipped_up = [i for i in unsure if kind(i) != "disagree" and judge_verdict(i) == "correct"]
    flipped_down = [i for i in unsure if kind(i) == "disagree" and judge_verdict(i) == "incorrect"]
    compared = [i for i in unsure if kind(i) == "disagree"]
    agree = [i for i in compared if judge_verdict(i) == "correct"]
    adjusted = len(rule) + len(flipped_up) - len(flipped_down)
    verdicts: dict[str, int] = {}
    for i in unsure:
        verdicts[judge_verdict(i)] = verdicts.get(judge_verdict(i), 0) + 1
    return {
        "n": len(ids),
        "rule_correct": len(rule),
        "rule_accuracy": len(rule) / len(ids),
        "judge_adjusted_correct": adjusted,
        "judge_adjusted_accuracy": adjusted / len(ids),
        "judged": len(unsure),
        "judge_unparsed": sum(kind(i) == "truncated" for i in unsure),
        "agreement": len(agree) / len(compared),
        "agreement_n": len(compared),
        "reasons": {
            k: v
            for k, v in (
                ("unparsed", sum(kind(i) != "disagree" for i in unsure)),
                ("disagreement", len(compared)),
            )
            if v
        },
        "verdicts": verdicts,
    }


# ---- end to end ----------------------------------------------------------------------------------


def test_judge_asks_only_unsure_items_and_stores_verdicts_beside_the_rules(
    cli: Any, model_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(*run_args(model_server, data_dir, tmp_path))
    assert r.code == 0, r.err
    run = json.loads((tmp_path / "out.json").read_text())
    ids = stored_ids(tmp_path)
    kinds = {kind(i) for i in ids}
    assert {"right", "wrong", "unparsed", "truncated", "disagree"} <= kinds
    assert any(kind(i) == "unparsed" and i % 20 == 0 for i in ids)  # the judge flips one up
    assert any(kind(i) == "disagree" and i % 3 == 0 for i in ids)  # and one down
    db_path = tmp_path / "store.db"
    samples_before = sqlite3.connect(db_path).execute("SELECT * FROM samples").fetchall()
    summary_before = sqlite3.connect(db_path).execute("SELECT summary FROM runs").fetchall()

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"openai/judge": {"prompt": 2.0, "completion": 8.0}}}))
    seen: list[int] = []
    with running_server(judge_script(data_dir, seen)) as judge_srv:
        args = [
            "judge", run["run_id"], "--judge", "openai/judge", "--judge-base-url",
            judge_srv.base_url, "--store", str(db_path), "--prices", str(prices),
            "--json", str(tmp_path / "judge.json"),
        ]  # fmt: skip
        j = cli(*args)
        assert j.code == 0, j.err
        unsure = sorted(i for i in ids if kind(i) in ("unparsed", "truncated", "disagree"))
        # only unparsed and disagreeing items were sent, each once
        assert sorted(seen) == unsure
        assert judge_srv.stats.completion_requests == len(unsure)
        body = judge_srv.stats.bodies[0]
        assert body["model"] == "judge" and body["temperature"] == 0
        assert body["max_tokens"] <= 32

        report = json.loads((tmp_path / "judge.json").read_text())
        assert report["prompt_version"] == PROMPT_VERSION and report["judge"] == "openai/judge"
        assert report["tasks"]["gsm8k"] == expected(ids)
        assert report["usage"]["requests"] == len(unsure) and report["usage"]["cached"] == 0
        assert "judge-adjusted" in j.out and "(headline)" in j.out

        # verdicts stored beside the rule verdicts; the samples and the headline untouched
        db = sqlite3.connect(db_path)
        rows = db.execute(
            "SELECT j.item_id, j.reason, j.verdict, j.raw, j.prompt_version, j.cost_usd, "
            "j.prompt_tokens, j.completion_tokens, s.correct, s.answer, s.disagreement "
            "FROM judgements j JOIN samples s USING (run_id, task, item_id)"
        ).fetchall()
        assert len(rows) == len(unsure)
        total = 0.0
        for item_id, reason, verdict, raw, version, cost, p_tok, c_tok, right, answer, dis in rows:
            i = int(item_id.split("/")[1])
            assert raw == judge_reply(i) and verdict == judge_verdict(i)
            assert version == PROMPT_VERSION
            assert reason == ("disagreement" if kind(i) == "disagree" else "unparsed")
            assert (answer is None) == (kind(i) != "disagree")
            assert bool(dis) == (reason != "unparsed")
            assert bool(right) == (kind(i) == "disagree")  # the rule verdict, as it was
            assert cost == pytest.approx((2.0 * p_tok + 8.0 * c_tok) / 1e6) and cost > 0
            total += cost
        assert report["usage"]["cost_usd"] == pytest.approx(total)
        assert db.execute("SELECT * FROM samples").fetchall() == samples_before
        assert db.execute("SELECT summary FROM runs").fetchall() == summary_before
        # the judge requests are in the completion cache like any other
        assert db.execute(
            "SELECT count(*) FROM completions WHERE model='openai/judge'"
        ).fetchone() == (len(unsure),)

        # judging again sends nothing: every request comes from the cache
        again = cli(*args)
        assert again.code == 0, again.err
        assert judge_srv.stats.completion_requests == len(unsure)
        report2 = json.loads((tmp_path / "judge.json").read_text())
        assert report2["usage"]["requests"] == 0 and report2["usage"]["cached"] == len(unsure)
        assert report2["tasks"] == report["tasks"]
        assert report2["usage"]["cost_usd"] == pytest.approx(total)
        assert db.execute("SELECT count(*) FROM judgements").fetchone() == (len(unsure),)

        # `rescore --judge`: the new run's unsure items ask what was asked already: all cached
        rs = cli(
            "rescore", run["run_id"], "--store", str(db_path), "--judge", "openai/judge",
            "--judge-base-url", judge_srv.base_url, "--json", str(tmp_path / "rs.json"),
        )  # fmt: skip
        assert rs.code == 0, rs.err
        assert judge_srv.stats.completion_requests == len(unsure)
        rescored = json.loads((tmp_path / "rs.json").read_text())["judge"]
        assert rescored["run_id"] != run["run_id"]
        assert rescored["usage"]["cached"] == len(unsure) and rescored["usage"]["requests"] == 0
        assert rescored["tasks"] == report["tasks"]

    # the run's own headline is unchanged: `cothub runs` still reads the rule accuracy
    assert run["tasks"]["gsm8k"]["accuracy"] == pytest.approx(expected(ids)["rule_accuracy"])


def test_run_with_judge_option_adds_a_second_opinion_unpriced(
    cli: Any, model_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    seen: list[int] = []
    with running_server(judge_script(data_dir, seen), faults=Faults(FaultPlan("500", 1))) as js:
        r = cli(*run_args(model_server, data_dir, tmp_path, "--judge", "openai/judge",
                          "--judge-base-url", js.base_url, "--backoff", "0.01"))  # fmt: skip
        assert r.code == 0, r.err
        retried = js.stats.by_status.get("500")
    out = json.loads((tmp_path / "out.json").read_text())
    ids = stored_ids(tmp_path)
    exp = expected(ids)
    assert retried == exp["judged"]  # each judge request was retried after its 500
    assert out["tasks"]["gsm8k"]["accuracy"] == pytest.approx(exp["rule_accuracy"])  # headline
    judged = out["judge"]
    assert judged["run_id"] == out["run_id"]
    assert judged["tasks"]["gsm8k"] == exp
    assert judged["usage"]["cost_usd"] is None  # an unpriced judge is unknown, not free
    assert sorted(seen) == sorted(i for i in ids if kind(i) in UNSURE)
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT count(*) FROM judgements WHERE cost_usd IS NULL").fetchone() == (
        exp["judged"],
    )
    assert "judge openai/judge on gsm8k" in r.out


def test_judge_base_url_needs_judge(
    cli: Any, model_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(*run_args(model_server, data_dir, tmp_path, "--judge-base-url", "http://x:1/v1"))
    assert r.code == 2 and "--judge-base-url needs --judge" in r.err
    r = cli(*run_args(model_server, data_dir, tmp_path, "--judge", "nosuch/x"))
    assert r.code == 2 and "unknown model provider" in r.err
    assert model_server.stats.completion_requests == 0  # refused before anything was sent


# ---- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("VERDICT: correct", "correct"),
        ("VERDICT: incorrect", "incorrect"),
        ("VERDICT: no-answer", "no-answer"),
        ("  VERDICT: correct\n", "correct"),
        ("<think>hmm, maybe wrong</think>VERDICT: correct", "correct"),
        ("<think>still thinking", "judge-unparsed"),
        ("verdict: correct", "judge-unparsed"),
        ("VERDICT: Correct", "judge-unparsed"),
        ("VERDICT: correct.", "judge-unparsed"),
        ("VERDICT: correct\nVERDICT: incorrect", "judge-unparsed"),
        ("The reply is right.\nVERDICT: correct", "judge-unparsed"),
        ("VERDICT: partially correct", "judge-unparsed"),
        ("", "judge-unparsed"),
    ],
)
def test_parse_verdict_is_strict(reply: str, verdict: str) -> None:
    assert parse_verdict(reply) == verdict


def _record(text: str, answer: str | None, disagreement: bool = False) -> SampleRecord:
    sample = Sample("gsm8k/1", "How many apples?", "5", "", (), ())
    return SampleRecord(
        "gsm8k", sample, Prompt("chat", messages=(Message("user", "q"),)),
        Completion(text, "stop", reasoning="separate thinking"),
        Grade(answer == "5", answer, "final-phrase", None, "numeric", disagreement), "k",
    )  # fmt: skip


def test_prompt_holds_question_reference_and_reply_without_thinking() -> None:
    r = _record("<think>maybe 7</think>The answer is 5.", "5")
    prompt = judge_prompt(r)
    assert prompt.style == "chat" and len(prompt.messages) == 1
    text = prompt.messages[0].content
    assert "How many apples?" in text and "Reference answer:\n5" in text
    assert "The answer is 5." in text
    assert "maybe 7" not in text and "separate thinking" not in text
    assert text.rstrip().splitlines()[-4:-1] == [
        "VERDICT: correct", "VERDICT: incorrect", "VERDICT: no-answer",
    ]  # fmt: skip
    assert judge_prompt(r) == prompt  # fixed: the same sample asks the same thing


def test_only_unparsed_or_disagreeing_samples_are_judged() -> None:
    assert reason_of(_record("no idea", None)) == "unparsed"
    assert reason_of(_record("The answer is 5, not 7.", "5", disagreement=True)) == "disagreement"
    assert reason_of(_record("The answer is 5.", "5")) is None
    assert reason_of(_record("The answer is 6.", "6")) is None  # wrong, but the rules are sure


def test_older_store_gets_the_table_and_reads_none(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE judgements")  # as a store made before judgements
    db.commit()
    db.close()
    ro = Store(path, readonly=True)
    assert ro.judgements("nope") == []
    ro.close()
    Store(path).close()  # opened for writing: the table is made, no version bump
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "judgements" in tables
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
