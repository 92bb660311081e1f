"""Check the vllm/ backend on a GPU machine: load a small local model, run GSM8K through the Python
API (what `cothub run gsm8k --model vllm/PATH --limit N --data-dir DIR` does), print throughput
and a few completions, then re-run to show the cache serves everything.

    pip install -e ".[vllm]"
    python benchmarks/gpu_vllm_check.py --model /models/Qwen2.5-0.5B-Instruct \
        --data-dir ../shared/data

Exits 2 with one line when vllm or a CUDA GPU is missing, 1 when a check fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[1]


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"gpu_vllm_check: {message}", file=sys.stderr)
    raise SystemExit(code)


def _environment() -> str:
    """The vllm version and GPU name, or exit with a clear line."""
    if importlib.util.find_spec("vllm") is None:
        _fail('vllm is not installed: pip install -e ".[vllm]" on a machine with a CUDA GPU')
    try:
        import torch
    except ImportError:
        _fail("vllm is installed but torch cannot be imported; reinstall vllm for this platform")
    if not torch.cuda.is_available():
        _fail("no CUDA GPU is visible (torch.cuda.is_available() is False); run this on a GPU host")
    import vllm

    return f"vllm {vllm.__version__} on {torch.cuda.get_device_name(0)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="local model folder (a small one)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("COTHUB_DATA_DIR", str(REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--api", choices=("chat", "completions"), default="chat")
    parser.add_argument("--max-tokens", type=int, default=None, help="task default if unset")
    parser.add_argument("--show", type=int, default=3, help="completions to print")
    args = parser.parse_args()
    if not Path(args.model).is_dir():
        _fail(f"--model {args.model!r} is not a local folder")
    print(_environment())

    from cothub.data.source import DataSource
    from cothub.models import make_backend, parse_model
    from cothub.models.vllm_offline import VLLMBackend
    from cothub.runner import RunConfig, Runner, RunResult, plan
    from cothub.store import open_store
    from cothub.tasks import PromptOptions

    config = RunConfig(
        tasks=("gsm8k",),
        format=None,
        options=PromptOptions(style=args.api),
        limit=args.limit,
        seed=0,
        max_tokens=args.max_tokens,
        temperature=0.0,
        concurrency=max(args.limit, 1),  # every item in flight: one engine batch
    )
    plans = plan(config, DataSource.resolve(args.data_dir), args.api)
    start = time.perf_counter()
    backend = make_backend(parse_model(f"vllm/{args.model}"), args.api, None)
    assert isinstance(backend, VLLMBackend)
    print(f"loaded in {time.perf_counter() - start:.1f} s: {backend.identity}")

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "store.db")

        async def once() -> RunResult:
            return await Runner(backend, store, config).run(plans)

        first = asyncio.run(once())
        again = asyncio.run(once())
        samples = store.samples(first.run_id, limit=args.show)
        store.close()
    asyncio.run(backend.aclose())

    head = first.summaries["gsm8k"]
    usage = first.usage
    print(
        f"gsm8k: {head.correct}/{head.n} correct ({100 * head.accuracy:.1f}%), "
        f"unparsed {head.unparsed}, truncated {head.truncated} "
        f"(in unclosed thinking {head.extraction.unclosed_thinking if head.extraction else 0})"
    )
    print(
        f"{head.n} items in {first.wall_s:.2f} s: {head.n / first.wall_s:.1f} items/s, "
        f"{usage.completion_tokens / first.wall_s:,.0f} generated tokens/s "
        f"({usage.prompt_tokens:,} prompt, {usage.completion_tokens:,} completion, "
        f"{usage.reasoning_tokens:,} reasoning tokens); engine batches {backend.batches}"
    )
    for s in samples:
        print(f"--- {s['item_id']} gold {s['gold']!r} answer {s['answer']!r} {s['finish_reason']}")
        print(s["completion"][-600:])

    problems = []
    if again.usage.requests != 0:
        problems.append(f"the re-run sent {again.usage.requests} requests instead of 0")
    if head.n != len(plans[0].samples) or usage.requests == 0:
        problems.append(f"{head.n} of {len(plans[0].samples)} items answered")
    if usage.completion_tokens == 0 or usage.prompt_tokens == 0:
        problems.append("token counts are missing")
    if backend.batches and max(backend.batches) < min(head.n, config.concurrency) // 2:
        problems.append(f"concurrent calls were not batched: {backend.batches}")
    if problems:
        _fail("; ".join(problems), code=1)
    print("ok: re-run served from the cache (0 requests)")


if __name__ == "__main__":
    main()
