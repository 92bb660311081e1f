"""Scoring is never the bottleneck: load, render and grade every item of every benchmark.

Each item is graded against a synthetic completion that states its gold answer the way a model
would, so every verdict must come out correct. Prints items, seconds per stage and items/s.

    python benchmarks/scoring.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import time

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.tasks import TASKS, PromptOptions

ANSWER = {
    "gsm8k": "Let's think step by step.\nThe answer is {gold}.",
    "math": "We simplify.\nThe final answer is $\\boxed{{{gold}}}$.",
    "mmlu": "Let's think step by step. The answer is ({gold}).",
    "bbh": "Let's think step by step. So the answer is {gold}.",
    "bbeh": "Let me think.\nThe answer is: {gold}",
    "theoremqa": "Let me think.\nTherefore, the answer is {gold}.",
    "musr": "Let me think.\nANSWER: {gold}",
    "ceval": "{gold}",
    "cmmlu": "{gold}",
    "math500": "We simplify.\nThe final answer is $\\boxed{{{gold}}}$.",
    "mmlu-pro": "Let's think step by step. The answer is ({gold}).",
    "gsm8k-platinum": "Let's think step by step.\nThe answer is {gold}.",
    "aime2024": "So the answer is $\\boxed{{{gold}}}$.",
    "aime2025": "So the answer is $\\boxed{{{gold}}}$.",
    "aime2026": "So the answer is $\\boxed{{{gold}}}$.",
    "gpqa-diamond": "Let me think.\nAnswer: {gold}",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=os.environ.get("COTHUB_DATA_DIR", "../shared/data"))
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = ap.parse_args()
    data = DataSource.resolve(args.data_dir)
    for name in args.tasks:
        task = TASKS[name]
        t0 = time.perf_counter()
        try:
            samples = task.load(data, []).samples
        except CothubError as e:  # a Hub-only benchmark, offline
            print(f"{name:6} skipped: {e}")
            continue
        t1 = time.perf_counter()
        for style in ("completions", "chat"):
            prompter = task.prompter(data, task.default_format, PromptOptions(style=style))
            for s in samples:
                prompter.render(s)
        t2 = time.perf_counter()
        template = ANSWER.get(name, "The answer is {gold}.")
        correct = sum(
            task.grade(s, template.format(gold=s.gold), task.default_format).correct
            for s in samples
        )
        t3 = time.perf_counter()
        n = len(samples)
        print(
            f"{name:6} {n:6} items: load {t1 - t0:5.2f} s, render x2 styles {t2 - t1:5.2f} s, "
            f"grade {t3 - t2:5.2f} s ({n / max(t3 - t2, 1e-9):,.0f}/s), correct {correct}/{n}"
        )


if __name__ == "__main__":
    main()
