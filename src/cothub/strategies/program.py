"""``program[:timeout=S,memory_mb=M,site_packages=B,isolation=unsafe]``: the model writes a
program; running it gives the answer.

Gao et al. 2023, "PAL: Program-aided Language Models", ICML 2023, arXiv:2211.10435; Chen et al.
2023, "Program of Thoughts Prompting: Disentangling Computation from Reasoning for Numerical
Reasoning Tasks", TMLR, arXiv:2211.12588.

    cothub run gsm8k --model openai/gpt-4o-mini --strategy program:timeout=5

One request per item, with the run's generation settings (use a ``-cot`` format or
``--max-tokens``: answer-only budgets are too small for a program). It holds an instruction to
define ``solution()`` returning the answer, PAL's first GSM8K exemplar in PAL's layout (the
question as docstring, one named variable per quantity), and the item's bare question
(``Sample.question``: the task prompt's CoT exemplars and answer-format instructions would ask
for prose). Chat: one user turn. Completions: the same text ending in an open ```python fence,
stopped at the closing one. The prompt's hash is in the run manifest.

The code is the first fenced block that defines ``solution``, else the first ``python`` block,
else the first fenced block (an unclosed fence runs to the end of the reply), else the whole
reply; thinking (``<think>...</think>``) is skipped first. It runs in :mod:`cothub.sandbox` with
``timeout`` seconds of wall and CPU time and ``memory_mb`` MiB of address space, the standard
library only unless ``site_packages=true`` (e.g. sympy for MATH). Programs run in worker threads,
at most one per CPU at a time, so that neighbours do not eat a program's wall time.

Model-written code is untrusted: each program runs isolated by bubblewrap (namespaces, a
read-only view of the interpreter only, no network, seccomp; see :mod:`cothub.sandbox`). Where
this machine cannot provide that isolation, the strategy refuses before any request, in one line
that says why and how to allow it; ``isolation=unsafe`` runs programs without namespaces, only
when asked for, and the run manifest records it.

Grading: the program's answer (``solution()``'s return value, else ``ans``, else the last line it
printed) is handed to the task's own grader as the completion ``The answer is {answer}.``, so
extraction, normalisation and equivalence stay the task's (numbers for GSM8K, math-verify for
MATH, options for BBH/MMLU). A program that fails (``error``, ``timeout``, ``memory``,
``killed``, ``forbidden``), gives no answer, or is missing (``no_code``) leaves the item unparsed
with that status recorded; it never stops the run. The stored completion is the model's reply;
the one step holds the code, the sandbox status and detail, stdout/stderr and the answer; the
results JSON counts items per status under ``program``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.sandbox import (
    ISOLATIONS,
    STATUSES,
    Limits,
    SandboxResult,
    isolation_problem,
    run_python,
)
from cothub.strategies.base import (
    Outcome,
    SolveContext,
    StrategySummary,
    no_answer,
    own_stats,
)
from cothub.types import (
    ApiStyle,
    GenerateConfig,
    Message,
    ProgramRun,
    ProgramStep,
    Prompt,
    StrategyStats,
)

INSTRUCTION = (
    "Solve the problem by writing a Python program. Define a function solution() that computes "
    "the answer step by step, with one named variable per quantity, and returns the final answer "
    "(a number, or the answer's text). Reply with the program only, in one ```python code block. "
    "It runs with {libraries}, without network or file access."
)
LIBRARIES = {False: "the Python standard library only", True: "Python and its installed packages"}
# PAL's first GSM8K exemplar (the question is the fifth of Wei et al.'s 8-shot set).
_EXAMPLE_Q = (
    "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?"
)
EXAMPLE = f"""Q: {_EXAMPLE_Q}

```python
def solution():
    \"\"\"{_EXAMPLE_Q}\"\"\"
    money_initial = 23
    bagels = 5
    bagel_cost = 3
    money_spent = bagels * bagel_cost
    money_left = money_initial - money_spent
    result = money_left
    return result
```"""
NO_CODE = "no_code"
"""The status of a reply that holds no program (empty, or thinking that never closed)."""

_OPEN_FENCE = "\n\n```python\n"
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_DEFINES_SOLUTION = re.compile(r"^\s*def\s+solution\s*\(", re.MULTILINE)
_PROMPTS_SHA = hashlib.sha256((INSTRUCTION + str(LIBRARIES) + EXAMPLE).encode()).hexdigest()[:12]
# One program per CPU at a time: a program's wall-time limit must not depend on how many others
# the runner's concurrency happens to start beside it.
_CPUS = threading.BoundedSemaphore(os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """How one sample's program ended: a sandbox status, or ``no_code``."""

    status: str

    def as_json(self) -> dict[str, object]:
        return {"status": self.status}


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Samples per program status, every status listed."""

    counts: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return dict(self.counts)


@dataclass(frozen=True, slots=True)
class Program:
    timeout: float = 5.0
    memory_mb: int = 512
    site_packages: bool = False
    isolation: str = "bwrap"
    name: str = "program"

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 600:
            raise CothubError(f"program needs 0 < timeout <= 600 seconds, not {self.timeout}")
        if not 64 <= self.memory_mb <= 1 << 20:
            raise CothubError(f"program needs memory_mb >= 64 (MiB), not {self.memory_mb}")
        if self.isolation not in ISOLATIONS:
            raise CothubError(
                f"program needs isolation=bwrap (the default) or isolation=unsafe, "
                f"not {self.isolation!r}"
            )
        if self.isolation == "bwrap":
            problem = isolation_problem(self.site_packages)
            if problem is not None:  # before any request: the run could not grade a thing
                raise CothubError(f"refused: {problem}")

    def limits(self) -> Limits:
        return Limits(
            wall_s=self.timeout,
            cpu_s=math.ceil(self.timeout),  # RLIMIT_CPU counts whole seconds
            memory_mb=self.memory_mb,
            max_output=8_000,  # kept in every sample's steps: enough for a traceback
            site_packages=self.site_packages,
            isolation="unsafe" if self.isolation == "unsafe" else "bwrap",
        )

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {
            "name": self.name,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
            "site_packages": self.site_packages,
            "prompts_sha256": _PROMPTS_SHA,  # editing the prompt moves the numbers
        }
        if self.isolation != "bwrap":  # recorded only then: isolated runs keep their ids
            described["isolation"] = self.isolation
        return described

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        if not stats:
            return {}
        counts = dict.fromkeys((*STATUSES, NO_CODE), 0)
        for s in own_stats(stats, ProgramStats):
            counts[s.status] = counts.get(s.status, 0) + 1
        return {"program": StatusCounts(counts)}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    async def solve(self, ctx: SolveContext) -> Outcome:
        reply = await ctx.complete(program_prompt(ctx.prompt.style, ctx.sample.question, self))
        code = extract_code(reply.text)
        if code is None:
            step = ProgramStep(None, reply.finish_reason, NO_CODE, None, False)
            return Outcome(reply, no_answer(f"program-{NO_CODE}"), (step,), ProgramStats(NO_CODE))
        run = await asyncio.to_thread(_run, code, self.limits())
        if run.status == "ok" and run.answer is not None:
            # The task's own grader reads the answer, so its extraction and equivalence hold;
            # the span would point into this synthetic text, not the stored reply.
            verdict = replace(await ctx.grade(f"The answer is {run.answer}."), span=None)
        else:
            reason = run.status if run.status != "ok" else "no-answer"
            verdict = no_answer(f"program-{reason}")
        ran = ProgramRun(run.detail, run.stdout, run.stderr, run.exit_code, run.wall_s)
        step = ProgramStep(code, reply.finish_reason, run.status, run.answer, verdict.correct, ran)
        return Outcome(reply, verdict, (step,), ProgramStats(run.status))


def program_prompt(style: ApiStyle, question: str, program: Program) -> Prompt:
    """The request: instruction, PAL's exemplar, then the item's question."""
    instruction = INSTRUCTION.format(libraries=LIBRARIES[program.site_packages])
    text = f"{instruction}\n\n{EXAMPLE}\n\nQ: {question.strip()}"
    if style == "chat":
        return Prompt(style="chat", messages=(Message("user", text),))
    return Prompt(style="completions", text=text + _OPEN_FENCE, stop=("```",))


def extract_code(reply: str) -> str | None:
    """The program in a reply (see the module docstring); None when there is none."""
    text = strip_thinking(reply)
    if text is None or not text.strip():
        return None
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    defining = [body for _, body in blocks if _DEFINES_SOLUTION.search(body)]
    python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    chosen = (defining or python or [body for _, body in blocks] or [text])[0]
    return chosen.strip("\n") or None


def _run(code: str, limits: Limits) -> SandboxResult:
    with _CPUS:
        try:
            return run_python(code, limits)
        except OSError as e:  # no process could start at all: the machine, not the model
            raise CothubError(f"cannot start the Python sandbox: {e}") from e
