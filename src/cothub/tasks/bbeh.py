"""BIG-Bench Extra Hard: 23 tasks (4,520 items), each a harder replacement of a BBH task.

Kazemi et al. 2025, "BIG-Bench Extra Hard", arXiv:2502.19187 (data CC-BY-4.0, code Apache-2.0,
``google-deepmind/bbeh``). Zero-shot chain of thought: every ``input`` already states its answer
format, and the authors append one instruction asking for ``The answer is: X``.

    cothub run bbeh --model openai/MODEL --data-dir ../shared/data
    cothub run bbeh/mini --model openai/MODEL           # BBEH Mini: 20 items per task, 460
    cothub run bbeh/zebra_puzzles bbeh/linguini --model openai/MODEL

Data: ``bbeh/benchmark_tasks/bbeh_<task>/task.json`` (``{"examples": [{"input", "target"}]}``)
and ``bbeh/mini/data.json`` (the same shape, no task field). There is no Hub copy in the
authors' name, so a data directory is required.

Decisions:

- Sub-tasks are named without the ``bbeh_`` prefix (``bbeh/zebra_puzzles``). ``bbeh/mini`` is
  BBEH Mini: its items carry no task name, so each one's task (and its id, ``<task>/<index in
  the task file>``) is recovered by finding its ``input`` in the task files (all 460 occur
  verbatim with the same target; matched on input and target, as linguini repeats 6 inputs
  with different targets); the per-task breakdown therefore also holds for Mini.
- Headline: the authors' adjusted harmonic mean over tasks (each accuracy + 1 point, see
  :func:`cothub.scoring.metrics.harmonic`), with the plain mean over tasks (``macro_accuracy``)
  and the item-weighted accuracy (``micro_accuracy``) beside it. For Mini the authors report the
  micro average: read ``micro_accuracy``.
- Grading is the official ``bbeh/evaluate.py`` (``evaluate_correctness``), reproduced rule for rule
  in :func:`bbeh_correct` for every answer type at once (the scorer has no per-type branches):
  take the text after the last answer prefix, strip ``.``/``$``/``\\boxed{}``/``\\text{}``/
  ``\\texttt{}``, lower-case, drop ``**``, ``", "`` -> ``","``, keep the first line; then exact,
  ``(a)`` <-> ``a``, float equality, quotes ignored, ``[x]`` <-> ``x``, trailing ``?`` ignored.
  A completion with no answer prefix is still compared (its first line), as the official scorer
  does; its grade's method says ``no-prefix`` so that the rate shows in the summary. Inline
  thinking (``<think>...</think>``) is skipped first, as for every task here.
- A consequence of the official rules kept as they are: a final ``.`` is cut from the prediction
  but not from the target, so the 11 linguini items whose target ends in ``.`` (``I danced.``)
  can never be graded correct, by the authors' scorer or this one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from cothub.data.source import DataSource, Rows, sha256_text
from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.prompts import ZEROSHOT_COT, PromptFormat
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Message, Prompt, Sample

TASK_NAMES = (
    "boardgame_qa",
    "boolean_expressions",
    "buggy_tables",
    "causal_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "geometric_shapes",
    "hyperbaton",
    "linguini",
    "movie_recommendation",
    "multistep_arithmetic",
    "nycc",
    "object_counting",
    "object_properties",
    "sarc_triples",
    "shuffled_objects",
    "spatial_reasoning",
    "sportqa",
    "temporal_sequence",
    "time_arithmetic",
    "web_of_lies",
    "word_sorting",
    "zebra_puzzles",
)
MINI = "mini"
_TASK_FILE = "bbeh/benchmark_tasks/bbeh_{task}/task.json"
_MINI_FILE = "bbeh/mini/data.json"
_FIX = (
    "pass --data-dir to a folder with bbeh/benchmark_tasks/ and bbeh/mini/ (google-deepmind/bbeh)"
)

INSTRUCTION = (
    'Think step by step, and when you provide the final answer, please use the prefix "The answer '
    'is:" without any modification, and provide the answer directly, with no formatting, no '
    'bolding, and no markup. For instance: "The answer is: 42" or "The answer is: yes". If the '
    "question is multiple choice with a single correct answer, the final answer must only be the "
    'letter corresponding to the correct answer. For example, "The answer is: (a)"'
)
"""The authors' instruction, appended to every input after a blank line (the paper's appendix)."""

# evaluate.py's prefixes, in its order: each present one cuts the text to what follows its last
# occurrence, so "The answer is:" found first and "The answer is " found later both apply.
_PREFIXES = ("The answer is:", "The final answer is ", "The final answer is: ", "The answer is ")


def _strip_latex(response: str) -> str:
    if response.startswith("$") and response.endswith("$"):
        response = response[1:-1]
    for wrapper in ("boxed{", "text{", "texttt{"):
        if wrapper in response and response.endswith("}"):
            response = response[:-1].split(wrapper)[1]
    return response


def extract_bbeh(text: str) -> tuple[str, bool]:
    """evaluate.py's ``preprocess_sample``: the normalised prediction, and whether an answer
    prefix was found (the official scorer compares the text either way)."""
    answer = text.strip()
    found = False
    for prefix in _PREFIXES:
        if prefix in answer:
            answer = answer.split(prefix)[-1].strip()
            found = True
    if answer.endswith("."):
        answer = answer[:-1]
    answer = _strip_latex(answer).lower()
    answer = answer.replace(", ", ",").replace("**", "")
    answer = answer.split("\n")[0]
    return (answer[:-1] if answer.endswith(".") else answer), found


def reference_bbeh(target: str) -> str:
    """evaluate.py's ``preprocess_reference``."""
    return target.strip().lower().replace(", ", ",")


def fuzzy_match(prediction: str, reference: str) -> bool:
    """evaluate.py's ``fuzzy_match`` (both sides already normalised)."""
    if prediction == reference:
        return True
    # "(a)" vs "a": decided here, whichever way (the official scorer returns at once)
    if len(prediction) == 3 and prediction[0] == "(" and prediction[-1] == ")":
        return prediction[1] == reference
    if len(reference) == 3 and reference[0] == "(" and reference[-1] == ")":
        return reference[1] == prediction
    try:
        if float(prediction) == float(reference):
            return True
    except ValueError:
        pass
    if prediction.replace("'", "") == reference.replace("'", ""):
        return True
    if f"[{reference}]" == prediction or f"[{prediction}]" == reference:
        return True
    return prediction.endswith("?") and prediction[:-1] == reference


def bbeh_correct(completion: str, target: str) -> bool:
    """evaluate.py's ``evaluate_correctness``."""
    return fuzzy_match(extract_bbeh(completion)[0], reference_bbeh(target))


def _read(path: Path) -> Rows:
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except FileNotFoundError:
        raise CothubError(f"{path} is missing; {_FIX}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CothubError(f"cannot read {path} ({type(e).__name__}: {e}); {_FIX}") from e
    examples = doc.get("examples") if isinstance(doc, dict) else None
    if not isinstance(examples, list) or not all(
        isinstance(ex, dict)
        and isinstance(ex.get("input"), str)
        and isinstance(ex.get("target"), str)
        for ex in examples
    ):
        raise CothubError(
            f'{path} is not a BBEH file ({{"examples": [{{"input", "target"}}]}}); {_FIX}'
        )
    return Rows(examples, str(path), hashlib.sha256(raw).hexdigest())


class BBEH(Task):
    name = "bbeh"
    version = "1"
    citation = "Kazemi et al. 2025, arXiv:2502.19187"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    subsets = (*TASK_NAMES, MINI)
    aggregate = "harmonic"

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        # Inputs run to 32k characters and the tasks are built to need long reasoning (the
        # paper's models wrote thousands of tokens); 8k leaves room without inviting rambling.
        return 8192

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        if data.root is None:
            raise CothubError(f"bbeh is read from files (no Hub copy by its authors); {_FIX}")
        chosen = list(subsets) or list(TASK_NAMES)
        tasks = {t: _read(data.root / _TASK_FILE.format(task=t)) for t in TASK_NAMES}
        samples: dict[str, Sample] = {}
        provenance: dict[str, str] = {}

        def sample(task: str, i: int) -> Sample:
            row = tasks[task].rows[i]
            return Sample(f"{task}/{i}", str(row["input"]), str(row["target"]), task)

        for t in chosen:
            if t == MINI:
                continue
            provenance[tasks[t].source] = tasks[t].digest
            for i in range(len(tasks[t].rows)):
                s = sample(t, i)
                samples[s.id] = s
        if MINI in chosen:
            mini = _read(data.root / _MINI_FILE)
            provenance[mini.source] = mini.digest
            # (input, target): linguini repeats 6 inputs with different targets; the first
            # item of a repeated pair stands for it.
            where: dict[tuple[str, str], tuple[str, int]] = {}
            for t, rows in tasks.items():
                for i, r in enumerate(rows.rows):
                    where.setdefault((str(r["input"]), str(r["target"])), (t, i))
            for k, row in enumerate(mini.rows):
                found = where.get((str(row["input"]), str(row["target"])))
                if found is None:
                    raise CothubError(f"{mini.where(k)}: no task file holds this item; {_FIX}")
                s = sample(*found)
                samples[s.id] = s
        return Loaded(list(samples.values()), provenance)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)

        def render(sample: Sample) -> Prompt:
            text = f"{sample.question}\n\n{INSTRUCTION}"
            if options.style == "chat":
                return Prompt(style="chat", messages=(Message("user", text),))
            return Prompt(style="completions", text=f"{text}\n")

        return Prompter(render, "none", sha256_text(INSTRUCTION))

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        body = strip_thinking(text)
        if body is None:
            return Answer(None, None, "unclosed-thinking")
        answer, found = extract_bbeh(body)
        return Answer(answer or None, None, "answer-prefix" if found else "no-prefix")

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        if answer.method == "unclosed-thinking":
            return Grade(False, None, answer.method, check="bbeh-evaluate")
        correct = fuzzy_match(answer.value or "", reference_bbeh(sample.gold))
        return Grade(correct, answer.value, answer.method, check="bbeh-evaluate")
