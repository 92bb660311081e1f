"""MATH: 5,000 competition problems in 7 subjects and 5 difficulty levels, free-form LaTeX answers.

Hendrycks et al. 2021, "Measuring Mathematical Problem Solving With the MATH Dataset",
arXiv:2103.03874. The reference answer is the last ``\\boxed{...}`` of each solution; completions
are graded by :func:`cothub.scoring.math_equiv.grade_math` (exact, normalised, then math-verify).
Few-shot exemplars: 4 drawn (seeded) from the train split, or a Chain-of-Thought Hub file
(``--prompt-file grad1|grad3|grad5``: 8 algebra exemplars of level 1 / 3 / 5). With
``PromptOptions.selection == "complexity"`` (Fu et al. 2023) the train draw takes the 4 solutions
with the most lines instead, and when ``--max-context`` leaves room for fewer exemplars than a
prompt file or that draw holds, the ones kept are those with the most lines (file order), not the
first ones.

    cothub run math --level 5

(The module is ``math_task``, not ``math``: importing ``cothub.tasks.math`` would bind the name
``math`` in the ``cothub.tasks`` package to this module, shadowing the stdlib there.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cothub.data.source import DataSource, load_hub, seeded_choice, sha256_text
from cothub.errors import CothubError
from cothub.extract.latex import extract_math_answer, gold_from_solution
from cothub.prompts import (
    FEWSHOT_COT,
    ZEROSHOT_COT,
    Exemplar,
    PromptFormat,
    chat_turns,
    completion,
    fit,
    parse_exemplars,
)
from cothub.prompts.perturb import perturbed
from cothub.scoring.math_equiv import math_equal, score_math
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Selection, Task, most_complex
from cothub.types import Answer, Grade, Prompt, Sample

SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
_HUB_REPO = "EleutherAI/hendrycks_math"  # one config per subject, same fields as the files
_FIELDS = ("problem", "level", "solution")
_PROMPT_DIR = "cot-hub-prompts/MATH/lib_prompt/algebra"
# The hub's exemplar files: 8 MATH-train algebra problems of one level each.
NAMED_PROMPTS = {f"grad{n}": f"prompt_grad_{n}.txt" for n in (1, 3, 5)}
_N_SHOTS = 4  # as Minerva (Lewkowycz et al. 2022) and most MATH reports since
# Train exemplars are drawn from solutions short enough that 4 of them stay near 1k tokens
# (5,340 of 7,500 train items qualify; the median problem+solution is ~600 characters). Without a
# cap one [asy] diagram or a page-long proof can take most of a small model's context.
_MAX_EXEMPLAR_CHARS = 1000
_LEVEL = re.compile(r"Level ([1-5?])")
_BLANK_LINES = re.compile(r"\n\s*\n")

# Completion style is the hub's (the layout of its MATH and GSM8K files), so a hub file renders
# verbatim and train exemplars look the same: "Question: <problem>\nLet's think step by step\n
# <solution, which boxes the answer>\nThe answer is <answer>\n". A few-shot prompt ends after the
# question; the model writes the trigger and would go on to invent the next "Question:".
_STOP = ("\nQuestion:",)
_COT_TRIGGER = "Let's think step by step"
_INSTRUCTION = "Solve the problem step by step. Put your final answer in \\boxed{}."
_CHAT_USER = _INSTRUCTION.replace("{", "{{").replace("}", "}}") + "\n\n{question}"
_CHAT_REPLY = "{rationale}\nThe answer is {answer}"
_SHOT = f"Question: {{question}}\n{_COT_TRIGGER}\n{{rationale}}\nThe answer is {{answer}}\n"


@dataclass(frozen=True, slots=True)
class _Problem:
    """One MATH file (or Hub row) as read, before it becomes a Sample or an exemplar."""

    id: str
    """``<split>/<subject>/<file id>`` (Hub rows, which have no file name: ``.../hub-<row>``)."""
    subject: str
    problem: str
    level: str
    """``1``..``5``, or ``?`` (two train files)."""
    solution: str


def _bad(path: Path | str, why: str) -> CothubError:
    return CothubError(
        f"{path}: {why}; pass --data-dir to a clean copy of MATH (MATH/test/<subject>/<id>.json)"
    )


def _file_order(name: str) -> tuple[int, str]:
    """``2.json`` before ``10.json``: numeric ids in numeric order, anything else after."""
    stem = name.removesuffix(".json")
    return (int(stem), "") if stem.isdigit() else (1 << 62, stem)


def _problem(pid: str, subject: str, row: object, origin: Path | str) -> _Problem:
    """The one adapter that touches MATH field names."""
    if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in _FIELDS):
        raise _bad(origin, f"expected an object with string fields {', '.join(_FIELDS)}")
    level = _LEVEL.fullmatch(row["level"].strip())
    if level is None:
        raise _bad(origin, f"level {row['level']!r} is not 'Level 1'..'Level 5'")
    return _Problem(pid, subject, row["problem"], level.group(1), row["solution"])


def _read_folder(folder: Path, split: str, subject: str) -> tuple[list[_Problem], str]:
    """Problems of one subject folder in id order, and one sha256 over all its files."""
    if not folder.is_dir():
        raise CothubError(
            f"{folder} is missing; pass --data-dir to a folder with MATH/{split}/<subject>/ "
            f"(or leave it unset to load {_HUB_REPO} from the Hub)"
        )
    names = sorted(
        (e.name for e in os.scandir(folder) if e.name.endswith(".json")), key=_file_order
    )
    if not names:
        raise _bad(folder, "holds no problem files")
    digest = hashlib.sha256()
    out = []
    for name in names:
        path = folder / name
        raw = path.read_bytes()
        digest.update(f"{name}\0{len(raw)}\0".encode())
        digest.update(raw)
        try:
            row = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _bad(path, f"not valid JSON ({e})") from e
        out.append(_problem(f"{split}/{subject}/{name[:-5]}", subject, row, path))
    return out, digest.hexdigest()


def _read(data: DataSource, split: str, subject: str) -> tuple[list[_Problem], str, str]:
    """(problems, source, digest) of one split of one subject: data dir, else the Hub."""
    if data.root is not None:
        folder = data.root / "MATH" / split / subject
        problems, digest = _read_folder(folder, split, subject)
        return problems, str(folder), digest
    rows = load_hub(_HUB_REPO, subject, split, _FIELDS)
    problems = [
        _problem(f"{split}/{subject}/hub-{i}", subject, r, f"{rows.source} row {i}")
        for i, r in enumerate(rows.rows)
    ]
    return problems, rows.source, rows.digest


def _gold(p: _Problem, origin: str) -> str:
    try:
        return gold_from_solution(p.solution)
    except ValueError as e:
        raise _bad(origin, "the solution boxes no answer") from e


def _one_block(text: str) -> str:
    """Blank lines folded away: in the hub's layout a blank line separates exemplars, and a
    rendered set must read back with :func:`~cothub.prompts.fewshot.parse_exemplars`."""
    return _BLANK_LINES.sub("\n", text.strip())


def _usable_exemplar(p: _Problem) -> bool:
    """Known level, a non-empty boxed answer, short, and no diagram code."""
    if p.level == "?" or len(p.problem) + len(p.solution) > _MAX_EXEMPLAR_CHARS:
        return False
    if "[asy]" in p.problem or "[asy]" in p.solution:
        return False
    try:
        return gold_from_solution(p.solution) != ""
    except ValueError:
        return False


class MATH(Task):
    name = "math"
    version = "1"
    citation = "Hendrycks et al. 2021, arXiv:2103.03874"
    formats = (FEWSHOT_COT, ZEROSHOT_COT)
    default_format = FEWSHOT_COT
    subsets = SUBJECTS
    aggregate = "micro"  # the paper's overall accuracy is over all 5,000 problems
    breakdowns = ("level",)
    slow_grader = True  # math-verify runs in worker processes and can take up to its timeout

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 1024  # every format is chain of thought; MATH solutions run long

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        samples: list[Sample] = []
        provenance: dict[str, str] = {}
        for subject in subsets or SUBJECTS:
            problems, source, digest = _read(data, "test", subject)
            provenance[source] = digest
            for p in problems:
                gold = _gold(p, f"{source}: {p.id}")
                if p.level == "?" or not gold:
                    raise _bad(f"{source}: {p.id}", "a test problem needs a level and an answer")
                samples.append(
                    Sample(p.id, p.problem, gold, subset=subject, tags=(("level", p.level),))
                )
        return Loaded(samples, provenance)

    def _exemplars(
        self, data: DataSource, options: PromptOptions
    ) -> tuple[list[Exemplar], str, str]:
        """(exemplars, verbatim file text or "", source) from a prompt file or the train split."""
        path = self._prompt_path(data, options.prompt_file)
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CothubError(f"cannot read prompt file {path} ({e}); give a text file") from e
            source = f"{path} [most-steps]" if options.selection == "complexity" else str(path)
            return parse_exemplars(text, str(path)), text, source
        pool = [p for s in SUBJECTS for p in _read(data, "train", s)[0] if _usable_exemplar(p)]
        if options.selection == "complexity":
            picked = most_complex(pool, _N_SHOTS, lambda p: p.solution)
            source = "train:most-steps"
        else:
            picked = seeded_choice(pool, _N_SHOTS, options.seed)
            source = f"train:seed={options.seed}"
        exemplars = [
            Exemplar(_one_block(p.problem), _one_block(p.solution), gold_from_solution(p.solution))
            for p in picked
        ]
        return exemplars, "", source

    def _prompt_path(self, data: DataSource, choice: str | None) -> Path | None:
        """None (draw from train), a named hub file, or a path (also tried under the hub dir)."""
        if choice is None:
            return None
        return data.prompt_file(choice, _PROMPT_DIR, NAMED_PROMPTS)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        exemplars: list[Exemplar] = []
        verbatim, source = "", "none"
        if self.prompt_format(fmt).fewshot:
            exemplars, verbatim, source = self._exemplars(data, options)
        exemplars, perturbation = perturbed(exemplars, options.perturb, options.seed)
        if perturbation is not None:
            verbatim = ""  # the file as written is no longer the prompt
        # shots[k]: the exemplars a k-shot prompt keeps (the first k, or the k with most steps)
        shots = [_shots(exemplars, k, options.selection) for k in range(len(exemplars) + 1)]
        blocks = [[e.format(_SHOT) for e in kept] for kept in shots]
        if verbatim:
            blocks[-1] = [verbatim.rstrip("\n") + "\n"]  # the published file, byte for byte

        def render(sample: Sample, k: int) -> Prompt:
            if options.style == "chat":
                user = _CHAT_USER.format(question=sample.question)
                messages = chat_turns(shots[k], user, _CHAT_USER, _CHAT_REPLY)
                return Prompt(style="chat", messages=messages, n_exemplars=k)
            # Zero-shot: the instruction for the box, then the trigger (Kojima et al. 2022).
            head, tail = ("", "") if k else (f"{_INSTRUCTION}\n", f"{_COT_TRIGGER}\n")
            text = completion(head, blocks[k], f"Question: {sample.question}\n{tail}", "\n")
            return Prompt(style="completions", text=text, stop=_STOP, n_exemplars=k)

        def fitted(sample: Sample) -> Prompt:
            budget = options.max_prompt_tokens
            return fit(lambda k: render(sample, k), len(exemplars), budget, f"math {sample.id}")

        digest = sha256_text("\n".join(blocks[-1])) if exemplars else ""
        return Prompter(fitted, source, digest, perturbation if exemplars else None)

    def equivalent(self, a: str, b: str) -> bool:
        return math_equal(a, b)[0]

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_math_answer(text)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_math(answer, sample.gold)


def _shots(exemplars: Sequence[Exemplar], k: int, selection: Selection) -> list[Exemplar]:
    """The exemplars a prompt keeps when only ``k`` fit: the first k, or the k with most steps."""
    if selection == "complexity":
        return most_complex(exemplars, k, lambda e: e.rationale)
    return list(exemplars[:k])
