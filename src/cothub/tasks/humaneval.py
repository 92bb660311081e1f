"""HumanEval: 164 hand-written Python problems, judged by running their unit tests.

Chen et al. 2021, "Evaluating Large Language Models Trained on Code" (the Codex paper),
arXiv:2107.03374; data: ``openai/human-eval`` (``humaneval/HumanEval.jsonl.gz`` in the data dir,
else the Hub's ``openai/openai_humaneval``).

    cothub run humaneval --model openai/gpt-4o-mini                  # pass@1, greedy
    cothub run humaneval --model openai/gpt-4o-mini \\
        --strategy self-consistency:k=100,temperature=0.8          # pass@1/10/100 from n=100
    cothub run humaneval:timeout=10 --model ...                     # per-problem time limit

Completion style (base models): the prompt is the problem's ``prompt`` (signature and
docstring), the stop sequences are the Codex paper's (``\\nclass``, ``\\ndef``, ``\\n#``, ``\\nif``,
``\\nprint``), and the completion is the function's body. Chat style: a short instruction and the
prompt in a code block; the function is taken from the reply's code block, the prompt's
signature, imports and helpers kept (rules and cases: :mod:`cothub.extract.code`).

Judging (:mod:`cothub.scoring.code`): the solution, the problem's ``test`` code and
``check(entry_point)`` run together in the sandbox of :mod:`cothub.sandbox` (bubblewrap
namespaces, no network, seccomp), never outside it, with ``timeout`` seconds of wall and CPU
time per problem (default 5; the reference harness used 3) and ``memory_mb`` MiB of address
space. Where the isolation is unavailable the run refuses before any request, as the
program-aided strategy does (there is no unsafe mode for this task). The verdict is
``passed``, ``failed`` (an assertion of the tests), ``timed-out``, ``crashed`` or
``sandbox-refused`` (the sandbox stopped the program), stored as the grade's method; the
failing test's line is stored in the grade's check and ``cothub show`` prints it.

pass@k: the headline of a greedy run is pass@1. With ``--strategy self-consistency:k=N`` the N
samples of an item come from one request (``n=N``) where the backend allows, each is judged,
and the summary's ``self_consistency.pass`` holds the unbiased pass@k estimate of Chen et al.
for k = 1, 2, 4, ..., 10, 100 up to N (:func:`cothub.scoring.stats.pass_at_k`); that run's
headline is the majority program (identical code votes together), not pass@1.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence

from cothub.data.source import DataSource, Rows, load_hub, sha256_file, sha256_text, shown
from cothub.errors import CothubError
from cothub.extract.code import entry_point_of
from cothub.prompts import ZEROSHOT_DIRECT, PromptFormat, fit
from cothub.sandbox import Limits, isolation_problem
from cothub.sandbox.judge import limits_for
from cothub.scoring.code import Problem, extract_program, score_program
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Message, Prompt, Sample

_FILE = "humaneval/HumanEval.jsonl.gz"
_FIELDS = ("task_id", "prompt", "entry_point", "test")
STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
"""The Codex paper's stop sequences: the function's body ends where top-level code begins."""
INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function (its signature "
    "and body, with any imports it needs) in one ```python code block."
)
_FIX = f"pass --data-dir to a folder with a clean copy of {_FILE}"


def _problem(row: Mapping[str, object], where: str) -> Sample:
    """One row as a sample: the one adapter that touches HumanEval's fields.

    ``question`` is the prompt, ``gold`` the test code (what the grader judges against), and the
    entry point a tag, so a stored sample can be judged again without the data file.
    """
    values = {k: row.get(k) for k in _FIELDS}
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise CothubError(
                f"{where}: {key!r} must be non-empty text, got {shown(value)}; {_FIX}"
            )
    prompt, ep = str(values["prompt"]), str(values["entry_point"])
    if entry_point_of(prompt) != ep:
        raise CothubError(f"{where}: the prompt defines no function {ep!r}; {_FIX}")
    return Sample(
        id=str(values["task_id"]), question=prompt, gold=str(values["test"]),
        tags=(("entry_point", ep),),
    )  # fmt: skip


def _read_gz_jsonl(path: str, raw: bytes) -> list[dict[str, object]]:
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise CothubError(f"{path}: not gzip-compressed UTF-8 JSON lines ({e}); {_FIX}") from e
    rows = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CothubError(f"{path}:{lineno}: not valid JSON ({e.msg}); {_FIX}") from e
        if not isinstance(row, dict):
            raise CothubError(f"{path}:{lineno}: a record must be a JSON object; {_FIX}")
        rows.append(row)
    return rows


def refusal() -> str | None:
    """None when problems can be judged here; else the one-line refusal (why, and how to allow
    the sandbox). No unsafe fallback is offered: completions run only isolated."""
    problem = isolation_problem()
    if problem is None:
        return None
    for cut in ("; or run programs unisolated", ", or run programs unisolated"):
        problem = problem.split(cut)[0]
    return f"refused: humaneval runs completions only in the sandbox, and {problem}"


class HumanEval(Task):
    name = "humaneval"
    version = "1"
    citation = "Chen et al. 2021, arXiv:2107.03374"
    formats = (ZEROSHOT_DIRECT,)
    default_format = ZEROSHOT_DIRECT
    slow_grader = True  # every grade is a sandboxed run: graded in worker threads
    parameters: Mapping[str, str] = {
        "timeout": "seconds each problem's tests may run (wall and CPU; default 5)",
        "memory_mb": "address space each problem may use, MiB (default 512)",
    }

    def __init__(self, timeout: float = 5.0, memory_mb: int = 512) -> None:
        if not 0 < timeout <= 600:
            raise CothubError(f"humaneval needs 0 < timeout <= 600 seconds, not {timeout}")
        if not 64 <= memory_mb <= 1 << 20:
            raise CothubError(f"humaneval needs memory_mb >= 64 (MiB), not {memory_mb}")
        self.timeout = timeout
        """Seconds of wall and CPU time per problem (the tests included)."""
        self.memory_mb = memory_mb
        """Address space per problem, MiB."""

    def configure(self, params: Mapping[str, str]) -> Task:
        values: dict[str, float | int] = {}
        for key, kind in (("timeout", float), ("memory_mb", int)):
            if key in params:
                try:
                    values[key] = kind(params[key])
                except ValueError:
                    raise CothubError(
                        f"humaneval: {key}={params[key]!r} is not a number; e.g. humaneval:"
                        f"{key}={'10' if key == 'timeout' else '1024'}"
                    ) from None
        return HumanEval(
            timeout=float(values.get("timeout", self.timeout)),
            memory_mb=int(values.get("memory_mb", self.memory_mb)),
        )

    def limits(self) -> Limits:
        return limits_for(self.timeout, self.memory_mb)

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 1024  # a chat reply restates the function; a body needs far less

    def _rows(self, data: DataSource) -> Rows:
        local = data.find(_FILE)
        if local is not None:
            try:
                raw = local.read_bytes()
            except OSError as e:
                raise CothubError(f"cannot read {local} ({e.strerror or e}); {_FIX}") from e
            return Rows(_read_gz_jsonl(str(local), raw), str(local), sha256_file(local))
        if data.root is not None:
            raise CothubError(
                f"{data.root / _FILE} is missing; pass --data-dir to a folder with {_FILE} (or "
                "leave it unset to load openai/openai_humaneval from the Hub)"
            )
        return load_hub("openai/openai_humaneval", None, "test", _FIELDS)

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        rows = self._rows(data)
        samples = [_problem(r, rows.where(i)) for i, r in enumerate(rows.rows)]
        return Loaded(samples, {rows.source: rows.digest})

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)
        refused = refusal()
        if refused is not None:  # before any request: no completion could be judged
            raise CothubError(refused)

        def render(sample: Sample) -> Prompt:
            if options.style == "chat":
                ask = f"{INSTRUCTION}\n\n```python\n{sample.question}```"
                return Prompt(style="chat", messages=(Message("user", ask),))
            return Prompt("completions", sample.question, stop=STOP)

        def fitted(sample: Sample) -> Prompt:
            budget = options.max_prompt_tokens
            return fit(lambda k: render(sample), 0, budget, f"humaneval {sample.id}")

        return Prompter(fitted, "none", sha256_text(INSTRUCTION) if options.style == "chat" else "")

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return extract_program(_problem_of(sample), text)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return score_program(_problem_of(sample), answer, self.limits())


def _problem_of(sample: Sample) -> Problem:
    """The item as the sandbox runs it: prompt, tests and the function they call."""
    ep = dict(sample.tags).get("entry_point") or entry_point_of(sample.question)
    if ep is None:
        raise CothubError(
            f"humaneval {sample.id or 'item'}: the prompt defines no function to test; give "
            "the problem's prompt as the question"
        )
    return Problem(sample.question, sample.gold, ep)
