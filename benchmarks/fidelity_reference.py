"""Grade the real saved model outputs in shared/reference with cothub's graders and print, per
set, the accuracy beside the published figure, the per-item agreement with the published
verdicts, and the share of items decided by each extraction rule (the unparsed rate included).

    python benchmarks/fidelity_reference.py [--shared DIR] [--only gsm8k,bbh,math500,mmlupro]

Sets that map onto a cothub task: GSM8K-paper GPT-3 solutions (gsm8k), Codex BBH CoT and
answer-only (bbh), MATH-500 completions of the Qwen2.5-Math harness (MATH test problems, graded
with the MATH grader against the MATH-500 ``answer``), MMLU-Pro GPT-4o CoT (graded with the
multiple-choice extractor over its own 10 letters; MMLU-Pro is not a cothub task, so this checks
the extractor, not a task). TheoremQA maps onto no cothub task and is not graded.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cothub.extract.choice import BBH_TASKS, extract_option
from cothub.scoring.choice import grade_bbh
from cothub.scoring.math_equiv import grade_math
from cothub.scoring.numeric import grade_numeric
from cothub.types import Grade

NO_ANSWER = {
    "none",
    "unparsed",
    "refusal",
    "hedge",
    "several",
    "ambiguous",
    "repetition",
    "cut-unanswered",
    "json-null",
    "empty-boxed",
    "unclosed-boxed",
    "unclosed-think",
}


def _shares(methods: Sequence[str]) -> str:
    n = len(methods)
    counts = Counter(methods)
    return ", ".join(f"{m} {100 * c / n:.1f}%" for m, c in counts.most_common())


def _report(name: str, grades: Sequence[Grade], published: float, flags: Sequence[bool]) -> None:
    n = len(grades)
    acc = 100 * sum(g.correct for g in grades) / n
    agree = sum(g.correct == f for g, f in zip(grades, flags, strict=True))
    unparsed = sum(g.answer is None for g in grades)
    print(
        f"{name}: {acc:.2f} (published {published:.2f}); per-item agreement {agree}/{n} "
        f"({100 * agree / n:.1f}%); unparsed {100 * unparsed / n:.1f}%"
    )
    print(f"    methods: {_shares([g.method for g in grades])}")


def gsm8k(shared: Path) -> None:
    path = shared / "reference/gsm8k-model-solutions/example_model_solutions.jsonl"
    golds = [
        json.loads(line)["answer"].rsplit("####", 1)[1].strip()
        for line in (shared / "data/gsm8k/test.jsonl").open()
    ]
    rows = [json.loads(line) for line in path.open()]
    for run in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
        grades = [grade_numeric(r[run]["solution"], g) for r, g in zip(rows, golds, strict=True)]
        flags = [r[run]["is_correct"] for r in rows]
        _report(f"gsm8k {run}", grades, 100 * sum(flags) / len(flags), flags)


def bbh(shared: Path) -> None:
    root = shared / "reference/bbh-code-davinci-002-outputs/code-davinci-002-outputs"
    for mode, folder in (("cot", "code-davinci-002-cot"), ("direct", "code-davinci-002-direct")):
        accs: list[float] = []
        published: list[float] = []
        all_grades: list[Grade] = []
        for task in BBH_TASKS:
            stem = root / folder / f"{task}_few_shot_template_0-255000"
            outputs = json.loads(stem.with_suffix(".json").read_text())["outputs"]
            items = json.loads((shared / f"data/bbh/bbh/{task}.json").read_text())["examples"]
            metrics = json.loads(Path(f"{stem}_eval_metrics.jsonl").read_text().splitlines()[0])
            grades = [
                grade_bbh(task, o["prediction"], o["target"], question=ex["input"], mode=mode)
                for o, ex in zip(outputs, items, strict=True)
            ]
            accs.append(100 * sum(g.correct for g in grades) / len(grades))
            published.append(float(metrics["accuracy"]))
            all_grades += grades
        same = sum(round(a, 2) == round(p, 2) for a, p in zip(accs, published, strict=True))
        print(
            f"bbh {mode}: mean of 27 {sum(accs) / 27:.2f} (published {sum(published) / 27:.2f}); "
            f"{same}/27 per-task accuracies equal; lenient vs strict disagreements "
            f"{sum(g.disagreement for g in all_grades)}"
        )
        print(f"    methods: {_shares([g.method for g in all_grades])}")


def _math(text: str, gold: str, stops: Sequence[str]) -> Grade:
    try:
        return grade_math(text, gold, stops=stops)
    except TypeError:  # a cothub without stop support (for before/after figures)
        return grade_math(text, gold)


def math500(shared: Path) -> None:
    root = shared / "reference/math500-qwen25-math-harness-outputs/outputs"
    answers = [json.loads(line)["answer"] for line in (shared / "data/math500/test.jsonl").open()]
    for run in ("Qwen/Qwen2.5-14B-Instruct", "google/gemma-2-27b-it", "Qwen/Qwen2.5-Math-7B"):
        folder = root / run / "math500_eval/math500"
        rows = [
            json.loads(line)
            for line in (folder / "test_qwen25-math-cot_-1_seed0_t0.0_s0_e-1.jsonl").open()
        ]
        metrics = json.loads(
            (
                folder / "test_qwen25-math-cot_-1_seed0_t0.0_s0_e-1_qwen25-math-cot_metrics.json"
            ).read_text()
        )
        stops = ("<|im_end|>", "</s>", "<|endoftext|>")
        grades = [_math(r["code"][0], answers[r["idx"]], stops) for r in rows]
        flags = [bool(r["score"][0]) for r in rows]
        _report(f"math500 {run}", grades, float(metrics["acc"]), flags)


def mmlu_pro(shared: Path) -> None:
    root = shared / "reference/mmlu-pro-gpt-4o-outputs/eval_results/gpt4o"
    total = agree_pred = correct = n = 0
    methods: list[str] = []
    for path in sorted(root.glob("*_result.json")):
        for item in json.loads(path.read_text()):
            letters = "ABCDEFGHIJ"[: len(item["options"])]
            options = dict(zip(letters, item["options"], strict=True))
            found = extract_option(item["response"], letters, options)
            letter = found.value[1:-1] if found.value else None
            methods.append(found.method)
            n += 1
            correct += letter == item["answer"]
            agree_pred += letter == item["pred"]
            total += item["pred"] == item["answer"]
    print(
        f"mmlu-pro gpt-4o: {100 * correct / n:.2f} (published 72.55 incl. seeded guesses; "
        f"{100 * total / n:.2f} by the published regex alone); same letter as the published "
        f"regex on {agree_pred}/{n}; unparsed "
        f"{100 * sum(m in NO_ANSWER for m in methods) / n:.1f}%"
    )
    print(f"    methods: {_shares(methods)}")


SETS = {"gsm8k": gsm8k, "bbh": bbh, "math500": math500, "mmlupro": mmlu_pro}


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(os.environ.get("COTHUB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--shared", type=Path, default=default)
    parser.add_argument("--only", default=",".join(SETS))
    args = parser.parse_args()
    for name in args.only.split(","):
        start = time.perf_counter()
        SETS[name](args.shared)
        print(f"    ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
