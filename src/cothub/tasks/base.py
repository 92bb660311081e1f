"""What a benchmark is to the runner: samples, a prompt per sample, and a grader.

A task module implements :class:`Task` in one short file; the runner never looks inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.prompts.format import PromptFormat
from cothub.types import Answer, ApiStyle, Grade, Prompt, Sample

Aggregate = Literal["micro", "macro", "harmonic"]
Selection = Literal["random", "complexity"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PromptOptions:
    """User choices that shape prompts, resolved by the CLI."""

    style: ApiStyle
    """``completions`` (one text prompt, base models) or ``chat`` (messages)."""
    prompt_file: str | None = None
    """A path or a named exemplar set of the task (``original``, ``complex``)."""
    seed: int = 0
    """Seeds exemplar draws from a train split when no prompt file is available."""
    max_prompt_tokens: int | None = None
    """Context left for the prompt (model context minus the generation budget); exemplars are
    dropped, and the count recorded in ``Prompt.n_exemplars``, until a prompt fits."""
    selection: Selection = "random"
    """How exemplars are taken from a pool (the train split, or a ``--prompt-file``'s exemplars):
    ``random`` (the usual: a seeded draw, a file as written) or ``complexity`` (the most reasoning
    steps, Fu et al. 2023). Honoured by the tasks that have a pool (GSM8K, MATH); MMLU and BBH
    keep their published exemplar sets."""
    perturb: str | None = None
    """A named exemplar transform (``--perturb``, :mod:`cothub.prompts.perturb`), seeded with
    ``seed``; None: the exemplars as chosen."""
    shots: int | None = None
    """``--shots``: few-shot exemplars to keep at most, within what the format has; None: the
    format's own number. Applied by :func:`cothub.prompts.fit` for every task."""
    system_prompt: str | None = None
    """``--system-prompt``: put in front of every prompt (a system turn in chat, the head of a
    text); None: none. Applied by :func:`cothub.prompts.fit` for every task."""


def reasoning_steps(rationale: str) -> int:
    """Reasoning steps as Fu et al. 2023 count them: the non-empty lines of a rationale."""
    return sum(1 for line in rationale.splitlines() if line.strip())


def most_complex(pool: Sequence[T], k: int, rationale: Callable[[T], str]) -> list[T]:
    """The ``k`` items of ``pool`` with the most reasoning steps (ties: earlier first), kept in
    pool order, so that the ``k`` chosen from a prompt file are that file's exemplars as written."""
    ranked = sorted(range(len(pool)), key=lambda i: -reasoning_steps(rationale(pool[i])))
    return [pool[i] for i in sorted(ranked[:k])]


@dataclass(frozen=True, slots=True)
class Prompter:
    """Renders one sample's prompt; built once per run so exemplar files are read once."""

    render: Callable[[Sample], Prompt]
    exemplar_source: str
    """Where the exemplars came from (file path, ``train:seed=0``, or ``none``)."""
    exemplar_hash: str
    """sha256 of the exemplar text, recorded in the manifest."""
    perturbation: dict[str, object] | None = None
    """``--perturb``: name, seed and the transformed exemplars, recorded in the manifest (only
    then, so other runs keep their ids); None: none."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """The selected task's samples and the provenance of the files they came from."""

    samples: list[Sample]
    provenance: dict[str, str] = field(default_factory=dict)
    """Source (file path or hub id) -> sha256 / revision."""


class Task(ABC):
    """One benchmark. Sub-tasks (BBH tasks, MMLU subjects) are ``subsets`` of it."""

    name: str
    version: str
    citation: str
    formats: tuple[PromptFormat, ...]
    default_format: PromptFormat
    subsets: tuple[str, ...] = ()
    aggregate: Aggregate = "micro"
    """Headline over subsets: item-weighted (``micro``), unweighted mean (``macro``), or the
    adjusted harmonic mean of the subsets' accuracies (``harmonic``, BBEH's headline)."""
    breakdowns: tuple[str, ...] = ()
    """Sample tags to report accuracy by (``level`` for MATH, ``category`` for MMLU)."""
    slow_grader: bool = False
    """True when grading can take milliseconds or more (symbolic equivalence): the runner then
    grades in a thread so that requests in flight are not held up."""

    def prompt_format(self, name: PromptFormat | str = "") -> PromptFormat:
        """The format ``name`` (``fewshot-cot`` or a record) of this task; empty: the default.

        Task methods take a name or a record, so callers that hold the manifest's string (the
        runner, the importer, :func:`cothub.grade`) pass it as it is.
        """
        if not name:
            return PromptFormat.parse(self.default_format)
        known = [PromptFormat.parse(f) for f in self.formats]
        for fmt in known:
            if name in (fmt, fmt.name):
                return fmt
        raise CothubError(
            f"{self.name} has no format {str(name)!r}; choose one of "
            + ", ".join(f.name for f in known)
        )

    @abstractmethod
    def max_tokens(self, fmt: PromptFormat | str) -> int:
        """Default generation budget for a format (answer-only needs few tokens)."""

    @abstractmethod
    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        """All test samples of the chosen subsets (all subsets when empty)."""

    @abstractmethod
    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        """The prompt renderer for a format; with ``options.max_prompt_tokens`` every prompt fits
        it (:func:`cothub.prompts.fit`) or rendering raises a one-line error."""

    def equivalent(self, a: str, b: str) -> bool:
        """Whether two extracted answers are the same answer (votes are grouped by this).

        Extracted answers are already canonical for most graders; numeric and symbolic tasks
        override this with their own equivalence check.
        """
        return a == b

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        """The options of a multiple-choice item (``sample.choices``), each written as the
        continuation the model would produce after the completion-style prompt of ``fmt``
        (``" B"`` after ``Answer:``), for ``--scoring loglikelihood``; None when the item has no
        options to score in that format (free-form answers, chain-of-thought prompts)."""
        return None

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        """The answer a completion commits to (value, span, the rule that found it, and a second
        rule's reading where the task checks one), read as the task's grader reads it.

        ``sample`` gives what reading may need (its options, its sub-task); ``fmt`` is the
        prompt format the completion answered (answer-only and chain-of-thought completions
        follow different published rules); empty means the default.
        """
        raise NotImplementedError(f"{self.name} grades in one step; call grade")

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        """The verdict on an extracted answer against ``sample.gold``: correct, the check that
        decided, and a disagreement where the answer's second reading would be judged otherwise."""
        raise NotImplementedError(f"{self.name} grades in one step; call grade")

    def grade(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Grade:
        """Extract the answer from a completion and judge it: ``score(extract_answer(text))``.

        A task implements :meth:`extract_answer` and :meth:`score` (every built-in one does), or
        overrides this method alone when its verdict cannot be split in two.
        """
        return self.score(sample, self.extract_answer(sample, text, fmt), fmt)
