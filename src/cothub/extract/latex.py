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

from cothub.types import Answer

# ``\boxed`` and ``\fbox`` but not a longer command such as ``\boxedanswer``.
_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")

# "The answer is", "The final answer is", "Final answer:", "Answer:", "answer is:" ...
_PHRASE = re.compile(r"\b(?:the\s+)?(?:final\s+)?answer\s*(?:is\b\s*:?|:)", re.IGNORECASE)

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


def extract_math_answer(text: str) -> Answer:
    """The completion's final answer: last box, else last explicit final-answer phrase.

    Methods: ``boxed``, ``final-phrase``; when nothing is found ``none``, or ``unclosed-boxed`` /
    ``empty-boxed`` when the last box is cut off or empty (the model failed to commit: we do not
    fall back to earlier text, which would credit a draft).
    """
    boxed = last_boxed(text)
    if boxed is not None:
        value, span = boxed
        if not value:
            return Answer(None, None, "empty-boxed")
        return Answer(value, span, "boxed")
    if _BOX.search(text) is not None:
        return Answer(None, None, "unclosed-boxed")
    phrase = _last_match(_PHRASE, text)
    if phrase is not None:
        found = _phrase_value(text, phrase.end())
        if found is not None:
            return Answer(found[0], found[1], "final-phrase")
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
