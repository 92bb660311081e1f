"""Self-consistency with K=8 on the full GSM8K against the stand-in server: one request per item
with ``n`` (prompt tokens paid once) against the K-request fallback (``batch=false``).

    python benchmarks/self_consistency.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import stand_in


def run(base_url: str, data_dir: str, batch: bool, k: int) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [
            sys.executable, "-m", "cothub", "run", "gsm8k", "--model", "openai/stand-in",
            "--base-url", base_url, "--data-dir", data_dir, "--store", f"{tmp}/s.db",
            "--json", str(out), "--concurrency", "64",
            "--strategy", f"self-consistency:k={k},batch={'true' if batch else 'false'}",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text()), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=os.environ.get("COTHUB_DATA_DIR", "../shared/data"))
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    with stand_in(0, 64) as url:
        batched, t_b = run(url, args.data_dir, True, args.k)
        fallback, t_f = run(url, args.data_dir, False, args.k)
    for name, out, t in (("n=K, one request", batched, t_b), ("K requests", fallback, t_f)):
        u = out["usage"]
        print(
            f"{name:18} requests {u['requests']:6}  prompt tokens {u['prompt_tokens']:>10,}  "
            f"completion tokens {u['completion_tokens']:>9,}  wall {t:5.1f} s"
        )
    ratio = batched["usage"]["prompt_tokens"] / fallback["usage"]["prompt_tokens"]
    print(f"prompt tokens billed, batched / fallback = {ratio:.4f} (1/{args.k} = {1 / args.k:.4f})")


if __name__ == "__main__":
    main()
