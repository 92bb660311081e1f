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
from collections.abc import Sequence
from pathlib import Path

from cothub.data.source import (
    DataSource,
    Rows,
    load_hub,
    read_jsonl,
    seeded_choice,
    sha256_text,
    shown,
)
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
    parse_exemplars,
)
from cothub.prompts.perturb import perturbed
from cothub.scoring.numeric import extract_numeric, numbers_equal, score_numeric
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task, most_complex
from cothub.types import Answer, Grade, Prompt, Sample

_PROMPT_DIR = "cot-hub-prompts/gsm8k/lib_prompt"
# Named exemplar sets: the classic 8-shot CoT set and the complexity-based set.
NAMED_PROMPTS = {"original": "prompt_original.txt", "complex": "prompt_hardest.txt"}
_N_SHOTS = 8
_CALC = re.compile(r"<<[^>]*>>")

# Completion style follows the hub exactly: file + "\nQuestion: <q>\n"; the model writes
# "Let's think step by step" and its steps itself, and would go on to invent the next
# "Question:" if not stopped. Zero-shot CoT ends with the trigger (Kojima et al. 2022);
# answer-only ends with "The answer is" so that the next tokens are the answer.
_STOP = ("\nQuestion:",)
_COT_TRIGGER = "Let's think step by step"
_SHOT_COT = f"Question: {{question}}\n{_COT_TRIGGER}\n{{rationale}}\nThe answer is {{answer}}.\n"
_SHOT_DIRECT = "Question: {question}\nThe answer is {answer}.\n"
_REPLY_COT = f"{_COT_TRIGGER}.\n{{rationale}}\nThe answer is {{answer}}."
_REPLY_DIRECT = "The answer is {answer}."
_CHAT_COT = (
    "{question}\nLet's think step by step. End your reply with a line "
    '"The answer is N", where N is the final number.'
)
_CHAT_DIRECT = (
    '{question}\nGive only the final number, in the form "The answer is N", without working.'
)


_FIX_ROW = "fix that line, or pass --data-dir to a folder with a clean copy of GSM8K"


def gold_from_solution(answer: str, where: str = "a GSM8K answer") -> str:
    """The number after ``####`` (commas kept; the grader normalises both sides)."""
    gold = answer.rsplit("####", 1)[1].strip() if "####" in answer else ""
    if not gold:
        raise CothubError(
            f"{where}: 'answer' must be text ending in '#### <number>', got {shown(answer)}; "
            f"{_FIX_ROW}"
        )
    return gold


def _checked(row: dict[str, object], where: str) -> tuple[str, str, str]:
    """(question, answer, gold) of one GSM8K row: the one adapter that touches its fields."""
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise CothubError(
            f"{where}: 'question' must be non-empty text, got {shown(question)}; {_FIX_ROW}"
        )
    if not isinstance(answer, str):
        raise CothubError(
            f"{where}: 'answer' must be text ending in '#### <number>', got {shown(answer)}; "
            f"{_FIX_ROW}"
        )
    return question, answer, gold_from_solution(answer, where)


def _train_exemplar(row: dict[str, object], where: str = "a GSM8K train row") -> Exemplar:
    """A train item as an exemplar: calculator annotations removed, '####' line as the answer."""
    question, answer, gold = _checked(row, where)
    body, _, _ = answer.rpartition("####")
    return Exemplar(question.strip(), _CALC.sub("", body).strip(), gold)


class GSM8K(Task):
    name = "gsm8k"
    version = "1"
    citation = "Cobbe et al. 2021, arXiv:2110.14168"
    formats = (FEWSHOT_COT, ZEROSHOT_COT, FEWSHOT_DIRECT, ZEROSHOT_DIRECT)
    default_format = FEWSHOT_COT

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 512 if self.prompt_format(fmt).cot else 32

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
        samples = []
        for i, r in enumerate(rows.rows):
            question, _, gold = _checked(r, rows.where(i))
            samples.append(Sample(id=f"test/{i}", question=question, gold=gold))
        return Loaded(samples, {rows.source: rows.digest})

    def _exemplars(
        self, data: DataSource, options: PromptOptions
    ) -> tuple[list[Exemplar], str, str]:
        """(exemplars, verbatim file text or "", source) from a prompt file or the train split."""
        path = self._prompt_path(data, options)
        if path is not None:
            text = path.read_text(encoding="utf-8")
            return parse_exemplars(text, str(path)), text, str(path)
        train = self._rows(data, "train")
        pool = [_train_exemplar(r, train.where(i)) for i, r in enumerate(train.rows)]
        if options.selection == "complexity":
            return most_complex(pool, _N_SHOTS, lambda e: e.rationale), "", "train:most-steps"
        picked = seeded_choice(pool, _N_SHOTS, options.seed)
        return picked, "", f"train:seed={options.seed}"

    def _prompt_path(self, data: DataSource, options: PromptOptions) -> Path | None:
        """The chosen file; by default the classic set if the data dir has it, else None (the
        train split; always so for complexity selection, whose pool is the train split)."""
        if options.prompt_file is not None:
            return data.prompt_file(options.prompt_file, _PROMPT_DIR, NAMED_PROMPTS)
        if options.selection == "complexity":
            return None
        return data.find(f"{_PROMPT_DIR}/{NAMED_PROMPTS['original']}")

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        fmt = self.prompt_format(fmt)
        exemplars: list[Exemplar] = []
        verbatim, source = "", "none"
        if fmt.fewshot:
            exemplars, verbatim, source = self._exemplars(data, options)
        exemplars, perturbation = perturbed(exemplars, options.perturb, options.seed)
        if perturbation is not None:
            verbatim = ""  # the file as written is no longer the prompt
        shots = [e.format(_SHOT_COT if fmt.cot else _SHOT_DIRECT) for e in exemplars]
        # All exemplars of a published CoT file: the file, byte for byte.
        whole = [verbatim] if fmt.cot and verbatim else shots
        if options.style == "chat":
            block = "\n\n".join(f"{e.question}\n{e.rationale}\n{e.answer}" for e in exemplars)
        else:
            block = "\n".join(whole)

        def render(sample: Sample, k: int) -> Prompt:
            if options.style == "chat":
                ask = _CHAT_COT if fmt.cot else _CHAT_DIRECT
                reply = _REPLY_COT if fmt.cot else _REPLY_DIRECT
                turns = chat_turns(exemplars[:k], ask.format(question=sample.question), ask, reply)
                return Prompt(style="chat", messages=turns, n_exemplars=k)
            tail = ("" if k else f"{_COT_TRIGGER}\n") if fmt.cot else "The answer is"
            kept = whole if k == len(exemplars) else shots[:k]
            text = completion("", kept, f"Question: {sample.question}\n{tail}", "\n")
            return Prompt("completions", text, stop=_STOP if fmt.cot else ("\n",), n_exemplars=k)

        def fitted(sample: Sample) -> Prompt:
            budget = options.max_prompt_tokens
            return fit(lambda k: render(sample, k), len(exemplars), budget, f"gsm8k {sample.id}")

        digest = sha256_text(block) if exemplars else ""
        return Prompter(fitted, source, digest, perturbation if exemplars else None)

    def equivalent(self, a: str, b: str) -> bool:
        return numbers_equal(a, b)

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_numeric(text)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_numeric(answer, sample.gold)
