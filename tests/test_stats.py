"""The one statistics module against published values and brute force; the typed strategy records
against the JSON the store has always kept."""

from __future__ import annotations

import asyncio
import json
import math
from itertools import combinations
from typing import Any

import pytest

from cothub.scoring.stats import mcnemar_exact, mean_ci, pass_at_k, wilson
from cothub.strategies.base import (
    Estimate,
    SolveContext,
    no_answer,
    own_stats,
    same_answer,
    total_usage,
)
from cothub.strategies.self_consistency import VoteStats
from cothub.strategies.self_refine import RefineStats
from cothub.types import (
    Completion,
    DecomposeStep,
    FeedbackStep,
    GenerateConfig,
    Grade,
    GradedStep,
    OptionStep,
    ProgramRun,
    ProgramStep,
    Prompt,
    Sample,
    Step,
    SubquestionStep,
    step_from_json,
)

# ---- Wilson -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [
        # Newcombe 1998, "Two-sided confidence intervals for the single proportion", Stat Med
        # 17:857-872, Table I, method 3 (score interval without continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (8, 10, 0.4902, 0.9433),
    ],
)
def test_wilson_matches_newcombe(correct: int, n: int, low: float, high: float) -> None:
    assert wilson(correct, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 0.0)
    lo, hi = wilson(10, 10)
    assert hi == pytest.approx(1.0) and hi <= 1.0 and 0.69 < lo < 0.73


# ---- mean CI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "mean", "ci"),
    [
        (
            [0.2, 0.4, 0.6],
            0.4,
            (0.4 - 1.959964 * 0.2 / math.sqrt(3), 0.4 + 1.959964 * 0.2 / 3**0.5),
        ),
        ([0.5], 0.5, (0.5, 0.5)),  # one item: no spread to estimate
        ([0.0, 1.0], 0.5, (0.0, 1.0)),  # clipped to [0, 1]
        ([1.0, 1.0, 1.0, 1.0], 1.0, (1.0, 1.0)),
    ],
)
def test_mean_ci(values: list[float], mean: float, ci: tuple[float, float]) -> None:
    m, (lo, hi) = mean_ci(values)
    assert m == pytest.approx(mean) and (lo, hi) == pytest.approx(ci, abs=1e-6)


def test_mean_ci_needs_values() -> None:
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


# ---- exact McNemar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (3, 3, 1.0),
        (0, 5, 2 / 32),  # all five discordant pairs one way
        (1, 9, 2 * 11 / 1024),
        (2, 8, 0.109375),  # 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * 56 / 1024
        (8, 2, 0.109375),  # symmetric
        (5, 15, 0.041389465),  # 2 * P(X <= 5), X ~ Bin(20, 1/2)
        (10, 10, 1.0),
    ],
)
def test_mcnemar_exact(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-7)


def test_mcnemar_matches_the_binomial_tail_by_brute_force() -> None:
    for n in range(1, 16):
        for b in range(n + 1):
            tail = sum(math.comb(n, i) for i in range(min(b, n - b) + 1)) / 2**n
            assert mcnemar_exact(b, n - b) == pytest.approx(min(1.0, 2 * tail), rel=1e-12)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# ---- pass@k -------------------------------------------------------------------------------------


def _pass_brute(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (the first c correct) that hold a correct one."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_brute_force(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_pass_brute(n, c, k), abs=1e-12)


def test_pass_at_k_known_values_and_bad_arguments() -> None:
    assert pass_at_k(8, 0, 1) == 0.0 and pass_at_k(8, 8, 3) == 1.0
    assert pass_at_k(8, 2, 1) == pytest.approx(2 / 8)
    assert pass_at_k(4, 3, 2) == 1.0
    for bad in [(4, 5, 1), (4, 1, 0), (4, 1, 5)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


# ---- typed steps: exactly the JSON the store has always kept -------------------------------------

STORED: list[tuple[Step, str]] = [
    (
        GradedStep("sample", "t", "5", True, "stop"),
        '{"kind": "sample", "text": "t", "answer": "5", "correct": true, "finish_reason": "stop"}',
    ),
    (
        GradedStep("sample", "t", None, False, "length", None, 3, True),
        '{"kind": "sample", "text": "t", "answer": null, "correct": false, '
        '"finish_reason": "length", "reasoning_steps": 3, "voted": true}',
    ),
    (
        GradedStep("revision", "t", "2", False, "stop", round=1),
        '{"kind": "revision", "round": 1, "text": "t", "answer": "2", "correct": false, '
        '"finish_reason": "stop"}',
    ),
    (
        FeedbackStep(2, "ok", "correct", "stop"),
        '{"kind": "feedback", "round": 2, "text": "ok", "verdict": "correct", '
        '"finish_reason": "stop"}',
    ),
    (
        DecomposeStep("1. a", ("a",), "stop"),
        '{"kind": "decompose", "text": "1. a", "subquestions": ["a"], "finish_reason": "stop"}',
    ),
    (
        SubquestionStep(1, "a", "r", "stop"),
        '{"kind": "subquestion", "index": 1, "question": "a", "text": "r", '
        '"finish_reason": "stop"}',
    ),
    (
        ProgramStep(None, "stop", "no_code", None, False),
        '{"kind": "program", "code": null, "finish_reason": "stop", "status": "no_code", '
        '"answer": null, "correct": false}',
    ),
    (
        ProgramStep("x", "stop", "ok", "7", True, ProgramRun("", "7\n", "", 0, 0.5)),
        '{"kind": "program", "code": "x", "finish_reason": "stop", "status": "ok", "detail": "", '
        '"answer": "7", "correct": true, "stdout": "7\\n", "stderr": "", "exit_code": 0, '
        '"wall_s": 0.5}',
    ),
    (OptionStep("B", -1.5), '{"option": "B", "loglikelihood": -1.5}'),
]


@pytest.mark.parametrize(("step", "stored"), STORED)
def test_steps_write_and_read_the_stored_json(step: Step, stored: str) -> None:
    assert json.dumps(step.as_json()) == stored
    assert step_from_json(json.loads(stored)) == step


def test_step_briefs_never_print_none_none() -> None:
    briefs = [step.brief() for step, _ in STORED]
    assert "None=None" not in briefs and briefs[0] == "'5'" and briefs[-1] == "'B'=-1.5"
    with pytest.raises(ValueError):
        step_from_json({"kind": "telepathy"})


def test_stats_records_keep_their_json() -> None:
    v = VoteStats(("1", None), (True, False), (0, -1))
    assert v.as_json() == {"answers": ["1", None], "correct": [True, False], "group": [0, -1]}
    r = RefineStats(2, True, None, False, True, True)
    assert list(r.as_json()) == [
        "rounds_used", "accepted", "changed_at", "changed", "initial_correct", "final_correct",
    ]  # fmt: skip
    assert own_stats([v, v], VoteStats) == [v, v]
    with pytest.raises(TypeError):
        own_stats([v, r], VoteStats)


# ---- shared helpers -----------------------------------------------------------------------------


def test_shared_helpers() -> None:
    assert Estimate.of_counts(8, 10).as_json() == {"accuracy": 0.8, "ci95": list(wilson(8, 10))}
    assert no_answer("no-vote", "numeric") == Grade(False, None, "no-vote", check="numeric")
    assert same_answer(None, None, str.__eq__) and not same_answer("1", None, str.__eq__)
    used = [
        Completion("a", "stop", prompt_tokens=10, completion_tokens=2, latency_s=1.0),
        Completion("b", "stop", prompt_tokens=0, completion_tokens=3, latency_s=2.0),
    ]
    both = total_usage(used[1], used, parallel=True)
    assert (both.text, both.prompt_tokens, both.completion_tokens, both.latency_s) == (
        "b", 10, 5, 2.0,
    )  # fmt: skip
    assert total_usage(used[1], used, parallel=False).latency_s == 3.0


def test_solve_context_complete_defaults_to_the_task_prompt_and_run_settings() -> None:
    seen: list[tuple[Prompt, GenerateConfig]] = []

    async def generate(prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        seen.append((prompt, config))
        return [Completion("x", "stop"), Completion("y", "stop")]

    async def grade(text: str) -> Grade:
        return Grade(True, text, "whole")

    def equal(a: str, b: str) -> bool:
        return a == b

    prompt, other = Prompt("completions", text="Q"), Prompt("completions", text="R")
    ctx = SolveContext(Sample("t/0", "Q", "x"), prompt, GenerateConfig(8), generate, grade, equal)
    first: Any = asyncio.run(ctx.complete())
    assert first.text == "x" and seen[-1] == (prompt, GenerateConfig(8))
    asyncio.run(ctx.complete(other, GenerateConfig(4)))
    assert seen[-1] == (other, GenerateConfig(4))
