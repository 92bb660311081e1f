"""``complexity:k=K[,m=M,temperature=T,top_p=P,select=complexity|random,batch=true]``:
complexity-based prompting and complexity-based voting.

Fu et al. 2023, "Complexity-Based Prompting for Multi-Step Reasoning", ICLR 2023,
arXiv:2210.00720.

    cothub run gsm8k --model openai/gpt-4o-mini --strategy complexity:k=8,m=4,temperature=0.7

Both halves of the paper:

- Selection (``select=complexity``, the default): the few-shot exemplars are the ones of the
  task's pool whose rationales have the most reasoning steps (non-empty lines); see
  ``PromptOptions.selection`` for which tasks have a pool. ``select=random`` keeps the task's usual
  exemplars, so voting can be measured on its own.
- Voting (K > 1): K chains are sampled exactly as ``self-consistency`` samples them (the same
  requests, so the two share cache entries), and the majority vote is held only among the M
  chains with the most reasoning steps (default M = ceil(K/2)).

A chain's steps are its non-empty lines before the last one (the line that states the answer), the
paper's line count. Only chains with an extracted answer compete for the M places: a chain with
no answer cannot vote, and a truncated chain is long by construction. Equal step counts go to the
earlier chain; the vote itself breaks ties as self-consistency does. K = 1 is selection alone:
one chain with the run's own generation settings (greedy unless ``--temperature`` says otherwise).

Each sample stores every chain with its step count and whether it voted, and stats holding the
winning answer and what the plain majority over all K chains would have concluded; the run
summary puts maj@K and the complexity vote side by side.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cothub.errors import CothubError
from cothub.strategies.base import (
    Estimate,
    Outcome,
    SolveContext,
    StrategySummary,
    no_answer,
    own_stats,
    total_usage,
    vote,
)
from cothub.strategies.self_consistency import SelfConsistency
from cothub.types import GenerateConfig, GradedStep, StrategyStats

if TYPE_CHECKING:
    from cothub.tasks.base import PromptOptions, Selection


@dataclass(frozen=True, slots=True)
class ComplexityStats:
    """One sample's chains, which of them voted, and both votes' verdicts."""

    answers: tuple[str | None, ...]
    correct: tuple[bool, ...]
    group: tuple[int, ...]
    """Each chain's answer group, as in ``VoteStats``; -1: no answer."""
    steps: tuple[int, ...]
    """Each chain's reasoning steps."""
    voters: tuple[int, ...]
    """The chains that voted (the most complex answering ones), ascending."""
    winner: str | None
    """The complexity vote's answer."""
    complexity_correct: bool
    majority_correct: bool
    """Whether the plain majority over all K chains would have been right."""

    def as_json(self) -> dict[str, object]:
        return {
            "answers": list(self.answers),
            "correct": list(self.correct),
            "group": list(self.group),
            "steps": list(self.steps),
            "voters": list(self.voters),
            "winner": self.winner,
            "complexity_correct": self.complexity_correct,
            "majority_correct": self.majority_correct,
        }


@dataclass(frozen=True, slots=True)
class ComplexityVote:
    """maj@K over all chains beside the vote of the M most complex, on the same samples."""

    k: int
    m: int
    majority: Estimate
    complexity_vote: Estimate
    gained: int
    """Items only the complexity vote gets right."""
    lost: int
    """Items only the plain majority gets right."""

    def as_json(self) -> dict[str, object]:
        return {
            "k": self.k,
            "m": self.m,
            "majority": self.majority.as_json(),
            "complexity_vote": self.complexity_vote.as_json(),
            "gained": self.gained,
            "lost": self.lost,
        }


@dataclass(frozen=True, slots=True)
class Complexity:
    k: int = 1
    m: int | None = None
    """Chains that vote (the most complex ones); default ceil(k/2)."""
    temperature: float = 0.7
    top_p: float | None = None
    select: Selection = "complexity"
    batch: bool = True
    name: str = "complexity"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise CothubError(f"complexity needs k >= 1, not {self.k}")
        if self.m is not None and not 1 <= self.m <= self.k:
            raise CothubError(f"complexity needs 1 <= m <= k (k={self.k}), not m={self.m}")
        if self.k > 1 and self.temperature <= 0:
            raise CothubError("complexity with k > 1 needs temperature > 0: greedy chains agree")
        if self.select not in ("complexity", "random"):
            raise CothubError(f"complexity: select={self.select!r}; choose complexity or random")

    @property
    def voters(self) -> int:
        return self.m if self.m is not None else math.ceil(self.k / 2)

    @property
    def _sampler(self) -> SelfConsistency:
        return SelfConsistency(self.k, self.temperature, self.top_p, self.batch)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "k": self.k, "m": self.voters}
        if self.k > 1:  # with one chain the run's own settings apply: these move nothing
            out.update(temperature=self.temperature, top_p=self.top_p, batch=self.batch)
        out["select"] = self.select
        return out

    def prompt_options(self, options: PromptOptions) -> PromptOptions:
        return replace(options, selection=self.select)

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        if not stats:
            return {}
        return {"complexity": vote_summary(own_stats(stats, ComplexityStats), self.k, self.voters)}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base if self.k == 1 else self._sampler.first_config(base)

    async def solve(self, ctx: SolveContext) -> Outcome:
        if self.k == 1:
            chains = (await ctx.generate(ctx.prompt, ctx.config))[:1]
        else:
            chains = await self._sampler.draw(ctx.prompt, ctx.config, ctx.generate)
        grades = await asyncio.gather(*(ctx.grade(c.text) for c in chains))
        answers = [g.answer for g in grades]
        steps = [chain_steps(c.text) for c in chains]
        voters = most_complex_chains(steps, answers, self.voters)
        winner, _ = vote([a if i in voters else None for i, a in enumerate(answers)], ctx.equal)
        majority, groups = vote(answers, ctx.equal)
        final = grades[winner] if winner is not None else no_answer("no-vote", grades[0].check)
        records = tuple(
            GradedStep("sample", c.text, g.answer, g.correct, c.finish_reason, None, n, i in voters)
            for i, (c, g, n) in enumerate(zip(chains, grades, steps, strict=True))
        )
        stats = ComplexityStats(
            answers=tuple(answers),
            correct=tuple(g.correct for g in grades),
            group=tuple(groups),
            steps=tuple(steps),
            voters=tuple(voters),
            winner=final.answer,
            complexity_correct=final.correct,
            majority_correct=majority is not None and grades[majority].correct,
        )
        chosen = winner if winner is not None else 0
        return Outcome(total_usage(chains[chosen], chains, parallel=True), final, records, stats)


def chain_steps(text: str) -> int:
    """Reasoning steps of a chain: its non-empty lines before the last (the answer line)."""
    return max(0, sum(1 for line in text.splitlines() if line.strip()) - 1)


def most_complex_chains(steps: Sequence[int], answers: Sequence[str | None], m: int) -> list[int]:
    """Indices of the ``m`` answering chains with the most steps (ties: earlier), ascending."""
    answering = [i for i, a in enumerate(answers) if a is not None]
    ranked = sorted(answering, key=lambda i: -steps[i])  # stable: ties keep chain order
    return sorted(ranked[:m])


def vote_summary(stats: Sequence[ComplexityStats], k: int, m: int) -> ComplexityVote:
    """maj@K over all chains beside the vote of the M most complex, on the same samples."""
    n = len(stats)
    maj = [s.majority_correct for s in stats]
    cx = [s.complexity_correct for s in stats]
    return ComplexityVote(
        k=k,
        m=m,
        majority=Estimate.of_counts(sum(maj), n),
        complexity_vote=Estimate.of_counts(sum(cx), n),
        gained=sum(c and not j for c, j in zip(cx, maj, strict=True)),
        lost=sum(j and not c for c, j in zip(cx, maj, strict=True)),
    )
