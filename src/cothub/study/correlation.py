"""Rank correlation across models for the ``code-reasoning`` study: Spearman's rho with an exact
permutation p-value (every ordering, while that is cheap) and a percentile bootstrap interval
over models. Pure functions of score lists; nothing here knows about runs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

EXACT_UP_TO = 8
"""Models up to which the permutation test enumerates every ordering (8! = 40,320)."""
PERMUTATIONS = 20_000
"""Random orderings of the permutation test beyond :data:`EXACT_UP_TO` models."""
BOOTSTRAP = 2_000
"""Bootstrap resamples of the models for the 95% interval."""
BOOTSTRAP_MIN = 5
"""Fewest models a bootstrap interval is given for."""


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 1e-15 or syy <= 1e-15:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks, so ties are handled); None when either side is
    constant or there are fewer than two pairs."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of the same length")
    if len(x) < 2:
        return None
    return _pearson(ranks(x), ranks(y))


@dataclass(frozen=True, slots=True)
class RankCorrelation:
    """Spearman's rho between two scores of the same models, with its test and interval."""

    x: str
    y: str
    models: tuple[str, ...]
    n: int
    rho: float | None
    p: float | None
    """Two-sided permutation p-value of rho = 0."""
    p_method: str
    """``exact`` (every ordering) or ``monte-carlo``."""
    ci95: tuple[float, float] | None
    """Percentile bootstrap over models; None where too few distinct resamples exist."""
    scope: str = "own"
    """``own`` (this study's runs), ``published`` (the hub's rows) or ``all`` (both)."""

    def as_json(self) -> dict[str, object]:
        return {
            "x": self.x,
            "y": self.y,
            "scope": self.scope,
            "n": self.n,
            "models": list(self.models),
            "rho": self.rho,
            "p": self.p,
            "p_method": self.p_method,
            "ci95": None if self.ci95 is None else list(self.ci95),
        }


def permutation_p(
    x: Sequence[float], y: Sequence[float], seed: int = 0
) -> tuple[float | None, str]:
    """Two-sided p-value of Spearman's rho under random pairing: exact for a few models."""
    rho = spearman(x, y)
    if rho is None:
        return None, "exact"
    rx, ry = ranks(x), ranks(y)
    target = abs(rho) - 1e-9
    n = len(x)
    if n <= EXACT_UP_TO:
        hits = total = 0
        for perm in itertools.permutations(ry):
            r = _pearson(rx, perm)
            total += 1
            hits += r is not None and abs(r) >= target
        return hits / total, "exact"
    rng = random.Random(seed)
    shuffled = list(ry)
    hits = 0
    for _ in range(PERMUTATIONS):
        rng.shuffle(shuffled)
        r = _pearson(rx, shuffled)
        hits += r is not None and abs(r) >= target
    return (hits + 1) / (PERMUTATIONS + 1), "monte-carlo"


def bootstrap_ci(
    x: Sequence[float], y: Sequence[float], seed: int = 0
) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of rho over models resampled with replacement
    (resamples with a constant side are dropped); None for fewer than :data:`BOOTSTRAP_MIN`
    models, where resampling a handful of points says nothing (the exact p-value still does)."""
    n = len(x)
    if n < BOOTSTRAP_MIN:
        return None
    rng = random.Random(seed)
    got = []
    for _ in range(BOOTSTRAP):
        pick = [rng.randrange(n) for _ in range(n)]
        r = spearman([x[i] for i in pick], [y[i] for i in pick])
        if r is not None:
            got.append(r)
    if len(got) < BOOTSTRAP // 10:
        return None
    got.sort()
    lo = got[int(0.025 * (len(got) - 1))]
    hi = got[math.ceil(0.975 * (len(got) - 1))]
    return (lo, hi)


def correlate(
    x_name: str,
    y_name: str,
    rows: Sequence[tuple[str, float, float]],
    scope: str = "own",
    seed: int = 0,
) -> RankCorrelation:
    """rho between the two scores of (model, x, y) rows, with its p-value and interval."""
    models = tuple(m for m, _, _ in rows)
    x = [a for _, a, _ in rows]
    y = [b for _, _, b in rows]
    p, method = permutation_p(x, y, seed)
    return RankCorrelation(
        x_name,
        y_name,
        models,
        len(rows),
        spearman(x, y),
        p,
        method,
        bootstrap_ci(x, y, seed),
        scope,
    )
