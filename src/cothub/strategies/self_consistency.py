"""``self-consistency:k=K[,temperature=T,top_p=P,batch=true]``: sample K chains, majority vote.

Wang et al. 2023, "Self-Consistency Improves Chain of Thought Reasoning in Language Models",
ICLR 2023, arXiv:2203.11171.

    cothub run gsm8k --model openai/gpt-4o-mini --strategy self-consistency:k=8,temperature=0.7

The vote is over *extracted answers*, grouped by the task's own equivalence check (so ``0.5`` and
``\\frac{1}{2}`` are one vote on MATH); chains without an answer do not vote; ties go to the
answer that appeared first, so the result is deterministic. With ``batch=true`` (default) the K
chains come from ONE request with ``n=K`` (prompt tokens paid once); ``batch=false`` sends K
requests with seeds ``seed, seed+1, ...`` for servers that ignore ``n``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from cothub.errors import CothubError
from cothub.scoring.stats import pass_at_k
from cothub.strategies.base import (
    Estimate,
    Generate,
    Outcome,
    SolveContext,
    StrategySummary,
    no_answer,
    own_stats,
    total_usage,
    vote,
)
from cothub.types import Completion, GenerateConfig, GradedStep, Prompt, StrategyStats


@dataclass(frozen=True, slots=True)
class VoteStats:
    """One sample's chains as the vote saw them (what maj@k and pass@k are computed from)."""

    answers: tuple[str | None, ...]
    """Each chain's extracted answer; None: none."""
    correct: tuple[bool, ...]
    """Each chain's verdict."""
    group: tuple[int, ...]
    """Each chain's answer group (equal answers share one, numbered by first appearance); -1:
    no answer."""

    def as_json(self) -> dict[str, object]:
        return {"answers": list(self.answers), "correct": list(self.correct),
                "group": list(self.group)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class VoteCurve:
    """maj@k and pass@k for k = 1, 2, 4, ... K (and 10, 100 where K allows) over the run's
    samples."""

    k: tuple[int, ...]
    maj: tuple[Estimate, ...]
    """Expected majority-vote accuracy among k of the chains, per k."""
    pass_at: tuple[Estimate, ...]
    """Unbiased pass@k, per k."""

    def as_json(self) -> dict[str, object]:
        return {"k": list(self.k), "maj": [e.as_json() for e in self.maj],
                "pass": [e.as_json() for e in self.pass_at]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SelfConsistency:
    k: int
    temperature: float = 0.7
    top_p: float | None = None
    batch: bool = True
    name: str = "self-consistency"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise CothubError(f"self-consistency needs k >= 1, not {self.k}")
        if self.temperature <= 0:
            raise CothubError("self-consistency needs temperature > 0: greedy chains are identical")

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "k": self.k,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "batch": self.batch,
        }

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        return {"self_consistency": curve(own_stats(stats, VoteStats))} if stats else {}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        cfg = replace(
            base,
            temperature=self.temperature,
            top_p=self.top_p if self.top_p is not None else base.top_p,
            seed=base.seed if base.seed is not None else 0,
        )
        return replace(cfg, n=self.k) if self.batch else cfg

    async def solve(self, ctx: SolveContext) -> Outcome:
        chains = await self.draw(ctx.prompt, ctx.config, ctx.generate)
        grades = await asyncio.gather(*(ctx.grade(c.text) for c in chains))
        winner, groups = vote([g.answer for g in grades], ctx.equal)
        chosen = winner if winner is not None else 0
        final = grades[chosen] if winner is not None else no_answer("no-vote", grades[0].check)
        steps = tuple(
            GradedStep("sample", c.text, g.answer, g.correct, c.finish_reason)
            for c, g in zip(chains, grades, strict=True)
        )
        stats = VoteStats(
            tuple(g.answer for g in grades), tuple(g.correct for g in grades), tuple(groups)
        )
        return Outcome(total_usage(chains[chosen], chains, parallel=True), final, steps, stats)

    async def draw(
        self, prompt: Prompt, base: GenerateConfig, generate: Generate
    ) -> list[Completion]:
        """The K chains: one request with ``n=K``, or K requests seeded ``seed, seed+1, ...``."""
        cfg = self.first_config(base)
        if self.batch:
            return (await generate(prompt, cfg))[: self.k]
        seed = cfg.seed or 0
        replies = await asyncio.gather(
            *(generate(prompt, replace(cfg, seed=seed + i)) for i in range(self.k))
        )
        return [r[0] for r in replies]


# ---- metrics over the stored chains ----------------------------------------------------------


def majority_at(groups: Sequence[int], correct: Sequence[bool], subset: Sequence[int]) -> bool:
    """Would a vote among ``subset`` of the chains be correct? (Same tie rule as :func:`vote`.)"""
    sizes: dict[int, int] = {}
    first: dict[int, int] = {}
    for i in subset:
        g = groups[i]
        if g < 0:
            continue
        sizes[g] = sizes.get(g, 0) + 1
        first.setdefault(g, i)
    if not sizes:
        return False
    best = max(sizes, key=lambda g: (sizes[g], -first[g]))
    return bool(correct[first[best]])


def expected_majority(
    groups: Sequence[int], correct: Sequence[bool], k: int, rng: random.Random, draws: int = 200
) -> float:
    """Mean majority-vote correctness over k-subsets of the chains (exact when few subsets)."""
    n = len(groups)
    if math.comb(n, k) <= draws:
        subsets: list[Sequence[int]] = list(combinations(range(n), k))
    else:
        subsets = [sorted(rng.sample(range(n), k)) for _ in range(draws)]
    return sum(majority_at(groups, correct, s) for s in subsets) / len(subsets)


def curve(stats: Sequence[VoteStats], seed: int = 0) -> VoteCurve:
    """maj@k and pass@k for k = 1, 2, 4, ... K (and 10, 100) from the same samples, with 95%
    CIs."""
    big_k = min(len(s.correct) for s in stats)
    # Powers of two, and 10 and 100 (HumanEval's pass@k, Chen et al. 2021) where K allows.
    ks = sorted({*(2**i for i in range(int(math.log2(big_k)) + 1)),
                 *(k for k in (10, 100) if k <= big_k), big_k})  # fmt: skip
    rng = random.Random(seed)
    maj: list[Estimate] = []
    pas: list[Estimate] = []
    for k in ks:
        maj.append(Estimate.of_mean([expected_majority(s.group, s.correct, k, rng) for s in stats]))
        pas.append(Estimate.of_mean([pass_at_k(len(s.correct), sum(s.correct), k) for s in stats]))
    return VoteCurve(tuple(ks), tuple(maj), tuple(pas))
