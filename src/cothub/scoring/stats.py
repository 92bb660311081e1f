"""The statistics behind every reported interval and test, one definition each.

- :func:`wilson`: a binomial proportion's 95% interval (accuracy of a run, a subset, a vote).
- :func:`mean_ci`: the 95% normal interval of a mean of per-item scores in [0, 1] (maj@k, pass@k).
- :func:`mcnemar_exact`: the exact two-sided McNemar test of paired verdicts (two runs on the
  same items; an item's verdict before and after self-refinement).
- :func:`pass_at_k`: the unbiased pass@k estimate from n samples of which c are correct.
- :func:`holm`: Holm-Bonferroni adjusted p-values of a family of tests (a study's grid).

Pure functions of counts and floats; nothing here knows about runs or records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054
"""The standard normal quantile of 0.975: the half-width multiplier of a 95% interval."""


def wilson(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval: well-behaved at 0%, 100% and small n, unlike the normal one.

    ``(0.0, 0.0)`` when ``n`` is 0.
    """
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """(mean, 95% interval) of per-item scores in [0, 1]: mean +- z * s / sqrt(n), with the
    sample standard deviation ``s`` and the interval clipped to [0, 1]; zero width for one item.
    """
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = Z95 * math.sqrt(var / n)
    return mean, (max(0.0, mean - half), min(1.0, mean + half))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (McNemar 1947).

    Under the null hypothesis a discordant pair is equally likely to go either way, so ``b`` is
    Binomial(b + c, 1/2); the p-value is twice the smaller tail, capped at 1, and 1.0 when there
    is no discordant pair. Exact rather than chi-squared: discordant counts are often small.
    """
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


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021, arXiv:2107.03374): 1 - C(n-c, k) / C(n, k), the
    chance that k of the n samples drawn without replacement hold at least one correct one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the order given: the i-th smallest p is
    multiplied by (m - i), running maxima keep the adjusted values monotone, capped at 1.
    Controls the family-wise error rate under any dependence between the tests; an adjusted
    p below alpha rejects exactly the hypotheses Holm's step-down procedure rejects at alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
