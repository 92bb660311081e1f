"""Studies end to end against a loopback model whose accuracy depends on the prompt in a known
way: each test plants one effect and asserts the analysis finds exactly it and no other."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.data.source import DataSource
from cothub.scoring.stats import holm
from cothub.study import StudySettings, builtin, run_study, spec_from_dict
from cothub.study.analysis import model_size
from cothub.study.spec import StudyOptions
from cothub.tasks import resolve_task
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server

LIMIT = 40

Rule = Callable[[dict[str, Any], str], bool]
"""(request, whole prompt text) -> whether the stand-in answers this item correctly."""


def _golds(data: Path, task: str) -> dict[str, str]:
    t, subset = resolve_task(task)
    loaded = t.load(DataSource.resolve(data), [subset] if subset else [])
    return {s.question: s.gold for s in loaded.samples}


def _text(request: dict[str, Any]) -> tuple[str, str]:
    """(the item's own text: the last user turn or the whole completion prompt, everything)."""
    if "messages" in request:
        msgs = request["messages"]
        return str(msgs[-1]["content"]), "\n".join(str(m["content"]) for m in msgs)
    return str(request["prompt"]), str(request["prompt"])


def planted(
    golds: dict[str, str], rule: Rule, chains: Callable[[str], list[str]] | None = None
) -> Script:
    """A script: the gold answer when ``rule`` holds, a wrong one otherwise."""

    def respond(request: dict[str, Any]) -> list[Choice]:
        own, everything = _text(request)
        found = [q for q in golds if q in own]
        gold = golds[max(found, key=len)] if found else "0"
        if chains is not None:
            return [Choice(t.format(gold=gold, wrong=_wrong(gold))) for t in chains(gold)]
        answer = gold if rule(request, everything) else _wrong(gold)
        return [Choice(f"Let's think step by step.\nSome work.\nSo the answer is {answer}.")]

    return Script(responder=respond)


def _wrong(gold: str) -> str:
    digits = gold.replace(",", "")
    if digits.lstrip("-").isdigit():
        return str(int(digits) + 1)
    return {"True": "False", "False": "True"}.get(gold, "(Z)")


@pytest.fixture
def serve() -> Iterator[Callable[[Script], OpenAIStandIn]]:
    stack: list[Any] = []

    def start(script: Script) -> OpenAIStandIn:
        cm = running_server(script)
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def settings(
    srv: OpenAIStandIn, data: Path, tmp: Path, tasks: tuple[str, ...], **kw: Any
) -> StudySettings:
    base: dict[str, Any] = {
        "models": ("openai/stand-in",),
        "tasks": tasks,
        "limit": LIMIT,
        "base_url": srv.base_url,
        "data_dir": data,
        "store_path": tmp / "s.db",
    }
    base.update(kw)
    return StudySettings(**base)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


# ---- statistics -----------------------------------------------------------------------------


def test_holm_matches_the_step_down_procedure() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1
    assert holm([0.04, 0.02]) == [0.04, 0.04]  # monotone
    assert holm([0.5]) == [0.5]


def test_model_size_from_names() -> None:
    assert model_size("hf/meta-llama/Llama-3-8B") == 8.0
    assert model_size("openai/qwen2.5-0.5b-instruct") == 0.5
    assert model_size("openai/pythia-350m") == 0.35
    assert model_size("openai/gpt-4o") is None


# ---- formats: CoT helps on GSM8K only --------------------------------------------------------

BOOL = "bbh/boolean_expressions"


def _cot_only_on_gsm8k(golds_gsm8k: dict[str, str]) -> Rule:
    def rule(request: dict[str, Any], text: str) -> bool:
        own, _ = _text(request)
        on_gsm8k = any(q in own for q in golds_gsm8k)
        return "step by step" in text.lower() or not on_gsm8k  # BBH: always right

    return rule


def test_formats_finds_the_cot_gain_on_gsm8k_only(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g, b = _golds(data_dir, "gsm8k"), _golds(data_dir, BOOL)
    srv = serve(planted({**g, **b}, _cot_only_on_gsm8k(g)))
    spec = builtin("formats")
    result = run_study(spec, settings(srv, data_dir, tmp_path, ("gsm8k", BOOL)))
    sig = {(d.contrast, d.task) for d in result.deltas if d.significant}
    assert sig == {("CoT gain (few-shot)", "gsm8k"), ("CoT gain (zero-shot)", "gsm8k")}
    for d in result.deltas:
        if d.task == "gsm8k" and d.family == "cot":
            assert (d.delta, d.n, d.b, d.c) == (1.0, LIMIT, LIMIT, 0)
            assert d.p_adjusted < 1e-6
        else:
            assert d.delta == 0.0 and d.p == 1.0
    assert len(result.deltas) == 8  # 4 contrasts x 2 tasks, one Holm family
    assert result.summary[0].startswith("reasoning vs knowledge: CoT helps significantly on gsm8k;")
    assert "holm" in result.summary[0]
    points = {(p.cell, p.task): p for p in result.points}
    assert points[("fewshot-cot", "gsm8k")].accuracy == 1.0
    assert points[("fewshot-direct", "gsm8k")].accuracy == 0.0
    assert points[("zeroshot-direct", "bbh")].ci95[0] > 0.9
    sent = srv.stats.completion_requests
    assert sent == 4 * 2 * LIMIT

    again = run_study(spec, settings(srv, data_dir, tmp_path, ("gsm8k", BOOL)))
    assert srv.stats.completion_requests == sent  # every cell came from the store
    assert [d.as_json() for d in again.deltas] == [d.as_json() for d in result.deltas]
    assert all(r["requests"] == 0 for r in again.runs)


def test_formats_in_completion_style_for_base_models(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    srv = serve(planted(g, lambda req, text: "prompt" in req and "step by step" in text))
    result = run_study(
        builtin("formats"), settings(srv, data_dir, tmp_path, ("gsm8k",), style="completions")
    )
    assert srv.stats.completion_requests == 4 * LIMIT  # every request a text completion
    sig = {d.contrast for d in result.deltas if d.significant}
    assert sig == {"CoT gain (few-shot)", "CoT gain (zero-shot)"}


# ---- perturb: the model needs the exemplars' reasoning text ----------------------------------

MARK = "There are 15 trees originally."  # a line of the first classic GSM8K exemplar's rationale


def test_perturb_finds_exactly_the_perturbations_that_remove_the_rationale(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    srv = serve(planted(g, lambda req, text: MARK in text))
    result = run_study(builtin("perturb"), settings(srv, data_dir, tmp_path, ("gsm8k",)))
    by = {d.contrast: d for d in result.deltas}
    assert set(by) == {
        "wrong-answers",
        "invalid-rationale",
        "shuffled-steps",
        "no-rationale",
        "irrelevant-rationale",
        "random-labels",
    }
    assert {c for c, d in by.items() if d.significant} == {"no-rationale", "irrelevant-rationale"}
    assert by["no-rationale"].delta == -1.0 and by["irrelevant-rationale"].delta == -1.0
    for name in ("wrong-answers", "invalid-rationale", "shuffled-steps", "random-labels"):
        assert by[name].delta == 0.0 and by[name].p == 1.0
    # every perturbed prompt can be inspected: the manifest holds the transformed exemplars
    from cothub.store import open_store

    store = open_store(tmp_path / "s.db", readonly=True)
    try:
        runs = {r["cell"]: r["run_id"] for r in result.runs}
        man = store.manifest(str(runs["shuffled-steps"])).as_json()
        base = store.manifest(str(runs["unperturbed"])).as_json()
    finally:
        store.close()
    entry = man["tasks"]["gsm8k"]  # type: ignore[index]
    assert entry["perturbation"]["name"] == "shuffled-steps"
    assert len(entry["perturbation"]["exemplars"][""]) == 8
    assert "perturbation" not in base["tasks"]["gsm8k"]  # type: ignore[index]


# ---- consistency: curves from one batched run ------------------------------------------------


def test_consistency_curves_come_from_one_batched_request_per_item(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    right = "Step.\nThe answer is {gold}."
    wrong = "Step.\nThe answer is {wrong}."
    srv = serve(planted(g, lambda r, t: True, chains=lambda gold: [right, wrong, right, wrong]))
    spec = builtin("consistency", StudyOptions(k=4, temperatures=(0.5, 1.0)))
    result = run_study(spec, settings(srv, data_dir, tmp_path, ("gsm8k",)))
    assert srv.stats.completion_requests == 2 * LIMIT  # one request per item and temperature
    assert len(result.curves) == 2
    for curve in result.curves:
        ks = [p.k for p in curve.points]
        assert ks == [1, 2, 3, 4]
        pts = {p.k: p for p in curve.points}
        assert pts[1].maj == pytest.approx(0.5) and pts[1].pass_at == pytest.approx(0.5)
        assert pts[2].pass_at == pytest.approx(1 - 1 / 6)
        assert pts[4].pass_at == 1.0 and pts[4].maj == 1.0  # the tie goes to the first answer
        assert pts[4].tokens > pts[1].tokens > 0


# ---- budget: truncated replies are censored, not wrong ---------------------------------------


def test_budget_reports_truncation_and_bounds(serve: Any, data_dir: Path, tmp_path: Path) -> None:
    g = _golds(data_dir, "gsm8k")
    order = sorted(g)

    def respond(request: dict[str, Any]) -> list[Choice]:
        own, _ = _text(request)
        q = max((q for q in g if q in own), key=len)
        effort = request.get("reasoning_effort")
        if effort == "low" and order.index(q) % 2:  # half of the low-effort replies cut off
            return [Choice("Let's think step by step.\nFirst", finish_reason="length")]
        return [Choice(f"So the answer is {g[q]}.")]

    srv = serve(Script(responder=respond))
    spec = builtin("budget", StudyOptions(efforts=("low", "high")))
    result = run_study(spec, settings(srv, data_dir, tmp_path, ("gsm8k",)))
    pts = {p.cell: p for p in result.points}
    low, high = pts["effort=low"], pts["effort=high"]
    assert 0 < low.truncated < LIMIT and high.truncated == 0
    e = low.censoring
    assert e is not None and high.censoring is not None
    assert e.accuracy_completed == 1.0  # every completed reply is right
    assert e.lower == pytest.approx(1 - low.truncated / LIMIT)
    assert e.upper == 1.0
    assert e.truncation_rate == pytest.approx(low.truncated / LIMIT)
    assert e.completed == LIMIT - low.truncated
    assert list(low.as_json())[-7:] == ["completed", "truncation_rate", "accuracy_completed",
        "ci95_completed", "lower", "upper", "completion_tokens"]  # fmt: skip
    (delta,) = result.deltas  # paired on the items both completed: no difference at all
    assert delta.n == LIMIT - low.truncated and delta.delta == 0.0 and not delta.significant


# ---- scaling: the bigger model is right ------------------------------------------------------


def test_scaling_orders_models_by_size_and_pairs_neighbours(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    srv = serve(planted(g, lambda req, text: req.get("model") == "big-70b"))
    models = ("openai/big-70b", "openai/small-1b", "openai/mid-8b")
    result = run_study(
        builtin("scaling"), settings(srv, data_dir, tmp_path, ("gsm8k",), models=models)
    )
    sizes = {p.model: p.as_json()["size_b"] for p in result.points}
    assert sizes == {"openai/big-70b": 70.0, "openai/small-1b": 1.0, "openai/mid-8b": 8.0}
    by = {d.contrast: d for d in result.deltas}
    assert set(by) == {"openai/mid-8b vs openai/small-1b", "openai/big-70b vs openai/mid-8b"}
    assert by["openai/big-70b vs openai/mid-8b"].significant
    assert not by["openai/mid-8b vs openai/small-1b"].significant

    # a size recorded in the store (cothub models set / --model-size) beats the name's
    from cothub.store import Store

    db = Store(tmp_path / "s.db")
    (named,) = {r.model for r in db.runs() if "mid-8b" in r.model}
    db.set_model_info(named, size="13B")
    db.close()
    again = run_study(
        builtin("scaling"), settings(srv, data_dir, tmp_path, ("gsm8k",), models=models)
    )
    assert {p.model: p.as_json()["size_b"] for p in again.points}["openai/mid-8b"] == 13.0


# ---- complexity: the complex exemplar set is what works -------------------------------------


def test_complexity_finds_the_complex_set_and_the_vote(
    serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    hard = (data_dir / "cot-hub-prompts/gsm8k/lib_prompt/prompt_hard.txt").read_text()
    mark = hard.split("\n")[0][10:60]  # a bit of the complex set's first question

    long_right = "One.\nTwo.\nThree.\nFour.\nThe answer is {gold}."
    short_wrong = "The answer is {wrong}."

    def respond(request: dict[str, Any]) -> list[Choice]:
        own, everything = _text(request)
        q = max((q for q in g if q in own), key=len)
        if request.get("n", 1) > 1:  # the voting cell: 2 long right chains, 3 short wrong ones
            texts = [long_right, short_wrong, long_right, short_wrong, short_wrong]
            return [Choice(t.format(gold=g[q], wrong=_wrong(g[q]))) for t in texts]
        answer = g[q] if mark in everything else _wrong(g[q])
        return [Choice(f"So the answer is {answer}.")]

    srv = serve(Script(responder=respond))
    spec = builtin("complexity", StudyOptions(k=5, tasks=("gsm8k",)))
    result = run_study(spec, settings(srv, data_dir, tmp_path, ("gsm8k",)))
    acc = {p.cell: p.accuracy for p in result.points}
    assert acc["simple"] == 0.0 and acc["medium"] == 0.0 and acc["complex"] == 1.0
    assert acc["complexity-vote"] == 1.0 and acc["majority-vote"] == 0.0
    sig = {d.contrast for d in result.deltas if d.significant}
    assert sig == {"complex vs simple", "complexity vote vs majority"}


# ---- a user's own grid, the CLI, --json and --dry-run ----------------------------------------


def test_spec_from_toml_runs_through_the_cli_with_dry_run_and_json(
    cli: Any, serve: Any, data_dir: Path, tmp_path: Path
) -> None:
    g = _golds(data_dir, "gsm8k")
    srv = serve(planted(g, lambda req, text: "step by step" in text.lower()))
    toml = tmp_path / "my.toml"
    toml.write_text(
        'name = "mine"\n'
        '[[cells]]\nlabel = "cot"\nformat = "zeroshot-cot"\n'
        '[[cells]]\nlabel = "direct"\nformat = "zeroshot-direct"\n'
        '[[contrasts]]\nname = "CoT gain"\ntreatment = "cot"\ncontrol = "direct"\n'
    )
    args = [
        "study",
        "--spec",
        toml,
        "gsm8k",
        "--model",
        "openai/stand-in",
        "--base-url",
        srv.base_url,
        "--data-dir",
        data_dir,
        "--store",
        tmp_path / "s.db",
        "--limit",
        "10",
        "--json",
        tmp_path / "out.json",
    ]
    dry = cli(*args, "--dry-run")
    assert dry.code == 0, dry.err
    assert srv.stats.completion_requests == 0
    cost = json.loads((tmp_path / "out.json").read_text())
    assert [c["requests"] for c in cost["cells"]] == [10, 10]
    assert all(c["prompt_tokens"] > 0 for c in cost["cells"])

    r = cli(*args)
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["study"] == "mine" and out["correction"] == "holm"
    (d,) = out["deltas"]
    assert d["delta"] == 1.0 and d["significant"] and d["n"] == 10
    assert "paired deltas" in r.out and "CoT gain" in r.out

    again = cli(*args, "--dry-run")
    assert again.code == 0
    cost = json.loads((tmp_path / "out.json").read_text())
    assert [c["requests"] for c in cost["cells"]] == [0, 0]  # all in the store now


def test_spec_errors_are_one_line() -> None:
    from cothub.errors import CothubError

    with pytest.raises(CothubError, match="no cell 'nope'"):
        spec_from_dict(
            {
                "cells": [{"label": "a"}],
                "contrasts": [{"name": "x", "treatment": "nope", "control": "a"}],
            },
            "t.toml",
        )
    with pytest.raises(CothubError, match="unknown key 'colour'"):
        spec_from_dict({"cells": [{"label": "a", "colour": 1}]}, "t.toml")
    with pytest.raises(CothubError, match="unknown study"):
        builtin("nope")


def test_study_cli_errors(cli: Any) -> None:
    r = cli("study", "formats")
    assert r.code == 2 and "--model" in r.err
    r = cli("study", "scaling", "--model", "openai/a")
    assert r.code == 2 and "two or more" in r.err


def test_published_rows_match_models_by_name() -> None:
    from cothub.study.analysis import published_rows

    rows = [("GPT-4", {"gsm8k": 0.92, "bbh": 0.5}, "hub"), ("claude-v1.3", {"gsm8k": 0.818}, "x")]
    out = published_rows(["openai/gpt-4", "openai/other-7b"], ["gsm8k"], rows)
    assert out == [
        {
            "model": "openai/gpt-4",
            "published_as": "GPT-4",
            "task": "gsm8k",
            "accuracy": 0.92,
            "source": "hub",
        }
    ]


# ---- code-reasoning: HumanEval pass@1 against reasoning, ranked ----------------------------


def _sandbox_problem() -> str | None:
    from cothub.sandbox import isolation_problem

    return isolation_problem()


def _humaneval_rows(data: Path) -> dict[str, dict[str, str]]:
    import gzip

    path = data / "humaneval" / "HumanEval.jsonl.gz"
    if not path.is_file():
        pytest.skip("HumanEval data not found in the data dir")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return {p["prompt"]: p for p in (json.loads(line) for line in f if line.strip())}


# Planted rates per model (HumanEval, GSM8K, BBH boolean expressions): every other item right is
# 50%, exactly, whatever order the requests arrive in. HumanEval ranks big > mid > small; GSM8K
# ranks them the same (rho = +1), BBH as big > small > mid (rho = +0.5), and the mean reasoning
# score as big > mid = small (rho = +0.866, a tie at the bottom).
RATES = {
    "big-70b": {"humaneval": 2, "gsm8k": 2, "bbh": 2},
    "mid-8b": {"humaneval": 1, "gsm8k": 1, "bbh": 0},
    "small-1b": {"humaneval": 0, "gsm8k": 0, "bbh": 1},
}
"""2: every item right; 1: every other one; 0: none."""


def _code_reasoning_script(data: Path) -> Script:
    import threading

    code = _humaneval_rows(data)
    golds = {**_golds(data, "gsm8k"), **_golds(data, BOOL)}
    gsm8k = set(_golds(data, "gsm8k"))
    seen: dict[tuple[str, str], int] = {}
    lock = threading.Lock()

    def right(model: str, task: str) -> bool:
        rate = RATES[model][task]
        with lock:
            k = seen.get((model, task), 0)
            seen[(model, task)] = k + 1
        return rate == 2 or (rate == 1 and k % 2 == 0)

    def respond(request: dict[str, Any]) -> list[Choice]:
        own, _ = _text(request)
        model = str(request["model"])
        if "```python\n" in own:
            prompt = own.split("```python\n", 1)[1].removesuffix("```")
            row = code[prompt]
            body = row["canonical_solution"] if right(model, "humaneval") else "    return None\n"
            return [Choice(f"Here:\n```python\n{row['prompt']}{body}```\n")]
        q = max((q for q in golds if q in own), key=len)
        task = "gsm8k" if q in gsm8k else "bbh"
        answer = golds[q] if right(model, task) else _wrong(golds[q])
        return [Choice(f"Let's think step by step.\nSome work.\nSo the answer is {answer}.")]

    return Script(responder=respond)


@pytest.mark.skipif(_sandbox_problem() is not None, reason="the bubblewrap sandbox is unavailable")
def test_code_reasoning_ranks_humaneval_against_reasoning_through_the_cli(
    cli: Any, serve: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = serve(_code_reasoning_script(data_dir))
    hub = tmp_path / "ref"
    hub.mkdir()
    (hub / "cot-hub-leaderboard.csv").write_text(
        "model,params,gsm8k,math,mmlu,bbh,humaneval,sources\n"
        "hub-a,?,90.0,,,80.0,70.0,paper A\n"
        "hub-b,7B,40.0,,,50.0,20.0,paper <b>\n"
        "hub-c,?,60.0,,,,,no humaneval: left out\n"
    )
    monkeypatch.setenv("COTHUB_REFERENCE_DIR", str(hub))
    limit = 4
    args = [
        "study",
        "code-reasoning",
        "gsm8k",
        BOOL,
        *(a for m in RATES for a in ("--model", f"openai/{m}")),
        "--base-url",
        srv.base_url,
        "--data-dir",
        data_dir,
        "--store",
        tmp_path / "s.db",
        "--limit",
        str(limit),
        "--json",
        tmp_path / "cr.json",
    ]
    r = cli(*args)
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "cr.json").read_text())
    assert out["study"] == "code-reasoning" and out["analysis"] == "code-reasoning"
    acc = {
        (p["model"].split("/")[1], p["task"].split("/")[0]): p["accuracy"] for p in out["points"]
    }
    for model, rates in RATES.items():
        for task, rate in rates.items():
            assert acc[(model, task)] == rate / 2, (model, task)
    # three tasks x three models, one ordinary run per model
    assert srv.stats.completion_requests == 3 * 3 * limit
    cor = {(c["y"], c["scope"]): c for c in out["correlations"]}
    assert cor[("gsm8k", "own")]["rho"] == pytest.approx(1.0)
    assert cor[("bbh", "own")]["rho"] == pytest.approx(0.5)
    assert cor[("reasoning (mean)", "own")]["rho"] == pytest.approx(math.sqrt(3) / 2)
    own = cor[("gsm8k", "own")]
    assert own["p_method"] == "exact" and own["p"] == pytest.approx(2 / 6)  # 2 of 3! orderings
    assert own["n"] == 3 and own["ci95"] is None  # no bootstrap of three points
    everyone = cor[("gsm8k", "all")]
    assert everyone["ci95"] == [pytest.approx(1.0), pytest.approx(1.0)]  # 5 models, all agree
    assert everyone["p"] == pytest.approx(2 / 120)
    # the hub's rows with a HumanEval number, beside the same reasoning benchmarks
    pub = {(p["model"], p["task"]): p["accuracy"] for p in out["published"]}
    assert pub == {
        ("hub-a", "humaneval"): 0.7,
        ("hub-a", "gsm8k"): 0.9,
        ("hub-a", "bbh"): 0.8,
        ("hub-b (7B)", "humaneval"): 0.2,
        ("hub-b (7B)", "gsm8k"): 0.4,
        ("hub-b (7B)", "bbh"): 0.5,
    }
    assert cor[("gsm8k", "published")]["rho"] == pytest.approx(1.0)
    assert cor[("gsm8k", "all")]["n"] == 5
    assert "Spearman" in r.out and "hub-b (7B)" in r.out and "rho = +0.87" in r.out

    again = cli(*args)  # every cell from the store
    assert again.code == 0 and srv.stats.completion_requests == 3 * 3 * limit
    assert json.loads((tmp_path / "cr.json").read_text())["correlations"] == out["correlations"]

    # the study's plot in the report: own models filled, the hub's rows hollow
    html_path = tmp_path / "r.html"
    rep = cli(
        "report", "--store", tmp_path / "s.db", "-o", html_path, "--study", tmp_path / "cr.json"
    )
    assert rep.code == 0, rep.err
    html = html_path.read_text()
    assert 'data-plot="study-code-reasoning"' in html and "hub-b (7B)" in html
    assert "Spearman own: rho +0.87" in html


def test_code_reasoning_always_runs_humaneval_and_needs_two_models(cli: Any) -> None:
    spec = builtin("code-reasoning")
    assert spec.tasks == ("humaneval", "gsm8k", "math", "bbh")
    assert builtin("code-reasoning", StudyOptions(tasks=("gsm8k",))).tasks == ("humaneval", "gsm8k")
    r = cli("study", "code-reasoning", "--model", "openai/a")
    assert r.code == 2 and "two or more" in r.err


def test_spearman_ties_permutations_and_bootstrap() -> None:
    from cothub.study.correlation import bootstrap_ci, permutation_p, ranks, spearman

    assert ranks([3.0, 1.0, 1.0, 2.0]) == [4.0, 1.5, 1.5, 3.0]
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 1, 1]) is None
    assert spearman([1], [1]) is None
    assert permutation_p([1, 2, 3, 4], [1, 2, 3, 4]) == (pytest.approx(2 / 24), "exact")
    p, method = permutation_p(list(range(10)), list(range(10)))
    assert method == "monte-carlo" and p is not None and p < 0.001
    ci = bootstrap_ci([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert ci is not None and -1 <= ci[0] <= spearman([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert bootstrap_ci([1, 2, 3, 4], [1, 2, 3, 4]) is None  # too few models to resample
