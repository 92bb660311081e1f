"""Answer extraction for multiple-choice and short-form targets (BBH, MMLU).

Every extractor returns an :class:`~cothub.types.Answer` whose ``value`` is already in the gold's
canonical form (``(B)``, ``Yes``, ``-12``, ``) ] >``, ``apple banana``), so grading is string
equality. ``span`` indexes the completion exactly as it was passed in.

**Where the answer is looked for, in this order.** Only the committed-answer region is searched
(:func:`cothub.extract.region.answer_region`, shared by every task): a thinking block goes (an
unclosed one means no answer: ``method="unclosed-think"``), and so does everything from an
invented continuation (a new ``Q:``/``Question:``/``Problem:`` turn, a chat-template token) or a
restart of the solution. Then:

0. ``json``: an answer field of a JSON object (``{"answer": "(B)"}``) counts as a committing
   phrase, ranked with them by position.

1. ``final-phrase``/``label``/``heading``/``boxed``/``choose``/``is-correct``: the **last**
   committing phrase, by position: "the answer is", "the correct option is", "Answer:", an
   ``Answer`` heading, ``\\boxed{..}``, "I choose", "the sorted list is:"; "(B) is correct"
   only when none of those commits.
   A revision ("The answer is (A). Wait, actually the answer is (C).") is therefore judged on
   its final answer. A phrase followed by no parseable answer is skipped in favour of an earlier
   one ("the answer is not (A)") unless it is on the last line: "So the answer is (None of the
   above)." is the model's final word and means no answer (``method="unparsed"``). A phrase
   naming several options ("(A) or (B)", "either (A) or (B)", "Saturday or Sunday") is not a
   committed answer: ``value=None``, ``method="ambiguous"``, even if an earlier phrase
   committed (hedging last withdraws it).
   When no answer phrase commits, the weaker forms decide, last first: "(B) is correct" / "D is
   correct" (``is-correct``), "..., which is option (E)" (``which-is``), "Therefore D."
   (``conclusion``), "The expression evaluates to **False**" (``evaluates``), each only when
   the answer is all its sentence says. A closing phrase that names no option right after one
   that did, in the same paragraph ("The answer is (C). The answer is 272.8 K."), restates it.
2. ``bare``: the whole reply is just an answer (direct prompting, terse chat replies), allowing
   decoration: ``**(B)**``, `` `B` ``, ``b)``, ``B.``, ``-12``, ``yes``.
3. ``last-line``: the last non-empty line is just an answer (chat replies ending ``**(B)**``).
4. ``first-line``/``leading``: the first line is just an answer, or opens with an answer word
   and punctuation ("Yes, it is plausible.") or an explicit option marker (``(B) because ...``,
   ``B. Saturday``) while no other option is listed at a line start later (an option-by-option
   analysis is not a commitment).

Steps 3 and 4 are skipped for word lists and free text, where any line of prose would parse.
There is deliberately no "last option mentioned anywhere" fallback: a truncated chain of thought
commits to nothing, and counting its last stray token would credit guesses (on the Codex BBH
outputs such a fallback would change published verdicts).

**Option text instead of the letter.** When the question's options are known (BBH
``Options:\\n(A) ...`` lines, MMLU ``A. ...`` lines or inline ``(A) .. (B) ..``) and the
committed text carries no letter, it is mapped to a letter if exactly one option's text matches
it: whole-text equality (case-insensitive, whitespace and trailing period ignored), else the
longest option text that begins the answer followed by a word boundary ("Saturday, because").
Several options with that same text (BBH has such broken items) map to nothing. A letter,
when present, always wins over text ("(B) Sunday" is ``(B)`` even if (B) reads Saturday).

**Gold targets that are not letters.** Three BBH items of multiple-choice tasks have a gold that
is not an option letter, because upstream split an option at its commas: movie_recommendation
#163 (``Monsters, Inc``) and ruin_names #99 (``dearth, wind, & fire``) and #144 (``rita, sue
and bob poo``). They are graded by exact string equality between the gold and the committed text
(after the same normalisation: surrounding whitespace, markdown and quotes, and one trailing
period removed). No letter is mapped to text for them, so they can be correct only if the model
writes that exact text; this matches the published Codex scoring, under which all three count
as wrong for both CoT and answer-only predictions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from cothub.extract.correction import CORRECTION, may_correct
from cothub.extract.region import answer_region
from cothub.extract.structured import find_answer_field
from cothub.types import Answer

# --- the 27 BBH tasks ------------------------------------------------------------------------

OPTION = "option"
TRUE_FALSE = "true_false"
YES_NO = "yes_no"
VALID_INVALID = "valid_invalid"
INTEGER = "integer"
DYCK = "dyck"
WORD_LIST = "word_list"

_BBH_TYPES: dict[str, str] = {
    "boolean_expressions": TRUE_FALSE,
    "causal_judgement": YES_NO,
    "date_understanding": OPTION,
    "disambiguation_qa": OPTION,
    "dyck_languages": DYCK,
    "formal_fallacies": VALID_INVALID,
    "geometric_shapes": OPTION,
    "hyperbaton": OPTION,
    "logical_deduction_five_objects": OPTION,
    "logical_deduction_seven_objects": OPTION,
    "logical_deduction_three_objects": OPTION,
    "movie_recommendation": OPTION,
    "multistep_arithmetic_two": INTEGER,
    "navigate": YES_NO,
    "object_counting": INTEGER,
    "penguins_in_a_table": OPTION,
    "reasoning_about_colored_objects": OPTION,
    "ruin_names": OPTION,
    "salient_translation_error_detection": OPTION,
    "snarks": OPTION,
    "sports_understanding": YES_NO,
    "temporal_sequences": OPTION,
    "tracking_shuffled_objects_five_objects": OPTION,
    "tracking_shuffled_objects_seven_objects": OPTION,
    "tracking_shuffled_objects_three_objects": OPTION,
    "web_of_lies": YES_NO,
    "word_sorting": WORD_LIST,
}
BBH_TASKS: tuple[str, ...] = tuple(_BBH_TYPES)

# Letters any item of the task offers (the union over its items): used when no question text is
# given to read the options from.
_BBH_LETTERS: dict[str, str] = {
    "date_understanding": "ABCDEF",
    "disambiguation_qa": "ABCD",
    "geometric_shapes": "ABCDEFGHIJK",
    "hyperbaton": "AB",
    "logical_deduction_five_objects": "ABCDE",
    "logical_deduction_seven_objects": "ABCDEFG",
    "logical_deduction_three_objects": "ABC",
    "movie_recommendation": "ABCDE",
    "penguins_in_a_table": "ABCDE",
    "reasoning_about_colored_objects": "ABCDEFGHIJKLMNOPQR",
    "ruin_names": "ABCDEFGHIJK",
    "salient_translation_error_detection": "ABCDEF",
    "snarks": "AB",
    "temporal_sequences": "ABCD",
    "tracking_shuffled_objects_five_objects": "ABCDE",
    "tracking_shuffled_objects_seven_objects": "ABCDEFG",
    "tracking_shuffled_objects_three_objects": "ABC",
}

# Canonical spellings, in the gold's casing (sports_understanding's gold is lower case).
_VOCABULARY: dict[str, tuple[str, ...]] = {
    TRUE_FALSE: ("True", "False"),
    YES_NO: ("Yes", "No"),
    VALID_INVALID: ("valid", "invalid"),
}


def bbh_target_type(task: str) -> str:
    """The kind of target a BBH task has: ``option``, ``true_false``, ``yes_no``,
    ``valid_invalid``, ``integer``, ``dyck`` or ``word_list``. Raises KeyError for unknown tasks."""
    return _BBH_TYPES[task]


def bbh_option_letters(task: str) -> str:
    """Every option letter the task's items offer (empty for tasks without options)."""
    return _BBH_LETTERS.get(task, "")


def bbh_vocabulary(task: str) -> tuple[str, ...]:
    """Canonical answer words of a word-valued task, in the gold's casing."""
    kind = _BBH_TYPES[task]
    if task == "sports_understanding":
        return ("yes", "no")
    return _VOCABULARY.get(kind, ())


# --- text helpers ----------------------------------------------------------------------------

_DECOR = "*_`\"'“”‘’~"
# Dashes only count as separators before a space ("Answer - B"): "-12" keeps its sign.
_SEP = re.compile(r"(?:[\s,:：=*_`\"'“‘~]|[-–—](?=\s))*")
# What may follow a bare answer: closing decoration and final punctuation.
_JUNK = re.compile(r"[\s.!。*_`\"'”’~)\]}$]*")
_BLANK_OR_DECOR = re.compile(r"[\s*_`~#\"'“”‘’]*")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?;]|\n")
_NEGATION = re.compile(r"\b(?:not|never|neither|nor)\b|n['’]t\b", re.IGNORECASE)
_FILLER = re.compile(
    r"(?i:therefore|thus|then|hence|clearly|definitely|indeed|probably|likely|simply|just|"
    r"actually|finally|option|choice|letter|answer|I\s+(?:think|believe|guess)|it\s+is|it['’]s)"
    r"\b[\s:,]*"
)
_LATEX_WRAP = re.compile(r"(?:\$|\\\(|\\boxed\s*\{|\\(?:text|textbf|mathrm|mathbf)\s*\{)\s*")
# "either (A) or (B)", "both B and C": hedges, whatever follows.
_EITHER = re.compile(
    r"(?i:either|both)[\s:]+(?:(?i:option|choice)s?\s*)?[*_]*\(?[A-Za-z]\)?(?![\w'’])"
)


def _line(s: str, pos: int, end: int) -> tuple[int, int]:
    """The first line at or after ``pos`` holding more than blanks and markdown decoration."""
    while pos < end:
        nl = s.find("\n", pos, end)
        stop = end if nl < 0 else nl
        if _BLANK_OR_DECOR.fullmatch(s, pos, stop) is None:
            return pos, stop
        pos = stop + 1
    return end, end


def _skip(s: str, pos: int, end: int, fillers: bool = True) -> int:
    """Skip separators, decoration, LaTeX wrappers and (unless the answer is free text such as
    a word list) filler words before an answer."""
    while True:
        start = pos
        pos = _SEP.match(s, pos, end).end()  # type: ignore[union-attr]
        m = (fillers and _FILLER.match(s, pos, end)) or _LATEX_WRAP.match(s, pos, end)
        if m is not None:
            pos = m.end()
        if pos == start:
            return pos


def _is_bare(s: str, pos: int, end: int) -> bool:
    return _JUNK.fullmatch(s, pos, end) is not None


def _norm_text(text: str) -> str:
    """Case-, space- and decoration-insensitive form used to compare option texts."""
    return " ".join(text.casefold().split()).strip(_DECOR + " ").rstrip(".!").strip(_DECOR + " ")


@dataclass(frozen=True, slots=True)
class _Hit:
    """One parsed answer: ``value`` None with ``ambiguous`` when several options are named."""

    value: str | None
    start: int
    end: int
    form: str = ""
    ambiguous: bool = False


# parse(s, start, end, scan) -> hit at the start of s[start:end]; ``scan`` allows looking past
# the start of the first sentence (only after a committing phrase).
_Parser = Callable[[str, int, int, bool], "_Hit | None"]


# --- options ---------------------------------------------------------------------------------

_OPTION_LINE = re.compile(r"^[ \t]*(?:\(([A-Z])\)|([A-Z])[.)])[ \t]+(\S.*?)[ \t]*$", re.MULTILINE)
_INLINE_OPTION = re.compile(r"\(([A-Z])\)\s*")


def parse_options(question: str) -> dict[str, str]:
    """Option letter -> text, from ``(A) text``/``A. text``/``A) text`` lines (BBH, MMLU CSV
    style) or one line holding ``(A) .. (B) ..`` (Chain-of-Thought Hub MMLU style).

    Only a run of consecutive letters starting at A counts; the last such run wins (the item's
    own options come after any exemplars). Empty when fewer than two options are found.
    """
    runs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for m in _OPTION_LINE.finditer(question):
        letter = m.group(1) or m.group(2)
        if letter == "A":
            if len(current) >= 2:
                runs.append(current)
            current = {"A": m.group(3)}
        elif current and ord(letter) == ord(max(current)) + 1:
            current[letter] = m.group(3)
    if len(current) >= 2:
        runs.append(current)
    if runs:
        return runs[-1]
    for line in reversed(question.splitlines()):
        parts = _INLINE_OPTION.split(line)
        # parts = [before, "A", text, "B", text, ...]
        letters = parts[1::2]
        if len(letters) >= 2 and "".join(letters) == "ABCDEFGHIJKLMNOPQR"[: len(letters)]:
            return {k: v.strip() for k, v in zip(letters, parts[2::2], strict=True)}
    return {}


_DASH_OPTION = re.compile(r"^- (.*?)\s*$", re.MULTILINE)


def parse_choices(question: str) -> tuple[str, ...]:
    """An item's options as their text, in order, read from a question that lists them: lettered
    options (:func:`parse_options`; the first is ``A``), else the lines after a BBH ``Options:``
    line: ``(A) text`` ones (a broken item may list a single one) or ``- text`` ones (``- valid``,
    ``- invalid``); empty when it lists none.

    Adapters call it once to fill ``Sample.choices``; nothing after them reads options from text.
    """
    found = parse_options(question)
    if found:
        return tuple(found.values())
    _, sep, listed = question.rpartition("\nOptions:\n")
    if not sep:
        return ()
    letters = tuple(m.group(3) for m in _OPTION_LINE.finditer(listed))
    return letters or tuple(_DASH_OPTION.findall(listed))


def lettered(choices: Sequence[str]) -> dict[str, str]:
    """``Sample.choices`` as letter -> text (``A`` first), as :func:`extract_option` takes them;
    empty when fewer than two, as :func:`parse_options` finds none then."""
    if len(choices) < 2:
        return {}
    return {chr(ord("A") + i): text for i, text in enumerate(choices)}


_LETTER_HEAD = re.compile(
    r"\(\s*(?P<p>[A-Za-z])\s*\)"  # (B) (b)
    r"|(?P<c>[A-Za-z])\)"  # B) b)
    r"|(?P<u>[A-Z])(?![\w'’\-/&])"  # B   (guarded below for A and I)
    r"|(?P<l>[a-z])(?=[\s.!*_`\"'”’}$]*$)"  # b   only as the very last thing ("answer is b.")
)
# An English "A"/"I" followed by a lower-case word is prose, unless the word explains the choice.
_PROSE_AFTER = re.compile(r"[ \t]+(?!(?:because|since|as|for|given|due|which|is|or|and)\b)[a-z]")
# A second option named right after the first: "(A) or (B)", "A, B and C", "(A)/(B)".
_ANOTHER = re.compile(
    r"[\s*_`\"'”’]*(?:,|/|&|\bor\b|\band\b)\s*(?:(?i:option|choice)\s*)?[*_`\"'“‘]*"
    r"(?:\(\s*(?P<p>[A-Za-z])\s*\)|(?P<u>[A-Z])(?=\s*(?:[.,;:)!?*]|$|\s(?:or|and)\b)))"
)
_MORE_TEXT = re.compile(r"[\s,]*(?:or|and|/|&)\s+(?P<rest>.*)", re.DOTALL)


class _OptionParser:
    """Parses an option letter (or an option's text) at the start of a span."""

    __slots__ = ("letters", "options")

    def __init__(self, letters: str, options: Mapping[str, str]) -> None:
        self.letters = letters
        norm: dict[str, list[str]] = {}
        for letter, text in options.items():
            key = _norm_text(text)
            if key:
                norm.setdefault(key, []).append(letter)
        self.options = norm

    def _letter(self, m: re.Match[str]) -> str | None:
        for group in ("p", "c", "u", "l"):
            letter = m.group(group)
            if letter is not None:
                up = letter.upper()
                return up if up in self.letters else None
        return None  # pragma: no cover - one group always matches

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        a, b = _line(s, start, end)
        pos = _skip(s, a, b)
        if _EITHER.match(s, pos, b):
            return _Hit(None, pos, b, "either", ambiguous=True)
        m = _LETTER_HEAD.match(s, pos, b)
        if m is not None:
            letter = self._letter(m)
            prose = m.group("u") in ("A", "I") and _PROSE_AFTER.match(s, m.end(), b) is not None
            if letter is not None and not prose:
                more = _ANOTHER.match(s, m.end(), b)
                if more is not None:
                    other = (more.group("p") or more.group("u")).upper()
                    if other in self.letters and other != letter:
                        return _Hit(None, m.start(), more.end(), "several", ambiguous=True)
                form = "u" if m.group("u") else "p" if m.group("p") else "c"
                return _Hit(f"({letter})", m.start(), m.end(), form)
        return self._text(s, pos, b)

    def _text(self, s: str, pos: int, end: int) -> _Hit | None:
        """Map option text to its letter when exactly one option has that text."""
        if not self.options:
            return None
        stop = _SENTENCE_END.search(s, pos, end)
        raw = s[pos : stop.start() if stop else end]
        said = _norm_text(raw)
        if not said:
            return None
        letters = self.options.get(said)
        if letters is not None:
            if len(letters) != 1:
                return None
            return _Hit(f"({letters[0]})", pos, pos + len(raw.rstrip()), "text")
        best = ""
        for key in self.options:
            if len(key) > len(best) and said.startswith(key) and not said[len(key)].isalnum():
                best = key
        if not best or len(self.options[best]) != 1:
            return None
        more = _MORE_TEXT.match(said, len(best))
        if more is not None and any(
            k != best and more.group("rest").startswith(k) for k in self.options
        ):
            return _Hit(None, pos, pos + len(raw), "several", ambiguous=True)
        found = s.casefold().find(best, pos, end)
        hit_end = found + len(best) if found >= 0 else pos + len(raw)
        return _Hit(f"({self.options[best][0]})", pos, hit_end, "text")


# --- words, integers, Dyck, word lists, literal text -------------------------------------------


class _WordParser:
    """Parses one word of a fixed vocabulary (True/False, Yes/No, valid/invalid)."""

    __slots__ = ("another", "anywhere", "canonical", "head")

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.canonical = {w.casefold(): w for w in vocabulary}
        words = "|".join(sorted((re.escape(w) for w in vocabulary), key=len, reverse=True))
        self.head = re.compile(rf"(?i:{words})(?![\w'’\-])")
        self.anywhere = re.compile(rf"\b(?i:{words})(?![\w'’\-])")
        # "True or False", "yes/no": both named, neither committed to.
        self.another = re.compile(
            rf"[\s*_`\"'”’]*(?:,|/|&|\bor\b|\band\b)\s*[*_`\"'“‘]*((?i:{words}))(?![\w'’\-])"
        )

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        a, b = _line(s, start, end)
        pos = _skip(s, a, b)
        m = self.head.match(s, pos, b)
        if m is not None:
            value = self.canonical[m.group().casefold()]
            more = self.another.match(s, m.end(), b)
            if more is not None and self.canonical[more.group(1).casefold()] != value:
                return _Hit(None, m.start(), more.end(), "several", ambiguous=True)
            return _Hit(value, m.start(), m.end(), "word")
        if not scan or _NEGATION.match(s, pos, b):
            return None
        # "the answer is that the argument is invalid": one vocabulary word in the sentence, and
        # no negation that could flip it.
        stop = _SENTENCE_END.search(s, pos, b)
        stop_at = stop.start() if stop else b
        found = list(self.anywhere.finditer(s, pos, stop_at))
        values = {self.canonical[f.group().casefold()] for f in found}
        if len(values) > 1:
            return _Hit(None, pos, stop_at, "several", ambiguous=True)
        if not values or _NEGATION.search(s, pos, stop_at):
            return None
        return _Hit(values.pop(), found[-1].start(), found[-1].end(), "word")


_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        )
    )
}
_INT_HEAD = re.compile(
    r"(?P<sign>[-−–]|(?i:minus|negative)\s+)?[ \t]*"
    r"(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?![\d,]\d|[\w%/])"
    r"|(?P<word>(?i:" + "|".join(_NUMBER_WORDS) + r"))\b(?!\s+of\b|-)"
)
_INT_ANY = re.compile(r"(?<![\w.,])(?:[-−–](?=\d))?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w,])")
_OPERATOR_NEXT = re.compile(r"[ \t]*[-+*/×x÷^=−–]")


def normalize_integer(text: str) -> str | None:
    """``-11,520`` / ``−12`` / ``12.0`` -> canonical integer string; other numbers kept as
    written (so ``12.5`` stays wrong); None when ``text`` is no number."""
    m = _INT_HEAD.fullmatch(text.strip().rstrip("."))
    if m is None:
        return None
    return _int_value(m)


def _int_value(m: re.Match[str]) -> str:
    if m.group("word") is not None:
        return str(_NUMBER_WORDS[m.group("word").lower()])
    digits = m.group("num").replace(",", "")
    frac = m.group("frac")
    negative = m.group("sign") is not None
    if frac is not None and frac.strip(".0"):
        return ("-" if negative else "") + digits + frac
    value = int(digits)
    return str(-value if negative else value)


def _int_from_any(text: str) -> str:
    """Canonical form of a number token found by ``_INT_ANY``."""
    out = normalize_integer(text)
    return out if out is not None else text


class _IntegerParser:
    """Parses an integer; after a phrase, ``= -12`` takes the value after the last ``=``."""

    __slots__ = ()

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        a, b = _line(s, start, end)
        pos = _skip(s, a, b)
        stop = _SENTENCE_END.search(s, pos, b)
        stop_at = stop.start() if stop else b
        m = _INT_HEAD.match(s, pos, b)
        if m is not None and not (scan and _OPERATOR_NEXT.match(s, m.end(), b)):
            return _Hit(_int_value(m), m.start(), m.end(), "integer")
        if not scan:
            return None
        # "the answer is (-3 * 4) = -12": the value after the last "=".
        eq = s.rfind("=", pos, stop_at)
        if eq >= 0:
            m = _INT_HEAD.match(s, _skip(s, eq + 1, stop_at), b)
            if m is not None:
                return _Hit(_int_value(m), m.start(), m.end(), "integer")
        found = list(_INT_ANY.finditer(s, pos, stop_at))
        values = {_int_from_any(f.group()) for f in found}
        if len(values) != 1:
            return None
        return _Hit(values.pop(), found[-1].start(), found[-1].end(), "integer")


_CLOSERS = re.compile(r"[)\]}>](?:[\s,]*[)\]}>])*")
_OPENER_NEXT = re.compile(r"[\s,]*[(\[{<]")
_BRACKET = re.compile(r"[()\[\]{}<>]")


def normalize_dyck(text: str) -> str:
    """``)]>`` / ``) , ] >`` / ``)  ]  >`` -> ``) ] >``: one space between symbols."""
    return " ".join(_BRACKET.findall(text))


class _DyckParser:
    """Parses a sequence of closing brackets."""

    __slots__ = ()

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        a, b = _line(s, start, end)
        pos = _skip(s, a, b)
        m = _CLOSERS.match(s, pos, b)
        if m is None or _OPENER_NEXT.match(s, m.end(), b):
            return None
        return _Hit(normalize_dyck(m.group()), m.start(), m.end(), "dyck")


_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*•]|\d+[.)])[ \t]+")
_WORD_SPLIT = re.compile(r"[\s,;]+")
_WORD_STRIP = _DECOR + "[](){}."


def normalize_word_list(text: str) -> str:
    """``Apple, 'banana', cherry.`` -> ``apple banana cherry``: split on whitespace, commas and
    semicolons, strip quotes/brackets/periods around each word, lower-case (the golds are)."""
    words = (w.strip(_WORD_STRIP).casefold() for w in _WORD_SPLIT.split(text))
    return " ".join(w for w in words if w)


# A label before a word list on its line ("Sorted:", "Sorted list:", "Result:"): list words
# never carry a colon.
_LIST_LABEL = re.compile(r"[*_]*(?:[A-Za-z]+[ \t]){0,3}[A-Za-z]+[*_]*:[*_]*[ \t]+")


class _WordListParser:
    """Parses a space/comma separated word list, or a vertical list after a bare phrase."""

    __slots__ = ()

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        nl = s.find("\n", start, end)
        first_end = end if nl < 0 else nl
        pos = _skip(s, start, first_end, fillers=False)
        label = _LIST_LABEL.match(s, pos, first_end)
        if label is not None and label.end() < first_end:
            pos = label.end()  # "Sorted: apple banana": a label, not a word of the list
        if pos < first_end:
            stop = _SENTENCE_END.search(s, pos, first_end)
            stop_at = stop.start() if stop else first_end
            value = normalize_word_list(s[pos:stop_at])
            return _Hit(value, pos, stop_at, "words") if value else None
        # "The sorted list is:\n1. apple\n2. banana": the lines up to the next blank line.
        a, b = _line(s, first_end, end)
        if a >= b:
            return None
        stop_at = s.find("\n\n", a, end)
        stop_at = end if stop_at < 0 else stop_at
        lines = [_LIST_MARKER.sub("", ln) for ln in s[a:stop_at].split("\n")]
        value = normalize_word_list(" ".join(lines))
        return _Hit(value, a, stop_at, "words") if value else None


def normalize_text(text: str) -> str:
    """Surrounding whitespace, markdown and quotes, and one trailing period removed."""
    out = text.strip().strip(_DECOR).strip()
    if out.endswith("."):
        out = out[:-1]
    return out.strip().strip(_DECOR).strip()


class _TextParser:
    """Takes the committed line as written (for golds that are not option letters)."""

    __slots__ = ()

    def __call__(self, s: str, start: int, end: int, scan: bool) -> _Hit | None:
        a, b = _line(s, start, end)
        pos = _SEP.match(s, a, b).end()  # type: ignore[union-attr]
        value = normalize_text(s[pos:b])
        return _Hit(value, pos, b, "text") if value else None


# --- where the committed answer is -------------------------------------------------------------

# Each pattern starts with a literal so the regex engine can skip ahead (grading all of BBH
# takes a fraction of a second); the rarer ones only run when a cheap substring test passes.
_PHRASE_TAIL = (
    r"s?[*_]*\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be|seems\s+to\s+be|"
    r"appears\s+to\s+be)\b[*_]*[ \t]*:?"
)
# "the answer is", "Answer:", "**Answer**:", a line "## Final Answer".
_ANSWER_WORD = re.compile(
    r"(?i)answer(?<!\wanswer)"
    rf"(?:(?P<phrase>{_PHRASE_TAIL})|(?P<label>[*_ \t]*[:：])|(?P<heading>[ \t*_]*$))",
    re.MULTILINE,
)
_HEADING_PREFIX = re.compile(r"[ \t#>*_]*(?:(?:final|correct)[ \t]+)?", re.IGNORECASE)
_QUALIFIED_OPTION = re.compile(
    rf"(?i)\b(?:correct|right|best|final|most\s+likely)\s+(?:option|choice){_PHRASE_TAIL}"
)
_CHOOSE = re.compile(
    r"(?i)i(?<![\w'’]i)(?:[ \t]+would|[ \t]+will|'d|'ll)?"
    r"[ \t]+(?:choose|pick|select|go[ \t]+with)\b"
)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_SORTED = re.compile(r"(?i)\b(?:sorted|alphabetical)[ \t]+(?:list|order)(?:[ \t]+is)?[ \t]*:")
# "(B) is correct", "Option B is the right answer" (not "(B) is the best plan ever").
_IS_CORRECT = re.compile(
    r"is(?<!\wis)\s+(?:the\s+)?(?:(?:correct|right|best)\s+(?:answer|option|choice)\b"
    r"|correct\b|right\b(?![ \t]+\w))"
)
_LETTER_BEFORE = re.compile(
    r"(?:\((?P<p>[A-Za-z])\)|\b(?P<c>[A-Z])\)|\b(?i:option|choice)\s+\(?(?P<o>[A-Za-z])\)?)"
    r"[*_`]*\s+$"
)
_OPTION_AT_LINE_START = re.compile(r"^[ \t*_]*(?:\(([A-Z])\)|([A-Z])[.):])", re.MULTILINE)
# Weaker commitments, used only when no answer phrase commits (each may also appear in
# reasoning that an answer phrase then settles):
# "..., which is option (E)", "Therefore D.", "The expression evaluates to **False**".
_WHICH_IS = re.compile(
    r"(?i)\b(?:which|that|this)\s+(?:is|corresponds\s+to|matches)\s+(?:to\s+)?"
    r"(?:the\s+)?(?:option|choice|answer)\b[ \t]*:?"
)
_CONCLUDE = re.compile(
    r"(?:Therefore|Thus|So|Hence|Consequently)\b,?"
    r"(?:[ \t]+(?:the\s+)?(?:answer|option|choice)\b)?[ \t]*:?"
)
# What may precede a sentence-opening word: the start, a line break, a sentence end, markup.
_SENTENCE_START_BEFORE = re.compile(r"(?:\A|\n|[.!?][ \t]+)[ \t*_>#-]*\Z")
_CLAUSE_START_BEFORE = re.compile(r"(?:\A|\n|[.!?,;:][ \t]+)[ \t*_>#-]*\Z")
_EVALUATES = re.compile(
    r"(?i)\b(?:evaluates|simplifies|reduces|comes\s+out)\s+to\b[ \t]*:?"
    r"|\b(?:the\s+)?(?:final\s+)?(?:result|value)\s+is\b[ \t]*:?"
)
# "D is correct", "**B** is the right answer" (a bare capital letter opening its sentence).
_BARE_IS_CORRECT = re.compile(
    r"(?P<u>[A-Z])[*_`]*[ \t]+is[ \t]+(?:the[ \t]+)?(?:correct|right|best)\b"
)
_WEAK = frozenset({"is-correct", "which-is", "conclusion", "evaluates", "correction"})


def _braced(s: str, open_end: int) -> int:
    """Index of the brace closing the one just before ``open_end`` (or len(s))."""
    depth = 1
    for i in range(open_end, len(s)):
        ch = s[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(s)


def _sentence_end(s: str, pos: int) -> int:
    m = _SENTENCE_END.search(s, pos)
    return m.start() if m else len(s)


def _answer(hit: _Hit, method: str, base: int) -> Answer:
    if hit.ambiguous:
        return Answer(None, (base + hit.start, base + hit.end), "ambiguous")
    return Answer(hit.value, (base + hit.start, base + hit.end), method)


def _commitments(s: str, letters: str) -> list[tuple[int, str, int, int]]:
    """(position, kind, start, end) of every committing phrase; the answer is parsed from
    ``s[start:end]`` (``is-correct`` carries its letter's own span)."""
    low = s.lower()  # only for substring tests: lower() may change lengths outside ASCII
    end = len(s)
    found: list[tuple[int, str, int, int]] = []
    for m in _ANSWER_WORD.finditer(s):
        kind = m.lastgroup or "phrase"
        if kind == "heading":
            line_start = s.rfind("\n", 0, m.start()) + 1
            if _HEADING_PREFIX.fullmatch(s, line_start, m.start()) is None:
                continue
        found.append((m.start(), kind, m.end(), end))
    if "option" in low or "choice" in low:
        found += [(m.start(), "phrase", m.end(), end) for m in _QUALIFIED_OPTION.finditer(s)]
    if any(w in low for w in ("choose", "pick", "select", "go with")):
        found += [(m.start(), "choose", m.end(), end) for m in _CHOOSE.finditer(s)]
    if "sorted" in low or "alphabetical" in low:
        found += [(m.start(), "sorted", m.end(), end) for m in _SORTED.finditer(s)]
    if "\\boxed" in s or "\\fbox" in s:
        found += [(m.start(), "boxed", m.end(), _braced(s, m.end())) for m in _BOXED.finditer(s)]
    if may_correct(low):  # "... is D? No, actually it's C.": bare corrections only (_WEAK)
        found += [(m.start(), "correction", m.end(), end) for m in CORRECTION.finditer(s)]
    field = find_answer_field(s)
    if field is not None:
        a, b = field.span
        found.append((a, "json", a, b))
    found.sort()
    return found


def _weak_commitments(s: str, letters: str) -> list[tuple[int, str, int, int]]:
    """The weaker commitments (``_WEAK``), in the shape of :func:`_commitments`; looked for
    only when no answer phrase commits."""
    low = s.lower()
    end = len(s)
    found: list[tuple[int, str, int, int]] = []
    if any(w in low for w in ("option", "choice", "answer")) and any(
        w in low for w in ("which", "that", "this")
    ):
        found += [(m.start(), "which-is", m.end(), end) for m in _WHICH_IS.finditer(s)]
    if any(w in s for w in ("Therefore", "Thus", "So", "Hence", "Consequently")):
        found += [
            (m.start(), "conclusion", m.end(), end)
            for m in _CONCLUDE.finditer(s)
            if _SENTENCE_START_BEFORE.search(s, max(0, m.start() - 8), m.start())
        ]
    if any(w in low for w in ("evaluat", "simplif", "reduces", "comes out", "result", "value")):
        found += [(m.start(), "evaluates", m.end(), end) for m in _EVALUATES.finditer(s)]
    if letters and ("correct" in low or "right" in low or "best" in low):
        for m in _BARE_IS_CORRECT.finditer(s):
            if _CLAUSE_START_BEFORE.search(s, max(0, m.start() - 8), m.start()):
                found.append((m.start(), "is-correct", m.start("u"), m.end("u")))
        for m in _IS_CORRECT.finditer(s):
            before = _LETTER_BEFORE.search(s, max(0, m.start() - 24), m.start())
            if before is not None:
                group = "p" if before.group("p") else "c" if before.group("c") else "o"
                found.append((before.start(), "is-correct", before.start(group), before.end(group)))
    found.sort()
    return found


def _restates(s: str, found: Sequence[tuple[int, str, int, int]], at: int, parse: _Parser) -> bool:
    """Whether an answer phrase in the same paragraph, just before ``at``, commits to an answer
    (so a phrase at ``at`` that names no option restates it in other words)."""
    para = s.rfind("\n\n", 0, at)
    for pos, kind, start, end in reversed(found):
        if pos >= at or kind in _WEAK:
            continue
        if pos <= para:
            return False
        hit = parse(s, start, end, True)
        return hit is not None and not hit.ambiguous
    return False


def _extract(text: str, parse: _Parser, letters: str = "", lines: bool = True) -> Answer:
    """Apply the search order of the module docstring; ``lines=False`` skips the line fallbacks
    (steps 3-4) for free text, where any line of prose would parse as an answer."""
    region = answer_region(text)
    if region is None:
        return Answer(None, None, "unclosed-think")
    base = region.start
    s = text[region.start : region.end]
    n = len(s)

    # 1. The last committing phrase that commits to something; the weaker forms ("(B) is
    # correct", "which is option (E)", "Therefore D.", "evaluates to False") only count when no
    # answer phrase does (explanations say "(A) is correct only if ..." after answering).
    last_line_start = s.rstrip().rfind("\n") + 1
    found = _commitments(s, letters)

    def ranked() -> Iterator[tuple[int, str, int, int]]:
        yield from reversed(found)
        if lines:  # not for word lists and free text, where any sentence would parse
            # Only in the closing paragraph: earlier, "X evaluates to False" is a step.
            closing = s.rstrip().rfind("\n\n")
            weak = _weak_commitments(s, letters)
            yield from (c for c in reversed(weak) if c[0] > closing)

    for at, kind, start, end in ranked():
        if kind == "is-correct":
            letter = s[start:end].upper()
            if letter in letters:
                return Answer(f"({letter})", (base + start, base + end), kind)
            continue
        weak = kind in _WEAK
        hit = parse(s, start, end, not weak)
        if weak:
            # A weak form commits only when the answer is all its sentence says ("Therefore D.",
            # not "Therefore D is wrong and ...").
            if hit is None or hit.ambiguous or not _is_bare(s, hit.end, _sentence_end(s, hit.end)):
                continue
            return _answer(hit, kind, base)
        if hit is None:
            if at >= last_line_start and not _restates(s, found, at, parse):
                # The closing statement names no valid answer ("So the answer is (None of the
                # above).", "the answer is empty"): that is the model's final word. Unless it
                # restates an answer just given: "The answer is (C). The answer is 272.8 K."
                return Answer(None, (base + at, base + len(s.rstrip())), "unparsed")
            continue
        if kind in ("boxed", "json") and not hit.ambiguous and not _is_bare(s, hit.end, end):
            continue
        return _answer(hit, "final-phrase" if kind == "phrase" else kind, base)

    # 2. The whole reply is an answer.
    hit = parse(s, 0, n, False)
    if hit is not None and _is_bare(s, hit.end, n):
        return _answer(hit, "bare", base)
    if not lines:
        return Answer(None, None, "none")

    # 3. The last line is an answer.
    last = s.rstrip()
    line_start = last.rfind("\n") + 1
    hit = parse(s, line_start, len(last), False)
    if hit is not None and not hit.ambiguous and _is_bare(s, hit.end, len(last)):
        return _answer(hit, "last-line", base)

    # 4. The first line is an answer, or opens with an explicit option marker or answer word.
    a, b = _line(s, 0, n)
    hit = parse(s, a, b, False)
    if hit is not None and not hit.ambiguous:
        if _is_bare(s, hit.end, b):
            return _answer(hit, "first-line", base)
        after = s[hit.end : hit.end + 1]
        if hit.form == "word" and after and after in ",.;:!" and hit.start - a < 8:
            return _answer(hit, "leading", base)  # "Yes, it is plausible."
        explicit = hit.form in ("p", "c") or (hit.form == "u" and after and after in ".:")
        if letters and explicit and hit.start - a < 8:
            others = {m.group(1) or m.group(2) for m in _OPTION_AT_LINE_START.finditer(s, hit.end)}
            if not others - {(hit.value or "()")[1]}:
                return _answer(hit, "leading", base)
    return Answer(None, None, "none")


# --- public extractors -----------------------------------------------------------------------

_ALL_LETTERS = "ABCDEFGHIJKLMNOPQR"


def extract_option(
    text: str, letters: str = _ALL_LETTERS, options: Mapping[str, str] | None = None
) -> Answer:
    """The committed option letter as ``(B)``; ``letters`` are the valid ones, ``options``
    (letter -> text, see :func:`parse_options`) allow mapping option text to its letter."""
    opts = dict(options or {})
    valid = "".join(sorted(set(letters) | set(opts)))
    return _extract(text, _OptionParser(valid, opts), valid)


@cache
def _word_parser(vocabulary: tuple[str, ...]) -> _WordParser:
    return _WordParser(vocabulary)


def extract_word(text: str, vocabulary: Sequence[str]) -> Answer:
    """The committed vocabulary word (case-insensitive), spelled as in ``vocabulary``."""
    return _extract(text, _word_parser(tuple(vocabulary)))


_INTEGER = _IntegerParser()
_DYCK = _DyckParser()
_WORDS = _WordListParser()
_TEXT = _TextParser()


def extract_integer(text: str) -> Answer:
    """The committed integer as a canonical string (``-11520``; commas, unicode minus removed).

    A reply with no answer phrase and no bare answer line is read as a numeric one is (the
    closing "So/Thus ..." sentence, then the number that closes the reply: "I count 7 items in
    total."); what that reader refuses (hedges, loops, unfinished reasoning) stays unanswered.
    """
    found = _extract(text, _INTEGER)
    if found.value is not None or found.method != "none":
        return found
    from cothub.extract.numeric import committed_number

    num = committed_number(text)
    if num.value is None or num.span is None or num.method not in ("conclusion", "last-number"):
        return found
    region = answer_region(text)
    rest = text[num.span[1] : region.end if region is not None else len(text)]
    if any(c in rest for c in "=+*×/") or rest.rstrip().endswith(("-", "−")):
        return found  # "(8 + -6) = 2 = (8 + -6) =": a computation left open, not a result
    hit = _INTEGER(text, num.span[0], num.span[1], False)
    if hit is None or hit.ambiguous:
        return found
    return Answer(hit.value, num.span, num.method)


def extract_dyck(text: str) -> Answer:
    """The committed closing-bracket sequence, symbols separated by single spaces."""
    return _extract(text, _DYCK)


def extract_word_list(text: str) -> Answer:
    """The committed word list, lower-case and space separated."""
    return _extract(text, _WORDS, lines=False)


def extract_text(text: str) -> Answer:
    """The committed text as written, see :func:`normalize_text` (for non-letter golds)."""
    return _extract(text, _TEXT, lines=False)


# --- the published (strict) rules --------------------------------------------------------------


def published_bbh_answer(prediction: str, mode: str = "cot") -> str | None:
    """The answer under the rule that reproduces the published BBH numbers (Suzgun et al.).

    CoT: the text after the last ``the answer is `` (case-sensitive; else the last
    ``The answer is ``), its first line, stripped, one trailing ``.`` removed; None when neither
    phrase occurs. Direct: ``prediction.strip()``.
    """
    if mode == "direct":
        return prediction.strip()
    key = "the answer is "
    idx = prediction.rfind(key)
    if idx < 0:
        key = "The answer is "
        idx = prediction.rfind(key)
        if idx < 0:
            return None
    out = prediction[idx + len(key) :].split("\n", 1)[0].strip()
    return out[:-1] if out.endswith(".") else out


def published_mmlu_answer(completion: str) -> str | None:
    """Chain-of-Thought Hub's MMLU rule: the character after the first ``the answer is (``
    (case-insensitive), upper-cased; without that phrase the answer-only form, the completion
    stripped. (The hub's fallback guess ``'C'`` was compared with the lower-cased gold, so it
    never scored: None here.)"""
    parts = completion.lower().split("the answer is (", 1)
    if len(parts) > 1:
        return parts[1][:1].upper() or None
    return completion.strip() or None
