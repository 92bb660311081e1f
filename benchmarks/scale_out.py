"""Scale-out against local stand-in OpenAI servers (each its own process): Ray, replicas, shards.

Part 1, one run spread over servers: stand-ins with ``--latency-ms`` (200) and ``--slots`` (4)
per server, as GPU servers with a fixed number of decode slots. GSM8K (``--limit`` items) runs
in one process and on a local Ray cluster with 2 and 4 workers, against 1, 2 and 4 servers (one
per worker: ``--replica-url``; Ray runs with fewer workers than servers are left out). Each row
prints wall time, the start-up within it (clients built; Ray: actors started), the floor
(requests / (servers x slots) x latency), wall / floor, the ratio to the one-process run against
one server and against as many servers, the CPU per request (this process, and the Ray
cluster's: workers and raylet, start-up included), and the wall time above the floor per
request. Then the overhead Ray adds per request against the one-process run on as many servers:
wall, wall once the actors are up, and CPU.

Part 2 (the figures issue 14 first asked for): one unsharded run, ``--shards`` shards side by
side (each its own process and store, as batch jobs would), ``cothub merge`` of their stores (and
again: idempotent), and ``cothub plan``.

    python benchmarks/scale_out.py --data-dir ../shared/data --limit 200 [--shards 4]

On a 2-core machine absolute times are noisy: read the ratios, from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from throughput import stand_in

SERVERS = (1, 2, 4)
WORKERS = (0, 2, 4)  # 0: one process, no Ray


@dataclass
class Row:
    servers: int
    workers: int
    wall: float
    requests: int
    cpu_here: float
    cpu_workers: float
    startup: float
    """Seconds until every worker had built its client (Ray: actors started), part of wall."""


def _tree_cpu() -> float:
    """CPU seconds of this process's descendants now alive (the Ray cluster it started)."""
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def one_run(urls: list[str], workers: int, data_dir: str, limit: int, concurrency: int) -> Row:
    """GSM8K against ``urls`` (the first as --base-url) into a fresh store; Ray when workers."""
    from cothub.data.source import DataSource
    from cothub.models import Backend, parse_model
    from cothub.models.replicas import make_replicated
    from cothub.run import RunConfig, Runner, plan
    from cothub.store import open_store
    from cothub.tasks import PromptOptions

    config = RunConfig(
        tasks=("gsm8k",), format=None, options=PromptOptions(style="chat", seed=0), limit=limit,
        seed=0, max_tokens=None, temperature=0.0, concurrency=concurrency,
    )  # fmt: skip
    plans = plan(config, DataSource.resolve(data_dir), "chat")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "s.db")
        cpu0, tree0, start = (
            time.process_time(),
            _tree_cpu() if workers else 0.0,
            time.perf_counter(),
        )

        async def go() -> tuple[Any, float, float]:
            backend: Backend
            t0 = time.perf_counter()
            if workers:
                from cothub.scale.ray_backend import RayBackend

                backend = RayBackend("openai/stand-in", "chat", urls[0], workers=workers,
                                     concurrency=concurrency, replica_urls=urls[1:])  # fmt: skip
            else:
                backend = make_replicated(parse_model("openai/stand-in"), "chat", urls[0], urls[1:])
            up = time.perf_counter() - t0
            try:
                result = await Runner(backend, store, config).run(plans)
                return result, _tree_cpu() if workers else 0.0, up  # before the actors are gone
            finally:
                await backend.aclose()

        try:
            result, tree1, up = asyncio.run(go())
        finally:
            store.close()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if result.status != "complete":
        raise SystemExit(f"run ended {result.status}")
    return Row(len(urls), workers, wall, result.usage.requests, cpu, tree1 - tree0, up)


def spread(a: argparse.Namespace) -> None:
    """Part 1: one run over 1, 2 and 4 servers, in one process and on Ray."""
    ray: Any
    try:
        import ray
    except ImportError:
        ray = None
        print("ray is not installed (pip install 'cothub[ray]'): one-process rows only")
    with ExitStack() as stack:
        urls = [stack.enter_context(stand_in(a.latency_ms, a.slots)) for _ in range(max(SERVERS))]
        start = time.perf_counter()
        if ray is not None:
            ray.init(num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
        t_ray = time.perf_counter() - start
        rows: list[Row] = []
        for k in SERVERS:
            for w in WORKERS:
                if (w and ray is None) or (w and w < k):
                    continue
                rows.append(one_run(urls[:k], w, a.data_dir, a.limit, a.concurrency))
        if ray is not None:
            ray.shutdown()
    lat = a.latency_ms / 1000
    base = {r.servers: r for r in rows if r.workers == 0}
    first = base[1].wall
    print(
        f"GSM8K, {rows[0].requests} requests, {a.latency_ms:g} ms latency, {a.slots} slots per "
        f"server, --concurrency {a.concurrency}; Ray cluster start {t_ray:.1f} s (not counted)"
    )
    print(
        "servers  run            wall s  start s  floor s  /floor  /1proc,1srv  /1proc  "
        "CPU ms/req here+workers  above floor ms/req"
    )
    for r in rows:
        floor = r.requests / (r.servers * a.slots) * lat
        name = "one process" if r.workers == 0 else f"Ray {r.workers} workers"
        cpu = f"{1000 * r.cpu_here / r.requests:5.1f} + {1000 * r.cpu_workers / r.requests:5.1f}"
        print(
            f"{r.servers:>7}  {name:<13} {r.wall:7.2f}  {r.startup:7.2f}  {floor:7.2f}  "
            f"{r.wall / floor:6.2f}  "
            f"{r.wall / first:11.2f}  {r.wall / base[r.servers].wall:6.2f}  {cpu:>23}  "
            f"{1000 * (r.wall - floor) / r.requests:18.1f}"
        )
    for r in (r for r in rows if r.workers):
        b = base[r.servers]
        extra_wall = 1000 * (r.wall - b.wall) / r.requests
        after_start = 1000 * (r.wall - r.startup - b.wall + b.startup) / r.requests
        extra_cpu = 1000 * (r.cpu_here + r.cpu_workers - b.cpu_here) / r.requests
        print(
            f"overhead of Ray {r.workers} workers on {r.servers} servers, per request: "
            f"{extra_wall:+.1f} ms wall ({after_start:+.1f} ms once the actors are up), "
            f"{extra_cpu:+.1f} ms CPU"
        )


def cothub(*args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cothub", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cothub {args[0]} failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def shards(a: argparse.Namespace) -> None:
    """Part 2: shards side by side as batch jobs, then merge."""
    with stand_in(a.latency_ms, 4096) as url, tempfile.TemporaryDirectory() as tmp:
        base = [
            "gsm8k",
            "--model",
            "openai/stand-in",
            "--base-url",
            url,
            "--data-dir",
            a.data_dir,
            "--concurrency",
            str(a.concurrency),
            "--limit",
            str(a.limit),
        ]
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
                stderr=subprocess.DEVNULL,  # progress lines; a failure is reported below
            )
            for i in range(a.shards)
        ]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit(f"a shard failed: run {p.args!r} to see why")
        t_shards = time.perf_counter() - start
        sizes = [
            sqlite3.connect(f"{tmp}/shard{i}.db")
            .execute("SELECT count(*) FROM samples")
            .fetchone()[0]
            for i in range(a.shards)
        ]
        stores = [f"{tmp}/shard{i}.db" for i in range(a.shards)]
        t_merge = cothub("merge", f"{tmp}/merged.db", *stores)
        t_again = cothub("merge", f"{tmp}/merged.db", *stores, "--json", f"{tmp}/m.json")
        added = json.loads(Path(f"{tmp}/m.json").read_text())["added"]
        print(f"plan (nothing sent):          {t_plan:6.2f} s")
        print(f"unsharded run:                {t_whole:6.2f} s")
        print(f"{a.shards} shards side by side:       {t_shards:6.2f} s  sizes {sizes}")
        print(f"merge {a.shards} stores:               {t_merge:6.2f} s")
        print(f"merge again (idempotent):     {t_again:6.2f} s  added {added}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--limit", type=int, default=200, help="GSM8K items (one request each)")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--slots", type=int, default=4, help="requests served at once per server")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--shards", type=int, default=4)
    a = ap.parse_args()
    spread(a)
    shards(a)


if __name__ == "__main__":
    main()
