"""Find the number a completion commits to as its final answer (GSM8K-style grading).

Two readings of a completion are produced, because graders in the literature disagree and the
difference is itself worth recording:

* **strict** (:func:`find_final_answer`): only an explicit final-answer marker counts:
  ``\\boxed{..}``, ``#### 18``, an ``A: 18`` line, or a phrase such as "the answer is" /
  "Answer:". When a completion has several, the LAST one wins: a model that revises itself
  ("The answer is 5. Wait... the answer is 6.") has committed to its latest statement.
  Markers that only look like one are skipped: "the answer is not 20", "if the answer is 20",
  "my first answer was 20", "#### Step 3" (a heading), "A: There are 15 trees" (the start of a
  chain of thought), a lowercase "answer:" mid-sentence. After a phrase the answer is the first
  number of its sentence, following an arithmetic chain to its result ("2 * 9 = 18" is 18).
* **lenient** (:func:`find_last_number`): the last number anywhere in the text.

:func:`extract_number` returns the strict reading when there is one, else the lenient one.

Decisions (each is a place where graders silently differ):

* Values are exact rationals (:class:`fractions.Fraction`), never floats. The canonical string is
  a plain decimal when the value terminates (``"18.00"`` -> ``"18"``, ``"3/4"`` -> ``"0.75"``,
  ``"-0"`` -> ``"0"``) and ``"p/q"`` in lowest terms otherwise (``"2/6"`` -> ``"1/3"``).
* Thousands separators are ``,`` between groups of exactly three digits (``1,000,000``; LaTeX
  ``1{,}000`` and ``1\\,000`` too). ``"3, 4 and 5"`` is three numbers. Spaces as thousands
  separators are not supported (``"1 000"`` is two numbers).
* Currency symbols (``$ € £ ¥``, LaTeX ``\\$``) and a trailing ``%`` are dropped: ``25%`` is 25,
  because GSM8K golds write percentages as bare numbers.
* A scale word directly after a number multiplies it: ``1.8 billion`` is 1800000000.
* ``3/4`` and ``\\frac{3}{4}`` are the value 3/4; ``2 3/4`` (a proper fraction after a whole
  number and one space) is the mixed number 11/4. Scientific notation ``1.5e3`` is supported.
* Number words ("The answer is eighteen.") are read ONLY right after a final-answer marker and
  only when they make up the whole answer (optionally one unit word: "eighteen dollars"). Outside
  a marker words are never numbers: "one of them" must not become an answer.
* GSM8K calculator annotations ``<<9*2=18>>`` are blanked out before searching: what counts is
  the number the model wrote after them (``$<<9*2=18>>18``), not the calculator's input.
* Thinking blocks are NOT handled here; the caller strips them (:mod:`cothub.extract.reasoning`).
  Stop sequences (e.g. a base model starting the next ``Q:``) are the caller's job as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from cothub.types import Answer

__all__ = [
    "extract_number",
    "find_final_answer",
    "find_last_number",
    "format_number",
    "normalize_number",
    "parse_number",
]

# --- number tokens -------------------------------------------------------------------------------

# One number token. Alternatives are tried in this order at each position:
#   LaTeX \frac{a}{b} | mixed "2 3/4" | fraction "3/4" | decimal (with thousands separators,
#   leading-point ".5", exponent "1.5e3").
# Digits must not be glued to a preceding word character or point ("CO2", "x2", "1.2.3" -> no
# spurious numbers). A sign counts only when it touches the number and does not follow an operand
# ("16-3" is 3, "x = -3" is -3, "16 - 3" is not "-3"). A currency symbol may sit between sign and
# digits ("-$5"). "12/25/2020" holds no fraction (neither "12/25" nor "25/2020").
# Only ASCII digits count, and no token spans a line break (find_last_number relies on both).
_NUMBER = re.compile(
    r"""
    (?=[-−\\.0-9])  # every token starts with one of these: a cheap test at each position
    (?:(?P<sign>(?<![\w)\]}.])[-−])(?:\\?\$|[€£¥])?)?
    (?:
        \\[dt]?frac\{[ \t]*(?P<ln>[0-9]+(?:\.[0-9]+)?)[ \t]*\}
                   \{[ \t]*(?P<ld>[0-9]+(?:\.[0-9]+)?)[ \t]*\}
      | (?<![\w.])
        (?:
            (?P<mw>[0-9]+)\x20(?P<mn>[0-9]+)/(?P<md>[0-9]+)(?![0-9/])
          | (?<!/)(?P<fn>[0-9]+)/(?P<fd>[0-9]+)(?![0-9/])
          | (?P<dec>
                (?:[0-9]{1,3}(?:(?:,|\{,\}|\\,)[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?
              | \.[0-9]+
            )
            (?P<exp>[eE][-+]?[0-9]{1,3}(?![0-9]))?
        )
    )
    (?:\x20(?P<scale>(?i:hundred|thousand|million|billion|trillion))\b)?
    """,
    re.VERBOSE,  # not IGNORECASE as a whole: it slows every character class down
)
_SEPARATORS = re.compile(r",|\{,\}|\\,")
_SCALES = {
    "hundred": 100,
    "thousand": 10**3,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
}

# GSM8K calculator annotations; an unclosed one at the very end is a truncated completion.
_CALC = re.compile(r"<<[^<>\n]*(?:>>|\Z)")


class _Num(NamedTuple):
    """A number token; its value is computed only when needed (most tokens are skipped)."""

    start: int
    end: int
    m: re.Match[str] | None
    """The ``_NUMBER`` match; None for number words, whose value is ``words``."""
    part: str = ""
    """Group read alone when the token is only part of the match ("2" of "2 12/4"); "" if all."""
    words: int = 0


def _value(n: _Num) -> Fraction:
    """The exact value of a token."""
    m = n.m
    if m is None:
        return Fraction(n.words)
    if n.part:
        v = Fraction(m[n.part])
    elif m["dec"] is not None:
        dec = _SEPARATORS.sub("", m["dec"]) if len(m["dec"]) > 3 else m["dec"]
        # Fraction(int) is several times faster than Fraction(str), and most answers are integers.
        v = (
            Fraction(int(dec))
            if dec.isdigit() and not m["exp"]
            else Fraction(dec + (m["exp"] or ""))
        )
    elif m["fn"] is not None:
        v = Fraction(int(m["fn"]), int(m["fd"]))
    elif m["ln"] is not None:
        v = Fraction(m["ln"]) / Fraction(m["ld"])
    else:
        v = int(m["mw"]) + Fraction(int(m["mn"]), int(m["md"]))
    if m["scale"] is not None and not n.part:
        v *= _SCALES[m["scale"].lower()]
    return -v if m["sign"] else v


def _scan(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[_Num]:
    """Number tokens of ``text[pos:endpos]`` in order."""
    end = len(text) if endpos is None else endpos
    while pos < end:
        m = _NUMBER.search(text, pos, end)
        if m is None:
            return
        if m["dec"] is None:  # the rare kinds, checked only when the common one did not match
            if m["mw"] is not None and not 0 < int(m["mn"]) < int(m["md"]):
                # "2 12/4", "3 0/0": not a mixed number; read the whole part alone, go on after it.
                yield _Num(m.start(), m.end("mw"), m, "mw")
                pos = m.start("mn")
                continue
            if (m["fd"] is not None and not m["fd"].strip("0")) or (
                m["ld"] is not None and not m["ld"].strip("0.")
            ):
                # "3/0": read the numerator alone, go on from the denominator.
                num, den = ("fn", "fd") if m["fn"] is not None else ("ln", "ld")
                yield _Num(m.start(), m.end(num), m, num)
                pos = m.start(den)
                continue
        yield _Num(m.start(), m.end(), m)
        pos = m.end()


def format_number(v: Fraction) -> str:
    """Canonical text of an exact value: terminating decimal if possible, else ``p/q``."""
    if v.denominator == 1:
        return str(v.numerator)
    d, k2, k5 = v.denominator, 0, 0
    while d % 2 == 0:
        d //= 2
        k2 += 1
    while d % 5 == 0:
        d //= 5
        k5 += 1
    if d != 1:
        return f"{v.numerator}/{v.denominator}"
    k = max(k2, k5)
    n = abs(v.numerator) * 10**k // v.denominator
    digits = str(n).rjust(k + 1, "0")
    sign = "-" if v < 0 else ""
    return f"{sign}{digits[:-k]}.{digits[-k:].rstrip('0')}"


# --- number words (only after a final-answer marker) ------------------------------------------

_SMALL_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_SMALL = {w: i for i, w in enumerate(_SMALL_WORDS.split())}
_TENS = {w: 10 * i for i, w in enumerate(_TENS_WORDS.split(), 2)}
_WORD_ALT = "|".join(sorted([*_SMALL, *_TENS, *_SCALES], key=len, reverse=True))
# The whole answer must be the number words, optionally one unit word, then the end of the
# clause: "eighteen dollars." is 18, but "one of them" / "two thirds" / "one more than" are not.
_WORDS = re.compile(
    rf"(?P<neg>(?:minus|negative)\s+)?"
    rf"(?P<words>(?:{_WORD_ALT})(?:(?:\s+and\s+|[\s-]+)(?:{_WORD_ALT}))*)\b"
    r"(?:[ \t]+(?P<unit>[a-z]+))?[ \t]*(?=[.,;!?)*_$}]|\n|\Z)",
    re.IGNORECASE,
)
_NOT_UNIT_WORDS = (
    "more less fewer than times of plus minus over and or to in out per by divided multiplied "
    "half halves third thirds quarter quarters fourth fourths fifth fifths sixth sixths seventh "
    "sevenths eighth eighths ninth ninths tenth tenths hundredth hundredths thousandth thousandths"
)
_NOT_UNITS = frozenset(_NOT_UNIT_WORDS.split())
# What may follow a whole-string number-word answer in parse_number: one unit word, punctuation.
_WORDS_REST = re.compile(r"\s*(?:[a-z]+)?[\s.!*_$}]*", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"(?:\s+and\s+|[\s-]+)", re.IGNORECASE)


def _words_value(words: str) -> int | None:
    """Value of a number-word sequence, or None if it is not a well-formed number."""
    total = current = 0
    prev = ""  # "small" (0-19), "tens", "scale"
    for w in _WORD_SPLIT.split(words.lower()):
        if w in _SMALL:
            if prev == "small" or (prev == "tens" and _SMALL[w] >= 10):
                return None  # "five two", "twenty eleven"
            current += _SMALL[w]
            prev = "small"
        elif w in _TENS:
            if prev in ("small", "tens"):
                return None
            current += _TENS[w]
            prev = "tens"
        else:
            scale = _SCALES[w]
            if prev == "" or (prev == "scale" and scale != 100 and current == 0):
                return None
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += current * scale
                current = 0
            prev = "scale"
    return total + current


def _word_number(text: str, pos: int, endpos: int) -> _Num | None:
    m = _WORDS.match(text, pos, endpos)
    if m is None or (m["unit"] is not None and m["unit"].lower() in _NOT_UNITS):
        return None
    v = _words_value(m["words"])
    if v is None:
        return None
    return _Num(m.start(), m.end("words"), None, words=-v if m["neg"] else v)


# --- final-answer markers ----------------------------------------------------------------------

# "the answer is (would be, will be, should be)", "the answer to the question is", and the label
# forms "Answer:", "Final answer:", "**Answer:**", "answer = " at the start of a line. A lowercase
# "answer:" inside a sentence ("Let me answer: first, 16 - 3 = 13") is no label, so the label form
# needs a capital, a preceding "final", or the start of a line.
# "is not" is excluded: "the answer is not 20" commits to nothing. Plural "answers are" is a list.
# Past tense is excluded: "my first answer was 5, but ..." reports a rejected answer.
# The regex is matched only where str.find locates "answer": scanning the whole text with a
# case-insensitive regex costs ~70 ns a character.
_PHRASE = re.compile(
    r"""
    answer\b(?:\s+to\s+(?:the|this|that|our)\s+(?:question|problem))?
    [*_]{0,2}\s*
    (?:
        (?:is|would\s+be|will\s+be|should\s+be)\b(?!\s+not\b)(?:\s*:)?
      | (?P<label>[:=])
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)
_FINAL_BEFORE = re.compile(r"\bfinal\s+\Z", re.IGNORECASE)
_LINE_START_BEFORE = re.compile(r"(?:\A|\n)[ \t>#*_]*\Z")
# A phrase right after one of these is a hypothesis being tested, not a commitment:
# "if the answer is 20, then 20 * 2 = 40, too many".
_HYPOTHESIS = re.compile(
    r"\b(?:if|suppose|supposing|assume|assuming|whether|unless)\s+(?:(?:the|my|our|final)\s+)*\Z",
    re.IGNORECASE,
)
# GSM8K reference style "#### 18" and GSM8K-paper solution style "A: 18" (own line). These are
# only trusted when the number is all that follows (plus at most one unit word): "#### Step 3"
# is a markdown heading and "A: There are 15 trees" starts a chain of thought, not an answer.
_HASHES = re.compile(r"####[ \t]*")
_A_LINE = re.compile(r"^[ \t]*(?:\*\*)?A ?:(?:\*\*)?[ \t]*", re.MULTILINE)
_LINE_TAIL = re.compile(r"(?:\\?%|\$)?(?:[ \t]*[^\W\d_]+)?[ \t*.\r]*$", re.MULTILINE)
# \boxed{...} with up to two levels of nested braces (\frac{3}{4}, 1{,}000, \text{\$}).
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
# What may sit between a marker and its number: markup, currency, math delimiters.
# A lone backslash is not skipped: it may open \frac.
_LEAD = re.compile(r"(?:[\s*_$€£¥({\[]|\\[$(\[])*")
_LEAD_INLINE = re.compile(r"(?:[ \t*_$€£¥({\[]|\\[$(\[])*")
# A phrase's answer ends at the end of its line or sentence (a point that ends a number like
# "18.5" is not followed by a space, so it does not end the sentence).
_CLAUSE_END = re.compile(r"\n|[.!?](?=[\s*_]|\Z)")
# An arithmetic continuation ending in "=": "2 * 9 = 18" answers 18, not 2. At least one
# operator is required so that "18 = 9 * 2" still answers 18.
_OPERAND = r"[-−]?(?:\\?\$|[€£])?\d[\d,]*(?:\.\d+)?(?:\\?%)?"
_CHAIN = re.compile(
    rf"(?:[ \t]*\)*[ \t]*(?:[-+*/×÷x^]|\\times|\\cdot|\\div)[ \t]*\(*[ \t]*{_OPERAND})+"
    r"[ \t]*\)*[ \t]*=[ \t]*(?:\\?\$|[€£])?[ \t]*"
)


def _first_number(text: str, pos: int, endpos: int) -> _Num | None:
    """The answer a marker introduces: number words at its start, else its first number."""
    lead = _LEAD.match(text, pos, endpos)
    start = lead.end() if lead else pos
    words = _word_number(text, start, endpos)
    if words is not None:
        return words
    num = next(_scan(text, start, endpos), None)
    while num is not None:
        chain = _CHAIN.match(text, num.end, endpos)
        if chain is None:
            break
        nxt = next(_scan(text, chain.end(), endpos), None)
        if nxt is None or nxt.start != chain.end():
            break
        num = nxt
    return num


def _line_number(text: str, pos: int) -> _Num | None:
    """The number after ``####`` / ``A:`` when it is all that the line holds."""
    lead = _LEAD_INLINE.match(text, pos)
    start = lead.end() if lead else pos
    eol = text.find("\n", start)
    eol = len(text) if eol < 0 else eol
    num = _word_number(text, start, eol) or next(_scan(text, start, eol), None)
    if num is None or num.start != start or not _LINE_TAIL.match(text, num.end):
        return None
    return num


# ASCII-only lowering keeps offsets ("İ".lower() is two characters).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _phrases(text: str) -> Iterator[re.Match[str]]:
    """Final-answer phrases, minus labels that are no labels and hypotheses being tested."""
    lower = text.translate(_ASCII_LOWER)
    pos = lower.find("answer")
    while pos >= 0:
        m = _PHRASE.match(text, pos) if pos == 0 or not lower[pos - 1].isalnum() else None
        if (
            m is not None
            and (
                not m["label"]
                or text[pos] == "A"
                or _FINAL_BEFORE.search(text, max(0, pos - 20), pos)
                or _LINE_START_BEFORE.search(text, max(0, pos - 20), pos)
            )
            and not _HYPOTHESIS.search(text, max(0, pos - 40), pos)
        ):
            yield m
        pos = lower.find("answer", pos + 6)


def _candidates(text: str) -> Iterator[tuple[_Num, str]]:
    # Substring tests first: each costs far less than running the regex over the whole text.
    if "box" in text:
        for m in _BOXED.finditer(text):
            num = _first_number(text, m.start(1), m.end(1))
            if num is not None:
                yield num, "boxed"
    if "####" in text:
        for m in _HASHES.finditer(text):
            num = _line_number(text, m.end())
            if num is not None:
                yield num, "hashes"
    if "A:" in text or "A :" in text:
        for m in _A_LINE.finditer(text):
            num = _line_number(text, m.end())
            if num is not None:
                yield num, "final-phrase"
    for m in _phrases(text):
        lead = _LEAD.match(text, m.end())
        start = lead.end() if lead else m.end()
        if "\n" in text[m.end() : start]:
            # "Answer:\n\n**18**" is an answer; "answer:\n\n1. Janet's ducks..." starts a list.
            num = _line_number(text, start)
        else:
            clause = _CLAUSE_END.search(text, start)
            num = _first_number(text, start, clause.start() if clause else len(text))
        if num is not None:
            yield num, "final-phrase"


def _mask(text: str) -> str:
    """Blank calculator annotations, keeping offsets (spans must index the caller's text)."""
    if "<<" not in text:
        return text
    return _CALC.sub(lambda m: " " * len(m.group()), text)


def _answer(num: _Num, method: str) -> Answer:
    return Answer(value=format_number(_value(num)), span=(num.start, num.end), method=method)


_NONE = Answer(value=None, span=None, method="none")


def find_final_answer(text: str) -> Answer:
    """The strict reading: the last explicit final-answer marker's number, or ``none``."""
    masked = _mask(text)
    best: tuple[_Num, str] | None = None
    for cand in _candidates(masked):
        # Last in the text wins; at the same position a more specific rule (listed first) stays.
        if best is None or cand[0].start > best[0].start:
            best = cand
    if best is None:
        return _NONE
    return _answer(*best)


def _safe_start(text: str, i: int) -> int:
    """A position at or before ``i`` that no number token straddles.

    Tokens hold no line break, and hold a space or tab only right after a digit ("2 3/4",
    "5 million"), a brace or another space (``\\frac{ 3 }{4}``). So a line start, or a position
    after a space or tab that follows any other character, starts a fresh scan exactly as a scan
    from the beginning of the text would reach it.
    """
    while True:
        j = max(text.rfind(" ", 0, i), text.rfind("\t", 0, i), text.rfind("\n", 0, i))
        if j <= 0 or text[j] == "\n" or text[j - 1] not in "0123456789{} \t":
            return j + 1
        i = j


def find_last_number(text: str) -> Answer:
    """The lenient reading: the last number token anywhere in the text, or ``none``."""
    masked = _mask(text)
    last: _Num | None = None
    # Scan only from a safe point before the last digit: the last token is almost always there,
    # and completions can be long. If those digits form no token ("CO2"), scan all that precedes.
    digit = max(masked.rfind(d) for d in "0123456789")
    if digit < 0:
        return _NONE
    start = _safe_start(masked, digit)
    for num in _scan(masked, start):
        last = num
    if last is None:
        for num in _scan(masked, 0, start):
            last = num
    return _NONE if last is None else _answer(last, "last-number")


def extract_number(text: str) -> Answer:
    """The model's final committed number: the last final-answer marker, else the last number.

    ``span`` indexes ``text``; ``method`` names the rule (``boxed``, ``hashes``, ``final-phrase``,
    ``last-number``) or is ``none`` when the text holds no number at all.
    """
    strict = find_final_answer(text)
    return strict if strict.value is not None else find_last_number(text)


@lru_cache(maxsize=8192)
def parse_number(s: str) -> Fraction | None:
    """The exact value of the ONE number written in ``s``; None if it holds none or several.

    Currency, units, ``%`` and thousands separators around/inside the number are allowed
    (``"$2,125.00"``, ``"18 dollars"``); a string that is only number words is read as words.
    Cached: golds are parsed again for every completion graded against them.
    """
    masked = _mask(s)
    nums = _scan(masked)
    first = next(nums, None)
    if first is None:
        lead = _LEAD.match(masked)
        words = _word_number(masked, lead.end() if lead else 0, len(masked))
        if words is None or not _WORDS_REST.fullmatch(masked, words.end):
            return None
        return _value(words)
    if next(nums, None) is not None:
        return None
    return _value(first)


def normalize_number(s: str) -> str | None:
    """Canonical text of the one number in ``s`` (see :func:`format_number`); None if not one."""
    v = parse_number(s)
    return None if v is None else format_number(v)
