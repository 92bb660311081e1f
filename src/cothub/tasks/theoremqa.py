"""TheoremQA: 800 theorem-driven STEM questions (math, EECS, physics, finance), typed answers.

Chen et al. 2023, "TheoremQA: A Theorem-driven Question Answering Dataset", EMNLP 2023
(arXiv:2305.12524; ``wenhuchen/TheoremQA``, now ``TIGER-AI-Lab/TheoremQA``, MIT).

    cothub run theoremqa --model openai/MODEL --data-dir ../shared/data
    cothub import theoremqa:images=text-only outputs/GPT4_s0_e-1_06_15_22_38.jsonl \\
        --model-name gpt-4-cot --completion-field rationale

Data: ``theoremqa/theoremqa_test.json`` (a JSON array of ``{"Question", "Answer", "Answer_type",
"Picture", "id", "field", ...}``); without a data directory the Hub copy ``TIGER-Lab/TheoremQA``
(split ``test``, the same columns) is loaded.

Decisions:

- Prompt: the authors' zero-shot chat prompt (``run_chatgpt.py``): their system message, then
  ``Question: <question>``; generation budget 1028 tokens, as they set it. Completion style puts
  the same two parts in one text.
- Answer extraction is the authors' ``util.extract_answer``: the completion's last line, the words
  after its last ``is`` / ``be`` / ``are`` / ``...:``. Normalisation follows ``predict_accuracy.py``
  offline: text after the last ``=`` / ``≈``; ``$``, backticks, quotes, ``°``, "approximately"
  dropped; true/yes -> True, false/no -> False; the part before " or "; options ``(a)``..``(d)``
  kept (found anywhere in the text for an option question); ``10^k``, ``10⁻⁷``, ``^``, `` x `` /
  ``×`` and simple LaTeX (``\\frac``, ``\\sqrt``, ``\\pi``, ``\\boxed``) as arithmetic; thousands
  commas removed; then a *safe* arithmetic evaluation (numbers, lists, + - * / **, pi, e,
  sqrt/log/exp/trig; never Python's ``eval``) of the whole text, else of the first arithmetic in
  it (a unit or words around the number). The authors' later fallbacks (asking gpt-3.5-turbo,
  then WolframAlpha, then the first number, else **0**) cannot run offline, and the last one is
  left out on purpose: an unreadable answer became 0 there and so was counted right whenever the
  gold is 0, 0.0 or False (5 / 9 / 12 / 11 items of the four published runs). Here it is
  unparsed.
- Comparison by ``Answer_type``, exactly the authors' rule: bool and option by equality; integer
  ``round(pred) == gold``; float within 4 % of the gold (relative); lists of the same length, all
  numbers, compared sorted and pairwise by the number rule; anything else is wrong.
- The 53 items with a ``Picture`` need the image, and no backend here sends images: they are left
  out by default (the count is recorded in the run manifest's data provenance). With
  ``theoremqa:images=text-only`` they are kept, question text alone, and reported apart by the
  ``visual`` breakdown (``by_visual`` in the summary); the published numbers are over all 800.
- An ``--answer-field`` value (``{"answer": ...}``, e.g. the ``prediction`` of the authors' PoT
  runs: the program's return value) is normalised and compared the same way.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cothub.data.source import DataSource, Rows, load_hub, sha256_text
from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.prompts import ZEROSHOT_COT, PromptFormat
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Message, Prompt, Sample

_FILE = "theoremqa/theoremqa_test.json"
_HUB = "TIGER-Lab/TheoremQA"
_FIELDS = ("Question", "Answer", "Answer_type", "id")
_FIX = "pass --data-dir to a folder with theoremqa/theoremqa_test.json (wenhuchen/TheoremQA)"

SYSTEM = (
    "You are a mathematician, you are supposed to answer the given question. You need to output "
    'the answer in your final sentence like "Therefore, the answer is ...". The answer can only '
    "be one of the following forms:\n1. a numerical value like 0.1, no symbol and no unit at "
    "all.\n2. a list of number like [2, 3, 4].\n3. True/False.\n4. an option like (a), (b), (c), "
    "(d)\n"
)
"""The authors' system message (``run_chatgpt.py``)."""

ANSWER_TYPES = ("integer", "float", "bool", "option", "list of integer", "list of float")
TOLERANCE = 0.04
"""Relative error a float answer may have (``predict_accuracy.py``)."""

Value = bool | int | float | str | list[Any] | None


# ---- extraction: the authors' rule, then their normalisation without the online fallbacks ----


def last_line_answer(completion: str) -> str:
    """``util.extract_answer``: the words after the last is/be/are/``...:`` of the last line."""
    line = completion.strip().split("\n")[-1]
    words: list[str] = []
    for word in reversed(line.split(" ")):
        if word in ("is", "be", "are") or word.endswith(":"):
            break
        words.insert(0, word)
    return " ".join(words).strip().rstrip(".")


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_NAMES: dict[str, float] = {"pi": math.pi, "e": math.e}
_FUNCS: dict[str, Callable[..., float]] = {
    name: getattr(math, name)
    for name in ("sqrt", "log", "log10", "log2", "exp", "sin", "cos", "tan", "pow", "asin", "acos")
}
_FUNCS["atan"] = math.atan


def _eval(node: ast.AST) -> Any:
    """Arithmetic only: numbers, lists/tuples, + - * / ** %, unary -, pi, e, math functions."""
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 400:
            raise ValueError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "math"
        and node.attr in (*_NAMES, *_FUNCS)
    ):
        return _NAMES.get(node.attr, _FUNCS.get(node.attr))
    if isinstance(node, ast.Call) and not node.keywords:
        fn = _eval(node.func) if isinstance(node.func, ast.Attribute) else None
        if isinstance(node.func, ast.Name):
            fn = _FUNCS.get(node.func.id)
        if fn is not None and callable(fn):
            return fn(*[_eval(a) for a in node.args])
    raise ValueError(f"not arithmetic: {ast.dump(node)[:40]}")


def safe_eval(text: str) -> Any:
    """The value of an arithmetic expression (never Python's ``eval``); raises ValueError."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as e:
        raise ValueError(str(e)) from e
    try:
        return _eval(tree)
    except (ArithmeticError, TypeError, RecursionError) as e:
        raise ValueError(str(e)) from e


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_OPTION = re.compile(r"\(([a-eA-E])\)")


def normalize(prediction: str, kind: str = "float") -> Value:
    """``predict_accuracy.normalize`` without its LLM / WolframAlpha fallbacks: a bool, a number,
    a list of numbers, an option string ``(a)``, or None when nothing can be read. ``kind`` is
    the item's ``Answer_type``: an option is looked for anywhere in the text of an option
    question ("Therefore, the answer is (c)."), and only as the whole text elsewhere."""
    text = prediction.strip()
    for sign in ("=", "≈"):
        if sign in text:
            text = text.split(sign)[-1].strip()
    for junk in ("`", "$", "°"):
        text = text.replace(junk, "")
    text = text.strip().rstrip(".").strip().strip("\"'").strip()
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    option = _OPTION.fullmatch(low) or (_OPTION.search(low) if kind == "option" else None)
    if option is not None:
        return f"({option.group(1).lower()})"
    text = text.replace("approximately", "").strip()
    if " or " in text:
        text = text.split(" or ")[0].strip()
    text = _latex_arithmetic(text)
    text = re.sub(r"10\^\{?(-?[\d.]+)\}?", r"(10**\1)", text)
    text = re.sub(r"10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: f"(10**{m.group(1).translate(_SUPER)})", text)
    text = text.replace("^", "**").replace(" x ", "*").replace("×", "*").replace("·", "*")
    while re.search(r"(\d),(\d\d\d)(?!\d)", text):
        text = re.sub(r"(\d),(\d\d\d)(?!\d)", r"\1\2", text)
    value = _first_value(text)
    if isinstance(value, list) and len(value) == 1 and not kind.startswith("list"):
        value = value[0]  # "[exp(5/6)]" for a single number
    if value is None and kind.startswith("list"):
        numbers = [float(n) for n in _NUMBER.findall(text)]
        return numbers or None
    return value if isinstance(value, int | float | list) else None


_SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
_ARITH = re.compile(r"-?\(?\d[\d.]*(?:\s*(?:\*\*|[-+*/])\s*\(?-?\d[\d.]*\)?)*\)?")


def _first_value(text: str) -> Any:
    """The whole text's value; else, with a unit or words around it ("5/3 m/s", "colored in 2
    colors", "between 1/1837 and 1"), the value of the first arithmetic in it."""
    for candidate in (text, re.sub(r"^[A-Za-z$€£]+\s+(?=-?\d)", "", text)):
        try:
            return safe_eval(candidate)
        except ValueError:
            pass
    head = re.match(r"[\s\d.+\-*/()\[\],]+", text)
    for found in ([head.group(0)] if head else []) + _ARITH.findall(text)[:1]:
        try:
            return safe_eval(found)
        except ValueError:
            continue
    return None


def _latex_arithmetic(text: str) -> str:
    """LaTeX and Unicode arithmetic as Python arithmetic (``\\frac{1}{12}`` -> ``(1)/(12)``,
    ``π`` -> ``pi``, ``√2`` -> ``sqrt(2)``): the offline stand-in for the authors' LLM /
    WolframAlpha reading of such answers."""
    for wrapper in ("\\boxed{", "\\text{", "\\mathrm{"):
        while wrapper in text:
            at = text.index(wrapper)
            end = _closing(text, at + len(wrapper) - 1)
            if end < 0:
                break
            text = text[:at] + text[at + len(wrapper) : end] + text[end + 1 :]
    for _ in range(8):
        done = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", text)
        done = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", done)
        if done == text:
            break
        text = done
    text = re.sub(r"√\(", "sqrt(", text)
    text = re.sub(r"√(\d+(?:\.\d+)?)", r"sqrt(\1)", text)
    text = text.replace("\\pi", "pi").replace("π", "pi").replace("\\cdot", "*")
    text = text.replace("\\times", "*").replace("\\left", "").replace("\\right", "")
    text = re.sub(r"(\d)\s*pi", r"\1*pi", text)
    return re.sub(r"\\[,;!]", "", text).replace("{", "(").replace("}", ")")


def _closing(text: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _number(v: Any) -> bool:
    """A number as Python's comparisons see it: ``True`` counts as 1 (the authors' scorer
    compares the normalised values with ``==`` and ``round``, so a bool meets a numeric gold)."""
    return isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v))


def compare_number(pred: Any, gold: int | float, integer: bool) -> bool:
    if not _number(pred) or math.isinf(pred):
        return False
    if integer:
        return bool(round(pred) == gold)
    return bool(abs(pred - gold) <= TOLERANCE * abs(gold))


def compare(pred: Value, gold: Any, answer_type: str) -> bool:
    """``predict_accuracy.py``'s verdict for a normalised prediction against a typed gold."""
    if answer_type in ("bool", "option"):
        return bool(pred == gold)  # Python equality, as theirs: True == 1.0 (a stale gold)
    if answer_type in ("integer", "float"):
        return compare_number(pred, gold, answer_type == "integer")
    if answer_type.startswith("list"):
        if not isinstance(pred, list) or not isinstance(gold, list) or len(pred) != len(gold):
            return False
        if not all(_number(p) for p in pred):
            return False
        return all(
            compare_number(p, g, isinstance(g, int))
            for p, g in zip(sorted(pred), sorted(gold), strict=True)
        )
    return False


def _shown(value: Value) -> str | None:
    return None if value is None else json.dumps(value)


# ---- the task -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    id: str
    question: str
    answer: Any
    answer_type: str
    field: str
    picture: bool


def _items(rows: Rows) -> list[_Item]:
    out = []
    for i, row in enumerate(rows.rows):
        if not isinstance(row, dict) or any(k not in row for k in _FIELDS):
            raise CothubError(f"{rows.where(i)}: expected fields {', '.join(_FIELDS)}; {_FIX}")
        kind = str(row["Answer_type"])
        if kind not in ANSWER_TYPES:
            raise CothubError(f"{rows.where(i)}: Answer_type {kind!r} is not one of {ANSWER_TYPES}")
        answer = row["Answer"]
        if isinstance(answer, str) and kind != "option":  # the Hub copy stores values as text
            answer = json.loads(answer) if kind != "bool" else answer.strip().lower() == "true"
        out.append(
            _Item(
                str(row["id"]),
                str(row["Question"]),
                answer,
                kind,
                str(row.get("field") or ""),
                bool(row.get("Picture")),
            )
        )
    return out


class TheoremQA(Task):
    name = "theoremqa"
    version = "1"
    citation = "Chen et al. 2023, EMNLP, arXiv:2305.12524"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    breakdowns = ("answer_type", "field", "visual")
    parameters: Mapping[str, str] = {
        "images": "skip (default: the 53 items with a picture are left out) or text-only"
    }

    def __init__(self, images: str = "skip") -> None:
        self.images = images

    def configure(self, params: Mapping[str, str]) -> Task:
        images = params.get("images", self.images)
        if images not in ("skip", "text-only"):
            raise CothubError(f"theoremqa: images={images!r}; give images=skip or images=text-only")
        return TheoremQA(images)

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return 1028  # the authors' max_tokens

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        if data.root is None:
            rows = load_hub(_HUB, None, "test", _FIELDS)
        else:
            path = data.root / _FILE
            try:
                raw = path.read_bytes()
                doc = json.loads(raw)
            except FileNotFoundError:
                raise CothubError(f"{path} is missing; {_FIX}") from None
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CothubError(f"cannot read {path} ({type(e).__name__}); {_FIX}") from e
            if not isinstance(doc, list):
                raise CothubError(f"{path} is not a JSON array of questions; {_FIX}")
            rows = Rows(doc, str(path), hashlib.sha256(raw).hexdigest())
        items = _items(rows)
        kept = [it for it in items if self.images == "text-only" or not it.picture]
        provenance = {rows.source: rows.digest}
        skipped = len(items) - len(kept)
        if skipped:
            provenance["theoremqa:skipped"] = (
                f"{skipped} items with a picture (no backend sends images; "
                "theoremqa:images=text-only keeps them)"
            )
        samples = [
            Sample(
                id=it.id,
                question=it.question,
                gold=json.dumps(it.answer),
                tags=(
                    ("answer_type", it.answer_type),
                    ("field", it.field),
                    ("visual", "yes" if it.picture else "no"),
                ),
            )
            for it in kept
        ]
        return Loaded(samples, provenance)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        self.prompt_format(fmt)

        def render(sample: Sample) -> Prompt:
            user = f"Question: {sample.question}\n"
            if options.style == "chat":
                return Prompt(
                    style="chat", messages=(Message("system", SYSTEM), Message("user", user))
                )
            return Prompt(style="completions", text=f"{SYSTEM}\n{user}", stop=("\nQuestion:",))

        return Prompter(render, "none", sha256_text(SYSTEM))

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        """The answer as written (a JSON answer field, else the last line after the thinking);
        it is read as the gold's answer type when scored."""
        answer_field = _answer_field(text)
        if answer_field is not None:
            return Answer(answer_field, None, "answer-field")
        body = strip_thinking(text)
        if body is None:
            return Answer(None, None, "unclosed-thinking")
        return Answer(last_line_answer(body), None, "last-line")

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        gold, kind = typed_gold(sample.gold, dict(sample.tags).get("answer_type", ""))
        if answer.value is None:
            return Grade(False, None, answer.method, check="theoremqa")
        value = normalize(answer.value, kind)
        if value is None:
            return Grade(False, None, "unparsed", check="theoremqa")
        correct = compare(value, gold, kind)
        return Grade(correct, _shown(value), answer.method, check=f"theoremqa-{kind}")


def typed_gold(raw: str, kind: str = "") -> tuple[Any, str]:
    """The gold as a typed value and its answer type. A dataset item's gold is JSON with its
    type in the tags; a gold given by hand (``cothub.grade("theoremqa", text, "3.14")``) may be
    plain text, and its type is then read off the value."""
    try:
        gold: Any = json.loads(raw)
    except json.JSONDecodeError:
        text = raw.strip()
        if text.lower() in ("true", "false"):
            gold = text.lower() == "true"
        else:
            gold = normalize(text, kind or "option")
            gold = text if gold is None else gold
    if kind:
        return gold, kind
    if isinstance(gold, bool):
        return gold, "bool"
    if isinstance(gold, int):
        return gold, "integer"
    if isinstance(gold, float):
        return gold, "float"
    if isinstance(gold, list):
        whole = all(isinstance(g, int) and not isinstance(g, bool) for g in gold)
        return gold, "list of integer" if whole else "list of float"
    return gold, "option"


def _answer_field(text: str) -> str | None:
    """The value of a structured ``{"answer": ...}`` (an imported answer field), as text."""
    if not text.startswith('{"answer"'):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "answer" not in doc:
        return None
    value = doc["answer"]
    return value if isinstance(value, str) else json.dumps(value)
