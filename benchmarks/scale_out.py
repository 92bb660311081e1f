"""Scale-out against a local stand-in OpenAI server (its own process): shards and merge.

Prints: the wall time of one unsharded GSM8K run, of N shards run side by side (each its own
process and store, as N batch jobs would), of `cothub merge` of those stores (and of merging
them again: idempotent, nothing added), of `cothub plan`, and optionally of `--ray local`.
The shard sizes show how even the hash partition is.

    python benchmarks/scale_out.py --data-dir ../shared/data --shards 4 [--ray]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import stand_in


def cothub(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cothub", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--ray", action="store_true", help="also time --ray local")
    a = ap.parse_args()
    with stand_in(a.latency_ms, 4096) as url, tempfile.TemporaryDirectory() as tmp:
        base = ["gsm8k", "--model", "openai/stand-in", "--base-url", url, "--data-dir", a.data_dir,
                "--concurrency", str(a.concurrency)]  # fmt: skip
        t_plan = cothub("plan", *base, "--store", f"{tmp}/whole.db")
        t_whole = cothub("run", *base, "--store", f"{tmp}/whole.db")
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cothub",
                    "run",
                    *base,
                    "--shard",
                    f"{i}/{a.shards}",
                    "--store",
                    f"{tmp}/shard{i}.db",
                ],
                stdout=subprocess.DEVNULL,
            )
            for i in range(a.shards)
        ]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit("a shard failed")
        t_shards = time.perf_counter() - start
        sizes = [
            sqlite3.connect(f"{tmp}/shard{i}.db")
            .execute("SELECT count(*) FROM samples")
            .fetchone()[0]
            for i in range(a.shards)
        ]
        shards = [f"{tmp}/shard{i}.db" for i in range(a.shards)]
        t_merge = cothub("merge", f"{tmp}/merged.db", *shards)
        t_again = cothub("merge", f"{tmp}/merged.db", *shards, "--json", f"{tmp}/m.json")
        added = json.loads(Path(f"{tmp}/m.json").read_text())["added"]
        print(f"plan (nothing sent):          {t_plan:6.2f} s")
        print(f"unsharded run:                {t_whole:6.2f} s")
        print(f"{a.shards} shards side by side:       {t_shards:6.2f} s  sizes {sizes}")
        print(f"merge {a.shards} stores:               {t_merge:6.2f} s")
        print(f"merge again (idempotent):     {t_again:6.2f} s  added {added}")
        if a.ray:
            t_ray = cothub("run", *base, "--store", f"{tmp}/ray.db", "--ray", "local")
            print(f"--ray local (incl. start):    {t_ray:6.2f} s")


if __name__ == "__main__":
    main()
