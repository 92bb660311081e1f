"""--replica-url: several stand-in servers of one model share a run; what is stored never depends
on how many there are or their order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from cothub.errors import CothubError
from cothub.models.replicas import ReplicaBackend, endpoints, same_model
from cothub.testing.openai_server import OpenAIStandIn, Script, running_server
from test_shard_merge import args, items_of, respond, runs_of


@pytest.fixture
def servers() -> Iterator[list[OpenAIStandIn]]:
    """Three stand-in servers of the same model (a little latency, so requests overlap)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_server(Script(responder=respond), latency_ms=20))
            for _ in range(3)
        ]


def requests(servers: list[OpenAIStandIn]) -> list[int]:
    return [s.stats.completion_requests for s in servers]


def reset(servers: list[OpenAIStandIn]) -> None:
    for s in servers:
        s.stats.reset()


def replicas(*servers: OpenAIStandIn) -> list[str]:
    return [a for s in servers for a in ("--replica-url", s.base_url)]


def test_replicas_share_the_work_and_never_change_the_run(
    cli: Any, servers: list[OpenAIStandIn], data_dir: Path, tmp_path: Path
) -> None:
    a, b, c = servers
    one = tmp_path / "one.db"
    assert cli(*args(a, data_dir, one)).code == 0
    expected, ((run_id, _, summary),) = items_of(one), runs_of(one)
    assert requests(servers) == [len(expected), 0, 0]

    # the same run against one endpoint more: the same run, every request a cache hit
    reset(servers)
    assert cli(*args(a, data_dir, one, *replicas(b))).code == 0
    assert requests(servers) == [0, 0, 0]
    assert [r[0] for r in runs_of(one)] == [run_id]

    # a fresh store against three endpoints: the requests spread, the results are the same
    reset(servers)
    three = tmp_path / "three.db"
    r = cli(*args(a, data_dir, three, *replicas(b, c)))
    assert r.code == 0, r.err
    sent = requests(servers)
    assert sum(sent) == len(expected) and all(n > 0 for n in sent), sent
    assert items_of(three) == expected
    ((three_id, status, three_summary),) = runs_of(three)
    assert (three_id, status) == (run_id, "complete")
    assert three_summary == summary

    # the replicas in another order, or fewer of them: still the same run, nothing sent
    reset(servers)
    for extra in (replicas(c, b), replicas(c), []):
        assert cli(*args(a, data_dir, three, *extra)).code == 0
    assert requests(servers) == [0, 0, 0]
    assert [r[0] for r in runs_of(three)] == [run_id]


def test_credentials_in_replica_urls_never_reach_the_store(
    cli: Any, servers: list[OpenAIStandIn], data_dir: Path, tmp_path: Path
) -> None:
    a, b, _ = servers
    secret_b = b.base_url.replace("http://", "http://replicauser7:hunter2-replica@")
    secret_a = a.base_url.replace("http://", "http://primaryuser7:hunter2-primary@")
    store = tmp_path / "s.db"
    run = ["--replica-url", secret_b, "--json", str(tmp_path / "out.json")]
    r = cli(*[x if x != a.base_url else secret_a for x in args(a, data_dir, store, *run)])
    assert r.code == 0, r.err
    assert requests(servers)[1] > 0  # the replica answered (credentials sent as basic auth)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"hunter2" not in data and b"user7" not in data, path
    assert "hunter2" not in r.out + r.err


@pytest.mark.parametrize(
    ("model", "url", "says"),
    [
        ("hf/some/model", "http://127.0.0.1:9/v1", "--replica-url applies to models served at"),
        ("fake/repeat:x", "http://127.0.0.1:9/v1", "not fake/ models, which run in this process"),
        ("openai/m", "ftp://127.0.0.1/v1", "--replica-url 'ftp://127.0.0.1/v1' must start with"),
        ("openai/m", "", "--replica-url is empty"),
    ],
)
def test_bad_replicas_are_one_line(
    cli: Any, data_dir: Path, tmp_path: Path, model: str, url: str, says: str
) -> None:
    r = cli(
        "run", "gsm8k", "--model", model, "--data-dir", str(data_dir),
        "--store", str(tmp_path / "s.db"), "--replica-url", url,
    )  # fmt: skip
    assert r.code == 2
    assert says in r.err and "Traceback" not in r.err
    assert not (tmp_path / "s.db").exists()


def test_endpoints_keep_the_primary_first_and_each_url_once() -> None:
    assert endpoints("http://a/v1", ["http://b/v1", "http://a/v1", "http://b/v1"]) == [
        "http://a/v1",
        "http://b/v1",
    ]
    assert endpoints(None, []) == [None]


def test_replicas_of_another_model_are_refused() -> None:
    base = {"provider": "openai", "model": "m", "base_url": "http://a/v1", "api": "chat"}
    assert same_model([base, {**base, "base_url": "http://b/v1"}]) == base
    with pytest.raises(CothubError, match="do not serve the same model"):
        same_model([base, {**base, "api": "completions"}])
    with pytest.raises(ValueError):
        ReplicaBackend([])


def test_a_replica_nobody_answers_at_is_passed_over(
    cli: Any, servers: list[OpenAIStandIn], data_dir: Path, tmp_path: Path
) -> None:
    a = servers[0]
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    one = tmp_path / "one.db"
    assert cli(*args(a, data_dir, one)).code == 0
    expected = items_of(one)
    a.stats.reset()
    r = cli(*args(a, data_dir, tmp_path / "s.db", "--replica-url", dead, "--backoff", "0.05"))
    assert r.code == 0, r.err
    assert a.stats.completion_requests == len(expected)  # every answer came from the live one
    assert items_of(tmp_path / "s.db") == expected
