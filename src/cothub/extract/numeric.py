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
Graders use :func:`committed_number`, which reads the answer as a careful human does: in the
committed-answer region only (:mod:`cothub.extract.region`), a JSON answer field first, then the
strict reading, an answer in bold, a closing "Therefore ..." sentence, and the last number only
as the weakest fallback (its own method, ``last-number``, whose rate runs warn about). Refusals,
hedges, two quantities and repetition loops are no answer (``value`` None, a method saying why).

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
* A clock time ``4:30 pm`` / ``16:00`` is one token worth its hours (4.5, 16), not 4 and 30;
  a ratio ``3:2`` (one digit after the colon) stays two numbers.
* Thinking blocks, stop sequences and invented continuations are not handled by the strict and
  lenient readers; :func:`committed_number` handles them through the answer region.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from cothub.extract.correction import CORRECTION, may_correct
from cothub.extract.region import answer_region, ends_in_loop
from cothub.extract.structured import find_answer_field
from cothub.types import Answer

__all__ = [
    "committed_number",
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
            # A clock time "4:30 pm", "2:00", "16:00" is one token (not "4" and "30"); a ratio
            # "3:2" (one digit after the colon) is two numbers.
            (?P<hh>[01]?[0-9]|2[0-3]):(?P<mm>[0-5][0-9])(?![0-9:])
          |
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
    elif m["hh"] is not None:
        v = int(m["hh"]) + Fraction(int(m["mm"]), 60)  # hours: "2:00 pm" is 2, "4:30" is 4.5
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
        if m["dec"] is None and m["hh"] is None:  # the rare kinds, checked only when needed
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
    (?:[ \t]*\([^()\n]{1,40}\))?  # "the answer (arabic numerals) is 18"
    (?:\s+(?:in|as)\s+(?:[a-z]+\s+){0,2}?(?:numerals?|digits?|numbers?|form|words?|dollars?|total|case|cents)\b)?
    [*_]{0,2}\s*
    (?:
        (?:is|(?P<cond>would|will|should)\s+be)\b(?!\s+not\b)(?:\s*:)?
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
_ANSWER_HEADING = re.compile(
    r"^[ \t#>*_]*(?:(?:the\s+)?final\s+)?answer[ \t*_:]*$", re.IGNORECASE | re.MULTILINE
)
_NEXT_LINE = re.compile(r"\s*\n[ \t>*_]*(?=\S)")
# "Note: had she sold 20, the answer would be 40": a "would be" in a conditional is no answer.
_CONDITION = re.compile(r"\b(?:if|had|were|otherwise|instead|unless)\b", re.IGNORECASE)
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
_CLAUSE_END = re.compile(r"\n|(?<!i\.e)(?<!e\.g)[.!?](?=[\s*_]|\Z)")
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


class _Commit(NamedTuple):
    """An explicit final-answer statement and the number it introduces."""

    num: _Num
    method: str
    strong: bool
    """A label or a final marker ("Final answer:", "Answer:", ``####``, ``\\boxed``, an ``A:``
    line): it outranks a plain "the answer is" anywhere after it (notes, "would be" asides)."""
    clause_end: int
    """Where the statement's sentence (or box) ends: the number is read within it."""


def _candidates(text: str) -> Iterator[_Commit]:
    # Substring tests first: each costs far less than running the regex over the whole text.
    if "box" in text:
        for m in _BOXED.finditer(text):
            num = _first_number(text, m.start(1), m.end(1))
            if num is not None:
                yield _Commit(num, "boxed", True, m.end(1))
    if "####" in text:
        for m in _HASHES.finditer(text):
            num = _line_number(text, m.end())
            if num is not None:
                yield _Commit(num, "hashes", True, num.end)
    if "A:" in text or "A :" in text:
        for m in _A_LINE.finditer(text):
            num = _line_number(text, m.end())
            if num is not None:
                yield _Commit(num, "final-phrase", True, num.end)
    if "nswer" in text or "NSWER" in text:
        for m in _ANSWER_HEADING.finditer(text):
            # "**Final Answer**" on its own line, the answer on the next: its first sentence.
            nxt = _NEXT_LINE.match(text, m.end())
            if nxt is None:
                continue
            clause = _CLAUSE_END.search(text, nxt.end())
            end = clause.start() if clause else len(text)
            num = _first_number(text, nxt.end(), end)
            if num is not None:
                yield _Commit(num, "final-phrase", True, end)
    if may_correct(text.lower()):
        for m in CORRECTION.finditer(text):
            # Only a bare corrected value: one number, no computation, in its sentence.
            stop = _SENTENCE.search(text, m.end())
            end = stop.start() if stop else len(text)
            nums = list(_scan(text, m.end(), end))
            if len(nums) == 1 and not any(c in text[m.end() : end] for c in "=+*×/"):
                yield _Commit(nums[0], "correction", True, end)
    for m in _phrases(text):
        lead = _LEAD.match(text, m.end())
        start = lead.end() if lead else m.end()
        strong = bool(m["label"]) or _FINAL_BEFORE.search(text, max(0, m.start() - 20), m.start())
        if "\n" in text[m.end() : start]:
            # "Answer:\n\n**18**" is an answer; "answer:\n\n1. Janet's ducks..." starts a list.
            num = _line_number(text, start)
            end = num.end if num is not None else start
        else:
            clause = _CLAUSE_END.search(text, start)
            end = clause.start() if clause else len(text)
            num = _first_number(text, start, end)
        if num is not None and not (
            m["cond"] and _CONDITION.search(text, max(0, m.start() - 60), end)
        ):
            yield _Commit(num, "final-phrase", bool(strong), end)


def _best_commit(text: str) -> _Commit | None:
    """The committed statement: the last one in the text (a revision is the latest word); at
    the same position a more specific rule (listed first) stays."""
    best: _Commit | None = None
    for cand in _candidates(text):
        if best is None or cand.num.start > best.num.start:
            best = cand
    return best


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
    best = _best_commit(_mask(text))
    if best is None:
        return _NONE
    return _answer(best.num, best.method)


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


# --- the committed answer: one precedence over the answer region -------------------------------

# Refusals: a reply that declares the question unanswerable has no answer, whatever numbers its
# reasoning holds.
_REFUSAL = re.compile(
    r"\b(?:cannot|can\s?not|can['’]t|could\s+not|couldn['’]t|unable\s+to|impossible\s+to|"
    r"not\s+possible\s+to|no\s+way\s+to)\s+(?:be\s+)?(?:uniquely\s+|exactly\s+|definitively\s+)?"
    r"(?:determined?|calculated?|computed?|answered?|solved?|known|found|say|tell)\b"
    r"|\bnot\s+enough\s+(?:information|data|info)\b|\binsufficient\s+(?:information|data)\b"
    r"|\b(?:information|data)\s+(?:is|are)\s+(?:missing|insufficient|incomplete|not\s+"
    r"(?:given|provided|enough|sufficient))\b|\bdoes\s+not\s+(?:provide|give|contain)\s+enough\b"
    r"|\b(?:the\s+)?(?:question|problem)\s+is\s+(?:ambiguous|unanswerable|ill-posed)\b",
    re.IGNORECASE,
)
_DEPENDS = re.compile(r"\b(?:depending\s+on|depends\s+on|either)\b", re.IGNORECASE)
# Between two numbers of one statement: "30 or 32" (a hedge), "5 apples and 3 oranges" (two
# quantities). ``unit`` is an optional word after the first number.
_OR_BETWEEN = re.compile(
    r"[ \t]*(?:\\?%|(?P<unit>[A-Za-z]+))?[ \t]*,?[ \t]*or[ \t]+"
    r"(?:maybe[ \t]+|perhaps[ \t]+|possibly[ \t]+)?(?:\\?\$|[€£])?[ \t]*\Z"
)
_AND_BETWEEN = re.compile(
    r"[ \t]*(?P<unit>[A-Za-z]+)(?:[ \t]+[A-Za-z]+)?[ \t]*,?[ \t]*and[ \t]+(?:\\?\$|[€£])?[ \t]*\Z"
)
_UNIT_AFTER = re.compile(r"[ \t]*(\\?%|[A-Za-z]+)")
_OPERATOR_AFTER = re.compile(r"[ \t]*\)*[ \t]*(?:[-+*/×÷x^]|\\times|\\cdot|\\div)[ \t]*\(*[ \t]*\d")
_COMPUTATION = re.compile(r"[-+*/×÷]|\\times|\\cdot|\\div|\bx\b")
_EQUALS_LEAD = re.compile(r"[ \t]*(?:\\?\$|[€£¥]|\*\*|__)?[ \t]*")
# Bold spans "**$18**" / "__18__"; headings such as "**Step 3:**" are not answers.
_BOLD = re.compile(r"\*\*(?P<a>[^*\n]{1,80}?)\*\*|(?<!\w)__(?P<b>[^_\n]{1,80}?)__(?!\w)")
_BOLD_HEADING = re.compile(
    r"\s*(?:step|part|case|method|option|question|problem|note|example|day|week|year|round)\b"
    r"|.*:\s*\Z",
    re.IGNORECASE,
)
# A closing sentence: "Therefore, she needs 7 trips to carry 84 boxes."
_CONCLUSION = re.compile(
    r"(?:\A|(?<=[.!?:]\s)|(?<=\n))[ \t*_>#-]*"
    r"(?:Therefore|Thus|So|Hence|In\s+total|Overall|In\s+conclusion|Finally|Altogether|"
    r"This\s+means|That\s+means|Consequently|In\s+all|All\s+in\s+all)\b"
)
# A section written after the answer: a list of key steps, a summary, a check, a note.
_TRAILING_NOTES = re.compile(
    r"\n[ \t]*(?:[*_#>]+[ \t]*)?(?:Key\s+steps|Steps|Summary|Explanation|Notes?|Verification|"
    r"Check|Breakdown|Reasoning|Work|Calculation)\b[^\n]{0,30}?:?[ \t*_]*(?=\n)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[.!?](?=\s|\Z)|\n")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_SHORT_FIRST_PARAGRAPH = 120


def _unit(text: str, num: _Num) -> str:
    m = _UNIT_AFTER.match(text, num.end)
    return m.group(1).lower() if m and m.group(1).lower() not in _NOT_UNITS else ""


def _percent(text: str, num: _Num) -> bool:
    return text.startswith("%", num.end) or text.startswith("\\%", num.end)


def _read_statement(
    text: str, first: _Num, end: int, method: str, equals: str = "strict"
) -> Answer:
    """The answer a committed statement gives, read like a careful human reads it.

    ``first`` is the statement's first number and ``end`` where the statement ends. The result
    of a computation is the number after its last "=" ("84 boxes / 12 = 7" is 7); a hedge
    ("30 or 32", "depending on ...") and two quantities where one is asked ("5 apples and 3
    oranges") are no answer; a percentage restated as a fraction ("0.25, i.e. 25%") is the
    percentage (GSM8K golds write percentages as bare numbers). ``equals`` ``loose`` takes the
    value after the last "=" of a closing sentence even when words or commas come between.
    """
    nums = list(_scan(text, first.end, end))
    if not nums:
        return _answer(first, method)
    if _DEPENDS.search(text, first.start, end):
        return Answer(None, (first.start, end), "hedge")
    num = first
    second = nums[0]
    between = text[first.end : second.start]
    v1, v2 = _value(first), _value(second)
    if v1 != v2 and not (v1 * 100 == v2 or v2 * 100 == v1):
        m = _OR_BETWEEN.search(between)
        if m is not None and _OR_BETWEEN.fullmatch(between) is not None:
            u1, u2 = (m["unit"] or "").lower(), _unit(text, second)
            if not (u1 and u2 and u1 != u2):  # "18 dollars or 1800 cents" restates, no hedge
                return Answer(None, (first.start, second.end), "hedge")
        m = _AND_BETWEEN.fullmatch(between)
        if m is not None:
            u1, u2 = m["unit"].lower(), _unit(text, second)
            if u1 in ("dollar", "dollars") and u2 in ("cent", "cents"):
                # "18 dollars and 50 cents" is one amount.
                value = format_number(v1 + v2 / 100)
                return Answer(value, (first.start, second.end), method)
            if u1 not in _NOT_UNITS and u2 and u2 != u1:
                return Answer(None, (first.start, second.end), "several")
    # "0.25, which is 25%": the percentage.
    if not _percent(text, first):
        for other in nums:
            if _percent(text, other) and _value(other) == v1 * 100 and v1 != 0:
                return _answer(other, method)
    # The result of a computation that starts at the answer: the value after the last "=".
    eq = text.rfind("=", first.end, end)
    if eq >= 0:
        before = text[first.end : eq]
        computed = _COMPUTATION.search(before) is not None
        if equals == "loose" or (
            computed and not re.search(r"[,;(]|\b(?:where|since|because|as|if|when)\b", before)
        ):
            lead = _EQUALS_LEAD.match(text, eq + 1, end)
            at = lead.end() if lead else eq + 1
            after = next(_scan(text, at, end), None)
            if (
                after is not None
                and after.start == at
                and not _OPERATOR_AFTER.match(text, after.end)
            ):
                num = after
    return _answer(num, method)


def _bold_answer(text: str) -> Answer | None:
    """An answer in bold: the only number of a short first paragraph ("**18**" before the
    explanation), or the last bold number of the closing paragraph with no computation after."""
    if "**" not in text and "__" not in text:
        return None
    found = []
    for m in _BOLD.finditer(text):
        group = "a" if m.group("a") is not None else "b"
        inner = m.group(group)
        if _BOLD_HEADING.match(inner) or text.startswith(":", m.end()):
            continue
        num = next(_scan(text, m.start(group), m.end(group)), None)
        if num is not None:
            found.append((m, group, num))
    if not found:
        return None
    body = text.lstrip()
    lead = len(text) - len(body)
    para = _PARAGRAPH.search(text, lead)
    first_end = para.start() if para else len(text)
    m, group, num = found[0]
    if (
        first_end - lead <= _SHORT_FIRST_PARAGRAPH
        and m.end() <= first_end
        and "=" not in text[lead:first_end]
        and (
            (len(found) == 1 and first_end < len(text.rstrip()))
            or sum(1 for _ in _scan(text, lead, first_end))
            == sum(1 for _ in _scan(text, m.start(group), m.end(group)))
        )
    ):
        # Answer first: "Janet makes **$18** a day." before the explanation.
        return _read_statement(text, num, m.end(group), "bold")
    m, group, num = found[-1]
    rest = text[m.end() :]
    if "=" in rest or (_PARAGRAPH.search(text, m.end()) and any(True for _ in _scan(rest))):
        return None
    return _read_statement(text, num, m.end(group), "bold")


def _conclusion_answer(text: str) -> Answer | None:
    """The last closing sentence that holds a number, when no computation follows it."""
    last = None
    for m in _CONCLUSION.finditer(text):
        stop = _SENTENCE.search(text, m.end())
        end = stop.start() if stop else len(text)
        num = next(_scan(text, m.end(), end), None)
        if num is not None:
            last = (num, end)
    if last is None:
        return None
    num, end = last
    if "=" in text[end:]:
        return None
    return _read_statement(text, num, end, "conclusion", equals="loose")


def _last_sentence_hedge(text: str, num: _Num) -> bool:
    start = max(text.rfind(".", 0, num.start), text.rfind("\n", 0, num.start)) + 1
    stop = _SENTENCE.search(text, num.end)
    end = stop.start() if stop else len(text)
    first = next(_scan(text, start, end), None)
    if first is None:
        return False
    return _read_statement(text, first, end, "last-number").method == "hedge"


# After a number: a sentence or line break followed by more words (the reasoning went on).
_SENTENCE_AFTER = re.compile(r"[.!?;](?=\s)\s*[^\W\d_]|\n\s*[^\W\d_]")


def committed_number(text: str, stops: Sequence[str] = ()) -> Answer:
    """The number a completion commits to, read as a careful human grader reads it.

    Searched in the committed-answer region (:mod:`cothub.extract.region`: thinking, invented
    continuations, restarts and ``stops`` removed). In order, the first rule that applies
    decides, and ``method`` names it:

    ``json``          an answer field of a JSON object (``{"answer": 18}``);
    ``boxed`` / ``hashes`` / ``final-phrase``   the last explicit final-answer marker;
    ``bold``          an answer in bold (see :func:`_bold_answer`);
    ``conclusion``    the last "Therefore/So/Thus ..." sentence holding a number;
    ``last-number``   the weakest fallback: the last number of the region.

    Non-answers have ``value`` None and say why: ``refusal`` ("cannot be determined", "not
    enough information"), ``hedge`` ("30 or 32, depending on ..."), ``several`` (two
    quantities where one is asked), ``repetition`` (a degenerate loop and no committed
    answer), ``unclosed-think``, ``json-null``, ``none`` (no number at all). They are graded
    wrong and counted as unparsed: never credited through a number of the reasoning.
    ``span`` indexes ``text``.
    """
    region = answer_region(text, stops)
    if region is None:
        return Answer(None, None, "unclosed-think")
    base = region.start
    sub = _mask(text[region.start : region.end])
    ans = _committed(sub)
    if (
        ans.method == "last-number"
        and ans.span is not None
        and region.cut in ("continuation", "restart")
        and _SENTENCE_AFTER.search(sub, ans.span[1]) is not None
    ):
        # The model went on to a new question (or started over) as if a stop sequence had
        # fired: its last number counts as it would in a reply that ended there, when it
        # closes the reply ("... 9 * 2 = 18 dollars."). One followed by further reasoning
        # with no number ("16 - 3 = 13. Then we need ...") is a solution left unfinished.
        return Answer(None, None, "cut-unanswered")
    if ans.span is None:
        return ans
    return Answer(ans.value, (ans.span[0] + base, ans.span[1] + base), ans.method)


def _committed(s: str) -> Answer:
    field = find_answer_field(s)
    if field is not None:
        if field.value is None:
            return Answer(None, field.span, "json-null")
        a, b = field.span
        num = _first_number(s, a, b)
        if num is None:
            return Answer(None, field.span, "json-unparsed")
        return _read_statement(s, num, b, "json")
    best = _best_commit(s)
    if best is not None:
        return _read_statement(s, best.num, best.clause_end, best.method)
    refusal = None
    for refusal in _REFUSAL.finditer(s):  # noqa: B007 (the last one is wanted)
        pass
    if refusal is not None:
        # A refusal is the reply's word when no computation or conclusion follows its sentence
        # ("We cannot determine x directly. ... 3 + 4 = 7. So she has 7." goes on to answer).
        stop = _SENTENCE.search(s, refusal.end())
        after = s[stop.end() :] if stop else ""
        if "=" not in after and _CONCLUSION.search(after) is None:
            return Answer(None, (refusal.start(), refusal.end()), "refusal")
    if ends_in_loop(s):
        return Answer(None, None, "repetition")
    notes = _TRAILING_NOTES.search(s)
    if notes is not None and s[: notes.start()].strip():
        # "So she makes $18.\n\nKey steps:\n1. ..." : the answer comes before the notes.
        for rule in (_bold_answer, _conclusion_answer):
            found = rule(s[: notes.start()])
            if found is not None:
                return found
    for rule in (_bold_answer, _conclusion_answer):
        found = rule(s)
        if found is not None:
            return found
    last = find_last_number(s)
    if last.span is not None:
        n = next(_scan(s, last.span[0], last.span[1]), None)
        if n is not None and _last_sentence_hedge(s, n):
            return Answer(None, last.span, "hedge")
    return last


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
