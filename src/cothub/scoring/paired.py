"""Paired comparison of two runs on the same items: the exact McNemar test.

When two runs grade the same items, only the items they disagree on say which run is better
(McNemar 1947); :func:`cothub.scoring.stats.mcnemar_exact` tests them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cothub.scoring.stats import mcnemar_exact


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


def paired(first: Mapping[str, bool], second: Mapping[str, bool]) -> Paired:
    """Compare verdicts keyed by item id on the items both runs graded."""
    shared = first.keys() & second.keys()
    lost = sum(first[k] and not second[k] for k in shared)
    gained = sum(second[k] and not first[k] for k in shared)
    return Paired(len(shared), lost, gained, mcnemar_exact(lost, gained))
