"""The records that flow between stages.

dataset rows -> Sample -> Prompt -> Completion -> Answer -> Grade -> SampleRecord -> Summary.
Every record is frozen: a stage returns a new record instead of mutating the one it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ApiStyle = Literal["chat", "completions"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark item, after the task's adapter has read its raw row."""

    id: str
    """Stable id within the task (e.g. ``test/17`` or ``date_understanding/3``)."""
    question: str
    """The item text as the dataset gives it (options included for multiple choice)."""
    gold: str
    """The reference answer, already reduced to what a grader compares against."""
    subset: str = ""
    """Sub-task the item belongs to (BBH task, MMLU subject, MATH subject); empty if none."""
    tags: tuple[tuple[str, str], ...] = ()
    """Extra breakdown keys, e.g. (("level", "3"),) for MATH."""


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """What is sent to a model for one sample: one text (completion style) or chat turns."""

    style: ApiStyle
    """``completions`` renders one string; ``chat`` renders messages."""
    text: str = ""
    """The full prompt string, completion style."""
    messages: tuple[Message, ...] = ()
    """The conversation, chat style."""
    stop: tuple[str, ...] = ()
    """Stop sequences that end the answer (a base model would otherwise write the next exemplar)."""
    n_exemplars: int = 0
    """How many few-shot exemplars the prompt holds (after any dropped to fit a context)."""

    def as_json(self) -> dict[str, object]:
        """A canonical, JSON-ready form: what the cache key and the store see."""
        if self.style == "chat":
            body: dict[str, object] = {
                "messages": [{"role": m.role, "content": m.content} for m in self.messages]
            }
        else:
            body = {"prompt": self.text}
        body["style"] = self.style
        body["stop"] = list(self.stop)
        return body


@dataclass(frozen=True, slots=True)
class GenerateConfig:
    """Generation settings, resolved once per run and passed to the backend explicitly."""

    max_tokens: int
    """Upper bound on generated tokens; a completion that hits it is truncated."""
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float | None = None
    """Nucleus sampling mass; None leaves the server default (irrelevant when greedy)."""
    seed: int | None = None
    """Sampling seed sent to servers that accept one."""
    n: int = 1
    """Completions per request."""
    timeout_s: float = 120.0
    """Per-request timeout; a request that exceeds it is retried."""
    reasoning_effort: str | None = None
    """``low``/``medium``/``high`` for reasoning models that take it (OpenAI-style); None: unset."""
    thinking_budget: int | None = None
    """Thinking tokens allowed (Anthropic extended thinking); None: thinking not requested."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "n": self.n,
        }
        # Only when set: runs without them keep the cache keys and run ids they always had.
        if self.reasoning_effort is not None:
            out["reasoning_effort"] = self.reasoning_effort
        if self.thinking_budget is not None:
            out["thinking_budget"] = self.thinking_budget
        return out


FinishReason = Literal["stop", "length", "error", "other"]


@dataclass(frozen=True, slots=True)
class Completion:
    """One model response, with what it cost."""

    text: str
    """The text as the model returned it; inline ``<think>`` blocks stay in it (graders skip
    them), thinking a server returned separately does not."""
    finish_reason: FinishReason
    """``length`` means the token limit cut it off."""
    reasoning: str | None = None
    """The thinking, for reading only (never graded): a separate field (``reasoning_content``,
    Anthropic thinking blocks) or a copy of the inline ``<think>`` content of ``text``."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    latency_s: float = 0.0
    """Wall time of the successful attempt."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What an extractor found in a completion."""

    value: str | None
    """The normalised answer, or None when the completion commits to no answer."""
    span: tuple[int, int] | None = None
    """Character offsets of the answer in the completion text that was searched."""
    method: str = "none"
    """Which rule found it (``final-phrase``, ``last-number``, ``boxed``, ...) or why none."""


@dataclass(frozen=True, slots=True)
class Grade:
    """The verdict on one completion: returned by :func:`cothub.grade` and stored per sample."""

    correct: bool
    answer: str | None
    """The extracted, normalised answer (None: no answer found)."""
    method: str
    """How the answer was extracted."""
    span: tuple[int, int] | None = None
    check: str = ""
    """Which equivalence check decided the verdict (``numeric``, ``exact``, ``math-verify``...)."""
    disagreement: bool = False
    """True when an alternative extraction or check would have given a different verdict."""

    @property
    def unparsed(self) -> bool:
        return self.answer is None


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """Everything stored about one item of one run."""

    task: str
    sample: Sample
    prompt: Prompt
    completion: Completion
    grade: Grade
    cache_key: str
    cached: bool = False
    steps: tuple[dict[str, Any], ...] = ()
    """A strategy's intermediate completions (samples, feedback turns, ...), for the store."""
    stats: dict[str, Any] = field(default_factory=dict)
    """A strategy's per-sample numbers that its run-level metrics aggregate."""
    requests: int | None = None
    """Model requests that producing this sample took when it was first made (a cache hit keeps
    that count); None when unknown, e.g. for imported completions."""


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """Accuracy of one task, subset or benchmark headline."""

    accuracy: float
    n: int
    correct: int
    ci95: tuple[float, float]
    unparsed: int = 0
    truncated: int = 0
    aggregate: str = "micro"
    """``micro`` (item-weighted) or ``macro`` (unweighted mean over subsets)."""
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "accuracy": self.accuracy,
            "n": self.n,
            "correct": self.correct,
            "ci95": [self.ci95[0], self.ci95[1]],
            "unparsed": self.unparsed,
            "truncated": self.truncated,
            "aggregate": self.aggregate,
        }
        out.update(self.extra)
        return out
