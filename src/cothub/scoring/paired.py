"""Paired comparison of two runs on the same items: the exact McNemar test.

When two runs grade the same items, only the items they disagree on say which run is better
(McNemar 1947). Under the null hypothesis a discordant item is equally likely to favour either
run, so the count favouring one is Binomial(b + c, 1/2), and the two-sided exact p-value is twice
the smaller tail, capped at 1. Exact rather than chi-squared: evaluation subsets and their
discordant counts are often small, where the approximation misleads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Paired:
    """Two runs' verdicts on the items both graded."""

    shared: int
    """Items graded by both runs."""
    lost: int
    """Items the first run got right and the second wrong (McNemar's b)."""
    gained: int
    """Items the first run got wrong and the second right (McNemar's c)."""
    p_value: float
    """Two-sided exact McNemar p-value; 1.0 when there is no discordant item."""


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    # C(n, i) built term by term in exact integers (math.comb per term is quadratic in n), and
    # divided only at the end: 2**n overflows a float long before n is large.
    term = tail = 1
    for i in range(min(b, c)):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / (1 << n))


def paired(first: Mapping[str, bool], second: Mapping[str, bool]) -> Paired:
    """Compare verdicts keyed by item id on the items both runs graded."""
    shared = first.keys() & second.keys()
    lost = sum(first[k] and not second[k] for k in shared)
    gained = sum(second[k] and not first[k] for k in shared)
    return Paired(len(shared), lost, gained, mcnemar_exact(lost, gained))
