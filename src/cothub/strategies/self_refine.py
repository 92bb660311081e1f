"""``self-refine:rounds=R[,max_feedback_tokens=N]``: answer, critique, revise, until accepted.

Madaan et al. 2023, "Self-Refine: Iterative Refinement with Self-Feedback", NeurIPS 2023,
arXiv:2303.17651.

    cothub run gsm8k --model openai/gpt-4o-mini --strategy self-refine:rounds=2

Round 0 is the ordinary answer to the rendered prompt with the run's generation settings (the same
request, hence the same cache entry, as a ``single`` run). Each round r = 1..R then asks the same
model for FEEDBACK on the current answer, ending in ``VERDICT: CORRECT`` or ``VERDICT: INCORRECT``
plus what is wrong; unless it accepts, a REVISION request shows the answer and that feedback and
asks for a corrected full solution. The loop stops at the first accepting verdict or after R
rounds (so round R's revision is graded without further review). The last answer is graded.

Verdict parsing: the *last* ``VERDICT: CORRECT|INCORRECT`` in the feedback wins (case and
markdown emphasis ignored), because a reviewer may quote the instruction or change its mind;
feedback with no verdict, or any other wording, does NOT accept: refining once more is the
conservative reading of an unclear review, and the round cap bounds the cost.

Each round sees only the current answer and its feedback, not the whole history the paper feeds
back: prompts stay bounded for R up to 10, and the brief asks for exactly these two things.

Request layout. The rendered prompt (few-shot exemplars included) is the problem statement.

- chat: the conversation goes on. Feedback = prompt turns + assistant(answer) + user(review
  request); revision = those + assistant(feedback) + user(revision request).
- completions: text is appended, the answer and feedback right-stripped::

      <prompt><answer>

      Review request: <review instruction>
      Feedback:<feedback>

      Revision request: <revision instruction>
      Revised answer:
      <cue><revision>

  ``<cue>`` is the prompt's unfinished last line (``A:``, ``The answer is``, ``A: Let's think step
  by step.``; empty when the prompt ends with a newline): repeating it gives the revision the shape
  of the round-0 completion, so the task's grader reads both the same way. Follow-up requests also
  stop at ``\\nReview request:`` / ``\\nRevision request:`` (a base model goes on to write the next
  section), and feedback drops whitespace-only stops (``\\n`` would cut a review to one line).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from cothub.errors import CothubError
from cothub.scoring.stats import mcnemar_exact, wilson
from cothub.strategies.base import (
    Outcome,
    SolveContext,
    StrategySummary,
    own_stats,
    same_answer,
    total_usage,
)
from cothub.types import (
    Completion,
    FeedbackStep,
    GenerateConfig,
    Grade,
    GradedStep,
    Message,
    Prompt,
    ReviewVerdict,
    Step,
    StrategyStats,
)

Verdict = ReviewVerdict

REVIEW_REQUEST = (
    "Review the answer above step by step: check each step of the reasoning and the final answer "
    'against the question. End your review with exactly "VERDICT: CORRECT" if the answer is '
    'right, or with "VERDICT: INCORRECT" followed by what is wrong.'
)
REVISION_REQUEST = (
    "Using this feedback, write a corrected, complete solution to the question. End it with the "
    "final answer, stated the way the question asks for it."
)
_REVIEW_HEAD = "Review request:"
_REVISION_HEAD = "Revision request:"
_STOPS = ("\n" + _REVIEW_HEAD, "\n" + _REVISION_HEAD)
_MAX_STOPS = 4  # the OpenAI API accepts at most four stop sequences
_PROMPTS_SHA = hashlib.sha256((REVIEW_REQUEST + REVISION_REQUEST).encode()).hexdigest()[:12]

# "VERDICT: CORRECT", "**Verdict:** incorrect", "VERDICT - CORRECT"; INCORRECT is tried first
# and \b keeps "CORRECT" from matching inside "INCORRECTLY".
_VERDICT = re.compile(r"VERDICT\W{0,6}(INCORRECT|CORRECT)\b", re.IGNORECASE)


def parse_verdict(feedback: str) -> Verdict:
    """The last verdict in a review; ``missing`` when there is none (which does not accept)."""
    found = _VERDICT.findall(feedback)
    if not found:
        return "missing"
    return "correct" if found[-1].upper() == "CORRECT" else "incorrect"


@dataclass(frozen=True, slots=True)
class RefineStats:
    """One sample's refinement: its rounds, whether it changed, its verdict before and after."""

    rounds_used: int
    accepted: bool
    """Whether a review accepted the answer (else the round cap ended the loop)."""
    changed_at: int | None
    """The first round whose answer differed from round 0's; None: none did."""
    changed: bool
    """Whether the final answer differs from round 0's."""
    initial_correct: bool
    final_correct: bool

    def as_json(self) -> dict[str, object]:
        return {
            "rounds_used": self.rounds_used,
            "accepted": self.accepted,
            "changed_at": self.changed_at,
            "changed": self.changed,
            "initial_correct": self.initial_correct,
            "final_correct": self.final_correct,
        }


@dataclass(frozen=True, slots=True)
class RefineSummary:
    """Before vs after refinement, item-weighted (see :func:`refine_summary`)."""

    accuracy_before: float
    ci95_before: tuple[float, float]
    accuracy_after: float
    ci95_after: tuple[float, float]
    changed: int
    right_to_wrong: int
    wrong_to_right: int
    mcnemar_p: float
    accepted: int
    mean_rounds_used: float
    changed_at: dict[int, int]
    """First round whose answer differed -> items, ascending."""

    def as_json(self) -> dict[str, object]:
        return {
            "accuracy_before": self.accuracy_before,
            "ci95_before": list(self.ci95_before),
            "accuracy_after": self.accuracy_after,
            "ci95_after": list(self.ci95_after),
            "changed": self.changed,
            "right_to_wrong": self.right_to_wrong,
            "wrong_to_right": self.wrong_to_right,
            "mcnemar_p": self.mcnemar_p,
            "accepted": self.accepted,
            "mean_rounds_used": self.mean_rounds_used,
            "changed_at": {str(k): v for k, v in self.changed_at.items()},
        }


@dataclass(frozen=True, slots=True)
class SelfRefine:
    rounds: int = 2
    max_feedback_tokens: int | None = None
    """Token limit of a review (default: the run's --max-tokens or the task's default)."""
    name: str = "self-refine"

    def __post_init__(self) -> None:
        if not 1 <= self.rounds <= 10:
            raise CothubError(f"self-refine needs 1 <= rounds <= 10, not {self.rounds}")
        if self.max_feedback_tokens is not None and self.max_feedback_tokens < 1:
            raise CothubError(
                f"self-refine needs max_feedback_tokens >= 1, not {self.max_feedback_tokens}"
            )

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rounds": self.rounds,
            "max_feedback_tokens": self.max_feedback_tokens,
            "prompts_sha256": _PROMPTS_SHA,  # editing the instructions moves the numbers
        }

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        return {"self_refine": refine_summary(own_stats(stats, RefineStats))} if stats else {}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    async def solve(self, ctx: SolveContext) -> Outcome:
        prompt, equal = ctx.prompt, ctx.equal
        review_cfg = replace(
            ctx.config, max_tokens=self.max_feedback_tokens or ctx.config.max_tokens
        )
        current = await ctx.complete()
        current_grade = initial = await ctx.grade(current.text)
        used = [current]
        steps: list[Step] = [_answer_step("answer", 0, current, initial)]
        changed_at: int | None = None
        accepted = False
        r = 0
        for r in range(1, self.rounds + 1):
            feedback = await ctx.complete(review_prompt(prompt, current.text), review_cfg)
            used.append(feedback)
            verdict = parse_verdict(feedback.text)
            steps.append(FeedbackStep(r, feedback.text, verdict, feedback.finish_reason))
            if verdict == "correct":
                accepted = True
                break
            current = await ctx.complete(revision_prompt(prompt, current.text, feedback.text))
            current_grade = await ctx.grade(current.text)
            used.append(current)
            steps.append(_answer_step("revision", r, current, current_grade))
            if changed_at is None and not same_answer(initial.answer, current_grade.answer, equal):
                changed_at = r
        stats = RefineStats(
            rounds_used=r,
            accepted=accepted,
            changed_at=changed_at,
            changed=not same_answer(initial.answer, current_grade.answer, equal),
            initial_correct=initial.correct,
            final_correct=current_grade.correct,
        )
        final = total_usage(current, used, parallel=False)  # one request after another
        return Outcome(final, current_grade, tuple(steps), stats)


# ---- the follow-up requests -----------------------------------------------------------------


def review_prompt(prompt: Prompt, answer: str) -> Prompt:
    """The request for feedback on ``answer`` (see the module docstring for the layout)."""
    if prompt.style == "chat":
        turns = (_said(answer), Message("user", REVIEW_REQUEST))
        return replace(prompt, messages=prompt.messages + turns)
    text = f"{prompt.text}{answer.rstrip()}\n\n{_REVIEW_HEAD} {REVIEW_REQUEST}\nFeedback:"
    return replace(prompt, text=text, stop=_stops(s for s in prompt.stop if s.strip()))


def revision_prompt(prompt: Prompt, answer: str, feedback: str) -> Prompt:
    """The request for a corrected solution given ``answer`` and its ``feedback``."""
    review = review_prompt(prompt, answer)
    if prompt.style == "chat":
        turns = (_said(feedback), Message("user", REVISION_REQUEST))
        return replace(prompt, messages=review.messages + turns)
    cue = prompt.text.rpartition("\n")[2] if "\n" in prompt.text else ""
    text = (
        f"{review.text}{feedback.rstrip()}\n\n{_REVISION_HEAD} {REVISION_REQUEST}\n"
        f"Revised answer:\n{cue}"
    )
    return replace(prompt, text=text, stop=_stops(prompt.stop))


def _said(text: str) -> Message:
    """An assistant turn; an empty reply (all tokens spent thinking) becomes a marker, since
    chat APIs such as Anthropic's reject empty assistant turns and would stop the run."""
    return Message("assistant", text if text.strip() else "(no reply)")


def _stops(own: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*own, *_STOPS]))[:_MAX_STOPS]


def _answer_step(kind: Literal["answer", "revision"], r: int, c: Completion, g: Grade) -> Step:
    return GradedStep(kind, c.text, g.answer, g.correct, c.finish_reason, round=r)


# ---- run-level numbers ----------------------------------------------------------------------


def refine_summary(stats: Sequence[RefineStats]) -> RefineSummary:
    """Before vs after refinement, item-weighted, from the samples' stats.

    ``changed`` counts items whose final answer differs from round 0's; ``right_to_wrong`` and
    ``wrong_to_right`` count verdict flips; ``changed_at`` is the distribution of the first round
    whose answer differed (an item may change and change back); ``mcnemar_p`` is the exact
    two-sided McNemar test of the flips (is refinement's effect more than chance?).
    """
    n = len(stats)
    before = sum(s.initial_correct for s in stats)
    after = sum(s.final_correct for s in stats)
    r2w = sum(s.initial_correct and not s.final_correct for s in stats)
    w2r = sum(s.final_correct and not s.initial_correct for s in stats)
    at = Counter(s.changed_at for s in stats if s.changed_at is not None)
    return RefineSummary(
        accuracy_before=before / n,
        ci95_before=wilson(before, n),
        accuracy_after=after / n,
        ci95_after=wilson(after, n),
        changed=sum(s.changed for s in stats),
        right_to_wrong=r2w,
        wrong_to_right=w2r,
        mcnemar_p=mcnemar_exact(r2w, w2r),
        accepted=sum(s.accepted for s in stats),
        mean_rounds_used=sum(s.rounds_used for s in stats) / n,
        changed_at={k: at[k] for k in sorted(at)},
    )
