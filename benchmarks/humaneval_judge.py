"""Judging speed on HumanEval: all 164 canonical solutions run with their tests in the sandbox.

    python benchmarks/humaneval_judge.py [--data-dir DIR] [--workers N] [--broken]

Each solution runs in its own bubblewrap sandbox (namespaces, seccomp, limits: see
cothub.sandbox), problems judged in parallel worker threads, at most one sandbox per CPU. The
target: 164/164 passed in under 60 s on two cores. ``--broken`` adds a pass where every body is
``return None`` (nothing may pass). Exit status 1 when a canonical solution is not judged passed,
a broken one is, or the sandbox is unavailable.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

from cothub.data.source import DataSource
from cothub.sandbox import isolation_problem
from cothub.scoring.code import judge_many
from cothub.tasks.humaneval import HumanEval
from cothub.types import Grade, Sample

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("COTHUB_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def canonical(data_dir: Path) -> dict[str, str]:
    import gzip
    import json

    path = data_dir / "humaneval" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {r["task_id"]: r["canonical_solution"] for r in rows}


def timed(task: HumanEval, samples: list[Sample], bodies: dict[str, str], workers: int) -> tuple[
    float, list[Grade]
]:  # fmt: skip
    started = time.perf_counter()
    grades = judge_many(lambda s: task.grade(s, bodies[s.id]), samples, workers)
    return time.perf_counter() - started, grades


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--broken", action="store_true", help="also judge `return None` bodies")
    args = ap.parse_args()
    problem = isolation_problem()
    if problem is not None:
        print(f"sandbox unavailable: {problem}", file=sys.stderr)
        return 1
    task = HumanEval()
    samples = task.load(DataSource.resolve(args.data_dir), []).samples
    bodies = canonical(args.data_dir)
    elapsed, grades = timed(task, samples, bodies, args.workers)
    passed = sum(g.correct for g in grades)
    counts = dict(Counter(g.method for g in grades))
    print(
        f"canonical: {passed}/{len(grades)} passed in {elapsed:.1f} s with the sandbox "
        f"({args.workers} workers, {os.cpu_count()} CPUs; "
        f"{1000 * elapsed / len(grades):.0f} ms per problem); verdicts {counts}"
    )
    ok = passed == len(grades)
    if args.broken:
        elapsed, grades = timed(task, samples, dict.fromkeys(bodies, "    return None\n"),
                                args.workers)  # fmt: skip
        counts = dict(Counter(g.method for g in grades))
        wrongly = sum(g.correct for g in grades)
        print(f"broken (return None): {wrongly}/{len(grades)} passed in {elapsed:.1f} s; {counts}")
        ok = ok and wrongly == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
