"""Self-corrections: the model retracts the answer it gave and names another.

"The answer is 20. Wait, that's wrong: it's 18." or "The best answer is D? No, actually it's
C." A careful grader reads the correction as the model's final word. A correction is a
retraction word (``wait``, ``no``, ``oops``, ``sorry``, ``actually``, ``correction:``, or "that
is wrong") followed by a statement ("it's", "it should be", "the correct answer is") or, after
``correction:``, the value itself. The extractors credit it only where the statement is bare (the
value is all its sentence says): "Wait, it's 9 eggs at $2, so 18" is a step, not a correction.
"""

from __future__ import annotations

import re

__all__ = ["CORRECTION", "may_correct"]

_WRONG = r"(?:that|this)(?:'s|’s|\s+is|\s+was)\s+(?:wrong|incorrect|a\s+mistake|not\s+right)"
_STATEMENT = (
    r"(?:it(?:'s|’s|\s+is|\s+should\s+be|\s+must\s+be)"
    r"|the\s+(?:correct\s+|right\s+|real\s+|actual\s+)?(?:answer|option|choice)\s+is)"
    r"(?!\s+not\b)"
)
_SEP = r"[ \t,.!:;—–-]*"
CORRECTION = re.compile(
    r"(?i)(?:"
    r"\bcorrection\s*:"
    rf"|\b(?:wait|no|oops|sorry)\b{_SEP}(?:{_WRONG}{_SEP})?(?:actually[ \t,]+)?{_STATEMENT}"
    rf"|\b{_WRONG}{_SEP}(?:actually[ \t,]+)?{_STATEMENT}"
    rf"|\bactually[ \t,]+{_STATEMENT}"
    r")[ \t]*:?[ \t]*"
)
"""A correction phrase; the corrected value starts where the match ends."""

_HINTS = ("wait", "no", "oops", "sorry", "actually", "correction", "wrong", "incorrect", "mistake")


def may_correct(low: str) -> bool:
    """Cheap test on the lower-cased text before :data:`CORRECTION` runs."""
    return any(h in low for h in _HINTS)
