"""MMLU: 14,042 four-option questions in 57 subjects (STEM, humanities, social sciences, other).

Hendrycks et al. 2021, "Measuring Massive Multitask Language Understanding", ICLR 2021,
arXiv:2009.03300. Data: the official CSV release (``mmlu/{dev,test}/<subject>_<split>.csv``);
without a data directory, ``cais/mmlu`` from the Hugging Face Hub.

    cothub run mmlu --model openai/gpt-4o-mini                       # 5-shot answer-only
    cothub run mmlu/anatomy --model openai/gpt-4o-mini --format fewshot-cot

Default format ``fewshot-direct``: the headline MMLU numbers (the paper; the GPT-3.5/GPT-4 figures
that Chain-of-Thought Hub's leaderboard quotes; its LLaMA/Falcon script) are 5-shot answer-only
with the dev split as exemplars. ``fewshot-cot`` uses the hub's ``mmlu-cot.json``.

Prompt layouts, completion style (byte-exact, since published numbers depend on them):

* direct, as Hendrycks' ``evaluate.py``: ``format_subject`` prefixes every word with a space, so
  the header reads ``about  high school physics.`` (two spaces); exemplars are
  ``{question}\\nA. {a}\\nB. {b}\\nC. {c}\\nD. {d}\\nAnswer: {letter}\\n\\n`` and the test item
  ends ``\\nAnswer:`` (no space; the model writes `` B``). Stop: ``\\n``.
* CoT: the subject's ``mmlu-cot.json`` string verbatim, then the test item in the layout of the
  file's exemplars: ``\\n\\nQ: {question}\\n(A) {a} (B) {b} (C) {c} (D) {d}\\nA: Let's think step
  by step.`` (The hub's own scripts wrote the item without ``Q: `` and with a space before the
  ``\\nA:``; we follow the exemplars the model is asked to imitate.) Stop: ``\\n\\nQ:``, where a
  base model would start inventing the next question.

Chat style turns the same exemplars into user/assistant pairs; the subject header opens the first
user turn, and every user turn asks for ``Answer: X`` (direct) or ``The answer is (X).`` (CoT).

Context fitting (:func:`cothub.prompts.fit`, as for every task): with ``--max-context``, exemplars
are dropped from the end (as Hendrycks' ``evaluate.py`` lowers k) until the prompt fits; an item
that does not fit even with no exemplars is refused with a one-line error, never truncated.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cothub.data.source import DataSource, load_hub, read_json, sha256_text
from cothub.errors import CothubError
from cothub.prompts import (
    FEWSHOT_COT,
    FEWSHOT_DIRECT,
    ZEROSHOT_COT,
    ZEROSHOT_DIRECT,
    Exemplar,
    PromptFormat,
    chat_turns,
    completion,
    fit,
)
from cothub.prompts.perturb import describe, perturb
from cothub.scoring.choice import extract_mmlu, score_mmlu
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Prompt, Sample

# Subject -> category, as in Hendrycks' ``categories.py`` (hendrycks/test): each subject has a
# subcategory (math, physics, health, law, ...) and the subcategories group into the paper's four
# categories. "other" is the paper's "Other (business, health, misc.)". 18 / 13 / 12 / 14 subjects.
STEM, HUMANITIES, SOCIAL, OTHER = "STEM", "humanities", "social sciences", "other"
CATEGORIES: dict[str, str] = {
    "abstract_algebra": STEM,  # math
    "anatomy": OTHER,  # health
    "astronomy": STEM,  # physics
    "business_ethics": OTHER,  # business
    "clinical_knowledge": OTHER,  # health
    "college_biology": STEM,  # biology
    "college_chemistry": STEM,  # chemistry
    "college_computer_science": STEM,  # computer science
    "college_mathematics": STEM,  # math
    "college_medicine": OTHER,  # health
    "college_physics": STEM,  # physics
    "computer_security": STEM,  # computer science
    "conceptual_physics": STEM,  # physics
    "econometrics": SOCIAL,  # economics
    "electrical_engineering": STEM,  # engineering
    "elementary_mathematics": STEM,  # math
    "formal_logic": HUMANITIES,  # philosophy
    "global_facts": OTHER,  # other
    "high_school_biology": STEM,  # biology
    "high_school_chemistry": STEM,  # chemistry
    "high_school_computer_science": STEM,  # computer science
    "high_school_european_history": HUMANITIES,  # history
    "high_school_geography": SOCIAL,  # geography
    "high_school_government_and_politics": SOCIAL,  # politics
    "high_school_macroeconomics": SOCIAL,  # economics
    "high_school_mathematics": STEM,  # math
    "high_school_microeconomics": SOCIAL,  # economics
    "high_school_physics": STEM,  # physics
    "high_school_psychology": SOCIAL,  # psychology
    "high_school_statistics": STEM,  # math
    "high_school_us_history": HUMANITIES,  # history
    "high_school_world_history": HUMANITIES,  # history
    "human_aging": OTHER,  # health
    "human_sexuality": SOCIAL,  # culture
    "international_law": HUMANITIES,  # law
    "jurisprudence": HUMANITIES,  # law
    "logical_fallacies": HUMANITIES,  # philosophy
    "machine_learning": STEM,  # computer science
    "management": OTHER,  # business
    "marketing": OTHER,  # business
    "medical_genetics": OTHER,  # health
    "miscellaneous": OTHER,  # other
    "moral_disputes": HUMANITIES,  # philosophy
    "moral_scenarios": HUMANITIES,  # philosophy
    "nutrition": OTHER,  # health
    "philosophy": HUMANITIES,  # philosophy
    "prehistory": HUMANITIES,  # history
    "professional_accounting": OTHER,  # other
    "professional_law": HUMANITIES,  # law
    "professional_medicine": OTHER,  # health
    "professional_psychology": SOCIAL,  # psychology
    "public_relations": SOCIAL,  # politics
    "security_studies": SOCIAL,  # politics
    "sociology": SOCIAL,  # culture
    "us_foreign_policy": SOCIAL,  # politics
    "virology": OTHER,  # health
    "world_religions": HUMANITIES,  # philosophy
}
SUBJECTS = tuple(sorted(CATEGORIES))
LETTERS = "ABCD"

COT_PROMPT_FILE = "cot-hub-prompts/MMLU/lib_prompt/mmlu-cot.json"
_HUB_REPO = "cais/mmlu"
_COT_TRIGGER = "Let's think step by step."
_CHAT_DIRECT = 'Answer with the letter of the correct option, in the form "Answer: X".'
_CHAT_COT = (
    'Let\'s think step by step, then finish with "The answer is (X).", where X is the letter '
    "of the correct option."
)
_STOP_DIRECT = ("\n",)
_STOP_COT = ("\n\nQ:",)
_SHOT_DIRECT = "{question}\nAnswer: {answer}\n\n"
_SHOT_COT = "\n\nQ: {question}\nA: {answer}"  # an mmlu-cot.json exemplar, answer verbatim


def hendrycks_header(subject: str) -> str:
    """The original header, double space included (``format_subject`` joins ``" " + word``)."""
    spaced = "".join(" " + w for w in subject.split("_"))
    return f"The following are multiple choice questions (with answers) about {spaced}.\n\n"


def _plain_header(subject: str) -> str:
    """The header of ``mmlu-cot.json`` (single space), used where no original exists."""
    spaced = subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {spaced}."


@dataclass(frozen=True, slots=True)
class Item:
    """One CSV row: the question, its four options and the gold letter."""

    question: str
    options: tuple[str, str, str, str]
    answer: str


def format_item(item: Item) -> str:
    """The question with lettered options, as Hendrycks' ``format_example`` writes it."""
    lines = [item.question] + [f"{k}. {o}" for k, o in zip(LETTERS, item.options, strict=True)]
    return "\n".join(lines)


def read_csv(path: Path) -> tuple[list[Item], str]:
    """(rows, sha256) of one MMLU CSV; the first malformed row is named as ``file:row``.

    The csv module keeps every field a string ("None", "0.5" stay text; pandas, which the original
    scripts used, would turn them into NaN / floats).
    """
    fix = "pass --data-dir to a folder with a clean copy of the MMLU CSVs"
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as e:
        raise CothubError(f"{path}: cannot read ({e.strerror}); {fix}") from e
    except UnicodeDecodeError as e:
        raise CothubError(f"{path}: not UTF-8 ({e.reason}); {fix}") from e
    items: list[Item] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    row = 0
    try:
        for row, fields in enumerate(reader, 1):
            if not fields:  # a blank line (pandas, as the original scripts used, skips them)
                continue
            if len(fields) != 6 or fields[5] not in LETTERS:
                raise CothubError(
                    f"{path}:{row}: expected 6 columns (question, A, B, C, D, answer A-D), got "
                    f"{len(fields)} ending {fields[-1][:20]!r}; {fix}"
                )
            q, a, b, c, d, answer = fields
            items.append(Item(q, (a, b, c, d), answer))
    except csv.Error as e:
        raise CothubError(f"{path}:{row + 1}: bad CSV ({e}); {fix}") from e
    if not items:
        raise CothubError(f"{path} holds no rows; {fix}")
    return items, hashlib.sha256(raw).hexdigest()


def hub_items(rows: Sequence[Mapping[str, Any]], source: str) -> list[Item]:
    """``cais/mmlu`` rows (question, choices[4], answer index) as items."""
    items = []
    for i, r in enumerate(rows):
        choices, answer = list(r["choices"]), r["answer"]
        if len(choices) != 4 or not isinstance(answer, int) or not 0 <= answer < 4:
            raise CothubError(
                f"{source} row {i}: expected 4 choices and an answer index 0-3; "
                "pass --data-dir to a local copy of the MMLU CSVs"
            )
        opts = (str(choices[0]), str(choices[1]), str(choices[2]), str(choices[3]))
        items.append(Item(str(r["question"]), opts, LETTERS[answer]))
    return items


@dataclass(frozen=True, slots=True)
class _Subject:
    """One subject's few-shot material for one format and API style."""

    head: str
    """Completion: the text before the exemplars. Chat: the lead of the first user turn."""
    shots: tuple[Exemplar, ...] = ()


class MMLU(Task):
    name = "mmlu"
    version = "1"
    citation = "Hendrycks et al. 2021, arXiv:2009.03300"
    formats = (FEWSHOT_DIRECT, FEWSHOT_COT, ZEROSHOT_DIRECT, ZEROSHOT_COT)
    default_format = FEWSHOT_DIRECT
    subsets = SUBJECTS
    aggregate = "micro"
    breakdowns = ("category",)

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        # A letter (plus "Answer: " for chat models) vs. a paragraph of reasoning.
        return 512 if self.prompt_format(fmt).cot else 16

    def _split(self, data: DataSource, split: str, subject: str) -> tuple[list[Item], str, str]:
        """(items, source, digest) of one subject's split, local first, else the Hub."""
        relative = f"mmlu/{split}/{subject}_{split}.csv"
        local = data.find(relative)
        if local is not None:
            items, digest = read_csv(local)
            return items, str(local), digest
        if data.root is not None:
            raise CothubError(
                f"{data.root / relative} is missing; pass --data-dir to a folder with "
                f"mmlu/{split}/<subject>_{split}.csv (or leave it unset to load {_HUB_REPO})"
            )
        rows = load_hub(_HUB_REPO, subject, split, ("question", "choices", "answer"))
        return hub_items(rows.rows, rows.source), rows.source, rows.digest

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for subject in sorted(subsets) or SUBJECTS:
            items, source, digest = self._split(data, "test", subject)
            provenance[source] = digest
            tags = (("category", CATEGORIES[subject]),)
            samples.extend(
                Sample(f"{subject}/{i}", format_item(it), it.answer, subject, tags, it.options)
                for i, it in enumerate(items)
            )
        return Loaded(samples, provenance)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        fmt = self.prompt_format(fmt)
        chat = options.style == "chat"
        if options.prompt_file is not None and fmt != FEWSHOT_COT:
            raise CothubError(
                "--prompt-file applies to mmlu's fewshot-cot format only (a JSON of subject -> "
                "prompt, like mmlu-cot.json); drop it or add --format fewshot-cot"
            )
        if not fmt.fewshot:
            subjects, source, digest = _zero_shot(fmt.cot, chat), "none", ""
        elif fmt.cot:
            subjects, source, digest = self._cot_shots(data, options.prompt_file, chat)
        else:
            subjects, source, digest = self._dev_shots(data, chat)
        perturbation = None
        if options.perturb is not None and fmt.fewshot:
            if fmt.cot:  # its exemplars are whole replies, not a rationale and an answer
                raise CothubError("--perturb applies to mmlu's fewshot-direct format only")
            seed = options.seed
            changed = {s: perturb(v.shots, options.perturb, seed) for s, v in subjects.items()}
            subjects = {s: replace(v, shots=tuple(changed[s])) for s, v in subjects.items()}
            perturbation = describe(options.perturb, options.seed, changed)
        render = _chat_renderer(subjects, fmt.cot) if chat else _text_renderer(subjects, fmt.cot)

        def fitted(sample: Sample) -> Prompt:
            n = len(_subject(subjects, sample).shots)
            return fit(
                lambda k: render(sample, k), n, options.max_prompt_tokens, f"mmlu {sample.id}"
            )

        return Prompter(fitted, source, digest, perturbation)

    def _dev_shots(self, data: DataSource, chat: bool) -> tuple[dict[str, _Subject], str, str]:
        """The five dev rows of every subject, in file order (as Hendrycks' ``gen_prompt``)."""
        subjects: dict[str, _Subject] = {}
        digests = []
        for subject in SUBJECTS:
            items, _, digest = self._split(data, "dev", subject)
            digests.append(f"{subject}:{digest}")
            shots = tuple(Exemplar(format_item(it), "", it.answer) for it in items)
            head = _plain_header(subject) + "\n\n" if chat else hendrycks_header(subject)
            subjects[subject] = _Subject(head, shots)
        source = str(data.root / "mmlu/dev") if data.root is not None else f"hf:{_HUB_REPO}/dev"
        return subjects, source, sha256_text("\n".join(digests))

    def _cot_shots(
        self, data: DataSource, prompt_file: str | None, chat: bool
    ) -> tuple[dict[str, _Subject], str, str]:
        """Per-subject CoT prompts from ``mmlu-cot.json`` (or a file of the same shape)."""
        path = Path(prompt_file).expanduser() if prompt_file else data.find(COT_PROMPT_FILE)
        if path is None or not path.is_file():
            raise CothubError(
                f"mmlu fewshot-cot needs {COT_PROMPT_FILE}: pass --data-dir to a folder holding "
                "it, or --prompt-file to a JSON of subject -> prompt"
                if prompt_file is None
                else f"prompt file {prompt_file!r} not found; give a path to a JSON of "
                "subject -> prompt (like mmlu-cot.json)"
            )
        prompts = read_json(path)
        if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
            raise CothubError(f"{path}: expected a JSON object of subject -> prompt string")
        subjects = {s: _parse_cot_prompt(p, s, str(path), chat) for s, p in prompts.items()}
        return subjects, str(path), sha256_text(path.read_text(encoding="utf-8"))

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        """Answer-only formats: `` A`` .. `` D`` after ``Answer:``, the letters whose
        probabilities Hendrycks et al. compare (``evaluate.py``) for models scored by likelihood."""
        return None if self.prompt_format(fmt).cot else [f" {k}" for k in LETTERS]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_mmlu(text, choices=sample.choices)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_mmlu(answer, sample.gold)


def _parse_cot_prompt(prompt: str, subject: str, origin: str, chat: bool) -> _Subject:
    """Split a ``mmlu-cot.json`` prompt into header and exemplars, losslessly for completions.

    Exemplars are separated by ``\\n\\nQ: ``; within one, the first ``\\nA: `` ends the question.
    Header and exemplars rendered with :data:`_SHOT_COT` give the file's string back byte for byte.
    """
    head, *parts = prompt.split("\n\nQ: ")
    shots = []
    for n, part in enumerate(parts, 1):
        question, sep, answer = part.partition("\nA: ")
        if not sep:
            raise CothubError(
                f"{origin}: {subject} exemplar {n} has no '\\nA: ' line; use a prompt in the "
                "mmlu-cot.json layout"
            )
        shots.append(Exemplar(question, "", answer))
    return _Subject(head.strip() + "\n\n" if chat else head, tuple(shots))


def _zero_shot(cot: bool, chat: bool) -> dict[str, _Subject]:
    """Header only: Hendrycks' (k=0) for direct completions, the CoT file's style otherwise."""
    if chat:
        return {s: _Subject(_plain_header(s) + "\n\n") for s in SUBJECTS}
    if cot:  # the CoT tail opens with "\n\nQ: ", as after a CoT file's last exemplar
        return {s: _Subject(_plain_header(s)) for s in SUBJECTS}
    return {s: _Subject(hendrycks_header(s)) for s in SUBJECTS}


def _subject(subjects: Mapping[str, _Subject], sample: Sample) -> _Subject:
    found = subjects.get(sample.subset)
    if found is None:
        raise CothubError(
            f"mmlu {sample.id}: the exemplar set has no prompt for subject {sample.subset!r}"
        )
    return found


def _cot_item(sample: Sample) -> str:
    """The item in the ``mmlu-cot.json`` exemplar layout, options on one line: ``(A) ..``.

    The stem is ``Sample.question`` (the direct layout, :func:`format_item`) without the option
    lines that ``Sample.choices`` hold, so nothing is parsed back out of the text.
    """
    if len(sample.choices) != len(LETTERS):
        raise CothubError(f"mmlu {sample.id}: an MMLU item needs its four options (choices)")
    lettered = list(zip(LETTERS, sample.choices, strict=True))
    listed = "".join(f"\n{k}. {o}" for k, o in lettered)
    if not sample.question.endswith(listed):
        raise CothubError(f"mmlu {sample.id}: the question does not end with its four options")
    inline = " ".join(f"({k}) {o}" for k, o in lettered)
    return f"{sample.question.removesuffix(listed)}\n{inline}"


def _text_renderer(subjects: Mapping[str, _Subject], cot: bool) -> Callable[[Sample, int], Prompt]:
    template = _SHOT_COT if cot else _SHOT_DIRECT
    texts = {s: [e.format(template) for e in v.shots] for s, v in subjects.items()}

    def render(sample: Sample, k: int) -> Prompt:
        head = _subject(subjects, sample).head
        if cot:
            tail = f"\n\nQ: {_cot_item(sample)}\nA: {_COT_TRIGGER}"
        else:
            tail = f"{sample.question}\nAnswer:"
        text = completion(head, texts[sample.subset][:k], tail, "")
        stop = _STOP_COT if cot else _STOP_DIRECT
        return Prompt(style="completions", text=text, stop=stop, n_exemplars=k)

    return render


def _chat_renderer(subjects: Mapping[str, _Subject], cot: bool) -> Callable[[Sample, int], Prompt]:
    ask = _CHAT_COT if cot else _CHAT_DIRECT
    reply = "{answer}" if cot else "Answer: {answer}"

    def render(sample: Sample, k: int) -> Prompt:
        subject = _subject(subjects, sample)
        final = f"{_cot_item(sample) if cot else sample.question}\n{ask}"
        turns = chat_turns(subject.shots[:k], final, "{question}\n" + ask, reply, lead=subject.head)
        return Prompt(style="chat", messages=turns, n_exemplars=k)

    return render
