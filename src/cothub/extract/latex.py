"""Find the final answer in LaTeX-heavy math text (MATH solutions and model completions).

The answer is the content of the last ``\\boxed{...}``: models are prompted to box their final
answer, and MATH solutions box the reference answer (sometimes after boxing intermediate results).
Only when nothing is boxed do we fall back to an explicit final-answer sentence; we never guess
from the last number, because a MATH answer is an expression, not a number.

Extracted values are returned as written (trimmed, without ``$`` delimiters); normalisation
belongs to :mod:`cothub.scoring.math_equiv`, which needs the raw LaTeX for symbolic parsing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cothub.extract.region import answer_region
from cothub.extract.structured import find_answer_field
from cothub.types import Answer

# ``\boxed`` and ``\fbox`` but not a longer command such as ``\boxedanswer``.
_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")

# "The answer is", "The final answer is", "Final answer:", "Answer:", "answer is:" ...
# "The answer (in simplest form) is", and a heading "## Final Answer" whose value is the next line.
_PHRASE = re.compile(
    r"\b(?:the\s+)?(?:final\s+)?answer(?:[ \t]*\([^()\n]{1,40}\))?[*_]*\s*"
    r"(?:is\b\s*:?|:|(?P<heading>[*_ \t]*$))",
    re.IGNORECASE | re.MULTILINE,
)

# A sentence ends at a period followed by whitespace or the end; "3.5" is not a sentence end.
_SENTENCE_END = re.compile(r"\.(?=\s|$)")

# Math delimiters a final-answer sentence may wrap its value in, longest opener first.
_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 (keeping the last one is the point)
        pass
    return found


def matching_brace(text: str, open_at: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_at``; None when it never closes.

    A backslash escapes the next character, so ``\\{``/``\\}`` (set braces) are not counted and
    ``\\\\{`` (a row break followed by a group) is.
    """
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _trimmed(text: str, start: int, end: int) -> tuple[str, tuple[int, int]]:
    """``text[start:end]`` without surrounding whitespace, with the span of what is kept."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end], (start, end)


def last_boxed(text: str) -> tuple[str, tuple[int, int]] | None:
    """Content and span of the last ``\\boxed{...}`` / ``\\fbox{...}`` (or ``\\boxed x``).

    Returns None when there is no box or when the last one never closes: a completion cut off
    inside its final box has not committed to an answer, and an earlier box is a draft, not it.
    """
    last = _last_match(_BOX, text)
    if last is None:
        return None
    i = last.end()
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] == "{":
        close = matching_brace(text, i)
        if close is None:
            return None
        return _trimmed(text, i + 1, close)
    if i == n:
        return None
    # Space form "\boxed 2$" (also "\boxed\pi"): up to whitespace or the closing "$", as the
    # Hendrycks reference code reads it (two MATH train solutions use it).
    end = i
    while end < n and not text[end].isspace() and text[end] != "$":
        end += 1
    # Sentence punctuation after the token is not part of it ("\boxed 2." -> "2").
    while end > i and text[end - 1] in ".,;":
        end -= 1
    if end == i:
        return None
    return text[i:end], (i, end)


# Between two boxes of one answer: "\boxed{2}, \boxed{3}", "$\boxed{2}$ and $\boxed{3}$".
_BOX_GAP = re.compile(r"[\s$]*(?:[,;][\s$]*)?(?:and\b)?[\s$]*")


def _braced_boxes(text: str) -> list[tuple[int, int, int]]:
    """(start of ``\boxed``, content start, closing brace) of every closed braced box."""
    out = []
    for m in _BOX.finditer(text):
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "{":
            close = matching_brace(text, i)
            if close is not None:
                out.append((m.start(), i + 1, close))
    return out


def _joined_boxes(text: str, value: str, span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """The last box, with the boxes right before it that only commas or "and" separate: the
    solutions of a multi-answer problem boxed one by one ("2, 3"). A box repeated as is stays
    one value."""
    if text.count("boxed") < 2:
        return value, span
    boxes = _braced_boxes(text)
    if not boxes or boxes[-1][2] < span[1]:
        return value, span  # the last box is not braced ("\boxed 2"): alone
    values, start = [value], span[0]
    for (_, prev_open, prev_close), (cur_start, _, _) in zip(
        reversed(boxes[:-1]), reversed(boxes[1:]), strict=True
    ):
        if _BOX_GAP.fullmatch(text, prev_close + 1, cur_start) is None:
            break
        inner, inner_span = _trimmed(text, prev_open, prev_close)
        if not inner:
            break
        values.insert(0, inner)
        start = inner_span[0]
    if len(set(values)) == 1:
        return value, span
    return ", ".join(values), (start, span[1])


def _phrase_value(text: str, start: int) -> tuple[str, tuple[int, int]] | None:
    """The value a final-answer phrase introduces at ``start``; None if it is empty."""
    n = len(text)
    i = start
    while i < n and text[i] in " \t*":  # spaces and markdown bold ("**Answer:** 5")
        i += 1
    for opener, closer in _DELIMS:
        if text.startswith(opener, i):
            close = text.find(closer, i + len(opener))
            if close != -1:
                value, span = _trimmed(text, i + len(opener), close)
                return (value, span) if value else None
            break
    line_end = text.find("\n", i)
    end = n if line_end == -1 else line_end
    stop = _SENTENCE_END.search(text, i, end)
    if stop is not None:
        end = stop.start()
    _, (s, e) = _trimmed(text, i, end)
    # Leftover wrapping: "$5$" split oddly, bold markers, trailing punctuation.
    while s < e and text[s] in "$*":
        s += 1
    while e > s and text[e - 1] in "$*.,;:!":
        e -= 1
    value, span = _trimmed(text, s, e)
    return (value, span) if value else None


# A whole line that is one math expression: "$\\frac{1}{2}$", "$$x=3$$", "\\[ 2\\sqrt3 \\]".
_MATH_LINE = re.compile(
    r"[ \t>*_]*(?:\$\$(?P<dd>[^$]+)\$\$|\$(?P<d>[^$\n]+)\$|\\\[(?P<b>.+?)\\\]|\\\((?P<p>.+?)\\\))"
    r"[ \t*_.]*"
)
_OR_NEXT = re.compile(r"\$?[ \t]*(?:,[ \t]*)?or\b")
_REFUSAL = re.compile(
    r"\b(?:cannot|can['’]t|unable\s+to)\s+(?:be\s+)?(?:determined?|solved?|found)\b"
    r"|\bnot\s+enough\s+information\b|\binsufficient\s+information\b",
    re.IGNORECASE,
)


def _unwrap(value: str, span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """A structured value as a bare expression: ``$..$`` delimiters and a box taken off."""
    a, b = span
    inner = last_boxed(value)
    if inner is not None:
        return inner[0], (a + inner[1][0], a + inner[1][1])
    for opener, closer in _DELIMS:
        if value.startswith(opener) and value.endswith(closer) and len(value) > len(opener) * 2:
            v, (x, y) = _trimmed(value, len(opener), len(value) - len(closer))
            return v, (a + x, a + y)
    return value, (a, b)


_CONCLUDES = re.compile(r"(?:Therefore|Thus|Hence|So|In conclusion|Consequently)\b")
_SENTENCE_OPEN = re.compile(r"(?:\A|\n|[.!?][ \t]+)[ \t*_>#-]*\Z")
_CLOSE_SENTENCE = re.compile(r"\.(?=\s|\Z)|\n")
_LAST_IS = re.compile(r".*\b(?:is|are|equals|be)\s+", re.DOTALL)
_TAIL_VALUE = re.compile(
    r"[ \t]*(?:\$(?P<m>[^$]+)\$|\\\((?P<p>.+?)\\\)|\*\*(?P<b>[^*\n]+?)\*\*"
    r"|(?P<n>-?\d+(?:\.\d+)?))[ \t*.]*"
)
_PLAIN_NUMBER = re.compile(r"(?<![\w.^_{])-?\d+(?:\.\d+)?(?![\w.}])")


def _result(value: str, span: tuple[int, int]) -> tuple[str, tuple[int, int]] | None:
    """A chain "a = b = c" stands for its result c."""
    eq = value.rfind("=")
    if eq >= 0 and "\\begin" not in value:
        value, (a, b) = _trimmed(value, eq + 1, len(value))
        span = (span[0] + a, span[0] + b)
    return (value, span) if value else None


def _tail_value(text: str, start: int, end: int) -> tuple[str, tuple[int, int]] | None:
    """What follows the last "is"/"are"/"equals" of ``text[start:end]`` when that is one number
    or one math expression (bold allowed)."""
    head = _LAST_IS.match(text, start, end)
    if head is None:
        return None
    tail = _TAIL_VALUE.fullmatch(text, head.end(), end)
    if tail is None:
        return None
    group = next(g for g in ("m", "p", "b", "n") if tail.group(g) is not None)
    value, span = _trimmed(text, tail.start(group), tail.end(group))
    return _result(value, span) if value else None


def _sentence_value(text: str, start: int, end: int) -> tuple[str, tuple[int, int]] | None:
    """The value on a line after an answer heading: the line itself when it is short or one
    math expression, else the tail of its sentence (see :func:`_tail_value`)."""
    line = text[start:end].strip()
    if not line:
        return None
    if len(line) <= 40 and len(line.split()) <= 4:
        return _phrase_value(text, start)
    stop = _CLOSE_SENTENCE.search(text, start, end)
    return _tail_value(text, start, stop.start() if stop else end)


def _conclusion(text: str) -> tuple[str, tuple[int, int]] | None:
    """The value of the last "Therefore/Thus/So ..." sentence when nothing is computed after it:
    what follows its last "is" when that is one number or one ``$..$`` expression ("... is
    divided by 7 is 3."), else its only number when it holds no math ("Therefore, it will take
    4 beakers."). The weakest MATH rule, recorded as ``conclusion``."""
    last = None
    for m in _CONCLUDES.finditer(text):
        if _SENTENCE_OPEN.search(text, max(0, m.start() - 8), m.start()):
            last = m
    if last is None:
        return None
    stop = _CLOSE_SENTENCE.search(text, last.end())
    end = stop.start() if stop else len(text)
    after = text[end:]
    if "=" in after or "\\[" in after or "$$" in after or "\\boxed" in after:
        return None
    start = last.start()
    tail = _tail_value(text, start, end)
    if tail is not None:
        return tail
    sentence = text[start:end]
    if "$" in sentence or "\\(" in sentence:
        return None
    nums = list(_PLAIN_NUMBER.finditer(text, start, end))
    if len(nums) != 1:
        return None
    return nums[0].group(), nums[0].span()


def _math_line(text: str) -> tuple[str, tuple[int, int]] | None:
    """The last non-empty line when it is only a math expression."""
    body = text.rstrip()
    start = body.rfind("\n") + 1
    m = _MATH_LINE.fullmatch(body, start)
    if m is None:
        return None
    group = next(g for g in ("dd", "d", "b", "p") if m.group(g) is not None)
    value, span = _trimmed(text, m.start(group), m.end(group))
    return (value, span) if value else None


# A last line that is only an answer, written plainly: "1/2", "5", "(2, 3)", "\\frac{1}{2}",
# "x = 5", "**12**". Optional decoration and one "x =" (a single variable) before it.
_PLAIN_LINE = re.compile(
    r"[ \t>#*_]*(?:(?:final\s+)?answer[ \t]*[:：]?[ \t]*)?"
    r"(?:(?:[A-Za-z]|\\[A-Za-z]+)[ \t]*=[ \t]*)?"
    r"(?P<v>[0-9A-Za-z\\{}()\[\]^_+\-*/.,:|!'√π° \t]+?)[ \t*_.]*",
    re.IGNORECASE,
)
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_TEXT_GROUP = re.compile(r"\\(?:text|mathrm|textbf|operatorname)\{[^{}]*\}")


def _plain_line(text: str) -> tuple[str, tuple[int, int]] | None:
    """The last line when it is a short math expression and nothing else: no sentence (a word
    of three letters outside ``\\text{}``), no equation but one ``x =``, at most 60 characters;
    a reply's final line as harnesses that ask for a bare answer get it."""
    body = text.rstrip()
    start = body.rfind("\n") + 1
    line = body[start:].replace("$", " ")
    m = _PLAIN_LINE.fullmatch(line)
    if m is None or not m.group("v").strip():
        return None
    value = m.group("v").strip().rstrip(".,")
    if len(value) > 60 or "=" in value or _WORD.search(_TEXT_GROUP.sub("", value)):
        return None
    if "\\[" in value or "\\(" in value or value[-1] in "+-*/^_({[\\" or not _balanced(value):
        return None  # a display cut off ("\\[ 4(6) -"), an expression left open
    if not any(c.isdigit() or c in "\\πi" for c in value):
        return None  # "A", "ok": not a value a MATH answer could be
    at = start + m.start("v")
    return value, (at, at + len(value))


def _balanced(value: str) -> bool:
    """Brackets close: braces with braces; ``( [`` with ``) ]`` either way (intervals such as
    ``[-2, 3)``)."""
    braces = round_or_square = 0
    for c in value:
        braces += (c == "{") - (c == "}")
        round_or_square += (c in "([") - (c in ")]")
        if braces < 0 or round_or_square < 0:
            return False
    return braces == 0 and round_or_square == 0


def extract_math_answer(text: str, stops: Sequence[str] = ()) -> Answer:
    """The completion's final answer, searched in its committed-answer region.

    In order: the last box or JSON answer field, whichever comes later (``boxed``, ``json``);
    else the last explicit final-answer phrase (``final-phrase``: "The final answer is",
    "Final answer:", "Answer:"); else a last line that is only a math expression
    (``math-line``, in ``$...$`` or ``\\[...\\]``; ``last-line``, written plainly: ``1/2``,
    ``x = 5``, ``\\frac{1}{2}``, never a sentence, an equation or a cut-off expression). When
    nothing is found: ``none``, ``refusal`` ("cannot be determined"),
    ``unclosed-think``, or ``unclosed-boxed`` / ``empty-boxed`` when the last box is cut off or
    empty (the model failed to commit: we do not fall back to earlier text, which would credit a
    draft), ``json-null`` for an answer field that is null. A phrase naming two values ("$3$ or
    $5$") is a ``hedge``. Spans index ``text``.
    """
    region = answer_region(text, stops)
    if region is None:
        return Answer(None, None, "unclosed-think")
    base = region.start
    found = _math_answer(text[region.start : region.end])
    if found.span is None:
        return found
    return Answer(found.value, (found.span[0] + base, found.span[1] + base), found.method)


def _math_answer(text: str, structured: bool = True) -> Answer:
    field = find_answer_field(text) if structured else None
    box_at = -1
    last = _last_match(_BOX, text)
    if last is not None:
        box_at = last.start()
    if field is not None and (field.span[0] > box_at or field.span[0] <= box_at < field.span[1]):
        if field.value is None:
            return Answer(None, field.span, "json-null")
        value, span = _unwrap(field.value, field.span)
        if field.value != text[field.span[0] : field.span[1]]:
            span = field.span  # decoded escapes: the span is the raw field
        if value and " " in value.strip() and _PHRASE.search(value):
            # A sentence in the field ("The final answer is $\\frac12$"): its stated value.
            inner = _math_answer(value, structured=False)
            if inner.value is not None:
                value = inner.value
        return Answer(value, span, "json") if value else Answer(None, field.span, "json-null")
    boxed = last_boxed(text)
    if boxed is not None:
        value, span = _joined_boxes(text, *boxed)
        if not value:
            return Answer(None, None, "empty-boxed")
        return Answer(value, span, "boxed")
    if last is not None:
        return Answer(None, None, "unclosed-boxed")
    phrase = _last_match(_PHRASE, text)
    if phrase is not None:
        at = phrase.end()
        found = None
        if phrase.group("heading") is not None:
            # "## Final Answer" then the value on the next line: a math expression or a short
            # value as is; a sentence ("The coordinates are **(8, -2)**.") gives its tail.
            nxt = re.compile(r"\s*").match(text, at)
            at = nxt.end() if nxt else at
            eol = text.find("\n", at)
            found = _sentence_value(text, at, len(text) if eol < 0 else eol)
        else:
            found = _phrase_value(text, at)
        if found is not None:
            if _OR_NEXT.match(text, found[1][1]):
                return Answer(None, found[1], "hedge")
            return Answer(found[0], found[1], "final-phrase")
    line = _math_line(text)
    if line is not None:
        return Answer(line[0], line[1], "math-line")
    plain = _plain_line(text)
    if plain is not None:
        return Answer(plain[0], plain[1], "last-line")
    closing = _conclusion(text)
    if closing is not None:
        return Answer(closing[0], closing[1], "conclusion")
    refusal = _last_match(_REFUSAL, text)
    if refusal is not None:
        return Answer(None, (refusal.start(), refusal.end()), "refusal")
    return Answer(None, None, "none")


def gold_from_solution(solution: str) -> str:
    """The reference answer of a MATH solution: its last boxed content, trimmed.

    Raises ValueError when nothing is boxed (every MATH solution boxes its answer, so the input is
    not one). An empty box is returned as ``""``: two train solutions (number_theory 7115, 7117)
    really box nothing, and inventing their answer is not this function's job.
    """
    boxed = last_boxed(solution)
    if boxed is None:
        raise ValueError("MATH solution has no closed \\boxed{...} answer")
    return boxed[0]
