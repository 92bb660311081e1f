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
from typing import Any

from cothub.errors import CothubError
from cothub.strategies.base import EqualFn, Generate, GradeFn, Outcome
from cothub.types import Completion, GenerateConfig, Grade, Prompt, Sample


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

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "k": self.k,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "batch": self.batch,
        }

    def summary(self, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"self_consistency": curve(stats)}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        cfg = replace(
            base,
            temperature=self.temperature,
            top_p=self.top_p if self.top_p is not None else base.top_p,
            seed=base.seed if base.seed is not None else 0,
        )
        return replace(cfg, n=self.k) if self.batch else cfg

    async def solve(
        self,
        sample: Sample,
        prompt: Prompt,
        base: GenerateConfig,
        generate: Generate,
        grade: GradeFn,
        equal: EqualFn,
    ) -> Outcome:
        chains = await self.draw(prompt, base, generate)
        grades = await asyncio.gather(*(grade(c.text) for c in chains))
        winner, groups = vote([g.answer for g in grades], equal)
        chosen = winner if winner is not None else 0
        final = grades[chosen] if winner is not None else no_vote(grades[0])
        steps = tuple(
            {"kind": "sample", "text": c.text, "answer": g.answer, "correct": g.correct,
             "finish_reason": c.finish_reason}
            for c, g in zip(chains, grades, strict=True)
        )  # fmt: skip
        stats = {
            "answers": [g.answer for g in grades],
            "correct": [g.correct for g in grades],
            "group": groups,
        }
        return Outcome(merge_usage(chains, chosen), final, steps, stats)

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


def vote(answers: Sequence[str | None], equal: EqualFn) -> tuple[int | None, list[int]]:
    """(index of the first chain of the winning answer, group id per chain; -1 = no answer).

    Groups are formed in order of first appearance; the largest wins and a tie goes to the group
    that appeared first.
    """
    reps: list[int] = []
    sizes: list[int] = []
    group_of: list[int] = []
    for i, a in enumerate(answers):
        if a is None:
            group_of.append(-1)
            continue
        found = next((g for g, r in enumerate(reps) if equal(answers[r] or "", a)), None)
        if found is None:
            reps.append(i)
            sizes.append(0)
            found = len(reps) - 1
        sizes[found] += 1
        group_of.append(found)
    if not reps:
        return None, group_of
    best = max(range(len(reps)), key=lambda g: (sizes[g], -g))
    return reps[best], group_of


def no_vote(first: Grade) -> Grade:
    """The verdict when no chain gave an answer: unparsed, hence wrong."""
    return Grade(correct=False, answer=None, method="no-vote", check=first.check)


def merge_usage(chains: Sequence[Completion], chosen: int) -> Completion:
    """The chosen chain's text with the whole request's usage, so tokens per item stay exact."""
    c = chains[chosen]
    return replace(
        c,
        prompt_tokens=sum(x.prompt_tokens for x in chains),
        completion_tokens=sum(x.completion_tokens for x in chains),
        reasoning_tokens=sum(x.reasoning_tokens for x in chains),
        latency_s=max(x.latency_s for x in chains),
    )


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


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def curve(stats: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """maj@k and pass@k for k = 1, 2, 4, ... K from the same samples, with 95% CIs."""
    if not stats:
        return {}
    big_k = min(len(s["correct"]) for s in stats)
    ks = sorted({*(2**i for i in range(int(math.log2(big_k)) + 1)), big_k})
    rng = random.Random(seed)
    out: dict[str, Any] = {"k": ks, "maj": [], "pass": []}
    for k in ks:
        maj = [expected_majority(s["group"], s["correct"], k, rng) for s in stats]
        pas = [pass_at_k(len(s["correct"]), sum(s["correct"]), k) for s in stats]
        out["maj"].append(_mean_ci(maj))
        out["pass"].append(_mean_ci(pas))
    return out


def _mean_ci(values: Sequence[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = 1.959963984540054 * math.sqrt(var / n)
    return {"accuracy": mean, "ci95": [max(0.0, mean - half), min(1.0, mean + half)]}
