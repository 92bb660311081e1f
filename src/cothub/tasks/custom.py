"""User-defined tasks, without editing the package: a JSONL file, a small TOML file, or Python.

    cothub run jsonl:my_data.jsonl --model openai/gpt-4o-mini          # question / answer fields
    cothub run jsonl:qa.jsonl:question=problem,answer_type=math --model ...
    cothub run my_task.toml --model ...                                # or toml:my_task.toml
    cothub run my_task.py --model ...                                  # a Task subclass in a file

A JSONL row holds ``question``, ``answer``, optionally ``choices`` (a list of options) and ``id``
(default: the row's position). The answer type picks the extractor and grader a built-in task
uses, so a user task is graded exactly as the benchmark of that kind:

==========  =========================================================================  =========
type        graded as                                                                  like
==========  =========================================================================  =========
number      the final committed number, exactly equal as a rational                    GSM8K
math        the last ``\\boxed{}`` (or final-answer sentence), math equivalence         MATH
choice      the committed option letter; the gold may be a letter, a 0-based index, or  MMLU
            the option's text
exact       the committed answer text, equal after trimming quotes, markdown and a
            trailing period
freeform    BBH's prompts (``Q:``/``A:``, "So the answer is X."), the answer matched   BBH
            case-insensitively against the task's answer vocabulary (its distinct golds)
==========  =========================================================================  =========

Without ``answer_type`` it is inferred: ``choice`` when rows have choices, ``number`` when every
answer is one number, else ``exact``. A TOML task file names the same things (paths relative to
it)::

    name = "capitals"              # the store's and the leaderboard's name (default: file stem)
    data = "capitals.jsonl"
    question = "q"                 # field names (defaults: question, answer, choices, id)
    answer = "a"
    answer_type = "exact"          # number | choice | math | exact | freeform
    exemplars = "shots.jsonl"      # optional: rows with the same fields plus "rationale",
                                   # or a lib_prompt text file (Question: / The answer is ...)
    formats = ["fewshot-cot", "zeroshot-cot"]   # offered, the first is the default
    max_tokens = 256
    citation = "Me et al. 2025"

Every key of the TOML file except ``data`` is also a parameter of ``jsonl:PATH``. A mistake in a
task file or its data is one line naming the field and the fix, raised before any request.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from cothub.data.source import DataSource, sha256_text
from cothub.errors import CothubError
from cothub.extract.choice import (
    extract_text,
    extract_word,
    normalize_text,
    published_bbh_answer,
)
from cothub.extract.latex import extract_math_answer
from cothub.extract.numeric import parse_number
from cothub.prompts import ALL_FORMATS, Exemplar, PromptFormat, chat_turns, fit, parse_exemplars
from cothub.scoring.choice import extract_mmlu, score_against, score_mmlu
from cothub.scoring.math_equiv import math_equal, score_math
from cothub.scoring.numeric import extract_numeric, numbers_equal, score_numeric
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Prompt, Sample

AnswerType = Literal["number", "choice", "math", "exact", "freeform"]
ANSWER_TYPES: tuple[str, ...] = get_args(AnswerType)
_FORMAT_NAMES = tuple(f.name for f in ALL_FORMATS)
_LETTERS = "ABCDEFGHIJKLMNOPQR"


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A user task as its TOML file (or ``jsonl:PATH`` and its parameters) declares it."""

    name: str
    """The task's name in the store, reports and the leaderboard."""
    data: Path
    """The JSONL file of items."""
    question: str = "question"
    """Field holding the question text."""
    answer: str = "answer"
    """Field holding the gold answer."""
    choices: str = "choices"
    """Field holding a list of options (multiple choice); optional in rows."""
    id: str = "id"
    """Field holding a stable item id; optional (default: the row's position)."""
    answer_type: AnswerType | None = None
    """How answers are extracted and graded; None: inferred from the data."""
    exemplars: Path | None = None
    """Few-shot exemplars: JSONL rows (same fields plus ``rationale``) or a lib_prompt file."""
    formats: tuple[str, ...] = ()
    """Formats offered, the first the default; empty: all four with exemplars, else zero-shot."""
    max_tokens: int | None = None
    """Generation budget; None: 512 for reasoning (1024 for math), 32 answer-only."""
    citation: str = ""
    origin: str = ""
    """Where it was declared (``my_task.toml``, ``jsonl:qa.jsonl``), for messages."""

    def recorded(self) -> dict[str, object]:
        """What moves the numbers, without machine-specific paths (data and exemplar files are
        recorded by their hashes)."""
        out = asdict(self)
        for key in ("data", "exemplars", "origin", "citation"):
            out.pop(key)
        return out


# TOML keys -> (expected kind, example), for one-line errors.
_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("a string", 'name = "my_task"'),
    "data": ("a path string", 'data = "items.jsonl"'),
    "question": ("a field name", 'question = "question"'),
    "answer": ("a field name", 'answer = "answer"'),
    "choices": ("a field name", 'choices = "options"'),
    "id": ("a field name", 'id = "id"'),
    "answer_type": (" | ".join(ANSWER_TYPES), 'answer_type = "number"'),
    "exemplars": ("a path string", 'exemplars = "shots.jsonl"'),
    "formats": ("a list of formats", f'formats = ["{_FORMAT_NAMES[0]}"]'),
    "max_tokens": ("a positive integer", "max_tokens = 512"),
    "citation": ("a string", 'citation = "Me et al. 2025"'),
}


PARAMETERS = frozenset(_FIELDS) - {"data"}
"""Keys of a task file that ``jsonl:PATH:key=value`` (or ``toml:PATH:key=value``) also takes."""


def load_task_file(spec: str, params: Mapping[str, str]) -> Task:
    """``jsonl:PATH``, ``toml:PATH`` or ``py:PATH`` -> the task, its data read and checked.

    ``params`` are settings of the definition (keys of :data:`PARAMETERS`) that override the
    file's; ``py:`` tasks take none of them."""
    scheme, _, raw = spec.partition(":")
    path = Path(raw).expanduser()
    if not path.is_file():
        what = {"jsonl": "data", "toml": "task", "py": "Python task"}[scheme]
        raise CothubError(f"{what} file {raw} not found; give the path of an existing file")
    if scheme == "py":
        if params:
            raise CothubError(f"{spec}: {', '.join(params)} apply to jsonl: and toml: tasks only")
        return _python_task(path)
    if scheme == "toml":
        definition = _read_toml(path)
    else:
        definition = TaskDefinition(name=path.stem, data=path, origin=spec)
    if params:
        origin = spec + ":" + ",".join(f"{k}={v}" for k, v in params.items())
        definition = replace(definition, **_settings(origin, params, Path.cwd()), origin=origin)
    return FileTask(replace(definition, name=_name_of(definition.name, definition.origin)))


def _name_of(value: str, origin: str) -> str:
    from cothub.tasks import TASKS

    name = value.strip().lower()
    if not name or any(c in name for c in ":/ ,="):
        raise CothubError(
            f"{origin}: name {value!r} must be a word without ':', '/', ',', '=' or spaces; "
            'set name = "my_task"'
        )
    if name in TASKS.names() or name == "hub":
        raise CothubError(
            f"{origin}: the name {name!r} is taken by a registered task; give it another with "
            'name = "..." (jsonl:PATH:name=...)'
        )
    return name


def _bad_field(origin: str, key: str, value: object) -> CothubError:
    kind, example = _FIELDS[key]
    return CothubError(f"{origin}: field {key!r} must be {kind}, not {value!r}; e.g. {example}")


def _settings(origin: str, raw: Mapping[str, object], base: Path) -> dict[str, Any]:
    """TOML values or ``jsonl:`` parameters (strings) -> TaskDefinition keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FIELDS:
            raise CothubError(
                f"{origin}: unknown field {key!r}; the fields are {', '.join(_FIELDS)}"
            )
        if key == "formats":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not items:
                raise _bad_field(origin, key, value)
            for f in items:
                if not isinstance(f, str) or f.strip() not in _FORMAT_NAMES:
                    raise CothubError(
                        f"{origin}: field 'formats' holds {f!r}; formats are "
                        f"{', '.join(_FORMAT_NAMES)}"
                    )
            out[key] = tuple(dict.fromkeys(f.strip() for f in items))
        elif key == "max_tokens":
            number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise _bad_field(origin, key, value)
            out[key] = number
        elif not isinstance(value, str) or not value.strip():
            raise _bad_field(origin, key, value)
        elif key == "answer_type":
            if value.strip().lower() not in ANSWER_TYPES:
                raise _bad_field(origin, key, value)
            out[key] = value.strip().lower()
        elif key in ("data", "exemplars"):
            path = (base / value).expanduser()
            if not path.is_file():
                raise CothubError(
                    f"{origin}: field {key!r}: file {path} not found; give a path relative to "
                    "the task file"
                )
            out[key] = path
        else:
            out[key] = value.strip()
    return out


def _read_toml(path: Path) -> TaskDefinition:
    origin = str(path)
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        raise CothubError(f"{origin}: TOML task files need Python 3.11+; use jsonl:PATH") from None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CothubError(f"{origin}: not valid TOML ({e}); fix that line") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CothubError(f"{origin}: cannot read ({e}); give a UTF-8 text file") from e
    if "data" not in raw:
        raise CothubError(
            f"{origin}: field 'data' is missing; add data = \"items.jsonl\" (relative to it)"
        )
    settings = _settings(origin, raw, path.parent)
    settings.setdefault("name", path.stem)
    return TaskDefinition(**settings, origin=origin)


def _python_task(path: Path) -> Task:
    """The one Task a Python file defines (a subclass or an instance)."""
    module_name = f"cothub_user_task_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CothubError(f"{path}: cannot import it as Python; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise CothubError(f"{path}: importing it failed ({type(e).__name__}: {e})") from e
    found: list[Task] = []
    for obj in vars(module).values():
        if isinstance(obj, Task) and type(obj).__module__ == module_name:
            found.append(obj)
        elif (
            isinstance(obj, type)
            and issubclass(obj, Task)
            and obj.__module__ == module_name
            and not inspect.isabstract(obj)
            and not any(isinstance(t, obj) for t in found)
        ):
            found.append(obj())
    unique = {t.name: t for t in found}
    if len(unique) != 1:
        raise CothubError(
            f"{path} defines {len(unique)} tasks ({', '.join(unique) or 'no Task subclass'}); "
            "define exactly one cothub.Task subclass in it"
        )
    return next(iter(unique.values()))


@dataclass(frozen=True, slots=True)
class _Table:
    """A user task's items, read and checked once."""

    samples: list[Sample]
    answer_type: AnswerType
    digest: str
    vocabulary: tuple[str, ...] = ()
    """freeform: the distinct golds, the words an answer is matched against."""


@dataclass(frozen=True, slots=True)
class _Rows:
    rows: list[tuple[int, dict[str, Any]]]
    """(line number, object)."""
    digest: str


def _read_rows(path: Path, origin: str) -> _Rows:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CothubError(f"{origin}: cannot read {path} ({e}); give a UTF-8 JSONL file") from e
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CothubError(
                f"{path}:{lineno}: not valid JSON ({e.msg}); write one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise CothubError(f"{path}:{lineno}: not a JSON object; write one object per line")
        rows.append((lineno, row))
    if not rows:
        raise CothubError(f"{path} holds no items; write one JSON object per line")
    return _Rows(rows, hashlib.sha256(raw).hexdigest())


def _letter(value: object, options: Sequence[str]) -> str | None:
    """A choice gold as its letter: ``B``, ``(B)``, a 0-based index, or the option's text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _LETTERS[value] if 0 <= value < len(options) else None
    text = str(value).strip()
    bare = text.strip("()").strip()
    if len(bare) == 1 and bare.upper() in _LETTERS[: len(options)]:
        return bare.upper()
    matches = [i for i, o in enumerate(options) if o.strip() == text]
    return _LETTERS[matches[0]] if len(matches) == 1 else None


def _with_options(question: str, options: Sequence[str]) -> str:
    """The question with lettered options, as MMLU writes them (what the choice grader reads)."""
    return "\n".join([question, *(f"{_LETTERS[i]}. {o}" for i, o in enumerate(options))])


def _options(row: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    if key not in row or row[key] is None:
        return None
    value = row[key]
    if (
        not isinstance(value, list)
        or not 2 <= len(value) <= len(_LETTERS)
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        raise CothubError(
            f"{where}: field {key!r} must be a list of 2 to {len(_LETTERS)} option strings, "
            f"not {value!r}"
        )
    return [str(v) for v in value]


def _infer(golds: Sequence[object], has_choices: bool) -> AnswerType:
    if has_choices:
        return "choice"
    if all(
        not isinstance(g, bool) and parse_number(str(g)) is not None and str(g).strip()
        for g in golds
    ):
        return "number"
    return "exact"


def _gold(kind: AnswerType, value: object, options: Sequence[str] | None, where: str) -> str:
    fix = "fix the row or set answer_type"
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise CothubError(f"{where}: answer {value!r} is not a string or number; {fix}")
    if kind == "choice":
        if options is None:
            raise CothubError(f"{where}: answer_type choice needs a list of options; {fix}")
        letter = _letter(value, options)
        if letter is None:
            raise CothubError(
                f"{where}: answer {value!r} is not a letter, 0-based index or text of one of its "
                f"{len(options)} options; {fix}"
            )
        return letter
    text = str(value).strip()
    if not text:
        raise CothubError(f"{where}: the answer is empty; {fix}")
    if kind == "number" and parse_number(text) is None:
        raise CothubError(f'{where}: answer {text!r} is not a number; {fix} = "exact"')
    if kind == "math" and "\\boxed" in text:
        from cothub.extract.latex import gold_from_solution

        try:
            return gold_from_solution(text)
        except ValueError:
            raise CothubError(f"{where}: answer {text!r} has an unclosed \\boxed{{}}") from None
    return text


def _read_table(d: TaskDefinition) -> _Table:
    """A definition's items, read and checked (every mistake named by file, line and field)."""
    read = _read_rows(d.data, d.origin)
    first = read.rows[0][1]
    if d.question not in first or d.answer not in first:
        missing = d.question if d.question not in first else d.answer
        role = "question" if missing == d.question else "answer"
        raise CothubError(
            f"{d.data}:{read.rows[0][0]}: no field {missing!r} (the {role}); name the field "
            f'that holds it: {role} = "FIELD" in a TOML task file, or jsonl:PATH:{role}=FIELD'
        )
    has_choices = any(d.choices in r for _, r in read.rows)
    golds = [r.get(d.answer) for _, r in read.rows]
    kind: AnswerType = d.answer_type or _infer(golds, has_choices)
    samples: list[Sample] = []
    ids: set[str] = set()
    for position, (lineno, row) in enumerate(read.rows):
        where = f"{d.data}:{lineno}"
        for key in (d.question, d.answer):
            if key not in row:
                raise CothubError(f"{where}: no field {key!r}; every row needs it")
        question = row[d.question]
        if not isinstance(question, str) or not question.strip():
            raise CothubError(f"{where}: field {d.question!r} must be a non-empty string")
        options = _options(row, d.choices, where)
        if options is not None:
            question = _with_options(question, options)
        item_id = str(row[d.id]) if d.id in row else str(position)
        if item_id in ids:
            raise CothubError(f"{where}: id {item_id!r} (field {d.id!r}) is given twice")
        ids.add(item_id)
        gold = _gold(kind, row[d.answer], options, where)
        samples.append(Sample(item_id, question, gold, choices=tuple(options or ())))
    vocabulary = tuple(dict.fromkeys(s.gold for s in samples)) if kind == "freeform" else ()
    return _Table(samples, kind, read.digest, vocabulary)


class FileTask(Task):
    """A task declared by a :class:`TaskDefinition`: one JSONL file graded by a built-in grader."""

    version = "1"

    def __init__(self, definition: TaskDefinition) -> None:
        self.definition = definition
        self.name = definition.name
        self.citation = definition.citation or "user task"
        offered = definition.formats or (
            ("fewshot-cot", "zeroshot-cot", "fewshot-direct", "zeroshot-direct")
            if definition.exemplars is not None
            else ("zeroshot-cot", "zeroshot-direct")
        )
        if definition.exemplars is None and any(f.startswith("fewshot") for f in offered):
            raise CothubError(
                f"{definition.origin}: few-shot formats need exemplars; add exemplars = "
                '"shots.jsonl" or offer zeroshot-cot / zeroshot-direct only'
            )
        self.formats = tuple(PromptFormat.parse(f) for f in offered)
        self.default_format = self.formats[0]
        self.table = _read_table(definition)
        self.answer_type: AnswerType = self.table.answer_type
        self.slow_grader = self.answer_type == "math"
        resolved = {**definition.recorded(), "answer_type": self.answer_type}
        # The resolved definition moves the numbers: it is the task's version in the manifest.
        self.version = "1/" + sha256_text(json.dumps(resolved, sort_keys=True))[:12]

    @property
    def parameters(self) -> Mapping[str, str]:
        """``jsonl:PATH:key=value``: the task file's keys (see :data:`PARAMETERS`)."""
        return {k: f"{_FIELDS[k][0]}, as in a TOML task file" for k in _FIELDS if k in PARAMETERS}

    def configure(self, params: Mapping[str, str]) -> Task:
        """This task with settings of its definition replaced (read and checked again)."""
        origin = self.definition.origin + ":" + ",".join(f"{k}={v}" for k, v in params.items())
        definition = replace(self.definition, **_settings(origin, params, Path.cwd()))
        return FileTask(replace(definition, name=_name_of(definition.name, origin), origin=origin))

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        if self.definition.max_tokens is not None:
            return self.definition.max_tokens
        if not self.prompt_format(fmt).cot:
            return 32 if self.answer_type in ("number", "choice") else 64
        return 1024 if self.answer_type == "math" else 512

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        table = self.table
        return Loaded(list(table.samples), {str(self.definition.data): table.digest})

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        pf = self.prompt_format(fmt)
        kind = self.answer_type
        exemplars: list[Exemplar] = []
        source = "none"
        if pf.fewshot:
            chosen = options.prompt_file
            path = Path(chosen).expanduser() if chosen else self.definition.exemplars
            if path is None or not path.is_file():
                raise CothubError(
                    f"{self.name}: exemplar file {chosen or path} not found; give a path"
                )
            exemplars, source = self._exemplars(path), str(path)
        layout = _Layout.of(kind, pf.cot)
        render = layout.chat(exemplars) if options.style == "chat" else layout.text(exemplars)
        budget, n = options.max_prompt_tokens, len(exemplars)

        def fitted(sample: Sample) -> Prompt:
            return fit(lambda k: render(sample, k), n, budget, f"{self.name} {sample.id}")

        block = "\n\n".join(f"{e.question}\n{e.rationale}\n{e.answer}" for e in exemplars)
        return Prompter(fitted, source, sha256_text(block) if exemplars else "")

    def _exemplars(self, path: Path) -> list[Exemplar]:
        if path.suffix != ".jsonl":
            try:
                return parse_exemplars(path.read_text(encoding="utf-8"), str(path))
            except (OSError, UnicodeDecodeError) as e:
                raise CothubError(f"cannot read exemplar file {path} ({e})") from e
        d = self.definition
        out = []
        for lineno, row in _read_rows(path, str(path)).rows:
            where = f"{path}:{lineno}"
            if d.question not in row or d.answer not in row:
                raise CothubError(
                    f"{where}: an exemplar needs the fields {d.question!r} and {d.answer!r} "
                    "(the task's field names) and may have 'rationale'"
                )
            options = _options(row, d.choices, where)
            question = str(row[d.question])
            if options is not None:
                question = _with_options(question, options)
            gold = _gold(self.answer_type, row[d.answer], options, where)
            answer = f"({gold})" if self.answer_type == "choice" else gold
            out.append(Exemplar(question, str(row.get("rationale", "")).strip(), answer))
        return out

    def equivalent(self, a: str, b: str) -> bool:
        if self.answer_type == "number":
            return numbers_equal(a, b)
        if self.answer_type == "math":
            return math_equal(a, b)[0]
        return a == b

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        """Answer-only multiple choice: the letters as they follow ``The answer is``."""
        if self.answer_type != "choice" or self.prompt_format(fmt).cot:
            return None
        return [f" ({k})" for k in _LETTERS[: len(sample.choices)]] or None

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        kind = self.answer_type
        if kind == "number":
            return extract_numeric(text)
        if kind == "math":
            return extract_math_answer(text)
        if kind == "choice":
            return extract_mmlu(text, question=sample.question)
        mode = "cot" if self.prompt_format(fmt).cot else "direct"
        strict = Answer(published_bbh_answer(text, mode), None, "published-rule")
        if kind == "freeform":
            vocabulary = tuple(dict.fromkeys((*self.table.vocabulary, sample.gold)))
            return replace(extract_word(text, vocabulary), alternative=strict)
        return replace(extract_text(text), alternative=strict)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        kind = self.answer_type
        if kind == "number":
            return score_numeric(answer, sample.gold)
        if kind == "math":
            return score_math(answer, sample.gold)
        if kind == "choice":
            return score_mmlu(answer, sample.gold)
        if kind == "freeform":
            return score_against(answer, sample.gold, sample.gold, "word")
        return score_against(answer, normalize_text(sample.gold), sample.gold, "exact-string")


# ---- prompts ------------------------------------------------------------------------------------

_INSTRUCTIONS: dict[tuple[str, bool], str] = {
    ("number", True): 'Let\'s think step by step. End your reply with a line "The answer is N", '
    "where N is the final number.",
    ("number", False): 'Give only the final number, in the form "The answer is N", without '
    "working.",
    ("math", True): "Solve the problem step by step. Put your final answer in \\boxed{}.",
    ("math", False): "Give only the final answer in \\boxed{}, without working.",
    ("choice", True): 'Let\'s think step by step, then finish with "The answer is (X).", where X '
    "is the letter of the correct option.",
    ("choice", False): 'Answer with the letter of the correct option, in the form "The answer is '
    '(X)."',
    ("exact", True): "Let's think step by step, then end your reply with a line \"The answer is "
    'X", where X is the final answer.',
    ("exact", False): 'Give only the final answer, in the form "The answer is X", without working.',
    ("freeform", True): 'Think step by step, then end your reply with "So the answer is <answer>."',
    ("freeform", False): "Reply with only the answer, without any working.",
}


@dataclass(frozen=True, slots=True)
class _Layout:
    """The prompt layout of one answer type and reasoning mode, in both API styles.

    Completion style is the hub's GSM8K/MATH layout (``Question:`` / ``Let's think step by
    step`` / ``The answer is X.``), or BBH's (``Q:`` / ``A: Let's think step by step.`` / ``So
    the answer is X.``) for freeform answers."""

    bbh: bool
    cot: bool
    instruction: str
    stop: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, kind: str, cot: bool) -> _Layout:
        bbh = kind == "freeform"
        stop = ("\n\nQ:",) if bbh else (("\nQuestion:",) if cot else ("\n",))
        return cls(bbh, cot, _INSTRUCTIONS[(kind, cot)], stop)

    def shot(self, e: Exemplar) -> str:
        if self.bbh:
            reply = f"Let's think step by step. {e.rationale} So the answer is {e.answer}."
            return f"Q: {e.question}\nA: {reply if self.cot else e.answer}"
        steps = f"Let's think step by step\n{e.rationale}\n" if self.cot else ""
        return f"Question: {e.question}\n{steps}The answer is {e.answer}.\n"

    def tail(self, question: str) -> str:
        if self.bbh:
            return f"Q: {question}\nA:" + (" Let's think step by step." if self.cot else "")
        return f"Question: {question}\n" + (
            "Let's think step by step\n" if self.cot else "The answer is"
        )

    def text(self, exemplars: Sequence[Exemplar]) -> Callable[[Sample, int], Prompt]:
        joiner = "\n\n" if self.bbh else "\n"

        def render(sample: Sample, k: int) -> Prompt:
            parts = [self.shot(e) for e in exemplars[:k]] + [self.tail(sample.question)]
            return Prompt("completions", text=joiner.join(parts), stop=self.stop, n_exemplars=k)

        return render

    def chat(self, exemplars: Sequence[Exemplar]) -> Callable[[Sample, int], Prompt]:
        user = "{question}\n" + self.instruction.replace("{", "{{").replace("}", "}}")
        if self.bbh:
            reply = "Let's think step by step. {rationale} So the answer is {answer}."
        else:
            reply = "Let's think step by step.\n{rationale}\nThe answer is {answer}."
        reply = reply if self.cot else ("{answer}" if self.bbh else "The answer is {answer}.")

        def render(sample: Sample, k: int) -> Prompt:
            final = user.format(question=sample.question)
            messages = chat_turns(exemplars[:k], final, user, reply)
            return Prompt("chat", messages=messages, n_exemplars=k)

        return render


__all__ = ["ANSWER_TYPES", "PARAMETERS", "FileTask", "TaskDefinition", "load_task_file"]
