"""BIG-Bench Hard: 27 hard BIG-Bench tasks (6,511 items) with the authors' 3-shot prompts.

Suzgun et al. 2022, "Challenging BIG-Bench Tasks and Whether Chain-of-Thought Can Solve Them",
arXiv:2210.09261. The headline is the unweighted mean over the 27 tasks, as the paper and
Chain-of-Thought Hub report it (code-davinci-002: 73.7 CoT, 52.8 answer-only).

    cothub run bbh --model openai/gpt-4o-mini --format fewshot-cot
    cothub run bbh/navigate bbh/snarks --model openai/MODEL --api completions --data-dir DIR

Completion-style few-shot prompts equal the ``input`` of the authors' released Codex outputs byte
for byte: the prompt file (canary lines removed), then ``\\n\\nQ: <input>\\nA: Let's think step by
step.`` (answer-only: the answer-only prefix, then ``\\n\\nQ: <input>\\nA:``). Zero-shot is the
same prompt with no exemplars (the task description stays), which is also what few-shot becomes
when ``--max-context`` leaves room for none. Chat style sends the same exemplars as turns.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cothub.data.source import DataSource, Rows, load_hub, sha256_text
from cothub.errors import CothubError
from cothub.extract.choice import BBH_TASKS, OPTION, bbh_target_type, parse_choices
from cothub.prompts import (
    ALL_FORMATS,
    FEWSHOT_COT,
    Exemplar,
    PromptFormat,
    chat_turns,
    completion,
    fit,
)
from cothub.prompts.perturb import describe, perturb
from cothub.scoring.choice import extract_bbh, score_bbh
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Prompt, Sample

_DATA = "bbh/bbh"
# Answer-only prompts differ from the CoT files with rationales removed for 3 tasks
# (date_understanding, snarks, tracking_shuffled_objects_three_objects), so each mode has its own.
_PROMPT_DIRS = {"cot": "bbh/cot-prompts", "direct": "bbh/direct-prompts"}
_HUB = "lukaemon/bbh"
_FIX_DATA = "pass --data-dir to a folder with bbh/bbh/<task>.json (BIG-Bench-Hard's bbh/ folder)"

_CANARY = re.compile(r"\A[^\n]*canary[^\n]*\n-+\n")
_TRIGGER = "Let's think step by step."
_FINAL = re.compile(r"So the answer is ([^\n]+?)\.\Z")
# Exemplar templates (Exemplar.format): the published layout, byte for byte.
_REPLY_COT = f"{_TRIGGER}{{rationale}}So the answer is {{answer}}."
_SHOT_COT = f"Q: {{question}}\nA: {_REPLY_COT}"
_SHOT_DIRECT = "Q: {question}\nA: {answer}"

# A base model goes on to write the next exemplar, which always starts after a blank line with
# "Q:". Nothing shorter is safe: dyck answers end in ")" "]" ">", word_sorting answers are bare
# words, and rationales have single newlines (but no blank lines) in them.
_STOP = ("\n\nQ:",)
# Zero-shot chat needs the answer convention spelled out; answer-only asks for the bare answer,
# which is what the few-shot answer-only exemplars show and what the published rule compares.
_ZERO_SHOT_COT = 'Think step by step, then end your reply with "So the answer is <answer>."'
_ZERO_SHOT_DIRECT = "Reply with only the answer, without any working."


@dataclass(frozen=True, slots=True)
class _PromptFile:
    """A parsed prompt file: task description, then exemplars."""

    description: str
    shots: tuple[Exemplar, ...]
    """``rationale`` is the text between the trigger and "So the answer is", whitespace kept, so
    that :data:`_SHOT_COT` gives the published exemplar back byte for byte."""
    cot: bool
    """Whether the exemplars carry rationales."""


def _parse_prompt_file(text: str, origin: str) -> _PromptFile:
    """Parse ``[canary, -----,] description, then blank-line separated Q:/A: exemplars``."""
    body = _CANARY.sub("", text, count=1).rstrip()
    head, *blocks = body.split("\n\nQ: ")
    if head.startswith("Q: "):
        head, blocks = "", [head[3:], *blocks]
    fix = "use a file in the format of BIG-Bench-Hard's cot-prompts/<task>.txt"
    if not blocks:
        raise CothubError(f"{origin}: no 'Q: ...' exemplars found; {fix}")
    shots = []
    cot = []
    for k, block in enumerate(blocks, 1):
        question, sep, reply = block.partition("\nA: ")
        if not sep:
            raise CothubError(f"{origin}: exemplar {k} has no 'A: ' line; {fix}")
        cot.append(reply.startswith(_TRIGGER))
        if not cot[-1]:
            shots.append(Exemplar(question, "", reply.strip()))
            continue
        final = _FINAL.search(reply)
        if final is None:
            raise CothubError(f"{origin}: exemplar {k} does not end 'So the answer is X.'; {fix}")
        shots.append(Exemplar(question, reply[len(_TRIGGER) : final.start()], final.group(1)))
    if any(cot) and not all(cot):
        raise CothubError(f"{origin}: some exemplars have rationales and some do not; {fix}")
    return _PromptFile(head.strip(), tuple(shots), all(cot))


def _prefix(prompt: _PromptFile, k: int, cot: bool) -> str:
    """Description and the first ``k`` exemplars as the published prompts lay them out."""
    shots = [s.format(_SHOT_COT if cot else _SHOT_DIRECT) for s in prompt.shots[:k]]
    return completion(prompt.description, shots, "", "\n\n")


def _completion(prompt: _PromptFile, k: int, question: str, cot: bool) -> Prompt:
    tail = f"Q: {question}\nA:" + (f" {_TRIGGER}" if cot else "")
    text = completion(_prefix(prompt, k, cot), [], tail, "\n\n")
    return Prompt(style="completions", text=text, stop=_STOP, n_exemplars=k)


def _chat(prompt: _PromptFile, k: int, question: str, cot: bool) -> Prompt:
    """Exemplars as user/assistant turns; the description leads the first user turn."""
    final = f"Q: {question}"
    if not k:
        final += "\n" + (_ZERO_SHOT_COT if cot else _ZERO_SHOT_DIRECT)
    lead = f"{prompt.description}\n\n" if prompt.description else ""
    reply = _REPLY_COT if cot else "{answer}"
    messages = chat_turns(prompt.shots[:k], final, "Q: {question}", reply, lead=lead)
    return Prompt(style="chat", messages=messages, n_exemplars=k)


def _read_task_file(path: Path) -> Rows:
    """One ``bbh/bbh/<task>.json``: ``{"examples": [{"input": str, "target": str}, ...]}``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CothubError(f"{path} is missing; {_FIX_DATA}") from None
    except OSError as e:
        raise CothubError(f"cannot read {path} ({e.strerror}); {_FIX_DATA}") from e
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CothubError(f"{path} is not valid JSON ({e}); {_FIX_DATA}") from e
    examples = doc.get("examples") if isinstance(doc, dict) else None
    if (
        not isinstance(examples, list)
        or not examples
        or not all(
            isinstance(ex, dict)
            and isinstance(ex.get("input"), str)
            and isinstance(ex.get("target"), str)
            for ex in examples
        )
    ):
        raise CothubError(
            f'{path} is not a BBH task file (expected {{"examples": [{{"input", "target"}}, '
            f"...]}}); {_FIX_DATA}"
        )
    return Rows(examples, str(path), hashlib.sha256(raw).hexdigest())


class BBH(Task):
    name = "bbh"
    version = "1"
    citation = "Suzgun et al. 2022, arXiv:2210.09261"
    formats = ALL_FORMATS
    default_format = FEWSHOT_COT
    subsets = tuple(sorted(BBH_TASKS))
    aggregate = "macro"

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        # CoT: the published Codex rationales were cut at a fixed budget (~512 tokens: 146/250
        # word_sorting and 51/250 dyck_languages end mid-step near 1,100 characters of bracket
        # text) and the longest finished ones sit just under that cut (formal_fallacies 2,658
        # characters, geometric_shapes 2,224), so 512 would cut legitimate reasoning; 1024
        # doubles it. Answer-only: the longest gold is a 20-word, 182-character word_sorting
        # list (~60 BPE tokens). A base model stops at "\n\nQ:" long before either limit.
        return 1024 if self.prompt_format(fmt).cot else 96

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for task in subsets or self.subsets:
            rows = self._rows(data, task)
            provenance[rows.source] = rows.digest
            samples += [
                Sample(
                    id=f"{task}/{i}",
                    question=str(r["input"]),
                    gold=str(r["target"]),
                    subset=task,
                    choices=parse_choices(str(r["input"])),
                )
                for i, r in enumerate(rows.rows)
            ]
        return Loaded(samples, provenance)

    def _rows(self, data: DataSource, task: str) -> Rows:
        if data.root is None:
            return load_hub(_HUB, task, "test", ("input", "target"))
        return _read_task_file(data.root / _DATA / f"{task}.json")

    def _prompt_files(
        self, data: DataSource, mode: str, choice: str | None
    ) -> tuple[dict[str, _PromptFile], str]:
        """Every task's parsed prompt file, and the folder they came from."""
        if choice is not None:
            folder = Path(choice).expanduser()
            if not folder.is_dir():
                raise CothubError(
                    f"bbh --prompt-file must be a folder of <task>.txt prompt files (like "
                    f"BIG-Bench-Hard's cot-prompts/); {choice!r} is not a folder"
                )
        elif data.root is None:
            raise CothubError(
                "bbh prompts are read from files: pass --data-dir to a folder with "
                f"{_PROMPT_DIRS[mode]}/ (or --prompt-file FOLDER: BIG-Bench-Hard's cot-prompts/)"
            )
        else:
            folder = data.root / _PROMPT_DIRS[mode]
        parsed = {}
        for task in self.subsets:
            path = folder / f"{task}.txt"
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CothubError(
                    f"cannot read {path} ({type(e).__name__}); pass --data-dir to a folder with "
                    f"{_PROMPT_DIRS[mode]}/<task>.txt for all 27 tasks (or --prompt-file FOLDER)"
                ) from e
            parsed[task] = _parse_prompt_file(text, str(path))
            if mode == "cot" and not parsed[task].cot:
                raise CothubError(f"{path} has no rationales; CoT formats need CoT exemplars")
        return parsed, str(folder)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        fmt = self.prompt_format(fmt)
        files, folder = self._prompt_files(data, fmt.reasoning, options.prompt_file)
        perturbation = None
        if options.perturb is not None and fmt.fewshot:  # each task's set, seeded alike
            seed = options.seed
            changed = {t: perturb(p.shots, options.perturb, seed) for t, p in files.items()}
            files = {t: replace(p, shots=tuple(changed[t])) for t, p in files.items()}
            perturbation = describe(options.perturb, options.seed, changed)
        shots = {t: (len(p.shots) if fmt.fewshot else 0) for t, p in files.items()}
        build = _chat if options.style == "chat" else _completion

        def render(sample: Sample) -> Prompt:
            prompt_file = files.get(sample.subset)
            if prompt_file is None:
                raise CothubError(f"bbh sample {sample.id!r} names no BBH task; see `cothub tasks`")
            return fit(
                lambda k: build(prompt_file, k, sample.question, fmt.cot),
                shots[sample.subset],
                options.max_prompt_tokens,
                f"bbh {sample.id}",
            )

        # One hash for all 27 prefixes, listed per task so a single file can be checked against it.
        listing = "\n".join(
            f"{t} {sha256_text(_prefix(p, shots[t], fmt.cot))}" for t, p in files.items()
        )
        return Prompter(render, folder, sha256_text(listing), perturbation)

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        """Answer-only formats: the item's options, written as the answer follows ``A:``: the
        letter (`` (B)``) for lettered options, else the text (`` No``, `` invalid``). Items
        that list none (free-form answers, True/False expressions) have no choices."""
        if self.prompt_format(fmt).cot or not sample.choices:
            return None
        if bbh_target_type(sample.subset) == OPTION:
            return [f" ({chr(ord('A') + i)})" for i in range(len(sample.choices))]
        return [" " + o for o in dict.fromkeys(sample.choices)]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        mode = self.prompt_format(fmt).reasoning
        return extract_bbh(
            self._subset(sample), text, sample.gold, mode=mode, choices=sample.choices
        )

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_bbh(self._subset(sample), answer, sample.gold)

    def _subset(self, sample: Sample) -> str:
        if sample.subset not in self.subsets:
            raise CothubError("grading bbh needs a sub-task name, e.g. bbh/navigate")
        return sample.subset
