"""Speed of ``cothub view`` on a large store: two runs of 100,000 samples each on the same items.

    python benchmarks/view_speed.py [--samples 100000] [--store PATH] [--repeat 10]

Builds (or reuses, with ``--store``) a synthetic store through the store API: GSM8K, BBH (27
tasks), MMLU (57 subjects) and MATH (7 subjects x 5 levels) items with realistic text sizes,
run A and run B right on different items. Then serves it with the view on 127.0.0.1 and times
real HTTP requests (median and p95 over ``--repeat``): the run list, sample pages (first, deep,
last), each filter (the judge's verdicts on A's unparsed and disagreeing items too), a
search, a drill-down, the two-run comparison and its word diff. Exit
status 1 when a sample-browsing or comparison page's p95 reaches 200 ms once warm. What a run's
first visit builds (its in-memory sample index, the plots' one pass over its samples) is timed
apart, cold: ``cothub view`` builds both in the background from the start.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

LIMIT_MS = 200.0
BBH = [f"bbh_task_{i:02d}" for i in range(27)]
MMLU = [f"subject_{i:02d}" for i in range(57)]
MATH = [
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
]


def build(path: Path, n: int) -> tuple[str, str]:
    from cothub.store import Store
    from cothub.store.sqlite import Judgement
    from cothub.types import (
        Completion,
        Grade,
        Message,
        ModelId,
        Prompt,
        RunManifest,
        Sample,
        SampleRecord,
        TaskManifest,
    )

    rng = random.Random(0)
    words = [
        "the",
        "answer",
        "step",
        "so",
        "we",
        "add",
        "multiply",
        "then",
        "total",
        "each",
        "of",
        "is",
        "are",
        "first",
        "next",
        "therefore",
        "because",
        "number",
        "value",
        "equation",
    ]
    split = {"gsm8k": 0.25, "bbh": 0.25, "mmlu": 0.25, "math": 0.25}
    items: list[tuple[str, str, str, tuple[tuple[str, str], ...]]] = []
    for task, share in split.items():
        for i in range(int(n * share)):
            if task == "bbh":
                sub, tags = BBH[i % 27], ()
            elif task == "mmlu":
                sub, tags = MMLU[i % 57], ()
            elif task == "math":
                sub, tags = MATH[i % 7], (("level", str(1 + (i // 7) % 5)),)
            else:
                sub, tags = "", ()
            items.append((task, f"test/{i}", sub, tags))
    while len(items) < n:
        items.append(("gsm8k", f"extra/{len(items)}", "", ()))
    ids = []
    store = Store(path)
    try:
        for name, bias in (("bench-a", 0.6), ("bench-b", 0.5)):
            manifest = RunManifest(
                model=ModelId("openai", name, "http://127.0.0.1:1/v1", "chat"),
                tasks=tuple((t, TaskManifest("1", "fewshot-cot")) for t in split),
                grader="cothub/bench",
            )
            rid = manifest.run_id
            ids.append(rid)
            store.begin_run(rid, manifest.model.name, list(split), manifest)
            batch = []
            judged: list[Judgement] = []
            for task, item, sub, tags in items:
                body = " ".join(rng.choice(words) for _ in range(70))
                ok = rng.random() < bias
                trunc = rng.random() < 0.05
                text = f"Let's think step by step. {body} The answer is {rng.randint(1, 99)}."
                batch.append(
                    SampleRecord(
                        task=task,
                        sample=Sample(
                            item,
                            f"Question {item}: " + " ".join(rng.choice(words) for _ in range(40)),
                            "42",
                            sub,
                            tags,
                        ),
                        prompt=Prompt("chat", messages=(Message("user", "Q: " + body[:300]),)),
                        completion=Completion(
                            text,
                            "length" if trunc else "stop",
                            None,
                            400,
                            120 + rng.randint(0, 300),
                            0,
                            0.5,
                        ),
                        grade=Grade(
                            ok and not trunc,
                            None if trunc else "42",
                            "final-phrase",
                            (len(text) - 3, len(text) - 1),
                            "numeric",
                            disagreement=rng.random() < 0.02,
                        ),
                        cache_key=f"{name}:{task}:{item}",
                        requests=1,
                    )
                )
                g = batch[-1].grade
                if name == "bench-a" and (g.answer is None or g.disagreement):
                    verdict = rng.choice(("correct", "incorrect", "no-answer"))
                    judged.append(Judgement(rid, task, item, "openai/bench-judge", "judge-v1",
                                            "unparsed" if g.answer is None else "disagreement",
                                            verdict, f"VERDICT: {verdict}", 300, 4, 0, None,
                                            f"judge:{task}:{item}"))  # fmt: skip
                if len(batch) == 5000:
                    store.record(rid, batch)
                    batch = []
            store.record(rid, batch)
            store.record_judgements(judged)  # A's unparsed and disagreeing items (cothub judge)
            store.finish_run(rid, "complete", None)
    finally:
        store.close()
    return ids[0], ids[1]


def timed(url: str, repeat: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(repeat):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
            assert r.status == 200, url
        times.append(1000 * (time.perf_counter() - t))
        size = len(body)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="reuse (or create) this store file")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    from cothub.view import serving

    tmp = tempfile.TemporaryDirectory()
    path = args.store or Path(tmp.name) / "big.db"
    t0 = time.perf_counter()
    if path.exists():
        from cothub.store import open_store

        runs = sorted(open_store(path, readonly=True).runs(), key=lambda r: r.model)
        a, b = runs[0].run_id, runs[1].run_id
        print(f"reusing {path}")
    else:
        a, b = build(path, args.samples)
        print(
            f"built {path}: 2 runs x {args.samples:,} samples in "
            f"{time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)"
        )
    last = -(-args.samples // 50)
    item = quote("test/123", safe="")
    pages = [
        ("run list", "/"),
        ("samples page 1", f"/runs/{a}/samples"),
        ("samples page 1000", f"/runs/{a}/samples?page=1000"),
        ("samples last page", f"/runs/{a}/samples?page={last}"),
        ("filter task=bbh", f"/runs/{a}/samples?task=bbh"),
        ("filter subset", f"/runs/{a}/samples?task=mmlu&subset=subject_07"),
        ("filter wrong", f"/runs/{a}/samples?outcome=wrong"),
        ("filter unparsed", f"/runs/{a}/samples?unparsed=1"),
        ("filter truncated", f"/runs/{a}/samples?truncated=1"),
        ("filter disagreement", f"/runs/{a}/samples?disagreement=1"),
        ("filter check", f"/runs/{a}/samples?check=numeric&outcome=correct&page=200"),
        ("filter judged", f"/runs/{a}/samples?judge=judged"),
        ("filter judge says wrong p20", f"/runs/{a}/samples?judge=judge-wrong&page=20"),
        ("search (rare)", f"/runs/{a}/samples?q=test/9999"),
        ("search (in every sample)", f"/runs/{a}/samples?q=answer"),
        ("drill-down", f"/runs/{a}/sample?task=math&item={item}"),
        ("filter judged task=math", f"/runs/{a}/samples?judge=judged&task=math"),
        ("compare A right/B wrong", f"/compare?a={a}&b={b}"),
        ("compare B right/A wrong p100", f"/compare?a={a}&b={b}&which=b_right_a_wrong&page=100"),
        ("compare item (word diff)", f"/compare/item?a={a}&b={b}&task=gsm8k&item={item}"),
    ]
    worst = 0.0
    with serving(path, warm=False) as url:  # cold: nothing built before the first request
        for name, p in (
            ("first sample page (builds the run's index)", f"/runs/{a}/samples"),
            ("first comparison (builds B's index)", f"/compare?a={a}&b={b}"),
            ("first run summary (one pass for the plots)", f"/runs/{a}"),
        ):
            ms = timed(url + p, 1)[0]
            print(f"cold: {name}: {ms / 1000:.2f} s")
        print(f"{'page (warm)':32} {'median ms':>10} {'p95 ms':>8} {'KB':>6}")
        for name, p in [("run summary (cached plots)", f"/runs/{a}"), *pages]:
            timed(url + p, 1)  # the first search reads the texts; a comparison pairs the items
            med, p95, size = timed(url + p, args.repeat)
            if name != "run list" and "summary" not in name:
                worst = max(worst, p95)
            print(f"{name:32} {med:10.1f} {p95:8.1f} {size / 1024:6.0f}")
    ok = worst < LIMIT_MS
    print(f"slowest p95 {worst:.1f} ms: {'OK' if ok else 'FAIL'} (limit {LIMIT_MS:.0f} ms)")
    tmp.cleanup()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
