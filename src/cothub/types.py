"""The records that flow between stages.

dataset rows -> Sample -> Prompt -> Completion -> Answer -> Grade -> SampleRecord -> Summary.
Every record is frozen: a stage returns a new record instead of mutating the one it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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
    choices: tuple[str, ...] = ()
    """A multiple-choice item's options as their text, in order (the first is option ``A`` where
    options are lettered), read once by the adapter; empty for free-form items. ``question``
    still lists them, as the dataset does."""


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
    alternative: Answer | None = None
    """What a second rule read in the same completion (the published strict rule, or the last
    number of the answer region), for the scorer to flag a ``disagreement`` where the two would
    be graded differently; None: no second reading."""


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
    steps: tuple[Step, ...] = ()
    """A strategy's intermediate completions (samples, feedback turns, ...), for the store."""
    stats: StrategyStats | None = None
    """A strategy's per-sample numbers that its run-level metrics aggregate; None: none."""
    requests: int | None = None
    """Model requests that producing this sample took when it was first made (a cache hit keeps
    that count); None when unknown, e.g. for imported completions."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """How a set of items' answers were found (``scoring.metrics.summarize_items``): the counts and
    rates that silently move published numbers, kept beside the accuracy they qualify."""

    disagreements: int
    """Items where another extraction or check would give a different verdict."""
    unparsed_rate: float
    truncated_rate: float
    disagreement_rate: float
    unclosed_thinking: int
    """Replies whose ``<think>`` block never closed (counted as truncated)."""
    reasoning_tokens_per_item: float
    methods: tuple[tuple[str, int], ...] | None = None
    """Grades per extraction rule, most frequent first; None (and not written) in a summary
    stored before cothub counted them."""
    method_rates: tuple[tuple[str, float], ...] | None = None
    weakest_fallback_rate: float | None = None
    """Share decided by the weakest fallback (the last number of the text)."""

    _KEYS = ("disagreements", "unparsed_rate", "truncated_rate", "disagreement_rate",
             "unclosed_thinking", "reasoning_tokens_per_item")  # fmt: skip
    _OPTIONAL = ("methods", "method_rates", "weakest_fallback_rate")

    def items(self) -> Iterator[tuple[str, object]]:
        """Its keys of the summary JSON, in order (the ones never counted left out)."""
        yield from zip(self._KEYS, (self.disagreements, self.unparsed_rate, self.truncated_rate,
                       self.disagreement_rate, self.unclosed_thinking,
                       self.reasoning_tokens_per_item), strict=True)  # fmt: skip
        if self.methods is not None:
            yield "methods", dict(self.methods)
        if self.method_rates is not None:
            yield "method_rates", dict(self.method_rates)
        if self.weakest_fallback_rate is not None:
            yield "weakest_fallback_rate", self.weakest_fallback_rate

    @classmethod
    def from_json(cls, d: dict[str, JsonValue]) -> Extraction | None:
        """The record from a summary's keys; None when it lacks them (then they stay unknown)."""
        if not all(k in d for k in cls._KEYS):
            return None
        methods, rates = d.get("methods"), d.get("method_rates")
        return cls(
            disagreements=d["disagreements"],
            unparsed_rate=d["unparsed_rate"],
            truncated_rate=d["truncated_rate"],
            disagreement_rate=d["disagreement_rate"],
            unclosed_thinking=d["unclosed_thinking"],
            reasoning_tokens_per_item=d["reasoning_tokens_per_item"],
            methods=None if methods is None else tuple(methods.items()),
            method_rates=None if rates is None else tuple(rates.items()),
            weakest_fallback_rate=d.get("weakest_fallback_rate"),
        )


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A headline split by one sample tag (MATH ``level``, MMLU ``category``): ``by_<tag>``."""

    tag: str
    groups: tuple[tuple[str, TaskSummary], ...]
    """Tag value -> the summary of its items, in sorted value order."""

    @property
    def key(self) -> str:
        return f"by_{self.tag}"

    def get(self, value: str) -> TaskSummary | None:
        return dict(self.groups).get(value)


@dataclass(frozen=True, slots=True)
class TokensPerItem:
    """Mean tokens per item; None when there are no items."""

    prompt: float | None
    completion: float | None
    reasoning: float | None

    @property
    def sent_and_received(self) -> float | None:
        """Prompt plus completion tokens per item; None when there are no items."""
        if self.prompt is None or self.completion is None:
            return None
        return self.prompt + self.completion


@dataclass(frozen=True, slots=True)
class Accounting:
    """What a task's items took (``cost.accounting``); each mean None when it cannot be known:
    no items, an unpriced model, an unrecorded request count, no correct answer."""

    tokens_per_item: TokensPerItem
    requests_per_item: float | None
    cost_usd: float | None
    cost_per_item: float | None
    cost_per_correct: float | None

    _KEYS = ("tokens_per_item", "requests_per_item", "cost_usd", "cost_per_item",
             "cost_per_correct")  # fmt: skip

    def items(self) -> Iterator[tuple[str, object]]:
        """Its keys of the summary JSON, in order."""
        t = self.tokens_per_item
        yield "tokens_per_item", {"prompt": t.prompt, "completion": t.completion,
                                  "reasoning": t.reasoning}  # fmt: skip
        yield "requests_per_item", self.requests_per_item
        yield "cost_usd", self.cost_usd
        yield "cost_per_item", self.cost_per_item
        yield "cost_per_correct", self.cost_per_correct

    @classmethod
    def from_json(cls, d: dict[str, JsonValue]) -> Accounting | None:
        """The record from a summary's keys; None when it lacks them (an import has none)."""
        if not all(k in d for k in cls._KEYS) or not isinstance(d["tokens_per_item"], dict):
            return None
        t = d["tokens_per_item"]
        tokens = TokensPerItem(t.get("prompt"), t.get("completion"), t.get("reasoning"))
        return cls(
            tokens, d["requests_per_item"], d["cost_usd"], d["cost_per_item"], d["cost_per_correct"]
        )


class SummarySection(Protocol):
    """A strategy's run-level numbers (maj@k curve, refine rounds...): one key of a summary."""

    def as_json(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class StoredSection:
    """A strategy's section as the store gave it back: its JSON, kept exactly (the store does not
    depend on the strategies that wrote it)."""

    data: tuple[tuple[str, JsonValue], ...]

    def as_json(self) -> dict[str, object]:
        return dict(self.data)


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """Accuracy of one task, subset or benchmark headline, with what each stage adds to it.

    ``as_json`` is the ``--json`` shape and what the store keeps: the fields below in this order
    (each written only when set), and :meth:`from_json` reads it back, stores of older releases
    included.
    """

    accuracy: float
    n: int
    correct: int
    ci95: tuple[float, float]
    unparsed: int = 0
    truncated: int = 0
    aggregate: str = "micro"
    """``micro`` (item-weighted), ``macro`` (unweighted mean over subsets) or ``harmonic``."""
    extraction: Extraction | None = None
    macro_accuracy: float | None = None
    """The unweighted subset mean, beside a micro or harmonic headline."""
    micro_accuracy: float | None = None
    """The item-weighted accuracy, beside a macro or harmonic headline."""
    subsets: int | None = None
    """Subsets a macro or harmonic headline averages."""
    breakdowns: tuple[Breakdown, ...] = ()
    sections: tuple[tuple[str, SummarySection], ...] = ()
    """The strategy's sections by summary key (``self_consistency``, ``self_refine``...)."""
    accounting: Accounting | None = None
    unknown: tuple[tuple[str, JsonValue], ...] = ()
    """Keys a store written by another release holds that this build does not know; written
    back as they were."""

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
        if self.extraction is not None:
            out.update(self.extraction.items())
        for key in ("macro_accuracy", "micro_accuracy", "subsets"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update((b.key, {v: s.as_json() for v, s in b.groups}) for b in self.breakdowns)
        out.update((k, s.as_json()) for k, s in self.sections)
        if self.accounting is not None:
            out.update(self.accounting.items())
        out.update(self.unknown)
        return out

    @classmethod
    def from_json(cls, d: dict[str, JsonValue]) -> TaskSummary:
        """The record ``as_json`` wrote; a strategy's section comes back as a
        :class:`StoredSection`. Raises KeyError, TypeError or ValueError on a damaged one."""
        lo, hi = d["ci95"]
        rest = {k: v for k, v in d.items() if k not in _SUMMARY_KEYS}
        extraction = Extraction.from_json(rest)
        if extraction is not None:
            rest = {
                k: v for k, v in rest.items() if k not in Extraction._KEYS + Extraction._OPTIONAL
            }
        accounting = Accounting.from_json(rest)
        if accounting is not None:
            rest = {k: v for k, v in rest.items() if k not in Accounting._KEYS}
        breakdowns, sections, unknown = [], [], []
        for k, v in rest.items():
            if k in ("macro_accuracy", "micro_accuracy", "subsets"):
                continue
            if k.startswith("by_") and _is_breakdown(v):
                groups = tuple((g, cls.from_json(s)) for g, s in v.items())
                breakdowns.append(Breakdown(k[3:], groups))
            elif isinstance(v, dict):
                sections.append((k, StoredSection(tuple(v.items()))))
            else:
                unknown.append((k, v))
        return cls(
            accuracy=d["accuracy"], n=d["n"], correct=d.get("correct", 0), ci95=(lo, hi),
            unparsed=d.get("unparsed", 0), truncated=d.get("truncated", 0),
            aggregate=d.get("aggregate", "micro"), extraction=extraction,
            macro_accuracy=rest.get("macro_accuracy"), micro_accuracy=rest.get("micro_accuracy"),
            subsets=rest.get("subsets"), breakdowns=tuple(breakdowns), sections=tuple(sections),
            accounting=accounting, unknown=tuple(unknown),
        )  # fmt: skip

    def breakdown(self, tag: str) -> Breakdown | None:
        """The ``by_<tag>`` split; None when the task has none."""
        return next((b for b in self.breakdowns if b.tag == tag), None)

    def section(self, key: str) -> SummarySection | None:
        """The strategy's section under ``key``; None when the run has none."""
        return dict(self.sections).get(key)


_SUMMARY_KEYS = ("accuracy", "n", "correct", "ci95", "unparsed", "truncated", "aggregate")


def _is_breakdown(v: JsonValue) -> bool:
    return isinstance(v, dict) and all(isinstance(s, dict) and "accuracy" in s for s in v.values())


# ---- a strategy's intermediate steps and per-sample numbers ----------------------------------
# Each step record's ``as_json`` is exactly the JSON object the store has always kept for it (the
# same keys in the same order), and ``step_from_json`` reads such an object back.

ReviewVerdict = Literal["correct", "incorrect", "missing"]


@dataclass(frozen=True, slots=True)
class GradedStep:
    """A completion the task's grader read: a sampled chain, a draft or revision, a final answer."""

    kind: Literal["sample", "answer", "revision", "final"]
    """``sample`` (a voting chain), ``answer``/``revision`` (self-refine), ``final``
    (least-to-most)."""
    text: str
    answer: str | None
    """The extracted answer; None: none found."""
    correct: bool
    finish_reason: FinishReason
    round: int | None = None
    """Self-refine's round (0: the first answer); None, and not stored, elsewhere."""
    reasoning_steps: int | None = None
    """Complexity: the chain's reasoning steps; None, and not stored, elsewhere."""
    voted: bool = False
    """Complexity: whether the chain was among the most complex, hence voted."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.round is not None:
            out["round"] = self.round
        out.update(text=self.text, answer=self.answer, correct=self.correct)
        out["finish_reason"] = self.finish_reason
        if self.reasoning_steps is not None:
            out.update(reasoning_steps=self.reasoning_steps, voted=self.voted)
        return out

    def brief(self) -> str:
        return repr(self.answer)


@dataclass(frozen=True, slots=True)
class FeedbackStep:
    """A review of the current answer (self-refine) and the verdict read from it."""

    round: int
    text: str
    verdict: ReviewVerdict
    finish_reason: FinishReason
    kind: Literal["feedback"] = "feedback"

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "round": self.round, "text": self.text,
                "verdict": self.verdict, "finish_reason": self.finish_reason}  # fmt: skip

    def brief(self) -> str:
        return f"(review: {self.verdict})"


@dataclass(frozen=True, slots=True)
class DecomposeStep:
    """The request for a problem's sub-questions (least-to-most) and those parsed from it."""

    text: str
    subquestions: tuple[str, ...]
    finish_reason: FinishReason
    kind: Literal["decompose"] = "decompose"

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "subquestions": list(self.subquestions),
                "finish_reason": self.finish_reason}  # fmt: skip

    def brief(self) -> str:
        n = len(self.subquestions)
        return f"({n} sub-question{'' if n == 1 else 's'})"


@dataclass(frozen=True, slots=True)
class SubquestionStep:
    """One sub-question (least-to-most) and the reply that answered it."""

    index: int
    """1 for the first sub-question."""
    question: str
    text: str
    finish_reason: FinishReason
    kind: Literal["subquestion"] = "subquestion"

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "index": self.index, "question": self.question,
                "text": self.text, "finish_reason": self.finish_reason}  # fmt: skip

    def brief(self) -> str:
        return f"(sub-question {self.index})"


@dataclass(frozen=True, slots=True)
class ProgramRun:
    """How a model-written program ran in the sandbox (see ``cothub.sandbox.SandboxResult``)."""

    detail: str
    stdout: str
    stderr: str
    exit_code: int | None
    wall_s: float


@dataclass(frozen=True, slots=True)
class ProgramStep:
    """A model-written program (program-aided strategy), its sandbox status and its answer."""

    code: str | None
    """The extracted program; None when the reply holds none."""
    finish_reason: FinishReason
    status: str
    """The sandbox status (``ok``, ``error``, ``timeout``, ...) or ``no_code``."""
    answer: str | None
    correct: bool
    run: ProgramRun | None = None
    """None when no program ran."""
    kind: Literal["program"] = "program"

    def as_json(self) -> dict[str, object]:
        r = self.run
        out: dict[str, object] = {"kind": self.kind, "code": self.code}
        out.update(finish_reason=self.finish_reason, status=self.status)
        if r is not None:
            out["detail"] = r.detail
        out.update(answer=self.answer, correct=self.correct)
        if r is not None:
            out.update(stdout=r.stdout, stderr=r.stderr, exit_code=r.exit_code, wall_s=r.wall_s)
        return out

    def brief(self) -> str:
        return repr(self.answer)


@dataclass(frozen=True, slots=True)
class OptionStep:
    """One option's log-likelihood (``--scoring loglikelihood``)."""

    option: str
    loglikelihood: float

    def as_json(self) -> dict[str, object]:
        return {"option": self.option, "loglikelihood": self.loglikelihood}

    def brief(self) -> str:
        return f"{self.option!r}={self.loglikelihood}"


Step = GradedStep | FeedbackStep | DecomposeStep | SubquestionStep | ProgramStep | OptionStep
"""One intermediate request of a sample, as ``SampleRecord.steps`` and the store keep it."""


def step_from_json(d: dict[str, Any]) -> Step:
    """The step record a stored JSON object was written from; ValueError for an unknown one."""
    kind = d.get("kind")
    fr = d.get("finish_reason", "other")
    if kind in ("sample", "answer", "revision", "final"):
        return GradedStep(kind, d["text"], d["answer"], bool(d["correct"]), fr, d.get("round"),
                          d.get("reasoning_steps"), bool(d.get("voted", False)))  # fmt: skip
    if kind == "feedback":
        return FeedbackStep(int(d["round"]), d["text"], d["verdict"], fr)
    if kind == "decompose":
        return DecomposeStep(d["text"], tuple(d["subquestions"]), fr)
    if kind == "subquestion":
        return SubquestionStep(int(d["index"]), d["question"], d["text"], fr)
    if kind == "program":
        run = None
        if "stdout" in d:
            run = ProgramRun(d["detail"], d["stdout"], d["stderr"], d["exit_code"], d["wall_s"])
        return ProgramStep(d["code"], fr, d["status"], d["answer"], bool(d["correct"]), run)
    if kind is None and "option" in d:
        return OptionStep(d["option"], float(d["loglikelihood"]))
    raise ValueError(f"unknown step {kind!r}")


class StrategyStats(Protocol):
    """A strategy's per-sample numbers that its run-level summary aggregates (each chain's verdict
    for maj@k, a refinement's before and after); each strategy defines its own frozen record."""

    def as_json(self) -> dict[str, object]:
        """The JSON object the store keeps."""
        ...


# ---- what a stored run is: its manifest, read back as records --------------------------------
# ``RunManifest.from_json(stored).as_json() == stored`` for every manifest a run, an import or a
# rescore writes (and every one older releases wrote), so the run id, a hash of it, never moves.
# Keys a record does not know are kept in ``extra`` and written back as they were.

JsonValue = Any
"""A value as ``json.loads`` returns it (provenance blobs kept exactly as they were written)."""


def _extra(d: dict[str, Any], known: tuple[str, ...]) -> tuple[tuple[str, JsonValue], ...]:
    return tuple((k, v) for k, v in d.items() if k not in known)


@dataclass(frozen=True, slots=True)
class ModelId:
    """Which model answered: what a backend's ``identity`` holds (never a credential)."""

    provider: str
    """``openai``, ``anthropic``, ``hf``, ``fake``, ``import``, ..."""
    model: str
    """The model name as the provider knows it."""
    base_url: str | None = None
    """The endpoint, without credentials; None where there is none (local, imported)."""
    api: str | None = None
    """``chat`` or ``completions`` where the provider has both; None otherwise."""
    extra: tuple[tuple[str, JsonValue], ...] = ()
    """Any other identity keys (load options of a local model, ...), in their stored order."""

    _KEYS = ("provider", "model", "base_url", "api")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelId:
        return cls(str(d["provider"]), str(d["model"]), d.get("base_url"), d.get("api"),
                   _extra(d, cls._KEYS))  # fmt: skip

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"provider": self.provider, "model": self.model}
        if self.base_url is not None:
            out["base_url"] = self.base_url
        if self.api is not None:
            out["api"] = self.api
        out.update(self.extra)
        return out

    @property
    def name(self) -> str:
        """``provider/model``, as runs are listed."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class StrategyId:
    """A strategy as a manifest records it: its registered name and settings."""

    name: str
    settings: tuple[tuple[str, JsonValue], ...] = ()
    """Every setting ``describe()`` gave, None ones included, in order."""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StrategyId:
        return cls(str(d.get("name", "single")), _extra(d, ("name",)))

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, **dict(self.settings)}

    def spec(self) -> str:
        """``self-consistency:k=8,temperature=0.7,...`` (what ``--strategy`` takes; None settings
        are left out)."""
        set_ = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                        for k, v in self.settings if v is not None)  # fmt: skip
        return self.name + (f":{set_}" if set_ else "")


@dataclass(frozen=True, slots=True)
class TaskManifest:
    """What a run's manifest records of one task."""

    version: str
    """The task's version (bumped when its grading or prompts change)."""
    format: str
    """The prompt format's name."""
    citation: str = ""
    subsets: tuple[str, ...] = ()
    """Sub-tasks chosen; empty: the whole benchmark."""
    items: int = 0
    """Items evaluated (imports: items matched)."""
    exemplars: tuple[str, str] = ("none", "")
    """(source, sha256) of the few-shot exemplars."""
    data: tuple[tuple[str, str], ...] = ()
    """Data file or hub id -> its sha256 or revision."""
    where: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    """Tag filters (``--where``); None where not recorded (imports)."""
    generation: GenerateConfig | None = None
    """The resolved generation settings; None where nothing was generated (imports)."""
    params: tuple[tuple[str, str], ...] | None = None
    """Task parameters (``math:levels=5``); None: none given (and not stored)."""
    dataset_items: int | None = None
    """Imports: the items the dataset holds."""
    extra: tuple[tuple[str, JsonValue], ...] = ()

    _KEYS = ("version", "citation", "format", "subsets", "items", "exemplars", "data", "where",
             "generation", "params", "dataset_items")  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TaskManifest:
        ex, gen, where, params = d.get("exemplars") or {}, d.get("generation"), d.get("where"), (
            d.get("params"))  # fmt: skip
        return cls(
            version=str(d["version"]),
            format=str(d.get("format", "")),
            citation=str(d.get("citation", "")),
            subsets=tuple(d.get("subsets") or ()),
            items=d.get("items", 0),
            exemplars=(ex.get("source", "none"), ex.get("sha256", "")),
            data=tuple((d.get("data") or {}).items()),
            where=None if where is None else tuple((k, tuple(v)) for k, v in where.items()),
            generation=None if gen is None else _generation(gen),
            params=None if params is None else tuple(params.items()),
            dataset_items=d.get("dataset_items"),
            extra=_extra(d, cls._KEYS),
        )

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "version": self.version,
            "citation": self.citation,
            "format": self.format,
            "subsets": list(self.subsets),
            "items": self.items,
            "exemplars": {"source": self.exemplars[0], "sha256": self.exemplars[1]},
            "data": dict(self.data),
        }
        if self.params is not None:
            out["params"] = dict(self.params)
        if self.dataset_items is not None:
            out["dataset_items"] = self.dataset_items
        if self.where is not None:
            out["where"] = {k: list(v) for k, v in self.where}
        if self.generation is not None:
            out["generation"] = self.generation.as_json()
        out.update(self.extra)
        return out


def _generation(d: dict[str, Any]) -> GenerateConfig:
    # Values as stored (an int temperature stays an int): the run id hashes their JSON.
    return GenerateConfig(d["max_tokens"], d.get("temperature", 0.0), d.get("top_p"),
                          d.get("seed"), d.get("n", 1), reasoning_effort=d.get("reasoning_effort"),
                          thinking_budget=d.get("thinking_budget"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunManifest:
    """Everything that can move a run's numbers, one shape for runs, imports and rescores; the
    hash of its identity keys is the run id (:attr:`run_id`)."""

    model: ModelId
    tasks: tuple[tuple[str, TaskManifest], ...]
    """Task name -> what was recorded of it, in run order."""
    prompt_style: str = "chat"
    """``chat`` or ``completions``."""
    grader: str = ""
    """The release whose graders made the verdicts (``cothub/0.1.0``); not part of the id."""
    selection: tuple[int | None, int] | None = None
    """(``--limit``, seed) of a run; None for imports."""
    strategy: StrategyId | None = None
    """None for imports (each record is one completion)."""
    scoring: str | None = None
    """``loglikelihood`` when options were scored; None: generated (and not stored)."""
    import_info: dict[str, JsonValue] | None = None
    """Imports: the files, their hashes and how their records matched (key ``import``)."""
    rescored_from: str | None = None
    """Rescores: the run whose stored completions were re-graded."""
    grader_version: str | None = None
    """Rescores: the release whose graders re-graded them (part of the rescore's id)."""
    started_at: float | None = None
    """When the latest invocation began (not part of the id)."""
    paths: tuple[str, ...] | None = None
    """Imports: the local paths read (provenance, not part of the id)."""
    extra: tuple[tuple[str, JsonValue], ...] = ()

    _KEYS = ("model", "tasks", "selection", "prompt_style", "strategy", "grader", "scoring",
             "import", "rescored_from", "grader_version", "paths", "started_at")  # fmt: skip
    _NOT_ID = ("grader", "started_at", "paths")
    """Keys the run id does not hash: a new release or a resume keeps the id."""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunManifest:
        """The record a stored manifest was written from; KeyError/TypeError/ValueError when it
        lacks what every manifest has."""
        sel, strat, paths = d.get("selection"), d.get("strategy"), d.get("paths")
        return cls(
            model=ModelId.from_json(d["model"]),
            tasks=tuple((str(k), TaskManifest.from_json(v)) for k, v in d["tasks"].items()),
            prompt_style=str(d.get("prompt_style", "chat")),
            grader=str(d.get("grader", "")),
            selection=None if sel is None else (sel.get("limit"), sel.get("seed", 0)),
            strategy=None if strat is None else StrategyId.from_json(strat),
            scoring=d.get("scoring"),
            import_info=d.get("import"),
            rescored_from=d.get("rescored_from"),
            grader_version=d.get("grader_version"),
            started_at=d.get("started_at"),
            paths=None if paths is None else tuple(paths),
            extra=_extra(d, cls._KEYS),
        )

    def as_json(self) -> dict[str, object]:
        """Exactly the JSON object the store keeps."""
        out: dict[str, object] = {"model": self.model.as_json(),
                                  "tasks": {k: t.as_json() for k, t in self.tasks}}  # fmt: skip
        if self.import_info is not None:
            out["import"] = self.import_info
        if self.selection is not None:
            out["selection"] = {"limit": self.selection[0], "seed": self.selection[1]}
        out["prompt_style"] = self.prompt_style
        if self.strategy is not None:
            out["strategy"] = self.strategy.as_json()
        out["grader"] = self.grader
        if self.scoring is not None:
            out["scoring"] = self.scoring
        if self.rescored_from is not None:
            out["rescored_from"] = self.rescored_from
        if self.grader_version is not None:
            out["grader_version"] = self.grader_version
        out.update(self.extra)
        if self.paths is not None:
            out["paths"] = list(self.paths)
        if self.started_at is not None:
            out["started_at"] = self.started_at
        return out

    @property
    def run_id(self) -> str:
        """The run id: a hash of every key but the grader release, start time and local paths."""
        import hashlib
        import json

        core = {k: v for k, v in self.as_json().items() if k not in self._NOT_ID}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]

    def task(self, name: str) -> TaskManifest | None:
        return dict(self.tasks).get(name)

    @property
    def is_import(self) -> bool:
        return self.import_info is not None


@dataclass(frozen=True, slots=True)
class StoredStats:
    """A strategy's per-sample stats as the store returns them (the strategy's own record type is
    not known to a reader): ``as_json`` gives back exactly what was written."""

    data: tuple[tuple[str, JsonValue], ...]

    def as_json(self) -> dict[str, object]:
        return dict(self.data)
