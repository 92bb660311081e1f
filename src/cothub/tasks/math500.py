"""MATH-500: the 500-problem subset of the MATH test set used by "Let's Verify Step by Step".

Lightman et al. 2023, "Let's Verify Step by Step", arXiv:2305.20050 (the subset: ``openai/prm800k``
``prm800k/math_splits/test.jsonl``); the problems are Hendrycks et al. 2021's MATH test problems,
arXiv:2103.03874, byte for byte.

    cothub run math500 --model openai/gpt-4o-mini                   # zero-shot, \\boxed{} answer
    cothub run math500:levels=5 --model ... --format fewshot-cot     # MATH's 4 train exemplars

Data: ``math500/test.jsonl`` in the data dir (the prm800k file, sha256 ``35dc4108...``), else the
Hub's ``HuggingFaceH4/MATH-500`` (default config, split ``test``; the same file). Columns:
``problem``, ``solution``, ``answer``, ``subject`` (MATH's ``type``: ``Algebra``,
``Counting & Probability``, ...), ``level`` (int 1-5), ``unique_id`` (``test/<subject>/<id>.json``,
the problem's path in MATH). The item id is ``unique_id`` without ``.json``, which is the id the
``math`` task gives the same problem, so runs of both can be joined item by item.

Grader decisions:

* gold is the ``answer`` column (the last ``\\boxed{}`` of the solution, raw LaTeX), graded by
  MATH's grader (:func:`cothub.scoring.math_equiv.grade_math`: exact, normalised, then
  math-verify), so MATH and MATH-500 verdicts on one completion never differ.
* Headline: micro accuracy over the 500; ``by_level`` (1-5) and one summary per subject
  (the sub-tasks: MATH's seven subject folders).
* Default format ``zeroshot-cot`` with the prompt of the Qwen2.5-Math harness
  (``qwen25-math-cot``), behind most published MATH-500 figures: the system turn "Please reason
  step by step, and put your final answer within \\boxed{}." and the problem as the user turn.
  Completion style sends that harness's literal ChatML text (as the harness does for every model,
  base models included) and stops at ``<|im_end|>``, ``</s>`` and ``<|endoftext|>``.
  ``fewshot-cot`` is the ``math`` task's few-shot prompt (4 seeded train exemplars, or
  ``--prompt-file grad1|grad3|grad5``), so it needs ``MATH/train`` in the data dir.
"""

from __future__ import annotations

from collections.abc import Sequence

from cothub.data.source import DataSource, Rows, load_hub, read_jsonl, shown
from cothub.errors import CothubError
from cothub.extract.latex import extract_math_answer
from cothub.prompts import FEWSHOT_COT, ZEROSHOT_COT, PromptFormat, fit
from cothub.scoring.math_equiv import math_equal, score_math
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.tasks.math_task import MATH, SUBJECTS
from cothub.types import Answer, Grade, Message, Prompt, Sample

_FILE = "math500/test.jsonl"
_HUB_REPO = "HuggingFaceH4/MATH-500"
_FIELDS = ("problem", "solution", "answer", "subject", "level", "unique_id")
_FIX = f"pass --data-dir to a folder with a clean copy of {_FILE}"

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
"""The Qwen2.5-Math harness's ``qwen25-math-cot`` instruction (its system turn)."""
_CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
_CHATML += "<|im_start|>assistant\n"
STOP = ("<|im_end|>", "</s>", "<|endoftext|>")
"""The harness's stop strings for completion-style prompts."""
_SUBJECT_DIR = {s.replace("_and_", " & ").replace("_", " ").title(): s for s in SUBJECTS}
"""MATH's ``type`` (``Counting & Probability``) -> its folder (``counting_and_probability``)."""


def _sample(row: dict[str, object], where: str) -> Sample:
    """The one adapter that touches MATH-500's columns."""
    texts = {k: row.get(k) for k in ("problem", "answer", "subject", "unique_id")}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise CothubError(
                f"{where}: {key!r} must be non-empty text, got {shown(value)}; {_FIX}"
            )
    level, subject = row.get("level"), _SUBJECT_DIR.get(str(texts["subject"]))
    if isinstance(level, bool) or level not in (1, 2, 3, 4, 5):
        raise CothubError(f"{where}: 'level' must be an integer 1-5, got {shown(level)}; {_FIX}")
    if subject is None:
        raise CothubError(
            f"{where}: 'subject' {texts['subject']!r} is not a MATH subject "
            f"({', '.join(_SUBJECT_DIR)}); {_FIX}"
        )
    item_id = str(texts["unique_id"]).removesuffix(".json")
    return Sample(
        item_id, str(texts["problem"]), str(texts["answer"]), subject, (("level", str(level)),)
    )


class MATH500(Task):
    name = "math500"
    version = "1"
    citation = "Lightman et al. 2023, arXiv:2305.20050 (MATH: Hendrycks et al. 2021)"
    formats = (ZEROSHOT_COT, FEWSHOT_COT)
    default_format = ZEROSHOT_COT
    subsets = SUBJECTS
    aggregate = "micro"  # the published figures are over all 500 problems
    breakdowns = ("level",)
    slow_grader = True  # math-verify, as for MATH

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 2048  # zero-shot chat models reason at length; the harness allowed 32k

    def _rows(self, data: DataSource) -> Rows:
        local = data.find(_FILE)
        if local is not None:
            return read_jsonl(local, _FIELDS)
        if data.root is not None:
            raise CothubError(
                f"{data.root / _FILE} is missing; pass --data-dir to a folder with {_FILE} "
                f"(or leave it unset to load {_HUB_REPO} from the Hub)"
            )
        return load_hub(_HUB_REPO, None, "test", _FIELDS)

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        rows = self._rows(data)
        samples = [_sample(r, rows.where(i)) for i, r in enumerate(rows.rows)]
        if subsets:
            samples = [s for s in samples if s.subset in subsets]
        return Loaded(samples, {rows.source: rows.digest})

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        if self.prompt_format(fmt).fewshot:
            return MATH().prompter(data, FEWSHOT_COT, options)
        if options.prompt_file is not None:
            raise CothubError(
                "--prompt-file applies to math500's fewshot-cot format only; drop it or add "
                "--format fewshot-cot"
            )

        def render(sample: Sample) -> Prompt:
            if options.style == "chat":
                turns = (Message("system", SYSTEM), Message("user", sample.question))
                return Prompt(style="chat", messages=turns)
            text = _CHATML.format(system=SYSTEM, question=sample.question)
            return Prompt(style="completions", text=text, stop=STOP)

        def fitted(sample: Sample) -> Prompt:
            return fit(
                lambda k: render(sample), 0, options.max_prompt_tokens, f"math500 {sample.id}"
            )

        return Prompter(fitted, "none", "")

    def equivalent(self, a: str, b: str) -> bool:
        return math_equal(a, b)[0]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_math_answer(text)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_math(answer, sample.gold)
