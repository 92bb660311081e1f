"""Loaded from the Hugging Face Hub only: GSM8K-Platinum, AIME 2024/2025/2026, GPQA-Diamond.

None of them is in the data dir (licensing, gating; see ``shared/data/README.md`` "Not copied"),
so each loads through :func:`cothub.data.source.load_hub` (the ``datasets`` cache; offline with
no cached copy: one line saying so), always, also when ``--data-dir`` is given; the data dir is
still used for prompt files (GSM8K's exemplars). Which Hub copy, config, split and columns each
reads is written at its class.

    cothub run gsm8k-platinum --model openai/gpt-4o-mini
    cothub run aime2025 --model openai/o4-mini --strategy self-consistency:k=16,temperature=0.6
    cothub run gpqa-diamond:shuffle_seed=1 --model openai/gpt-4o-mini

**AIME, avg@k and pass@k.** Each AIME set is 30 items, so one greedy run is a noisy figure
(one item is 3.3 points). Run k samples per problem with ``--strategy self-consistency:k=K,
temperature=T``: the summary's ``self_consistency`` curve holds ``pass`` (the unbiased pass@k of
Chen et al. for k = 1, 2, 4, ..., K; its k=1 entry is avg@K, the mean accuracy over the K
samples, the figure AIME results are usually reported as) and ``maj`` (maj@k); the headline is
the majority vote (cons@K).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cothub.data.source import DataSource, Rows, load_hub, read_jsonl, shown
from cothub.errors import CothubError
from cothub.extract.latex import extract_math_answer
from cothub.prompts import ZEROSHOT_COT, PromptFormat, fit
from cothub.scoring.math_equiv import math_equal, score_math
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.tasks.gsm8k import GSM8K
from cothub.tasks.math500 import _CHATML, STOP, SYSTEM
from cothub.types import Answer, Grade, Message, Prompt, Sample


def hub_rows(
    task: str, repo: str, config: str | None, split: str, columns: Sequence[str], hint: str = ""
) -> Rows:
    """:func:`load_hub`, its failure said for a set that no data dir holds: one line."""
    try:
        return load_hub(repo, config, split, columns)
    except CothubError as e:
        why = str(e).split("; pass --data-dir", 1)[0]  # a data dir cannot help here
        raise CothubError(
            f"{task}: {why}; {task} is read from the Hub only (no data dir holds it): run once "
            f"with the Hub reachable and the copy is cached{hint}"
        ) from e


# ---- GSM8K-Platinum ---------------------------------------------------------------------------


class GSM8KPlatinum(GSM8K):
    """GSM8K-Platinum: the GSM8K test set with its label errors fixed and its ambiguous or
    flawed questions removed (1,209 of 1,319 kept).

    Vendrow et al. 2025, "Do Large Language Model Benchmarks Test Reliability?",
    arXiv:2502.03461. Hub: ``madrylab/gsm8k-platinum``, config ``main``, split ``test``; columns
    ``question``, ``answer`` (GSM8K's: a worked solution ending ``#### <number>``, the gold) and
    ``cleaning_status`` (``consensus``, ``verified``, ``revised``, or ``rejected``: rows marked
    ``rejected`` are left out, where a copy still holds them). Everything else is GSM8K's: its
    prompts (8-shot CoT of Wei et al. by default, exemplars from GSM8K's own train split or
    prompt files), its numeric grader. A local copy at ``gsm8k-platinum/test.jsonl`` in the data
    dir (same columns) is read instead of the Hub when present."""

    name = "gsm8k-platinum"
    version = "1"
    citation = "Vendrow et al. 2025, arXiv:2502.03461 (GSM8K: Cobbe et al. 2021)"

    def _rows(self, data: DataSource, split: str) -> Rows:
        if split != "test":
            return super()._rows(data, split)  # exemplars: GSM8K's train split
        local = data.find("gsm8k-platinum/test.jsonl")
        if local is not None:
            rows = read_jsonl(local, ("question", "answer"))
        else:
            rows = hub_rows(
                self.name,
                "madrylab/gsm8k-platinum",
                "main",
                "test",
                ("question", "answer"),
                ", or put a copy at gsm8k-platinum/test.jsonl in the data dir",
            )
        kept = [r for r in rows.rows if r.get("cleaning_status") != "rejected"]
        return Rows(
            kept, rows.source, rows.digest, rows.lines if len(kept) == len(rows.rows) else ()
        )


# ---- AIME ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HubSet:
    """Where one set lives on the Hub and which columns hold what."""

    repo: str
    configs: tuple[str | None, ...]
    """Configs read in this order (AIME 2025's two papers); ``(None,)`` for the default."""
    split: str
    question: str
    answer: str


AIME_SETS = {
    2024: HubSet("HuggingFaceH4/aime_2024", (None,), "train", "problem", "answer"),
    2025: HubSet(
        "opencompass/AIME2025", ("AIME2025-I", "AIME2025-II"), "test", "question", "answer"
    ),
    2026: HubSet("MathArena/aime_2026", (None,), "train", "problem", "answer"),
}
"""AIME 2024: ``HuggingFaceH4/aime_2024`` (split ``train``; columns ``id``, ``problem``,
``solution``, ``answer``, ``url``, ``year``). AIME 2025: ``opencompass/AIME2025``, configs
``AIME2025-I`` then ``AIME2025-II`` (split ``test``; ``question``, ``answer``). AIME 2026:
``MathArena/aime_2026`` (split ``train``; ``problem_idx``, ``problem``, ``answer``). Each: 30
problems, I then II, in contest order."""


def _aime_gold(value: object, where: str) -> str:
    """An AIME answer: an integer 0-999 (``"033"`` and ``33`` are both 33)."""
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not re.fullmatch(r"\d{1,3}", text):
        raise CothubError(
            f"{where}: an AIME answer is an integer 0-999, got {shown(value)}; the Hub copy is "
            "not the one this task reads"
        )
    return str(int(text))


class AIME(Task):
    """AIME (American Invitational Mathematics Examination) of one year: 30 problems, each
    answer an integer from 0 to 999.

    Prompt (``zeroshot-cot``, the only format): MATH-500's, the Qwen2.5-Math harness's
    ``qwen25-math-cot`` (the harness reports its ``aime24`` figures with it). Grader: MATH's
    (:func:`~cothub.scoring.math_equiv.grade_math`: the last ``\\boxed{}``, then equivalence)
    against the integer gold, so ``\\boxed{033}`` and ``\\boxed{33}`` are both right."""

    version = "1"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    aggregate = "micro"
    slow_grader = True

    def __init__(self, year: int) -> None:
        self.year = year
        self.name = f"aime{year}"
        self.citation = f"MAA, AIME {year} (I and II); Hub copy {AIME_SETS[year].repo}"
        self.hub = AIME_SETS[year]

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 8192  # long reasoning is the point of AIME; raise it for reasoning models

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for config in self.hub.configs:
            columns = (self.hub.question, self.hub.answer)
            rows = hub_rows(self.name, self.hub.repo, config, self.hub.split, columns)
            provenance[rows.source] = rows.digest
            for i, r in enumerate(rows.rows):
                question = r.get(self.hub.question)
                if not isinstance(question, str) or not question.strip():
                    raise CothubError(f"{rows.where(i)}: no problem text in {self.hub.question!r}")
                gold = _aime_gold(r.get(self.hub.answer), rows.where(i))
                samples.append(Sample(f"{self.year}/{len(samples)}", question.strip(), gold))
        return Loaded(samples, provenance)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)
        if options.prompt_file is not None:
            raise CothubError(f"{self.name} is zero-shot; drop --prompt-file")
        return Prompter(_zero_shot(self.name, options), "none", "")

    def equivalent(self, a: str, b: str) -> bool:
        return math_equal(a, b)[0]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_math_answer(text)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_math(answer, sample.gold)


def _zero_shot(task: str, options: PromptOptions) -> Any:
    def render(sample: Sample) -> Prompt:
        if options.style == "chat":
            turns = (Message("system", SYSTEM), Message("user", sample.question))
            return Prompt(style="chat", messages=turns)
        text = _CHATML.format(system=SYSTEM, question=sample.question)
        return Prompt(style="completions", text=text, stop=STOP)

    return lambda s: fit(lambda k: render(s), 0, options.max_prompt_tokens, f"{task} {s.id}")


def aime2024() -> AIME:
    return AIME(2024)


def aime2025() -> AIME:
    return AIME(2025)


def aime2026() -> AIME:
    return AIME(2026)


# ---- GPQA-Diamond -------------------------------------------------------------------------------

GPQA_REPO = "Idavidrein/gpqa"
GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                "Incorrect Answer 3")  # fmt: skip
GATED = (
    "GPQA is gated: accept its terms at https://huggingface.co/datasets/Idavidrein/gpqa "
    "while logged in, then `huggingface-cli login` (or set HF_TOKEN) here"
)
QUERY = (
    "Answer the following multiple choice question. The last line of your response should be of "
    "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think "
    "step by step before answering.\n\n{question}\n\nA) {a}\nB) {b}\nC) {c}\nD) {d}"
)
"""simple-evals' ``QUERY_TEMPLATE_MULTICHOICE`` (openai/simple-evals, ``common.py``)."""
ANSWER = re.compile(r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?")
"""simple-evals' ``ANSWER_PATTERN_MULTICHOICE``; its first match is the answer."""


def shuffled(rows: Sequence[Mapping[str, Any]], seed: int) -> list[tuple[list[str], str]]:
    """(options, gold letter) per row, shuffled as simple-evals' ``gpqa_eval.py`` does: one
    ``random.Random(seed)`` drawing ``sample(range(4), 4)`` for each row in dataset order, over
    ``[correct, incorrect 1, incorrect 2, incorrect 3]``."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        order = rng.sample(range(4), 4)
        options = [str(r[c]).strip() for c in GPQA_COLUMNS[1:]]
        shuffled_options = [options[i] for i in order]
        out.append((shuffled_options, "ABCD"[order.index(0)]))
    return out


class GPQADiamond(Task):
    """GPQA-Diamond: 198 graduate-level physics, chemistry and biology questions that experts
    answer and skilled non-experts with web access do not; 4 options.

    Rein et al. 2023, "GPQA: A Graduate-Level Google-Proof Q&A Benchmark", arXiv:2311.12022.
    Hub: ``Idavidrein/gpqa`` (gated), config ``gpqa_diamond``, split ``train`` (its only one);
    columns ``Question``, ``Correct Answer``, ``Incorrect Answer 1``..``3``, ``Record ID`` (the
    item id), ``High-level domain`` (a breakdown: ``domains=Physics``).

    The correct answer is always the first column, so options are shuffled with a seed
    (``gpqa-diamond:shuffle_seed=N``, default 0), exactly as simple-evals does (see
    :func:`shuffled`); the seed and the rule are recorded in the manifest's data provenance.
    Prompt (``zeroshot-cot``): simple-evals' template, as the one user turn (completion style:
    the same text, then a blank line). Grader: simple-evals' rule, the first ``Answer: X``
    (case-insensitive, ``$X$`` allowed); no fallback, no guess."""

    name = "gpqa-diamond"
    version = "1"
    citation = "Rein et al. 2023, arXiv:2311.12022"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    aggregate = "micro"
    breakdowns = ("domain",)
    parameters: ClassVar[Mapping[str, str]] = {
        "shuffle_seed": "seed of the option shuffle (default 0, simple-evals')"
    }

    def __init__(self, shuffle_seed: int = 0) -> None:
        self.shuffle_seed = shuffle_seed

    def configure(self, params: Mapping[str, str]) -> Task:
        value = params.get("shuffle_seed", str(self.shuffle_seed))
        try:
            return GPQADiamond(int(value))
        except ValueError:
            raise CothubError(
                f"gpqa-diamond: shuffle_seed={value!r} is not an integer; e.g. "
                "gpqa-diamond:shuffle_seed=1"
            ) from None

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 4096

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        rows = hub_rows(self.name, GPQA_REPO, "gpqa_diamond", "train", GPQA_COLUMNS, f"; {GATED}")
        samples = []
        for i, (r, (options, gold)) in enumerate(
            zip(rows.rows, shuffled(rows.rows, self.shuffle_seed), strict=True)
        ):
            question = str(r["Question"]).strip()
            if not question or any(not o for o in options):
                raise CothubError(f"{rows.where(i)}: a GPQA row needs a question and 4 answers")
            item_id = str(r.get("Record ID") or f"row-{i}")
            tags = (("domain", str(r.get("High-level domain", ""))),)
            samples.append(Sample(item_id, question, gold, "", tags, tuple(options)))
        shuffle = (
            f"simple-evals shuffle: random.Random({self.shuffle_seed}).sample(range(4), 4) per row"
        )
        return Loaded(samples, {rows.source: rows.digest, "options": shuffle})

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)
        if options.prompt_file is not None:
            raise CothubError("gpqa-diamond is zero-shot; drop --prompt-file")

        def render(sample: Sample) -> Prompt:
            a, b, c, d = sample.choices
            text = QUERY.format(question=sample.question, a=a, b=b, c=c, d=d)
            if options.style == "chat":
                return Prompt(style="chat", messages=(Message("user", text),))
            return Prompt(style="completions", text=text + "\n\n")

        def fitted(sample: Sample) -> Prompt:
            return fit(lambda k: render(sample), 0, options.max_prompt_tokens, f"gpqa {sample.id}")

        return Prompter(fitted, "none", "")

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        """The letter after "Answer:" (simple-evals' rule, behind the published numbers), with
        the answer a careful reader finds as its ``alternative``
        (:func:`~cothub.extract.choice.extract_option`: "The answer is (C).", a last "Answer: A"
        after a first "Answer: C")."""
        from cothub.extract.choice import extract_option

        options = dict(zip("ABCD", sample.choices, strict=False)) if sample.choices else None
        read = extract_option(text, "ABCD", options).value
        careful = Answer(read[1:-1] if read else None, None, "careful-reading")
        found = ANSWER.search(text)
        if found is None:
            return Answer(None, None, "none", alternative=careful)
        return Answer(found.group(1).upper(), found.span(1), "answer-colon", alternative=careful)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        """simple-evals' verdict; where the careful reading's verdict differs, the grade is a
        ``disagreement``, counted per run and sent to ``--judge``, never silently."""
        careful_right = answer.alternative is not None and answer.alternative.value == sample.gold
        if answer.value is None:
            return Grade(False, None, answer.method, disagreement=careful_right)
        correct = answer.value == sample.gold
        return Grade(
            correct, answer.value, answer.method, answer.span, "letter",
            disagreement=careful_right != correct,
        )  # fmt: skip
