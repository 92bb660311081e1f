"""--ray: a local Ray cluster started here runs GSM8K + BBH against the loopback stand-in server.

Skipped, with the reason, where ray is not installed (``pip install 'cothub[ray]'``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import OpenAIStandIn, Script, running_server
from test_shard_merge import args, items_of, respond, runs_of

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'cothub[ray]'")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One local cluster for the module (starting one takes seconds on two cores)."""
    from cothub.scale.ray_backend import connect

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield connect("local")  # joins the cluster above
    ray.shutdown()


@pytest.fixture
def server() -> Iterator[OpenAIStandIn]:
    with running_server(Script(responder=respond)) as srv:
        yield srv


def test_sharded_ray_run_equals_the_single_process_run(
    cluster: Any, cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "local.db"
    assert cli(*args(server, data_dir, local)).code == 0
    expected = items_of(local)
    (run_id, _, summary) = runs_of(local)[0]

    server.stats.reset()
    shards = [tmp_path / f"ray{i}.db" for i in range(2)]
    for i, path in enumerate(shards):
        r = cli(*args(server, data_dir, path, "--ray", "local", "--shard", f"{i}/2"))
        assert r.code == 0, r.err
        assert "accuracy" in r.out  # the summary, on the driver, as for a local run
        # with no terminal, the driver's progress is plain lines, as a local run's
        assert f"cothub: run {run_id} started" in r.err and " done · n " in r.err
    assert server.stats.completion_requests == len(expected)
    merged = tmp_path / "merged.db"
    assert cli("merge", merged, *shards).code == 0
    assert items_of(merged) == expected
    (m_id, m_status, m_summary) = runs_of(merged)[0]
    assert (m_id, m_status) == (run_id, "complete")
    assert {k: v["accuracy"] for k, v in m_summary.items()} == {
        k: v["accuracy"] for k, v in summary.items()
    }

    # the cache is consulted on the driver before anything is shipped
    server.stats.reset()
    assert cli(*args(server, data_dir, merged, "--ray", "local")).code == 0
    assert server.stats.completion_requests == 0


def test_a_killed_worker_still_finishes_with_identical_results(
    cluster: Any, cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    from cothub.data.source import DataSource
    from cothub.run import RunConfig, Runner, plan
    from cothub.scale.ray_backend import RayBackend
    from cothub.store import open_store
    from cothub.tasks import PromptOptions

    local = tmp_path / "local.db"
    assert cli(*args(server, data_dir, local)).code == 0
    expected = items_of(local)

    server.stats.reset()
    server.latency_ms = 100
    config = RunConfig(
        tasks=("gsm8k", "bbh/navigate", "bbh/date_understanding"),
        format=None,
        options=PromptOptions(style="chat", seed=0),
        limit=8,
        seed=0,
        max_tokens=None,
        temperature=0.0,
        concurrency=4,
    )
    plans = plan(config, DataSource.resolve(data_dir), "chat")
    backend = RayBackend("openai/stand-in", "chat", server.base_url, workers=2, concurrency=4)
    store = open_store(tmp_path / "ray.db")
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            server.stats.completion_requests < 6 or not backend.worker_pids
        ):
            time.sleep(0.02)
        pid = sorted(backend.worker_pids)[0]
        os.kill(pid, signal.SIGKILL)  # a Ray worker this test's cluster started
        killed.append(pid)

    killer = threading.Thread(target=kill_one)
    killer.start()

    async def go() -> Any:
        try:
            return await Runner(backend, store, config).run(plans)
        finally:
            await backend.aclose()

    try:
        result = asyncio.run(go())
    finally:
        store.close()
        killer.join()
        server.latency_ms = 0
    assert killed and result.status == "complete"
    assert server.stats.completion_requests >= 24  # the killed worker's requests were re-sent
    assert len(backend.worker_pids - set(killed)) >= 2  # the killed worker was restarted
    assert items_of(tmp_path / "ray.db") == expected


def test_cluster_wide_rpm_is_respected(
    cluster: Any, cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    # 24 requests at 600 per minute over two workers: at least 23 intervals of 0.1 s in all
    started = time.monotonic()
    r = cli(*args(server, data_dir, tmp_path / "s.db", "--ray", "local", "--rpm", "600"))
    wall = time.monotonic() - started
    assert r.code == 0, r.err
    assert server.stats.completion_requests == 24
    assert wall >= 2.3


def test_cluster_wide_max_cost_stops_the_run(
    cluster: Any, cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 10.0, "completion": 10.0}}}')
    # about five requests' worth of 8-shot prompts at $10 per million tokens; one in flight
    extra = ("--prices", str(prices), "--concurrency", "1", "--max-cost", "0.04")
    r = cli(*args(server, data_dir, tmp_path / "s.db", "--ray", "local", *extra))
    assert r.code == 3, r.err
    assert "--max-cost $0.04 reached" in r.err
    assert 0 < server.stats.completion_requests < 24


def test_ray_workers_spread_over_replica_endpoints(
    cluster: Any, cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    with running_server(Script(responder=respond)) as other:
        local = tmp_path / "local.db"
        assert cli(*args(server, data_dir, local)).code == 0
        expected, run_id = items_of(local), runs_of(local)[0][0]
        replica = ("--ray", "local", "--replica-url", other.base_url)

        # one endpoint, then two on Ray: the same run, every request a cache hit
        server.stats.reset()
        r = cli(*args(server, data_dir, local, *replica))
        assert r.code == 0, r.err
        assert (server.stats.completion_requests, other.stats.completion_requests) == (0, 0)

        # a fresh store: worker 0 talks to --base-url, worker 1 to the replica
        fresh = tmp_path / "ray.db"
        r = cli(*args(server, data_dir, fresh, *replica))
        assert r.code == 0, r.err
        sent = (server.stats.completion_requests, other.stats.completion_requests)
        assert sum(sent) == len(expected) and min(sent) > 0, sent
        assert items_of(fresh) == expected
        assert [row[0] for row in runs_of(fresh)] == [run_id]


def test_fewer_ray_workers_than_endpoints_is_refused(cluster: Any, server: OpenAIStandIn) -> None:
    from cothub.errors import CothubError
    from cothub.scale.ray_backend import RayBackend

    urls = ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]
    with pytest.raises(CothubError, match="3 endpoints but 2 Ray workers"):
        RayBackend("openai/stand-in", "chat", server.base_url, workers=2, replica_urls=urls)


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """test_hf's tiny models (random weights, a tokenizer trained here), built once."""
    pytest.importorskip("torch", reason="hf/ models need torch")
    pytest.importorskip("transformers", reason="hf/ models need transformers")
    from test_hf import build_models

    return build_models(tmp_path_factory.mktemp("hf"))


def test_a_local_model_actor_equals_a_local_hf_run(
    cluster: Any, cli: Any, tiny_hf: Any, data_dir: Path, tmp_path: Path
) -> None:
    runs = [  # generation with a chat model, and option scoring by log-likelihood
        ("gsm8k", "--model", f"hf/{tiny_hf.random}", "--limit", "3", "--max-tokens", "8"),
        ("mmlu/abstract_algebra", "--model", f"hf/{tiny_hf.trained}", "--limit", "4",
         "--scoring", "loglikelihood"),
    ]  # fmt: skip
    for i, run in enumerate(runs):
        local, remote = tmp_path / f"local{i}.db", tmp_path / f"ray{i}.db"
        common = ("--data-dir", str(data_dir), "--json", str(tmp_path / "out.json"))
        assert cli("run", *run, *common, "--store", str(local)).code == 0
        r = cli("run", *run, *common, "--store", str(remote), "--ray", "local")
        assert r.code == 0, r.err
        assert json.loads((tmp_path / "out.json").read_text())["usage"]["requests"] > 0
        assert items_of(remote) == items_of(local)
        # the same run id: the same model identity, so the same cache keys
        assert [row[:2] for row in runs_of(remote)] == [row[:2] for row in runs_of(local)]
