"""``least-to-most[:max_subquestions=N]``: decompose the problem, solve the parts in order, answer.

Zhou et al. 2023, "Least-to-Most Prompting Enables Complex Reasoning in Large Language Models",
ICLR 2023, arXiv:2205.10625; the decompose-then-delegate structure also follows Khot et al. 2023,
"Decomposed Prompting: A Modular Approach for Solving Complex Tasks", ICLR 2023, arXiv:2210.02406.

    cothub run gsm8k --model openai/gpt-4o-mini --strategy least-to-most:max_subquestions=5

Every request is greedy with the run's own generation settings, in three stages:

1. ``decompose``: the bare question (``Sample.question``, not the task prompt with its exemplars
   and answer instructions) with an instruction to list the sub-questions, easiest first, as a
   numbered list. Lines opening with ``1.``, ``1)``, ``1:``, ``- `` or ``* `` (markdown bold and a
   ``Sub-question``/``Q`` label allowed) are the sub-questions, the first N of them (N <= 8). The
   paper writes few-shot decomposition prompts per task; this instruction is zero-shot and the
   same for every benchmark, and its text is hashed into the run manifest.
2. ``subquestion``: the sub-questions are asked one at a time, each request holding the question
   and every earlier sub-question with its answer (chat: one conversation; completions: ``Q:`` /
   ``A:`` lines).
3. ``final``: the task's own prompt for the item (its exemplars and answer format, e.g. GSM8K's
   "The answer is N.") with the solved sub-questions placed right before the question: chat, at
   the top of the last user turn; completions, before the line where the item's question starts
   (at the very top if the prompt does not quote it). This completion is graded.

When no sub-question can be parsed the final request is the task's prompt unchanged, i.e. the
``single`` answer (and its cache entry). Every request is stored in ``Outcome.steps``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cothub.errors import CothubError
from cothub.strategies.base import Outcome, SolveContext, StrategySummary, own_stats, total_usage
from cothub.types import (
    ApiStyle,
    DecomposeStep,
    GenerateConfig,
    GradedStep,
    Message,
    Prompt,
    Step,
    StrategyStats,
    SubquestionStep,
)

MAX_SUBQUESTIONS = 8
DECOMPOSE = (
    "Break the following problem down into the simpler sub-questions that have to be answered, "
    "one after another, to solve it. List them easiest first as a numbered list (1., 2., ...), "
    "one per line, at most {n}. Do not answer them.\n\nProblem: {question}"
)
SOLVE = (
    "Answer the sub-questions of the following problem one at a time, briefly, ending each "
    "answer with its result.\n\nProblem: {question}"
)
SOLVED_HEAD = "Solved sub-questions:"
_DECOMPOSE_TAIL = "\n\nSub-questions:\n"
_PROMPTS_SHA = hashlib.sha256((DECOMPOSE + SOLVE + SOLVED_HEAD).encode()).hexdigest()[:12]
# "1. x", "2) x", "3: x", "- x", "* x", "**1.** x", "Sub-question 1: x", "Q2. x".
_ITEM = re.compile(
    r"^\s*(?:\*\*)?(?:(?:sub-?question|q)\s*)?(?:\d{1,2}\s*[.):]|[-*•])(?:\*\*)?\s+(\S.*?)\s*$",
    re.IGNORECASE,
)


def parse_subquestions(text: str, limit: int = MAX_SUBQUESTIONS) -> list[str]:
    """The listed sub-questions of a decomposition, in order, at most ``limit``."""
    found = (m.group(1) for m in map(_ITEM.match, text.splitlines()) if m)
    return [q for q in found if q.strip("*").strip()][:limit]


@dataclass(frozen=True, slots=True)
class DecomposeStats:
    """How many sub-questions one sample's decomposition gave."""

    subquestions: int
    """0: none could be parsed (the final request was the task's prompt as it is)."""

    def as_json(self) -> dict[str, object]:
        return {"subquestions": self.subquestions}


@dataclass(frozen=True, slots=True)
class DecomposeSummary:
    """How far the run's problems were decomposed."""

    mean_subquestions: float
    undecomposed: int
    """Samples with no parsable sub-question."""

    def as_json(self) -> dict[str, object]:
        return {"mean_subquestions": self.mean_subquestions, "undecomposed": self.undecomposed}


@dataclass(frozen=True, slots=True)
class LeastToMost:
    max_subquestions: int = MAX_SUBQUESTIONS
    name: str = "least-to-most"

    def __post_init__(self) -> None:
        if not 1 <= self.max_subquestions <= MAX_SUBQUESTIONS:
            raise CothubError(
                f"least-to-most needs 1 <= max_subquestions <= {MAX_SUBQUESTIONS}, "
                f"not {self.max_subquestions}"
            )

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "max_subquestions": self.max_subquestions,
            "prompts_sha256": _PROMPTS_SHA,  # editing the instructions moves the numbers
        }

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        if not stats:
            return {}
        counts = [s.subquestions for s in own_stats(stats, DecomposeStats)]
        return {"least_to_most": DecomposeSummary(sum(counts) / len(counts), counts.count(0))}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    async def solve(self, ctx: SolveContext) -> Outcome:
        style, question = ctx.prompt.style, ctx.sample.question
        plan = await ctx.complete(decompose_prompt(style, question, self.max_subquestions))
        subquestions = parse_subquestions(plan.text, self.max_subquestions)
        used = [plan]
        steps: list[Step] = [DecomposeStep(plan.text, tuple(subquestions), plan.finish_reason)]
        solved: list[tuple[str, str]] = []
        for i, sub in enumerate(subquestions):
            reply = await ctx.complete(subquestion_prompt(style, question, solved, sub))
            used.append(reply)
            solved.append((sub, reply.text.strip()))
            steps.append(SubquestionStep(i + 1, sub, reply.text, reply.finish_reason))
        final = await ctx.complete(final_prompt(ctx.prompt, question, solved))
        used.append(final)
        verdict = await ctx.grade(final.text)
        steps.append(
            GradedStep("final", final.text, verdict.answer, verdict.correct, final.finish_reason)
        )
        # The requests ran one after another: their latencies add up.
        completion = total_usage(final, used, parallel=False)
        return Outcome(completion, verdict, tuple(steps), DecomposeStats(len(subquestions)))


# ---- the requests -----------------------------------------------------------------------------


def decompose_prompt(style: ApiStyle, question: str, n: int) -> Prompt:
    """Stage 1: ask for the sub-questions of ``question``."""
    text = DECOMPOSE.format(n=n, question=question.strip())
    if style == "chat":
        return Prompt(style="chat", messages=(Message("user", text),))
    # A base model ends its list with a blank line and would go on to write something else.
    return Prompt(style="completions", text=text + _DECOMPOSE_TAIL, stop=("\n\n",))


def subquestion_prompt(
    style: ApiStyle, question: str, solved: Sequence[tuple[str, str]], sub: str
) -> Prompt:
    """Stage 2: ``sub``, after the question and the sub-questions answered so far."""
    head = SOLVE.format(question=question.strip())
    if style == "chat":
        turns: list[Message] = []
        for j, asked in enumerate([*(q for q, _ in solved), sub]):
            turns.append(Message("user", f"{head}\n\nQ: {asked}" if j == 0 else f"Q: {asked}"))
            if j < len(solved):
                turns.append(Message("assistant", solved[j][1]))
        return Prompt(style="chat", messages=tuple(turns))
    pairs = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in solved)
    return Prompt(
        style="completions", text=f"{head}\n\n{pairs}Q: {sub}\nA:", stop=("\nQ:", "\nProblem:")
    )


def final_prompt(prompt: Prompt, question: str, solved: Sequence[tuple[str, str]]) -> Prompt:
    """Stage 3: the task's prompt with the solved sub-questions right before the question."""
    if not solved:
        return prompt
    block = SOLVED_HEAD + "\n" + "".join(f"Q: {q}\nA: {a}\n" for q, a in solved) + "\n"
    if prompt.style == "chat":
        last = prompt.messages[-1]
        turns = (*prompt.messages[:-1], replace(last, content=block + last.content))
        return replace(prompt, messages=turns)
    at = prompt.text.rfind(question.strip())
    start = prompt.text.rfind("\n", 0, at) + 1 if at > 0 else 0
    return replace(prompt, text=prompt.text[:start] + block + prompt.text[start:])
