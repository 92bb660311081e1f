"""Complexity-based prompting and voting, and least-to-most: units, then the CLI over real HTTP."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, question_of
from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.prompts.fewshot import Exemplar, parse_exemplars
from cothub.strategies import parse_strategy
from cothub.strategies.complexity import Complexity, chain_steps, most_complex_chains
from cothub.strategies.least_to_most import SOLVED_HEAD, LeastToMost, parse_subquestions
from cothub.tasks import PromptOptions
from cothub.tasks.base import Selection, reasoning_steps
from cothub.tasks.math_task import MATH
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import Sample


def test_chain_steps_and_the_voters() -> None:
    assert chain_steps("Let's think.\n\n3 + 4 = 7.\nThe answer is 7.") == 2
    assert chain_steps("The answer is 7.") == 0 and chain_steps("") == 0
    # chain 2 is the longest but has no answer, so it takes no place; 0 and 3 tie with 5 steps
    steps, answers = [5, 2, 9, 5, 1], ["1", "2", None, "3", "4"]
    assert most_complex_chains(steps, answers, 2) == [0, 3]
    assert most_complex_chains(steps, answers, 3) == [0, 1, 3]
    assert most_complex_chains([3, 3, 3], ["a", "b", "c"], 2) == [0, 1]  # ties: earlier chains


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. A?\n2) B?\n- C?\n", ["A?", "B?", "C?"]),
        ("Here they are:\n**1.** A?\n* B?\nSub-question 3: C?\nThat is all.", ["A?", "B?", "C?"]),
        ("  3: A?\nQ2. B?", ["A?", "B?"]),
        ("No list here.\n1.5 apples were left.\n-", []),
        ("\n".join(f"{i}. q{i}" for i in range(1, 12)), [f"q{i}" for i in range(1, 9)]),
    ],
)
def test_parse_subquestions(text: str, expected: list[str]) -> None:
    assert parse_subquestions(text) == expected


def test_parse_settings() -> None:
    got = parse_strategy("complexity:k=8,m=3,temperature=0.5,select=random,batch=false")
    assert got == Complexity(k=8, m=3, temperature=0.5, select="random", batch=False)
    assert parse_strategy("complexity:k=5").describe()["m"] == 3  # ceil(5/2)
    assert parse_strategy("complexity").describe() == {
        "name": "complexity", "k": 1, "m": 1, "select": "complexity"
    }  # fmt: skip
    assert parse_strategy("least-to-most:max_subquestions=3") == LeastToMost(3)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("complexity:k=0", "k >= 1"),
        ("complexity:k=4,m=5", "1 <= m <= k"),
        ("complexity:k=4,m=0", "1 <= m <= k"),
        ("complexity:k=4,temperature=0", "temperature > 0"),
        ("complexity:select=hardest", "choose complexity or random"),
        ("complexity:k=2,mm=1", "bad setting"),
        ("least-to-most:max_subquestions=9", "1 <= max_subquestions <= 8"),
        ("least-to-most:max_subquestions=many", "not a valid"),
    ],
)
def test_bad_settings_fail_in_one_line(cli: Any, spec: str, needle: str) -> None:
    with pytest.raises(CothubError, match=needle):
        parse_strategy(spec)
    r = cli("run", "gsm8k", "-m", "openai/x", "--strategy", spec)
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and needle in lines[0], r.err
    assert "Traceback" not in r.err + r.out


# ---- complexity-based exemplar selection -----------------------------------------------------


def _manifest(store: Path, run_id: str) -> Any:
    db = sqlite3.connect(store)
    return json.loads(
        db.execute("SELECT manifest FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
    )


def test_selection_shows_the_train_items_with_the_most_steps(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "data"
    bare.mkdir()
    (bare / "gsm8k").symlink_to(data_dir / "gsm8k")  # no cot-hub-prompts: the train split is used
    out = tmp_path / "o.json"

    def run(data: Path, strategy: str) -> tuple[str, Any]:
        store = tmp_path / f"{len(list(tmp_path.glob('*.db')))}.db"  # a fresh cache each time
        r = cli(
            "run", "gsm8k", "-m", "openai/m", "--base-url", gsm8k_server.base_url, "--api",
            "completions", "--data-dir", str(data), "--store", str(store), "--json", str(out),
            "--limit", "2", "--strategy", strategy,
        )  # fmt: skip
        assert r.code == 0, r.err
        run_id = json.loads(out.read_text())["run_id"]
        return gsm8k_server.stats.bodies[-1]["prompt"], _manifest(store, run_id)

    prompt, manifest = run(bare, "complexity")
    train = [json.loads(x) for x in (data_dir / "gsm8k/train.jsonl").open()]
    steps = [reasoning_steps(t["answer"].rsplit("####", 1)[0]) for t in train]
    shown = [i for i, t in enumerate(train) if f"Question: {t['question']}\n" in prompt]
    assert len(shown) == 8
    assert min(steps[i] for i in shown) >= max(s for i, s in enumerate(steps) if i not in shown)
    # ties at the cut go to the earlier train items
    assert shown == sorted(sorted(range(len(train)), key=lambda i: -steps[i])[:8])
    assert manifest["tasks"]["gsm8k"]["exemplars"]["source"] == "train:most-steps"
    assert manifest["strategy"]["select"] == "complexity"

    # With the hub's prompt files at hand the pool is still the train split ...
    again, manifest = run(data_dir, "complexity")
    assert again.split("\nQuestion: ")[:8] == prompt.split("\nQuestion: ")[:8]
    assert manifest["tasks"]["gsm8k"]["exemplars"]["source"] == "train:most-steps"
    # ... and select=random keeps the task's usual exemplars (Wei et al.'s file).
    _, manifest = run(data_dir, "complexity:select=random")
    assert manifest["tasks"]["gsm8k"]["exemplars"]["source"].endswith("prompt_original.txt")
    assert manifest["strategy"]["select"] == "random"


def test_math_fitting_keeps_the_exemplars_with_the_most_steps(data_dir: Path) -> None:
    """grad5's exemplars have 8, 5, 10, 10, 5, 14, 10, 4 lines: 3 slots keep #2, #3 and #5."""
    if not (data_dir / "MATH").is_dir():
        pytest.skip("MATH data not found")
    data = DataSource(data_dir)
    path = data_dir / "cot-hub-prompts/MATH/lib_prompt/algebra/prompt_grad_5.txt"
    exemplars = parse_exemplars(path.read_text(), "grad5")
    assert [reasoning_steps(e.rationale) for e in exemplars] == [8, 5, 10, 10, 5, 14, 10, 4]
    sample = Sample("t", "What is $1+1$?", "2")
    full = MATH().prompter(data, "fewshot-cot", PromptOptions("completions", prompt_file="grad5"))
    kept = [exemplars[i] for i in (2, 3, 5)]
    # the budget of a 3-exemplar prompt: 4 exemplars never fit it
    cot = "Let's think step by step"
    three = "\n".join(
        f"Question: {e.question}\n{cot}\n{e.rationale}\nThe answer is {e.answer}\n" for e in kept
    ) + f"\nQuestion: {sample.question}\n"  # fmt: skip
    budget = math.ceil(len(three) / 4)
    cases: list[tuple[Selection, list[Exemplar]]] = [
        ("complexity", kept),
        ("random", exemplars[:3]),  # the first ones, as before
    ]
    for selection, expected in cases:
        options = PromptOptions(
            "completions", prompt_file="grad5", max_prompt_tokens=budget, selection=selection
        )
        prompt = MATH().prompter(data, "fewshot-cot", options).render(sample)
        shown = parse_exemplars(prompt.text.rsplit("\nQuestion:", 1)[0], "rendered")
        assert prompt.n_exemplars == len(shown) == 3 and shown == expected
    options = PromptOptions("completions", prompt_file="grad5", selection="complexity")
    complexity = MATH().prompter(data, "fewshot-cot", options)
    assert complexity.render(sample) == full.render(sample)  # all fit: the file, byte for byte
    assert complexity.exemplar_source == full.exemplar_source + " [most-steps]"


# ---- complexity-based voting -----------------------------------------------------------------


def _short(answer: int, i: int) -> str:
    return "Guess.\n" * (i % 2) + f"The answer is {answer}."


def _long(answer: int, n: int) -> str:
    return "".join(f"Step {s}: careful working.\n" for s in range(n)) + f"The answer is {answer}."


def _voting_server(data: Path) -> Script:
    """8 chains per item: 5 short ones say gold+1, the 3 longest (chains 1, 4, 6) say the gold."""
    items = gsm8k_items(data)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        gold = int(gold_of(items[index[question_of(request)]]).replace(",", ""))
        long = {1: 4, 4: 6, 6: 5}  # chain -> reasoning steps
        return [
            Choice(_long(gold, long[c]) if c in long else _short(gold + 1, c)) for c in range(8)
        ]

    return Script(responder=respond)


def test_complexity_vote_beats_the_majority_of_short_chains(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    with running_server(_voting_server(data_dir)) as srv:

        def run(strategy: str) -> Any:
            r = cli(
                "run", "gsm8k", "-m", "openai/m", "--base-url", srv.base_url, "--format",
                "zeroshot-cot", "--data-dir", str(data_dir), "--store", str(store), "--json",
                str(out), "--limit", "6", "--strategy", strategy,
            )  # fmt: skip
            assert r.code == 0, r.err
            return json.loads(out.read_text())

        cx = run("complexity:k=8,m=3")
        assert srv.stats.completion_requests == 6
        assert all(b["n"] == 8 and b["temperature"] == 0.7 for b in srv.stats.bodies)
        sc = run("self-consistency:k=8")  # the very same requests: all served from the cache
        assert srv.stats.completion_requests == 6 and sc["usage"]["requests"] == 0

    assert cx["tasks"]["gsm8k"]["accuracy"] == 1.0 and cx["tasks"]["gsm8k"]["n"] == 6
    assert sc["tasks"]["gsm8k"]["accuracy"] == 0.0 and sc["tasks"]["gsm8k"]["n"] == 6
    side = cx["tasks"]["gsm8k"]["complexity"]
    assert side["k"] == 8 and side["m"] == 3 and side["gained"] == 6 and side["lost"] == 0
    assert side["majority"]["accuracy"] == 0.0 and side["complexity_vote"]["accuracy"] == 1.0
    assert cx["strategy"] == {
        "name": "complexity", "k": 8, "m": 3, "temperature": 0.7, "top_p": None, "batch": True,
        "select": "complexity",
    }  # fmt: skip

    db = sqlite3.connect(store)
    rows = db.execute(
        "SELECT s.item_id, s.gold, s.answer, s.steps, s.stats FROM samples s JOIN runs r "
        "ON s.run_id = r.run_id WHERE r.run_id = ?",
        (cx["run_id"],),
    ).fetchall()
    assert len(rows) == 6
    for _, gold, answer, steps_json, stats_json in rows:
        stats, steps = json.loads(stats_json), json.loads(steps_json)
        assert answer == gold.replace(",", "") == stats["winner"]
        assert stats["steps"] == [0, 4, 0, 1, 6, 1, 5, 1] and stats["voters"] == [1, 4, 6]
        assert [s["voted"] for s in steps] == [i in (1, 4, 6) for i in range(8)]
        assert [s["reasoning_steps"] for s in steps] == stats["steps"]
        assert stats["complexity_correct"] and not stats["majority_correct"]


# ---- least-to-most ---------------------------------------------------------------------------

SUBS = ("How many eggs are laid?", "How many are eaten or baked?", "How many are sold?")


def _l2m_server(data: Path) -> Script:
    """Decomposes every item into SUBS (three list styles), answers each with a token naming the
    item and sub-question, and answers the final request right only if it holds all 3 tokens."""
    items = [it["question"].strip() for it in gsm8k_items(data)]
    golds = [gold_of(it).replace(",", "") for it in gsm8k_items(data)]

    def respond(request: dict[str, Any]) -> list[Choice]:
        text = request.get("prompt") or "\n".join(m["content"] for m in request["messages"])
        last = request.get("prompt") or request["messages"][-1]["content"]
        i = next(j for j, q in enumerate(items) if q in text)
        if "Do not answer them." in last:
            return [Choice(f"1. {SUBS[0]}\n2) {SUBS[1]}\n- {SUBS[2]}")]
        asked = [k for k, s in enumerate(SUBS) if last.rstrip().endswith(f"Q: {s}\nA:")
                 or last.endswith(f"Q: {s}")]  # fmt: skip
        if asked:
            return [Choice(f" It is ANS{asked[0]}x{i}. ")]
        solved = all(f"ANS{k}x{i}" in text for k in range(3))
        return [Choice(f"Using the sub-answers.\nThe answer is {golds[i] if solved else 0}.")]

    return Script(responder=respond)


def _kind(body: dict[str, Any]) -> str:
    text = body.get("prompt") or body["messages"][-1]["content"]
    if "Do not answer them." in text:
        return "decompose"
    for k, s in enumerate(SUBS):
        if text.rstrip().endswith((f"Q: {s}\nA:", f"Q: {s}")):
            return f"sub{k}"
    return "final"


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_least_to_most_decomposes_solves_in_order_and_answers(
    cli: Any, data_dir: Path, tmp_path: Path, api: str
) -> None:
    store = tmp_path / "s.db"
    items = gsm8k_items(data_dir)
    with running_server(_l2m_server(data_dir)) as srv:
        args = [
            "run", "gsm8k", "-m", "openai/m", "--base-url", srv.base_url, "--api", api,
            "--data-dir", str(data_dir), "--store", str(store), "--json", str(tmp_path / "o.json"),
            "--limit", "3", "--strategy", "least-to-most",
        ]  # fmt: skip
        r = cli(*args)
        assert r.code == 0, r.err
        out = json.loads((tmp_path / "o.json").read_text())
        assert srv.stats.completion_requests == 15
        bodies = list(srv.stats.bodies)
        assert cli(*args).code == 0 and srv.stats.completion_requests == 15  # all cached

    g = out["tasks"]["gsm8k"]
    assert g["accuracy"] == 1.0 and g["n"] == 3
    assert g["least_to_most"] == {"mean_subquestions": 3.0, "undecomposed": 0}
    assert all(b.get("temperature", 0) == 0 for b in bodies)  # greedy

    db = sqlite3.connect(store)
    rows = db.execute("SELECT item_id, answer, gold, steps FROM samples").fetchall()
    assert len(rows) == 3
    for item_id, answer, gold, steps_json in rows:
        i = int(item_id.split("/")[1])
        question = items[i]["question"].strip()
        mine = [b for b in bodies if question in (b.get("prompt") or json.dumps(b["messages"]))]
        assert [_kind(b) for b in mine] == ["decompose", "sub0", "sub1", "sub2", "final"]
        texts = [b.get("prompt") or "\n".join(m["content"] for m in b["messages"]) for b in mine]
        for k in range(3):  # each sub-question request holds the earlier ones and their answers
            assert all(SUBS[j] in texts[1 + k] for j in range(k))
            assert all(f"ANS{j}x{i}" in texts[1 + k] for j in range(k))
            assert f"ANS{k}x{i}" not in texts[1 + k]
        final = texts[4]
        assert "There are 15 trees in the grove." in final  # the task's few-shot exemplars
        assert final.index(SOLVED_HEAD) < final.rindex(question)  # solved parts before the question
        if api == "chat":
            assert "End your reply with a line" in mine[4]["messages"][-1]["content"]
        assert answer == gold.replace(",", "")
        steps = json.loads(steps_json)
        assert [s["kind"] for s in steps] == ["decompose"] + ["subquestion"] * 3 + ["final"]
        assert steps[0]["subquestions"] == list(SUBS)
        assert [s["question"] for s in steps[1:4]] == list(SUBS)
        assert steps[4]["correct"] and steps[4]["answer"] == answer
