"""Grading speed on MATH: every test gold, boxed in a completion, graded against itself.

    python benchmarks/math_grading.py [--data-dir DIR] [--perturbed] [--threads N]

The plain pass must judge 5,000/5,000 equal (in well under 60 s on two cores): it measures the
per-item cost of thinking-stripping, extraction and the check cascade. ``--perturbed`` adds a
pass where each gold is rewritten (``\\dfrac``, spaces after commas, a ``x = `` prefix) so the
normalised and math-verify checks do the work, which is closer to grading real completions;
``--threads`` grades from a thread pool (math-verify runs in worker processes, so it scales).
Exit status 1 when any item of the plain pass is not judged equal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cothub.extract.latex import gold_from_solution
from cothub.scoring.math_equiv import grade_math
from cothub.types import Grade

REPO = Path(__file__).resolve().parents[1]
_COMMA = re.compile(r"(?<!\{),(?!\})")  # not the "{,}" thousands separator


def default_data_dir() -> Path:
    env = os.environ.get("COTHUB_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_golds(data_dir: Path) -> list[str]:
    files = sorted((data_dir / "MATH" / "test").glob("*/*.json"))
    if not files:
        raise SystemExit(f"no MATH test files under {data_dir / 'MATH' / 'test'}")
    return [gold_from_solution(json.loads(f.read_text())["solution"]) for f in files]


def perturb(gold: str) -> str:
    """A differently written but equal answer (exercises the normalised and symbolic checks)."""
    out = _COMMA.sub(", ", gold.replace("\\frac", "\\dfrac"))
    return out if ("=" in out or "\\in" in out) else "x = " + out


def grade_one(pair: tuple[str, str]) -> Grade:
    answer, gold = pair
    return grade_math(f"Working omitted. So the answer is $\\boxed{{{answer}}}$.", gold)


def run_pass(name: str, golds: list[str], answers: list[str], threads: int) -> int:
    checks: Counter[str] = Counter()
    pairs = list(zip(answers, golds, strict=True))
    start = time.perf_counter()
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            grades = list(pool.map(grade_one, pairs))
    else:
        grades = [grade_one(p) for p in pairs]
    wall = time.perf_counter() - start
    for grade in grades:
        checks[grade.check if grade.correct else f"not equal ({grade.check})"] += 1
    equal = sum(n for check, n in checks.items() if not check.startswith("not equal"))
    print(f"[{name}] items: {len(golds)}  equal: {equal}/{len(golds)}")
    rate = len(golds) / wall
    print(f"[{name}] wall: {wall:.2f} s  rate: {rate:,.0f} items/s  threads: {threads}")
    print(f"[{name}] deciding checks: {dict(checks.most_common())}")
    return len(golds) - equal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--perturbed", action="store_true", help="also grade rewritten golds")
    parser.add_argument("--threads", type=int, default=1, help="grade from this many threads")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    golds = load_golds(args.data_dir)
    print(f"loaded {len(golds)} MATH test golds in {time.perf_counter() - t0:.2f} s")
    failures = run_pass("self", golds, golds, args.threads)
    if args.perturbed:
        # Not required to be 5,000/5,000: a rewrite can change meaning (e.g. "x = " before a
        # gold that is itself an equation in another variable); the figures are about speed.
        run_pass("perturbed", golds, [perturb(g) for g in golds], args.threads)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
