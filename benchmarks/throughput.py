"""Throughput of a full GSM8K run against a local stand-in OpenAI server (a separate process).

Prints: whole-process wall time against the floor (items x latency / slots), requests/s at 0 ms
latency, CPU milliseconds per request at 0 ms latency (the whole process's, and the marginal cost
of one more request: the difference to a --limit run, start-up cancelled out), a full MMLU run
(14,042 requests, 256 in flight, 0 ms latency: requests/s and peak RSS), and `cothub --help`
time. Each scenario uses a fresh store, so every request is really sent. Medians are reported.

    python benchmarks/throughput.py --data-dir ../shared/data
    PYTHONPATH=/path/to/other/src python benchmarks/throughput.py   # another tree, same script
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 1319
MMLU_ITEMS = 14042


@contextmanager
def stand_in(latency_ms: float, slots: int) -> Iterator[str]:
    """The stand-in server in its own process; yields its base URL."""
    cmd = [
        sys.executable, "-m", "cothub.testing.openai_server", "--port", "0",
        "--latency-ms", str(latency_ms), "--slots", str(slots), "--no-record",
        "--default", "Let's think step by step\nShe has 16 - 3 - 4 = 9 eggs.\nThe answer is 18.",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_cothub(
    base_url: str, data_dir: str, concurrency: int, task: str = "gsm8k", extra: tuple[str, ...] = ()
) -> tuple[float, float, dict, float]:
    """(wall seconds, peak RSS in MB, --json output, CPU seconds) of one `cothub run` process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [
            sys.executable, "-m", "cothub", "run", task, "--model", "openai/stand-in",
            "--base-url", base_url, "--data-dir", data_dir, "--store", f"{tmp}/store.db",
            "--concurrency", str(concurrency), "--json", str(out), *extra,
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"cothub run failed with status {status}")
        result = json.loads(out.read_text())
    return wall, usage.ru_maxrss / 1024, result, usage.ru_utime + usage.ru_stime


# The same requests from a bare loop over the same SDK client and transport: what the SDK alone
# costs as a whole process, for scale.
BARE_LOOP = """
import asyncio, sys
from cothub.models.openai_api import OpenAIBackend
from cothub.types import GenerateConfig, Message, Prompt

async def main() -> None:
    backend = OpenAIBackend("stand-in", "chat", sys.argv[1])
    prompt = Prompt("chat", messages=(Message("user", "x " * 600),) * 17)
    config = GenerateConfig(max_tokens=512)
    left = list(range(int(sys.argv[3])))
    async def worker() -> None:
        while left:
            left.pop()
            await backend.generate(prompt, config)
    await asyncio.gather(*(worker() for _ in range(int(sys.argv[2]))))
    await backend.aclose()

asyncio.run(main())
"""


def bare_loop(base_url: str, concurrency: int) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-c", BARE_LOOP, base_url, str(concurrency), str(N_ITEMS)]
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def help_time(repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cothub", "--help"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=os.environ.get("COTHUB_DATA_DIR", "../shared/data"))
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="runs per scenario; medians reported")
    ap.add_argument(
        "--only", choices=("floor", "zero", "mmlu"), help="one scenario (default: all of them)"
    )
    args = ap.parse_args()
    for name, scenario in (("floor", floor_scenario), ("zero", zero_latency), ("mmlu", mmlu)):
        if args.only in (None, name):
            scenario(args)
    print(f"cothub --help: {help_time():.3f} s (best of 5)")


def floor_scenario(args: argparse.Namespace) -> None:
    """The full GSM8K run against the floor, beside a bare loop over the same SDK client."""
    with stand_in(args.latency_ms, args.slots) as url:
        walls, bares = [], []
        for _ in range(args.repeats):  # alternated, so load from elsewhere hits both alike
            wall, _, result, _ = run_cothub(url, args.data_dir, args.concurrency)
            assert result["usage"]["requests"] == N_ITEMS, result["usage"]
            walls.append(wall)
            bares.append(bare_loop(url, args.concurrency))
    floor = N_ITEMS * args.latency_ms / 1000 / args.slots
    wall, bare = statistics.median(walls), statistics.median(bares)
    print(f"latency {args.latency_ms:.0f} ms, {args.slots} slots, concurrency {args.concurrency}:")
    print(f"  wall {wall:.2f} s median (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  floor {floor:.2f} s -> {wall / floor:.3f} x floor (best {min(walls) / floor:.3f} x)")
    print(f"  bare SDK loop, same client: {bare:.2f} s -> {bare / floor:.3f} x floor")


def zero_latency(args: argparse.Namespace) -> None:
    """Requests/s, peak RSS and CPU per request with a server that answers at once."""
    limit = 100
    with stand_in(0, args.slots) as url:
        walls, cpus, rss, marginal = [], [], 0.0, []
        for _ in range(args.repeats):
            wall, peak, result, cpu = run_cothub(url, args.data_dir, args.concurrency)
            assert result["usage"]["requests"] == N_ITEMS, result["usage"]
            _, _, small, cpu_small = run_cothub(
                url, args.data_dir, args.concurrency, extra=("--limit", str(limit))
            )
            assert small["usage"]["requests"] == limit, small["usage"]
            walls.append(wall)
            cpus.append(cpu)
            marginal.append((cpu - cpu_small) / (N_ITEMS - limit))
            rss = max(rss, peak)
    wall = statistics.median(walls)
    print(f"latency 0 ms, concurrency {args.concurrency}:")
    print(
        f"  wall {wall:.2f} s for {N_ITEMS} items, start-up included -> {N_ITEMS / wall:.0f} req/s"
    )
    print(
        f"  CPU {1000 * statistics.median(cpus) / N_ITEMS:.2f} ms/request (whole process), "
        f"{1000 * statistics.median(marginal):.2f} ms/request marginal (vs --limit {limit})"
    )
    print(f"peak RSS of cothub run: {rss:.0f} MB")


def mmlu(args: argparse.Namespace) -> None:
    """The whole of MMLU's test split at 0 ms latency with 256 in flight."""
    concurrency = 256
    with stand_in(0, concurrency) as url:
        walls, rss = [], 0.0
        for _ in range(max(1, args.repeats - 1)):
            wall, peak, result, _ = run_cothub(url, args.data_dir, concurrency, task="mmlu")
            # Identical prompts (27 in the test split) are sent once.
            assert result["tasks"]["mmlu"]["n"] == MMLU_ITEMS, result["tasks"]["mmlu"]
            walls.append(wall)
            rss = max(rss, peak)
    wall = statistics.median(walls)
    print(f"MMLU, {MMLU_ITEMS} requests, latency 0 ms, concurrency {concurrency}:")
    print(f"  wall {wall:.2f} s -> {MMLU_ITEMS / wall:.0f} req/s; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
