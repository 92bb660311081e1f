"""GSM8K: 1,319 grade-school math word problems with numeric answers.

Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems", arXiv:2110.14168.
Few-shot CoT exemplars: Wei et al. 2022 (``prompt_original.txt``, 8-shot) and the complexity-based
set of Fu et al. 2023 (``prompt_hardest.txt``), as published in Chain-of-Thought Hub. With
``PromptOptions.selection == "complexity"`` and no ``--prompt-file``, the 8 train items whose
rationales have the most lines are the exemplars (Fu et al.'s selection rule, applied to the train
split); a prompt file is used as written either way (its exemplars are the 8-shot set itself).

    cothub run gsm8k --model openai/gpt-4o-mini --format fewshot-cot
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from cothub.data.source import (
    DataSource,
    Rows,
    load_hub,
    read_jsonl,
    seeded_choice,
    sha256_text,
)
from cothub.errors import CothubError
from cothub.prompts.fewshot import Exemplar, chat_turns, parse_exemplars
from cothub.scoring.numeric import grade_numeric, numbers_equal
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task, most_complex
from cothub.types import Grade, Prompt, Sample

_PROMPT_DIR = "cot-hub-prompts/gsm8k/lib_prompt"
# Named exemplar sets: the classic 8-shot CoT set and the complexity-based set.
NAMED_PROMPTS = {"original": "prompt_original.txt", "complex": "prompt_hardest.txt"}
_N_SHOTS = 8
_CALC = re.compile(r"<<[^>]*>>")

# Completion style follows the hub exactly: file + "\nQuestion: <q>\n"; the model writes
# "Let's think step by step" and its steps itself, and would go on to invent the next
# "Question:" if not stopped.
_STOP = ("\nQuestion:",)
_COT_TRIGGER = "Let's think step by step"
_CHAT_COT = (
    "{question}\nLet's think step by step. End your reply with a line "
    '"The answer is N", where N is the final number.'
)
_CHAT_DIRECT = (
    '{question}\nGive only the final number, in the form "The answer is N", without working.'
)


def gold_from_solution(answer: str) -> str:
    """The number after ``####`` (commas kept; the grader normalises both sides)."""
    if "####" not in answer:
        raise CothubError("a GSM8K answer lacks its '#### <number>' line; use a clean data file")
    return answer.rsplit("####", 1)[1].strip()


def _train_exemplar(row: dict[str, str]) -> Exemplar:
    """A train item as an exemplar: calculator annotations removed, '####' line as the answer."""
    body, _, _ = row["answer"].rpartition("####")
    return Exemplar(
        row["question"].strip(), _CALC.sub("", body).strip(), gold_from_solution(row["answer"])
    )


class GSM8K(Task):
    name = "gsm8k"
    version = "1"
    citation = "Cobbe et al. 2021, arXiv:2110.14168"
    formats = ("fewshot-cot", "zeroshot-cot", "fewshot-direct", "zeroshot-direct")
    default_format = "fewshot-cot"

    def max_tokens(self, fmt: str) -> int:
        return 512 if fmt.endswith("cot") else 32

    def _rows(self, data: DataSource, split: str) -> Rows:
        local = data.find(f"gsm8k/{split}.jsonl")
        if local is not None:
            return read_jsonl(local, ("question", "answer"))
        if data.root is not None:
            raise CothubError(
                f"{data.root / 'gsm8k' / (split + '.jsonl')} is missing; pass --data-dir to a "
                "folder with gsm8k/test.jsonl (or leave it unset to load openai/gsm8k from the Hub)"
            )
        return load_hub("openai/gsm8k", "main", split, ("question", "answer"))

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        rows = self._rows(data, "test")
        samples = [
            Sample(id=f"test/{i}", question=r["question"], gold=gold_from_solution(r["answer"]))
            for i, r in enumerate(rows.rows)
        ]
        return Loaded(samples, {rows.source: rows.digest})

    def _exemplars(
        self, data: DataSource, options: PromptOptions
    ) -> tuple[list[Exemplar], str, str]:
        """(exemplars, verbatim file text or "", source) from a prompt file or the train split."""
        path = self._prompt_path(data, options)
        if path is not None:
            text = path.read_text(encoding="utf-8")
            return parse_exemplars(text, str(path)), text, str(path)
        rows = self._rows(data, "train").rows
        if options.selection == "complexity":
            pool = [_train_exemplar(r) for r in rows]
            return most_complex(pool, _N_SHOTS, lambda e: e.rationale), "", "train:most-steps"
        picked = seeded_choice(rows, _N_SHOTS, options.seed)
        return [_train_exemplar(r) for r in picked], "", f"train:seed={options.seed}"

    def _prompt_path(self, data: DataSource, options: PromptOptions) -> Path | None:
        """The chosen file; by default the classic set if the data dir has it, else None (the
        train split; always so for complexity selection, whose pool is the train split)."""
        if options.prompt_file is not None:
            return data.prompt_file(options.prompt_file, _PROMPT_DIR, NAMED_PROMPTS)
        if options.selection == "complexity":
            return None
        return data.find(f"{_PROMPT_DIR}/{NAMED_PROMPTS['original']}")

    def prompter(self, data: DataSource, fmt: str, options: PromptOptions) -> Prompter:
        cot = fmt.endswith("-cot")
        if fmt.startswith("zeroshot"):
            exemplars: list[Exemplar] = []
            verbatim, source = "", "none"
        else:
            exemplars, verbatim, source = self._exemplars(data, options)
        if options.style == "chat":
            render = _chat_renderer(exemplars, cot)
            block = "\n\n".join(f"{e.question}\n{e.rationale}\n{e.answer}" for e in exemplars)
        else:
            block = verbatim if cot and verbatim else _completion_block(exemplars, cot)
            render = _completion_renderer(block, cot)
        return Prompter(render, source, sha256_text(block) if exemplars else "")

    def equivalent(self, a: str, b: str) -> bool:
        return numbers_equal(a, b)

    def grade(self, sample: Sample, text: str, fmt: str = "") -> Grade:
        return grade_numeric(text, sample.gold)


def _completion_block(exemplars: Sequence[Exemplar], cot: bool) -> str:
    """Exemplars in the hub's file layout (each ends with a newline, blank line between)."""
    parts = []
    for ex in exemplars:
        if cot:
            steps = f"{_COT_TRIGGER}\n{ex.rationale}\n"
            parts.append(f"Question: {ex.question}\n{steps}The answer is {ex.answer}.\n")
        else:
            parts.append(f"Question: {ex.question}\nThe answer is {ex.answer}.\n")
    return "\n".join(parts)


def _completion_renderer(block: str, cot: bool) -> Callable[[Sample], Prompt]:
    n = block.count("Question:")
    head = block + "\n" if block else ""
    # Few-shot CoT ends after the question, as the hub does; zero-shot CoT gives the trigger
    # (Kojima et al. 2022); answer-only ends with "The answer is" so the next tokens are the answer.
    tail = "" if cot and n else (f"{_COT_TRIGGER}\n" if cot else "The answer is")
    stop = _STOP if cot else ("\n",)

    def render(sample: Sample) -> Prompt:
        return Prompt(
            style="completions",
            text=f"{head}Question: {sample.question}\n{tail}",
            stop=stop,
            n_exemplars=n,
        )

    return render


def _chat_renderer(exemplars: Sequence[Exemplar], cot: bool) -> Callable[[Sample], Prompt]:
    template = _CHAT_COT if cot else _CHAT_DIRECT
    if cot:
        reply = f"{_COT_TRIGGER}.\n{{rationale}}\nThe answer is {{answer}}."
    else:
        reply = "The answer is {answer}."

    def render(sample: Sample) -> Prompt:
        messages = chat_turns(exemplars, template.format(question=sample.question), template, reply)
        return Prompt(style="chat", messages=messages, n_exemplars=len(exemplars))

    return render
