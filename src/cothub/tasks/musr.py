"""MuSR: multistep soft reasoning over long narratives (murder mysteries, object placements,
team allocation), 756 multiple-choice items.

Sprague et al. 2024, "MuSR: Testing the Limits of Chain-of-thought with Multistep Soft
Reasoning", ICLR 2024 (arXiv:2310.16049; ``Zayne-sprague/MuSR``, data CC-BY-4.0).

    cothub run musr --model openai/MODEL
    cothub run musr/murder_mysteries --model openai/MODEL

Data: the Hugging Face Hub only (the authors' full JSON files are not in git): dataset
``TAUR-Lab/MuSR``, default config, one split per domain (``murder_mysteries`` 250,
``object_placements`` 256, ``team_allocation`` 250); columns ``narrative`` (str), ``question``
(str), ``choices`` (a Python list written as text, ``"['Mackenzie', 'Ana']"``), ``answer_index``
(int, 0-based), ``answer_choice`` (str). Offline, loading fails with one line (``--data-dir``
does not apply: there is no local layout).

Decisions:

- Prompt: the authors' zero-shot chain-of-thought prompt (``eval/eval.py``, the plain "CoT"
  technique, without CoT+'s per-domain hint): their system message, then the narrative, the
  question, the choices numbered ``1 - ...``, "You must pick one option." and the instruction to
  end with ``ANSWER: (your answer here, including the choice number)``.
- Grading follows their parser: the text after the last ``ANSWER:``; the choice named there by
  its number, else by its text (one choice only); anything else is unparsed. Gold is the
  1-based choice number.
- Headline: item-weighted accuracy over the three domains (the subset mean beside it); the paper
  reports each domain on its own, which the per-subset rows give.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from cothub.data.source import DataSource, load_hub, sha256_text
from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.prompts import ZEROSHOT_COT, PromptFormat
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Message, Prompt, Sample

HUB = "TAUR-Lab/MuSR"
DOMAINS = ("murder_mysteries", "object_placements", "team_allocation")
FIELDS = ("narrative", "question", "choices", "answer_index")

SYSTEM = "You are a helpful assistant that will answer the questions given by the user."
INSTRUCTION = (
    "You must pick one option. Explain your reasoning step by step before you answer. Finally, "
    'the last thing you generate should be "ANSWER: (your answer here, including the choice '
    'number)"'
)
_ANSWER = re.compile(r"ANSWER:", re.IGNORECASE)


def hub_only(message: str, task: str) -> str:
    """A Hub loading error, with the one fix that applies to a Hub-only benchmark."""
    cut = message.split("; pass --data-dir")[0]
    return f"{cut}; {task} is read from the Hugging Face Hub only: connect once to cache it"


def parse_choices(raw: object) -> tuple[str, ...]:
    """``choices`` as the Hub stores it (a list, or its Python text) -> the option texts."""
    value = ast.literal_eval(raw) if isinstance(raw, str) else raw
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise CothubError(f"{HUB}: choices {str(raw)[:60]!r} is not a list of strings")
    return tuple(value)


def user_text(sample: Sample) -> str:
    options = "\n".join(f"{i} - {c}" for i, c in enumerate(sample.choices, 1))
    return f"{sample.question}\n\nPick one of the following choices:\n{options}\n\n{INSTRUCTION}"


# A committed statement in another form than the asked-for ``ANSWER:`` line.
_STATED = re.compile(
    r"(?i)\b(?:(?:final\s+)?answer|choice|murderer|culprit)\s*(?:is|would\s+be|:)\s*"
)


def stated_answer(text: str, choices: Sequence[str]) -> str | None:
    """What a careful reader takes from a reply without the ``ANSWER:`` line ("The answer is
    Ana", "Final answer: 2"): the last such statement, read as the answer line is."""
    found = list(_STATED.finditer(text))
    return _choice_in(text[found[-1].end() :], choices)[0] if found else None


def musr_answer(text: str, choices: Sequence[str]) -> tuple[str | None, str]:
    """The chosen option's 1-based number from the text after the last ``ANSWER:``."""
    found = list(_ANSWER.finditer(text))
    if not found:
        return None, "no-answer-line"
    return _choice_in(text[found[-1].end() :], choices)


def _choice_in(after: str, choices: Sequence[str]) -> tuple[str | None, str]:
    tail = after.strip().split("\n")[0]
    numbers = [int(n) for n in re.findall(r"\b(\d+)\b", tail) if 1 <= int(n) <= len(choices)]
    if numbers:
        return str(numbers[0]), "choice-number"
    named = [i for i, c in enumerate(choices, 1) if c.lower() in tail.lower()]
    if len(named) == 1:
        return str(named[0]), "choice-text"
    return None, "unparsed"


class MuSR(Task):
    name = "musr"
    version = "1"
    citation = "Sprague et al. 2024, ICLR, arXiv:2310.16049"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    subsets = DOMAINS

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 2048  # reasoning over ~1k-word narratives

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for domain in subsets or DOMAINS:
            try:
                rows = load_hub(HUB, None, domain, FIELDS)
            except CothubError as e:
                raise CothubError(hub_only(str(e), "musr")) from e
            provenance[rows.source] = rows.digest
            for i, r in enumerate(rows.rows):
                choices = parse_choices(r["choices"])
                gold = int(r["answer_index"]) + 1
                if not 1 <= gold <= len(choices):
                    raise CothubError(f"{rows.where(i)}: answer_index {gold - 1} has no choice")
                question = f"{r['narrative']}\n\n{r['question']}"
                samples.append(Sample(f"{domain}/{i}", question, str(gold), domain, (), choices))
        return Loaded(samples, provenance)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)

        def render(sample: Sample) -> Prompt:
            user = user_text(sample)
            if options.style == "chat":
                return Prompt("chat", messages=(Message("system", SYSTEM), Message("user", user)))
            return Prompt("completions", text=f"{SYSTEM}\n\n{user}\n")

        return Prompter(render, "none", sha256_text(SYSTEM + INSTRUCTION))

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        body = strip_thinking(text)
        if body is None:
            return Answer(None, None, "unclosed-thinking")
        answer, method = musr_answer(body, sample.choices)
        careful = answer if method != "no-answer-line" else stated_answer(body, sample.choices)
        return Answer(answer, None, method, alternative=Answer(careful, None, "stated"))

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        correct = answer.value == sample.gold
        # The benchmark's rule decides; a careful reading that would decide otherwise ("The
        # answer is Ana." with no ANSWER: line) is a disagreement: counted, judged, never silent.
        careful_right = answer.alternative is not None and answer.alternative.value == sample.gold
        return Grade(
            correct, answer.value, answer.method, check="choice",
            disagreement=careful_right != correct,
        )  # fmt: skip
