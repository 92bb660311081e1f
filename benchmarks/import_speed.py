"""Speed of ``cothub import``: the 1,319 GSM8K-paper GPT-3 solutions matched, graded, stored.

    python benchmarks/import_speed.py [--shared DIR]

Prints the wall time of the whole import (reading, matching, grading, storing), which must stay
under 5 s, and the grading time alone; exit status 1 when the import is slower or the published
accuracy (34.72 % for 175b_finetuning) is not reproduced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from cothub.importer import Fields, ImportConfig, import_completions
from cothub.scoring.numeric import grade_numeric

LIMIT_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(os.environ.get("COTHUB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--shared", type=Path, default=default)
    args = parser.parse_args()
    solutions = args.shared / "reference/gsm8k-model-solutions/example_model_solutions.jsonl"
    data = args.shared / "data"
    config = ImportConfig(
        "gsm8k",
        (solutions,),
        "gpt3-175b",
        fields=Fields(completion="175b_finetuning.solution", question="question"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = import_completions(config, data_dir=data, store_path=Path(tmp) / "s.db")
        wall = time.perf_counter() - start
    summary = report.result.summaries["gsm8k"]
    rows = [json.loads(line) for line in solutions.open(encoding="utf-8")]
    golds = [
        json.loads(line)["answer"].rsplit("####", 1)[1].strip()
        for line in (data / "gsm8k/test.jsonl").open(encoding="utf-8")
    ]
    start = time.perf_counter()
    for row, gold in zip(rows, golds, strict=True):
        grade_numeric(row["175b_finetuning"]["solution"], gold)
    grading = time.perf_counter() - start
    print(
        f"import of {summary.n:,} GSM8K completions: {wall:.2f} s (limit {LIMIT_S:.0f} s); "
        f"grading alone {grading:.2f} s; accuracy {100 * summary.accuracy:.2f} % (published 34.72)"
    )
    if wall > LIMIT_S or round(100 * summary.accuracy, 2) != 34.72:
        sys.exit(1)


if __name__ == "__main__":
    main()
