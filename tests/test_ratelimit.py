"""Rate limits pace requests to the quota; 429s shrink concurrency, successes grow it back."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from cothub.ratelimit import Limiter, RateLimits


def test_rpm_paces_requests() -> None:
    async def go() -> float:
        limiter = Limiter(RateLimits(rpm=1200), concurrency=8)  # 20 per second
        start = time.monotonic()

        async def one() -> None:
            async with limiter.request(10):
                pass

        await asyncio.gather(*(one() for _ in range(21)))
        return time.monotonic() - start

    assert 0.95 <= asyncio.run(go()) < 2.0  # 21 requests at 20/s: the last waits 1 s


def test_tpm_paces_by_tokens() -> None:
    async def go() -> float:
        limiter = Limiter(RateLimits(tpm=60_000), concurrency=8)  # 1,000 tokens per second
        start = time.monotonic()
        for _ in range(3):
            async with limiter.request(400):
                pass
        return time.monotonic() - start

    assert 0.75 <= asyncio.run(go()) < 1.5  # 1,200 tokens booked: the third waits 0.8 s


def test_concurrency_halves_on_429_and_recovers() -> None:
    limiter = Limiter(RateLimits(), concurrency=16)
    limiter.rate_limited()
    assert limiter.allowed == 8
    limiter.rate_limited()
    limiter.rate_limited()
    limiter.rate_limited()
    limiter.rate_limited()
    assert limiter.allowed == 1
    for _ in range(1 + 2 + 3):
        limiter.succeeded()
    assert limiter.allowed == 4
    for _ in range(1000):
        limiter.succeeded()
    assert limiter.allowed == 16


def test_in_flight_never_exceeds_allowed() -> None:
    async def go() -> int:
        limiter = Limiter(RateLimits(), concurrency=6)
        limiter.rate_limited()  # 3 allowed
        peak = 0

        async def one() -> None:
            nonlocal peak
            async with limiter.request(1):
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(20)))
        return peak

    assert asyncio.run(go()) == 3


def test_rpm_flag_paces_a_real_run(
    cli: Any, gsm8k_server: Any, data_dir: Path, tmp_path: Path
) -> None:
    args = [
        "run", "gsm8k", "--model", "openai/m", "--base-url", gsm8k_server.base_url,
        "--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"), "--limit", "31",
        "--concurrency", "16",
    ]  # fmt: skip
    start = time.monotonic()
    assert cli(*args, "--rpm", "1800").code == 0  # 30 per second: 31 requests take >= 1 s
    assert time.monotonic() - start >= 1.0
    assert gsm8k_server.stats.completion_requests == 31
    bad = cli(*args, "--rpm", "0")
    assert bad.code == 2 and "--rpm" in bad.err


def test_429s_shrink_concurrency_in_a_real_run(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    from conftest import scripted_gsm8k
    from cothub.testing.openai_server import FaultPlan, Faults, running_server

    faults = Faults(fail_first=FaultPlan("429", 1), retry_after=0.01)
    with running_server(scripted_gsm8k(data_dir), faults=faults) as srv:
        out = tmp_path / "o.json"
        args = [
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"), "--limit", "40",
            "--concurrency", "16", "--json", str(out),
        ]  # fmt: skip
        assert cli(*args).code == 0
        usage = json.loads(out.read_text())["usage"]
        assert usage["rate_limited"] == 40 and usage["requests"] == 40
        assert usage["min_concurrency"] < 16
    with running_server(scripted_gsm8k(data_dir)) as clean:
        args[args.index("--base-url") + 1] = clean.base_url
        args[args.index("--store") + 1] = str(tmp_path / "clean.db")
        assert cli(*args).code == 0
        usage = json.loads(out.read_text())["usage"]
        assert usage["rate_limited"] == 0 and usage["min_concurrency"] == 16
