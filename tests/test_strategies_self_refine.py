"""Self-refine: verdict parsing and the refine loop end to end, CLI against the loopback server.

The scripted model tags each draft ("[draft a]", "[draft b]", ...) so it can tell which round a
request belongs to, and behaves per item by ``index % 4`` (see ``SCENARIOS``); the expected
requests, steps and summary of every item follow from that script.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, question_of, stored_samples
from cothub.errors import CothubError
from cothub.strategies import SolveContext, parse_strategy
from cothub.strategies.self_refine import (
    REVIEW_REQUEST,
    REVISION_REQUEST,
    RefineStats,
    SelfRefine,
    parse_verdict,
    review_prompt,
)
from cothub.testing.openai_server import Choice, Script, running_server
from cothub.types import Completion, GenerateConfig, Grade, Message, Prompt, Sample


@pytest.mark.parametrize(
    ("feedback", "verdict"),
    [
        ("All steps check out.\nVERDICT: CORRECT", "correct"),
        ("VERDICT: INCORRECT\nThe sum in step 2 is wrong.", "incorrect"),
        ("**Verdict:** incorrect - 3 + 4 is 7", "incorrect"),
        ("verdict - Correct.", "correct"),
        ('I first wrote "VERDICT: INCORRECT" but on reflection VERDICT: CORRECT', "correct"),
        ("VERDICT: CORRECT ... no, wait. VERDICT: INCORRECT, the units are off", "incorrect"),
        ("Looks fine to me.", "missing"),  # no verdict: does not accept
        ("VERDICT: NOT CORRECT", "missing"),  # not the asked-for wording: does not accept
        ("VERDICT: INCORRECTLY FORMATTED", "missing"),  # a word, not the verdict
    ],
)
def test_parse_verdict(feedback: str, verdict: str) -> None:
    assert parse_verdict(feedback) == verdict


def test_parse_settings_and_mcnemar() -> None:
    assert parse_strategy("self-refine") == SelfRefine(rounds=2)
    assert parse_strategy("self-refine:rounds=5,max_feedback_tokens=64") == SelfRefine(5, 64)
    for bad, needle in [
        ("self-refine:rounds=0", "1 <= rounds <= 10"),
        ("self-refine:rounds=11", "1 <= rounds <= 10"),
        ("self-refine:rounds=x", "not a valid"),
        ("self-refine:max_feedback_tokens=0", "max_feedback_tokens >= 1"),
        ("self-refine:round=2", "bad setting"),
    ]:
        with pytest.raises(CothubError, match=needle):
            parse_strategy(bad)


def test_changes_are_judged_by_the_tasks_equivalence() -> None:
    """Under the task's check "1/2" -> "0.5" is no change, "0.5" -> "2" is (at round 2)."""
    replies = iter(["1/2", "VERDICT: INCORRECT", "0.5", "VERDICT: INCORRECT", "2"])

    async def generate(prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        return [Completion(next(replies), "stop", prompt_tokens=10, completion_tokens=1)]

    async def grade(text: str) -> Grade:
        return Grade(correct=text == "2", answer=text, method="whole")

    def equal(a: str, b: str) -> bool:
        return Fraction(a) == Fraction(b)

    prompt = Prompt(style="chat", messages=(Message("user", "Q"),))
    sample = Sample(id="t/0", question="Q", gold="2")
    ctx = SolveContext(sample, prompt, GenerateConfig(64), generate, grade, equal)
    out = asyncio.run(SelfRefine(rounds=2).solve(ctx))
    assert isinstance(out.stats, RefineStats)
    assert out.stats.changed_at == 2 and out.stats.changed
    assert out.grade.correct and out.completion.text == "2"
    assert out.completion.prompt_tokens == 50  # the sample's cost covers all five requests
    # an empty reply (all tokens spent thinking) is never sent as an empty assistant turn
    assert review_prompt(prompt, " ").messages[1] == Message("assistant", "(no reply)")


# ---- the scripted model ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    drafts: tuple[int, ...]
    """Offset from the gold of draft 0, 1, ... (0 = right); draft k+1 is revision k+1."""
    reviews: tuple[str, ...]
    """Feedback of round 1, 2, ..."""
    changed_at: int | None
    """With rounds=3, as the drafts above imply."""


_NO = "Step 2 checks out.\nVERDICT: INCORRECT\nThe total is off by one."
_YES = "Every step checks out.\nVERDICT: CORRECT"
SCENARIOS = {
    # wrong; revision 1 writes the same wrong number as "N.00" (equal: not a change); round 2
    # fixes it; round 3 accepts: 1 answer + 3 reviews + 2 revisions.
    "fixed": Scenario((1, 1, 0), (_NO, _NO, _YES), changed_at=2),
    "accepted": Scenario((0,), (_YES,), changed_at=None),  # 2 requests
    # right, but every review rejects and every revision is wrong: 1 + 3 + 3 requests.
    "broken": Scenario((0, 1, 2, 3), (_NO, _NO, _NO), changed_at=1),
    # a review without a verdict does not accept; the next ends on CORRECT (last one wins).
    "unsure": Scenario(
        (1, 1), ("Hard to say.", 'Earlier I said "VERDICT: INCORRECT". VERDICT: CORRECT'), None
    ),
}
KINDS = list(SCENARIOS)
_TAG = re.compile(r"\[draft (\w)\]")


def scenario_of(i: int) -> Scenario:
    return SCENARIOS[KINDS[i % 4]]


class RefineModel:
    """Answers by request content: which item, which kind of request, which draft it follows."""

    def __init__(self, data: Path, style: str) -> None:
        items = gsm8k_items(data)
        self.index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}
        self.gold = [int(gold_of(it).replace(",", "")) for it in items]
        self.style = style

    def draft(self, i: int, k: int) -> str:
        value = self.gold[i] + scenario_of(i).drafts[k]
        # Draft 1 of "fixed" repeats draft 0's number as "N.00": equal under GSM8K's check.
        shown = f"{value}.00" if k == 1 and KINDS[i % 4] == "fixed" else str(value)
        if self.style == "chat":
            return f"Working [draft {'abcd'[k]}].\nThe answer is {shown}."
        return f" {shown}. [draft {'abcd'[k]}]"  # after the prompt's cue "The answer is"

    def classify(self, body: dict[str, Any]) -> tuple[int, str, int]:
        """(item index, "answer"/"feedback"/"revision", index of the draft it builds on)."""
        if "messages" in body:
            question = body["messages"][0]["content"].split("\n")[0]
            text = "\n".join(m["content"] for m in body["messages"])
            last = body["messages"][-1]["content"]
            kind = {REVIEW_REQUEST: "feedback", REVISION_REQUEST: "revision"}.get(last, "answer")
        else:
            question, text = question_of(body), body["prompt"]
            kind = (
                "feedback"
                if text.endswith("Feedback:")
                else "revision"
                if "\nRevised answer:\n" in text
                else "answer"
            )
        tags = _TAG.findall(text)
        return self.index[question], kind, "abcd".index(tags[-1]) if tags else 0

    def respond(self, body: dict[str, Any]) -> list[Choice]:
        i, kind, k = self.classify(body)
        if kind == "answer":
            return [Choice(self.draft(i, 0))]
        if kind == "feedback":
            return [Choice(scenario_of(i).reviews[k])]
        return [Choice(self.draft(i, k + 1))]


def _args(data: Path, tmp: Path, url: str, api: str, rounds: int) -> list[str]:
    fmt = "zeroshot-cot" if api == "chat" else "zeroshot-direct"
    return [
        "run", "gsm8k", "--model", "openai/m", "--base-url", url, "--data-dir", str(data),
        "--store", str(tmp / "s.db"), "--json", str(tmp / "o.json"), "--limit", "24",
        "--api", api, "--format", fmt, "--strategy", f"self-refine:rounds={rounds}",
    ]  # fmt: skip


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_refine_loop_end_to_end(cli: Any, data_dir: Path, tmp_path: Path, api: str) -> None:
    model = RefineModel(data_dir, api)
    with running_server(Script(responder=model.respond)) as srv:
        args = _args(data_dir, tmp_path, srv.base_url, api, rounds=3)
        r = cli(*args)
        assert r.code == 0, r.err
        bodies = list(srv.stats.bodies)
        again = cli(*args)  # every request is cached: nothing is sent twice
        assert again.code == 0 and srv.stats.completion_requests == len(bodies)
    out = json.loads((tmp_path / "o.json").read_text())
    samples = stored_samples(tmp_path, out["run_id"])
    kinds = Counter(KINDS[i % 4] for i in samples)
    assert len(samples) == 24 and set(kinds) == set(KINDS)

    # Requests per item: answer + one review per round + a revision per rejecting review.
    sent = Counter(model.classify(b)[0] for b in bodies)
    expected = {"fixed": 6, "accepted": 2, "broken": 7, "unsure": 4}
    assert sent == {i: expected[KINDS[i % 4]] for i in samples}

    for i, s in samples.items():
        sc, kind = scenario_of(i), KINDS[i % 4]
        final = len([k for k in s["steps"] if k["kind"] != "feedback"]) - 1
        assert s["answer"] == str(model.gold[i] + sc.drafts[final])
        assert s["correct"] == (sc.drafts[final] == 0)
        assert s["completion"] == model.draft(i, final)
        assert s["stats"] == {
            "rounds_used": {"fixed": 3, "accepted": 1, "broken": 3, "unsure": 2}[kind],
            "accepted": kind != "broken",
            "changed_at": sc.changed_at,
            "changed": kind in ("fixed", "broken"),
            "initial_correct": sc.drafts[0] == 0,
            "final_correct": sc.drafts[final] == 0,
        }
        if kind == "fixed":
            assert [(k["kind"], k["round"]) for k in s["steps"]] == [
                ("answer", 0), ("feedback", 1), ("revision", 1),
                ("feedback", 2), ("revision", 2), ("feedback", 3),
            ]  # fmt: skip
            assert [k.get("verdict") for k in s["steps"]] == [
                None, "incorrect", None, "incorrect", None, "correct",
            ]  # fmt: skip
            assert [k.get("correct") for k in s["steps"] if "answer" in k] == [False] * 2 + [True]
            assert s["steps"][1]["text"] == _NO
        if kind == "unsure":
            assert [k.get("verdict") for k in s["steps"]] == [None, "missing", None, "correct"]

    n = len(samples)
    sr = out["tasks"]["gsm8k"]["self_refine"]
    assert sr["accuracy_before"] == pytest.approx((kinds["accepted"] + kinds["broken"]) / n)
    assert sr["accuracy_after"] == pytest.approx((kinds["accepted"] + kinds["fixed"]) / n)
    assert sr["accuracy_after"] == out["tasks"]["gsm8k"]["accuracy"]
    assert sr["changed"] == kinds["fixed"] + kinds["broken"]
    assert sr["right_to_wrong"] == kinds["broken"] and sr["wrong_to_right"] == kinds["fixed"]
    assert sr["accepted"] == n - kinds["broken"]
    assert sr["changed_at"] == {"1": kinds["broken"], "2": kinds["fixed"]}
    used = 3 * kinds["fixed"] + kinds["accepted"] + 3 * kinds["broken"] + 2 * kinds["unsure"]
    assert sr["mean_rounds_used"] == pytest.approx(used / n)
    assert out["strategy"]["name"] == "self-refine" and out["strategy"]["rounds"] == 3
    assert json.loads((tmp_path / "o.json").read_text())["tasks"] == out["tasks"]

    _check_layout(model, bodies, api)


def _check_layout(model: RefineModel, bodies: list[dict[str, Any]], api: str) -> None:
    """Round 1 of a "fixed" item: the previous answer and the feedback sit where they belong."""
    i = next(model.classify(b)[0] for b in bodies if KINDS[model.classify(b)[0] % 4] == "fixed")
    mine = {model.classify(b)[1:]: b for b in bodies if model.classify(b)[0] == i}
    first, review, revise = mine["answer", 0], mine["feedback", 0], mine["revision", 0]
    draft0, feedback1 = model.draft(i, 0), SCENARIOS["fixed"].reviews[0]
    if api == "chat":
        base = first["messages"]
        assert review["messages"] == [
            *base,
            {"role": "assistant", "content": draft0},
            {"role": "user", "content": REVIEW_REQUEST},
        ]
        assert revise["messages"] == [
            *review["messages"],
            {"role": "assistant", "content": feedback1},
            {"role": "user", "content": REVISION_REQUEST},
        ]
        # round 2 reviews revision 1 only: no earlier answer or feedback is carried along
        again = mine["feedback", 1]["messages"]
        assert again[:-2] == base and again[-2]["content"] == model.draft(i, 1)
        return
    base = first["prompt"]
    assert base.endswith("The answer is") and first["stop"] == ["\n"]
    assert review["prompt"] == f"{base}{draft0}\n\nReview request: {REVIEW_REQUEST}\nFeedback:"
    assert revise["prompt"] == (
        f"{review['prompt']}{feedback1}\n\nRevision request: {REVISION_REQUEST}\n"
        "Revised answer:\nThe answer is"  # the prompt's answer cue, repeated
    )
    # A review may span lines ("\n" dropped); a revision stops like the first answer did.
    assert review["stop"] == ["\nReview request:", "\nRevision request:"]
    assert revise["stop"] == ["\n", "\nReview request:", "\nRevision request:"]


def test_one_round_caps_the_loop(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    model = RefineModel(data_dir, "chat")
    with running_server(Script(responder=model.respond)) as srv:
        r = cli(*_args(data_dir, tmp_path, srv.base_url, "chat", rounds=1))
        assert r.code == 0, r.err
        bodies = list(srv.stats.bodies)
    out = json.loads((tmp_path / "o.json").read_text())
    samples = stored_samples(tmp_path, out["run_id"])
    sent = Counter(model.classify(b)[0] for b in bodies)
    # One review, and a revision unless it accepted; never a second review.
    assert sent == {i: 2 if KINDS[i % 4] == "accepted" else 3 for i in samples}
    assert all(model.classify(b)[1:] != ("feedback", 1) for b in bodies)
    for i, s in samples.items():
        assert s["stats"]["rounds_used"] == 1
        if KINDS[i % 4] == "fixed":  # still wrong after its one revision
            assert s["answer"] == str(model.gold[i] + 1) and not s["correct"]
            assert not s["stats"]["accepted"] and s["stats"]["changed_at"] is None
    assert out["tasks"]["gsm8k"]["self_refine"]["mean_rounds_used"] == 1.0


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("self-refine:rounds=0", "1 <= rounds <= 10"), ("self-refine:rounds=x", "not a valid int")],
)
def test_bad_settings_fail_in_one_line(cli: Any, spec: str, needle: str) -> None:
    r = cli("run", "gsm8k", "--model", "openai/m", "--strategy", spec)
    assert r.code == 2
    assert r.err.count("\n") == 1 and needle in r.err and r.err.startswith("cothub: error:")
