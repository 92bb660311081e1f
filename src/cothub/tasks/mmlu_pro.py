"""MMLU-Pro: 12,032 harder MMLU-style questions with up to 10 options, in 14 categories.

Wang et al. 2024, "MMLU-Pro: A More Robust and Challenging Multi-Task Language Understanding
Benchmark", NeurIPS 2024 Datasets and Benchmarks, arXiv:2406.01574.

    cothub run mmlu-pro --model openai/gpt-4o-mini                       # 5-shot CoT
    cothub run mmlu-pro/law --model ... --format zeroshot-cot
    cothub run mmlu-pro --model hf/Qwen/Qwen2.5-0.5B --scoring loglikelihood --format fewshot-direct
    cothub import mmlu-pro:extract=first FILES --id-field question_id --gold-field answer \\
        --choices-field options --model-name gpt-4o            # the May-2024 GPT-4o outputs

Data: the authors' zip in the data dir, ``mmlu-pro/local_data/local_250825.zip`` (members
``local_250825/mmlu_pro_{test,val}_data.json``, the 2025-08 state), else the Hub's
``TIGER-Lab/MMLU-Pro`` (default config, splits ``test`` and ``validation``). Columns:
``question_id`` (int; the item id), ``question``, ``options`` (list of text), ``answer``
(``A``..``J``: the gold), ``answer_index``, ``cot_content`` (the validation rationale, ``A: Let's
think step by step. ... The answer is (X).``), ``category`` (14), ``src`` (``<origin>-<subject>``,
``stemez-Physics``; its origin, ``ori_mmlu``, ``stemez``, ``theoremQA`` or ``scibench``, is the
``source`` breakdown, filter ``mmlu-pro:sources=stemez``; the whole ``src`` is kept as a tag).
Options equal to ``"N/A"`` are dropped before lettering, as the authors' ``preprocess`` does.

Prompt (``fewshot-cot``, the default), byte for byte the authors' ``evaluate_from_local.py``
(``generate_cot_prompt``): ``cot_prompt_lib/initial_prompt.txt`` with ``{$}`` replaced by the
category, then ``"\\n"``, then the category's first 5 validation items, each ``Question:\\n{q}\\n
Options:\\nA. {a}\\nB. {b}\\n...`` and its ``cot_content`` (its ``A: Let's think step by step.``
written ``Answer: Let's think step by step.``) and ``"\\n\\n"``, then the item the same way ending
``Answer: Let's think step by step.``. Stop: ``Question:``. ``--max-context`` drops exemplars from
the end, as that script lowers k until the prompt fits. Chat style sends the same text as one
user turn (the authors' API script also sends the whole few-shot prompt as one message).
``zeroshot-cot`` is that prompt with no exemplar. ``fewshot-direct`` (answer-only, for
``--scoring loglikelihood``: the options `` A``..`` J`` after ``Answer:``) uses the paper's third
initial prompt ("The following are multiple choice questions (with answers) about {subject}.")
and exemplars ending ``Answer: X``.

Grader decisions (``Grade.method`` names the rule that decided):

* extraction, the authors' chain (``extract=local``, the default): the first
  ``answer is \\(?([A-J])\\)?`` (``answer-is``), else the last ``[aA]nswer:\\s*([A-J])``
  (``answer-colon``), else the last capital A-J of the text (``last-letter``, their
  ``extract_final``). ``extract=api`` is the API script's variant whose last step takes only a
  standalone letter (``\\b[A-J]\\b``); ``extract=first`` the first regex alone, as the May-2024
  ``run_gpt4o.py`` behind the published GPT-4o figure.
* no letter found: the authors' scorers count a guess, ``random.seed(12345)`` then
  ``randint(0, n_options - 1)``, the same guess for every such item of one option count. Every
  published MMLU-Pro figure includes it, so it is the default (``guess=seeded``), stored with no
  answer (``seeded-guess``: it is counted unparsed, and the unparsed warning says so);
  ``guess=off`` scores such an item wrong. A letter past the item's options is wrong.
* headline: micro accuracy over all items (the authors' "Average accuracy" is corr / total);
  one summary per category (the sub-tasks) and ``by_source``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cothub.data.source import DataSource, load_hub, shown
from cothub.errors import CothubError
from cothub.prompts import (
    FEWSHOT_COT,
    FEWSHOT_DIRECT,
    ZEROSHOT_COT,
    PromptFormat,
    completion,
    fit,
)
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Message, Prompt, Sample

CATEGORIES = (
    "biology", "business", "chemistry", "computer science", "economics", "engineering",
    "health", "history", "law", "math", "other", "philosophy", "physics", "psychology",
)  # fmt: skip
SUBSETS = tuple(c.replace(" ", "_") for c in CATEGORIES)
"""Sub-task names: the categories, a space written ``_`` (``mmlu-pro/computer_science``)."""
LETTERS = "ABCDEFGHIJ"

_ZIP = "mmlu-pro/local_data/local_250825.zip"
_MEMBERS = {
    "test": "local_250825/mmlu_pro_test_data.json",
    "validation": "local_250825/mmlu_pro_val_data.json",
}
_PROMPT_FILE = "mmlu-pro/cot_prompt_lib/initial_prompt.txt"
_HUB_REPO = "TIGER-Lab/MMLU-Pro"
_FIELDS = ("question_id", "question", "options", "answer", "category", "src")
_FIX = f"pass --data-dir to a folder with a clean copy of {_ZIP}"

INITIAL_PROMPT = (
    "The following are multiple choice questions (with answers) about {$}. Think step by step"
    ' and then finish your answer with "the answer is (X)" where X is the correct letter '
    "choice.\n\n\n"
)
"""``cot_prompt_lib/initial_prompt.txt`` (three newlines included), used when the data dir has
no copy of it (a test checks the two are equal)."""
DIRECT_PROMPT = "The following are multiple choice questions (with answers) about {$}.\n"
"""The paper's third initial prompt (``tested_24_prompt_styles.txt``), for answer-only runs."""
_COT_TRIGGER = "Answer: Let's think step by step."
_N_SHOTS = 5
STOP = ("Question:",)

# The authors' extraction (evaluate_from_local.py / evaluate_from_api.py / run_gpt4o.py).
_ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?")
_ANSWER_COLON = re.compile(r".*[aA]nswer:\s*([A-J])")  # greedy ".*": the last one on a line
_LAST_LETTER = re.compile(r"[A-J](?=[^A-J]*$)")  # local: the last capital A-J anywhere
_LAST_WORD_LETTER = re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL)  # api: standalone
EXTRACT_RULES = ("local", "api", "first")
GUESS_RULES = ("seeded", "off")


def extract_letter(
    text: str, rule: str = "local"
) -> tuple[str | None, str, tuple[int, int] | None]:
    """(letter or None, method, span) by the authors' chain; ``rule`` picks their variant."""
    found = _ANSWER_IS.search(text)
    if found is not None:
        return found.group(1), "answer-is", found.span(1)
    if rule == "first":
        return None, "none", None
    found = _ANSWER_COLON.search(text)
    if found is not None:
        return found.group(1), "answer-colon", found.span(1)
    found = (_LAST_LETTER if rule == "local" else _LAST_WORD_LETTER).search(text)
    if found is not None:
        return found.group(0), "last-letter", found.span()
    return None, "none", None


def seeded_guess(n_options: int) -> int:
    """The authors' guess for an item with no extracted letter: ``random.seed(12345)`` then
    ``random.randint(0, n - 1)``, so the same index for every item with ``n`` options."""
    return random.Random(12345).randint(0, n_options - 1)


@dataclass(frozen=True, slots=True)
class _Row:
    """One MMLU-Pro row as read (test or validation)."""

    qid: int
    question: str
    options: tuple[str, ...]
    answer: str
    category: str
    src: str
    cot: str


def _row(raw: Mapping[str, Any], where: str) -> _Row:
    """The one adapter that touches MMLU-Pro's columns."""
    qid, question, options = raw.get("question_id"), raw.get("question"), raw.get("options")
    answer, category, src = raw.get("answer"), raw.get("category"), raw.get("src")
    if not isinstance(qid, int) or isinstance(qid, bool):
        raise CothubError(f"{where}: 'question_id' must be an integer, got {shown(qid)}; {_FIX}")
    if not isinstance(question, str) or not isinstance(options, list | tuple):
        raise CothubError(f"{where}: expected text 'question' and a list 'options'; {_FIX}")
    kept = tuple(str(o) for o in options if o != "N/A")  # the authors' preprocess
    if not 1 <= len(kept) <= len(LETTERS):
        raise CothubError(f"{where}: {len(kept)} options; MMLU-Pro has 1-10; {_FIX}")
    if not isinstance(answer, str) or answer not in LETTERS[: len(kept)]:
        raise CothubError(
            f"{where}: 'answer' must be one of the {len(kept)} option letters, got "
            f"{shown(answer)}; {_FIX}"
        )
    if category not in CATEGORIES:
        raise CothubError(f"{where}: 'category' {category!r} is not an MMLU-Pro category; {_FIX}")
    cot = raw.get("cot_content") or ""
    return _Row(qid, question, kept, answer, str(category), str(src or ""), str(cot))


def _rows(data: DataSource, split: str) -> tuple[list[_Row], str, str]:
    """(rows, source, digest) of one split: the authors' zip in the data dir, else the Hub."""
    local = data.find(_ZIP)
    if local is not None:
        raw = local.read_bytes()
        try:
            with zipfile.ZipFile(local) as z:
                doc = json.loads(z.read(_MEMBERS[split]))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CothubError(f"{local}: cannot read {_MEMBERS[split]} ({e}); {_FIX}") from e
        if not isinstance(doc, list):
            raise CothubError(f"{local}: {_MEMBERS[split]} is not a JSON list; {_FIX}")
        source = f"{local}!{_MEMBERS[split]}"
        rows = [_row(r, f"{source} item {i}") for i, r in enumerate(doc)]
        return rows, source, hashlib.sha256(raw).hexdigest()
    if data.root is not None:
        raise CothubError(
            f"{data.root / _ZIP} is missing; pass --data-dir to a folder with {_ZIP} "
            f"(or leave it unset to load {_HUB_REPO} from the Hub)"
        )
    hub = load_hub(_HUB_REPO, None, split, _FIELDS)
    return [_row(r, hub.where(i)) for i, r in enumerate(hub.rows)], hub.source, hub.digest


def _block(question: str, options: Sequence[str]) -> str:
    """``Question:\\n{q}\\nOptions:\\nA. {a}\\n...``: the authors' ``format_cot_example`` head."""
    lettered = "".join(f"{k}. {o}\n" for k, o in zip(LETTERS, options, strict=False))
    return f"Question:\n{question}\nOptions:\n{lettered}"


class MMLUPro(Task):
    name = "mmlu-pro"
    version = "1"
    citation = "Wang et al. 2024, arXiv:2406.01574"
    formats = (FEWSHOT_COT, ZEROSHOT_COT, FEWSHOT_DIRECT)
    default_format = FEWSHOT_COT
    subsets = SUBSETS
    aggregate = "micro"
    breakdowns = ("source",)
    parameters: ClassVar[Mapping[str, str]] = {
        "extract": "the authors' extraction: local (default), api, or first (the May-2024 rule)",
        "guess": "seeded (default: the authors' seeded guess when no letter is found) or off",
    }

    def __init__(self, extract: str = "local", guess: str = "seeded") -> None:
        self.extract = extract
        self.guess = guess

    def configure(self, params: Mapping[str, str]) -> Task:
        extract, guess = params.get("extract", self.extract), params.get("guess", self.guess)
        for key, value, allowed in (
            ("extract", extract, EXTRACT_RULES),
            ("guess", guess, GUESS_RULES),
        ):
            if value not in allowed:
                raise CothubError(
                    f"mmlu-pro: {key}={value!r} is not one of {', '.join(allowed)}; "
                    f"e.g. mmlu-pro:{key}={allowed[-1]}"
                )
        return MMLUPro(extract, guess)

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 2048 if self.prompt_format(fmt).cot else 16  # the authors' max_new_tokens

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        rows, source, digest = _rows(data, "test")
        keep = set(subsets or SUBSETS)
        samples = [
            Sample(
                str(r.qid),
                r.question,
                r.answer,
                r.category.replace(" ", "_"),
                (("source", r.src.split("-", 1)[0]), ("src", r.src)),
                r.options,
            )
            for r in rows
            if r.category.replace(" ", "_") in keep
        ]
        return Loaded(samples, {source: digest})

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        fmt = self.prompt_format(fmt)
        if options.prompt_file is not None:
            raise CothubError(
                "mmlu-pro keeps the authors' exemplars (the validation split); drop --prompt-file"
            )
        head_of, source, digest = _heads(data, fmt.cot)
        shots: dict[str, list[str]] = {}
        if fmt.fewshot:
            rows, source, digest = _rows(data, "validation")
            for category in CATEGORIES:
                mine = [r for r in rows if r.category == category][:_N_SHOTS]
                shots[category] = [_exemplar(r, fmt.cot) for r in mine]
        render = _renderer(head_of, shots, fmt.cot, options.style)

        def fitted(sample: Sample) -> Prompt:
            n = len(shots.get(sample.subset.replace("_", " "), ()))
            return fit(
                lambda k: render(sample, k), n, options.max_prompt_tokens, f"mmlu-pro {sample.id}"
            )

        return Prompter(fitted, source, digest)

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        """Answer-only: `` A`` .. after ``Answer:``, one per option of the item."""
        if self.prompt_format(fmt).cot:
            return None
        return [f" {k}" for k in LETTERS[: len(sample.choices)]]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        letter, method, span = extract_letter(text, self.extract)
        return Answer(letter, span, method)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        letter, n = answer.value, len(sample.choices)
        if letter is not None:
            check = "letter" if letter in LETTERS[:n] else "letter-out-of-range"
            return Grade(letter == sample.gold, letter, answer.method, answer.span, check)
        if self.guess == "seeded" and n:
            guessed = LETTERS[seeded_guess(n)]
            return Grade(guessed == sample.gold, None, "seeded-guess", None, f"guess={guessed}")
        return Grade(False, None, answer.method)


def _heads(data: DataSource, cot: bool) -> tuple[Callable[[str], str], str, str]:
    """The initial prompt per category (``{$}`` replaced, then the script's ``"\\n"``)."""
    text = DIRECT_PROMPT if not cot else INITIAL_PROMPT
    source = "built-in"
    local = data.find(_PROMPT_FILE) if cot else None
    if local is not None:
        text, source = local.read_text(encoding="utf-8"), str(local)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return (lambda category: text.replace("{$}", category) + "\n"), source, digest


def _exemplar(r: _Row, cot: bool) -> str:
    """One validation item with its answer, as ``format_cot_example(including_answer=True)``."""
    if not cot:
        return f"{_block(r.question, r.options)}Answer: {r.answer}\n\n"
    rationale = r.cot.replace("A: Let's think step by step.", _COT_TRIGGER)
    return f"{_block(r.question, r.options)}{rationale}\n\n"


def _renderer(
    head_of: Callable[[str], str], shots: Mapping[str, Sequence[str]], cot: bool, style: str
) -> Callable[[Sample, int], Prompt]:
    def render(sample: Sample, k: int) -> Prompt:
        category = sample.subset.replace("_", " ")
        tail = _block(sample.question, sample.choices) + (_COT_TRIGGER if cot else "Answer:")
        text = completion(head_of(category), list(shots.get(category, ()))[:k], tail, "")
        if style == "chat":
            return Prompt(style="chat", messages=(Message("user", text),), n_exemplars=k)
        return Prompt(style="completions", text=text, stop=STOP, n_exemplars=k)

    return render
