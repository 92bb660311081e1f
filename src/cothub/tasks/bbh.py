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
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cothub.data.source import DataSource, Rows, load_hub, sha256_text
from cothub.errors import CothubError
from cothub.extract.choice import BBH_TASKS
from cothub.scoring.choice import grade_bbh
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Grade, Message, Prompt, Sample

_DATA = "bbh/bbh"
# Answer-only prompts differ from the CoT files with rationales removed for 3 tasks
# (date_understanding, snarks, tracking_shuffled_objects_three_objects), so each mode has its own.
_PROMPT_DIRS = {"cot": "bbh/cot-prompts", "direct": "bbh/direct-prompts"}
_HUB = "lukaemon/bbh"
_FIX_DATA = "pass --data-dir to a folder with bbh/bbh/<task>.json (BIG-Bench-Hard's bbh/ folder)"

_CANARY = re.compile(r"\A[^\n]*canary[^\n]*\n-+\n")
_TRIGGER = "Let's think step by step."
_FINAL = re.compile(r"So the answer is ([^\n]+?)\.\Z")
_LETTER_LINE = re.compile(r"^\(([A-Z])\) ", re.MULTILINE)
_DASH_LINE = re.compile(r"^- (.*?)\s*$", re.MULTILINE)

# A base model goes on to write the next exemplar, which always starts after a blank line with
# "Q:". Nothing shorter is safe: dyck answers end in ")" "]" ">", word_sorting answers are bare
# words, and rationales have single newlines (but no blank lines) in them.
_STOP = ("\n\nQ:",)
# Zero-shot chat needs the answer convention spelled out; answer-only asks for the bare answer,
# which is what the few-shot answer-only exemplars show and what the published rule compares.
_ZERO_SHOT_COT = 'Think step by step, then end your reply with "So the answer is <answer>."'
_ZERO_SHOT_DIRECT = "Reply with only the answer, without any working."
# Fitting prompts into a context uses ~4 characters per token (English BPE): an estimate, not a
# tokenizer, so leave some margin in --max-context.
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class _Shot:
    """One exemplar of a BBH prompt file."""

    question: str
    """Text after ``Q: `` (options included)."""
    reply: str
    """After ``A: `` verbatim: ``Let's think step by step. ... So the answer is X.`` or ``X``."""
    answer: str
    """The final answer ``X``."""


@dataclass(frozen=True, slots=True)
class _PromptFile:
    """A parsed prompt file: task description, then exemplars."""

    description: str
    shots: tuple[_Shot, ...]
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
    for k, block in enumerate(blocks, 1):
        question, sep, reply = block.partition("\nA: ")
        if not sep:
            raise CothubError(f"{origin}: exemplar {k} has no 'A: ' line; {fix}")
        if reply.startswith(_TRIGGER):
            final = _FINAL.search(reply)
            if final is None:
                raise CothubError(
                    f"{origin}: exemplar {k} does not end 'So the answer is X.'; {fix}"
                )
            answer = final.group(1)
        else:
            answer = reply.strip()
        shots.append(_Shot(question, reply, answer))
    cot = [s.reply.startswith(_TRIGGER) for s in shots]
    if any(cot) and not all(cot):
        raise CothubError(f"{origin}: some exemplars have rationales and some do not; {fix}")
    return _PromptFile(head.strip(), tuple(shots), all(cot))


def _prefix(prompt: _PromptFile, shots: Sequence[_Shot], cot: bool) -> str:
    """Description and exemplars as the published prompts lay them out (no trailing newline)."""
    parts = [prompt.description] if prompt.description else []
    parts += [f"Q: {s.question}\nA: {s.reply if cot else s.answer}" for s in shots]
    return "\n\n".join(parts)


def _completion(prompt: _PromptFile, shots: Sequence[_Shot], question: str, cot: bool) -> Prompt:
    head = _prefix(prompt, shots, cot)
    tail = f"Q: {question}\nA:" + (f" {_TRIGGER}" if cot else "")
    text = f"{head}\n\n{tail}" if head else tail
    return Prompt(style="completions", text=text, stop=_STOP, n_exemplars=len(shots))


def _chat(prompt: _PromptFile, shots: Sequence[_Shot], question: str, cot: bool) -> Prompt:
    """Exemplars as user/assistant turns; the description leads the first user turn (not a system
    message, which some chat templates reject), so the turns read like the completion prompt."""
    lead = f"{prompt.description}\n\n" if prompt.description else ""
    messages: list[Message] = []
    for s in shots:
        messages.append(Message("user", f"{lead}Q: {s.question}"))
        messages.append(Message("assistant", s.reply if cot else s.answer))
        lead = ""
    final = f"{lead}Q: {question}"
    if not shots:
        final += "\n" + (_ZERO_SHOT_COT if cot else _ZERO_SHOT_DIRECT)
    messages.append(Message("user", final))
    return Prompt(style="chat", messages=tuple(messages), n_exemplars=len(shots))


_Builder = Callable[[_PromptFile, Sequence[_Shot], str, bool], Prompt]


def estimate_tokens(prompt: Prompt) -> int:
    """Prompt length in tokens, estimated as characters / 4, rounded up."""
    chars = len(prompt.text) + sum(len(m.content) for m in prompt.messages)
    return math.ceil(chars / _CHARS_PER_TOKEN)


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
    formats = ("fewshot-cot", "fewshot-direct", "zeroshot-cot", "zeroshot-direct")
    default_format = "fewshot-cot"
    subsets = tuple(sorted(BBH_TASKS))
    aggregate = "macro"

    def max_tokens(self, fmt: str) -> int:
        # CoT: the published Codex rationales were cut at a fixed budget (~512 tokens: 146/250
        # word_sorting and 51/250 dyck_languages end mid-step near 1,100 characters of bracket
        # text) and the longest finished ones sit just under that cut (formal_fallacies 2,658
        # characters, geometric_shapes 2,224), so 512 would cut legitimate reasoning; 1024
        # doubles it. Answer-only: the longest gold is a 20-word, 182-character word_sorting
        # list (~60 BPE tokens). A base model stops at "\n\nQ:" long before either limit.
        return 1024 if fmt.endswith("cot") else 96

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for task in subsets or self.subsets:
            rows = self._rows(data, task)
            provenance[rows.source] = rows.digest
            samples += [
                Sample(
                    id=f"{task}/{i}", question=str(r["input"]), gold=str(r["target"]), subset=task
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

    def prompter(self, data: DataSource, fmt: str, options: PromptOptions) -> Prompter:
        cot = fmt.endswith("-cot")
        few = fmt.startswith("fewshot")
        files, folder = self._prompt_files(data, "cot" if cot else "direct", options.prompt_file)
        shots = {t: (p.shots if few else ()) for t, p in files.items()}
        build: _Builder = _chat if options.style == "chat" else _completion
        budget = options.max_prompt_tokens

        def render(sample: Sample) -> Prompt:
            prompt_file = files.get(sample.subset)
            if prompt_file is None:
                raise CothubError(f"bbh sample {sample.id!r} names no BBH task; see `cothub tasks`")
            kept = shots[sample.subset]
            # Drop exemplars from the end until the prompt fits; none left is zero-shot.
            for k in range(len(kept), 0, -1):
                prompt = build(prompt_file, kept[:k], sample.question, cot)
                if budget is None or estimate_tokens(prompt) <= budget:
                    return prompt
            return build(prompt_file, (), sample.question, cot)

        # One hash for all 27 prefixes, listed per task so a single file can be checked against it.
        listing = "\n".join(f"{t} {sha256_text(_prefix(files[t], shots[t], cot))}" for t in files)
        return Prompter(render, folder, sha256_text(listing))

    def choices(self, sample: Sample, fmt: str) -> list[str] | None:
        """Answer-only formats: the options the item lists after ``Options:`` (``(A)`` lines, or
        ``- Yes`` / ``- valid`` lines), written as the answer follows ``A:`` (`` (B)``, `` No``).
        Items that list none (free-form answers, True/False expressions) have no choices."""
        _, sep, listed = sample.question.rpartition("\nOptions:\n")
        if not fmt.endswith("-direct") or not sep:
            return None
        found = [f"({k})" for k in _LETTER_LINE.findall(listed)] or _DASH_LINE.findall(listed)
        return [" " + o for o in dict.fromkeys(found)] or None

    def grade(self, sample: Sample, text: str, fmt: str = "") -> Grade:
        if sample.subset not in self.subsets:
            raise CothubError("grading bbh needs a sub-task name, e.g. bbh/navigate")
        mode = "direct" if fmt.endswith("direct") else "cot"
        return grade_bbh(sample.subset, text, sample.gold, question=sample.question, mode=mode)
