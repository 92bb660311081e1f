"""End to end: the CLI against a loopback OpenAI server over real sockets, on real GSM8K data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, gold_of, gsm8k_items, planned, said
from cothub.testing.openai_server import (
    Choice,
    FaultPlan,
    Faults,
    OpenAIStandIn,
    Script,
    running_server,
)


def expected(n_items: int, ids: list[int] | None = None) -> dict[str, int]:
    idx = ids if ids is not None else list(range(n_items))
    kinds = [planned(i) for i in idx]
    return {
        "n": len(idx),
        "correct": kinds.count("right"),
        "unparsed": kinds.count("unparsed") + kinds.count("truncated"),
        "truncated": kinds.count("truncated"),
    }


def run_args(srv: OpenAIStandIn, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        *extra,
    ]  # fmt: skip


def test_full_gsm8k_run_then_rerun_sends_nothing(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r: CliResult = cli(*run_args(gsm8k_server, data_dir, tmp_path, "--concurrency", "16"))
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    g = out["tasks"]["gsm8k"]
    exp = expected(1319)
    assert {k: g[k] for k in exp} == exp
    assert g["accuracy"] == pytest.approx(exp["correct"] / 1319)
    lo, hi = g["ci95"]
    assert lo < g["accuracy"] < hi
    assert out["usage"]["requests"] == 1319 and out["usage"]["cached"] == 0
    assert out["usage"]["prompt_tokens"] > 0 and out["usage"]["completion_tokens"] > 0
    assert out["model"] == "openai/stand-in"
    assert gsm8k_server.stats.completion_requests == 1319
    assert "gsm8k" in r.out and "accuracy" in r.out  # the summary table

    again = cli(*run_args(gsm8k_server, data_dir, tmp_path, "--concurrency", "16"))
    assert again.code == 0, again.err
    out2 = json.loads((tmp_path / "out.json").read_text())
    assert out2["usage"]["requests"] == 0 and out2["usage"]["cached"] == 1319
    assert out2["tasks"] == out["tasks"] and out2["run_id"] == out["run_id"]
    assert gsm8k_server.stats.completion_requests == 1319


def test_samples_are_stored_with_prompt_completion_answer_verdict(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    assert cli(*run_args(gsm8k_server, data_dir, tmp_path, "--limit", "30")).code == 0
    db = sqlite3.connect(tmp_path / "store.db")
    rows = db.execute(
        "SELECT item_id, prompt, completion, answer, method, correct, finish_reason, gold "
        "FROM samples"
    ).fetchall()
    assert len(rows) == 30
    items = gsm8k_items(data_dir)
    for item_id, prompt, completion, answer, method, correct, finish, gold in rows:
        i = int(item_id.split("/")[1])
        assert gold == gold_of(items[i])
        assert bool(correct) == (planned(i) == "right")
        assert items[i]["question"] in json.loads(prompt)["messages"][-1]["content"]
        assert completion.startswith("Let's think step by step")
        assert finish == ("length" if planned(i) == "truncated" else "stop")
        if planned(i) in ("right", "wrong"):
            assert method == "final-phrase" and answer is not None
    manifest = json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0])
    task = manifest["tasks"]["gsm8k"]
    assert task["format"] == "fewshot-cot" and task["exemplars"]["source"].endswith(
        "prompt_original.txt"
    )
    assert task["generation"]["temperature"] == 0.0
    assert all(len(v) == 64 for v in task["data"].values())  # dataset file sha256
    assert manifest["model"]["base_url"] == gsm8k_server.base_url


def test_limit_is_a_seeded_stable_subset(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    def ids(limit: int, seed: int) -> set[str]:
        store = tmp_path / f"s{limit}-{seed}.db"
        args = run_args(
            gsm8k_server, data_dir, tmp_path, "--limit", str(limit), "--seed", str(seed)
        )
        args[args.index("--store") + 1] = str(store)
        assert cli(*args).code == 0
        return {r[0] for r in sqlite3.connect(store).execute("SELECT item_id FROM samples")}

    a, b = ids(40, 0), ids(80, 0)
    assert len(a) == 40 and len(b) == 80 and a < b
    assert ids(40, 1) != a


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_both_api_styles_reach_the_server_as_rendered(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path, api: str
) -> None:
    r = cli(*run_args(gsm8k_server, data_dir, tmp_path, "--limit", "12", "--api", api))
    assert r.code == 0, r.err
    bodies = gsm8k_server.stats.bodies
    assert len(bodies) == 12
    if api == "completions":
        prompt = bodies[0]["prompt"]
        original = (data_dir / "cot-hub-prompts/gsm8k/lib_prompt/prompt_original.txt").read_text()
        assert prompt.startswith(original + "\nQuestion: ") and prompt.endswith("\n")
        assert bodies[0]["stop"] == ["\nQuestion:"]
    else:
        msgs = bodies[0]["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"] * 8 + ["user"]
    assert all(b["temperature"] == 0 for b in bodies)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["tasks"]["gsm8k"]["n"] == 12


def test_retries_through_429_500_drops_and_garbage(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    from conftest import scripted_gsm8k

    script = scripted_gsm8k(data_dir)
    with running_server(script, faults=Faults(fail_first=FaultPlan("429", 1))) as clean:
        assert cli(*run_args(clean, data_dir, tmp_path / "ref", "--limit", "40")).code == 0
    reference = json.loads((tmp_path / "ref" / "out.json").read_text())["tasks"]
    for kind in ("429", "500", "503", "drop", "malformed"):
        with running_server(script, faults=Faults(fail_first=FaultPlan(kind, 2))) as srv:
            tmp = tmp_path / kind
            r = cli(*run_args(srv, data_dir, tmp, "--limit", "40", "--backoff", "0.01"))
            assert r.code == 0, (kind, r.err)
            out = json.loads((tmp / "out.json").read_text())
            assert out["tasks"] == reference, kind
            assert out["usage"]["requests"] == 40 and out["usage"]["retries"] == 80, kind
            assert srv.stats.completion_requests == 120, kind


def test_hung_request_times_out_and_is_retried(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    from conftest import scripted_gsm8k

    with running_server(
        scripted_gsm8k(data_dir), faults=Faults(fail_first=FaultPlan("hang", 1))
    ) as srv:
        r = cli(*run_args(srv, data_dir, tmp_path, "--limit", "5", "--timeout", "0.3",
                          "--backoff", "0.01"))  # fmt: skip
        assert r.code == 0, r.err
        assert json.loads((tmp_path / "out.json").read_text())["usage"]["retries"] == 5


def test_server_failing_every_retry_ends_cleanly_and_resumes(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    from conftest import scripted_gsm8k

    good = scripted_gsm8k(data_dir)
    served = {"n": 0}
    with running_server() as srv:

        def flaky(request: dict[str, Any]) -> list[Choice] | None:
            served["n"] += 1
            if served["n"] >= 25:  # the server breaks down for good after 24 answers
                srv.faults = Faults(fail_all="500")
            return good.choices(request, "", 1)

        srv.script = Script(responder=flaky)
        r = cli(*run_args(srv, data_dir, tmp_path, "--limit", "60", "--concurrency", "4",
                          "--max-retries", "2", "--backoff", "0.01"))  # fmt: skip
        assert r.code == 2
        assert "gave up on the model server" in r.err and "re-run the same command" in r.err
        assert len(said(r.err)) == 1 and "Traceback" not in r.err
        kept = sqlite3.connect(tmp_path / "store.db").execute("SELECT COUNT(*) FROM samples")
        n_kept = kept.fetchone()[0]
        assert 20 <= n_kept <= 28

        srv.faults = Faults()
        srv.script = good
        srv.stats.reset()
        r = cli(*run_args(srv, data_dir, tmp_path, "--limit", "60"))
        assert r.code == 0, r.err
        assert srv.stats.completion_requests == 60 - n_kept
    with running_server(good) as clean:
        ref = tmp_path / "ref"
        assert cli(*run_args(clean, data_dir, ref, "--limit", "60")).code == 0
    resumed = json.loads((tmp_path / "out.json").read_text())
    assert resumed["tasks"] == json.loads((ref / "out.json").read_text())["tasks"]


def test_api_key_is_sent_but_never_stored(
    cli: Any,
    gsm8k_server: OpenAIStandIn,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-test-DO-NOT-STORE-1234567890"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    r = cli(*run_args(gsm8k_server, data_dir, tmp_path, "--limit", "5"))
    assert r.code == 0, r.err
    assert gsm8k_server.stats.authorizations[0] == f"Bearer {secret}"
    for f in tmp_path.iterdir():
        blob = f.read_bytes()
        assert secret.encode() not in blob, f
    assert secret not in r.out + r.err


def test_runs_show_and_tasks(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    assert cli(*run_args(gsm8k_server, data_dir, tmp_path, "--limit", "80")).code == 0
    run_id = json.loads((tmp_path / "out.json").read_text())["run_id"]
    listing = cli("runs", "--store", tmp_path / "store.db")
    assert listing.code == 0 and run_id in listing.out and "complete" in listing.out
    shown = cli("show", run_id[:6], "--wrong", "--limit", "50", "--store", tmp_path / "store.db")
    assert shown.code == 0
    items = gsm8k_items(data_dir)
    wrong = [i for i in range(len(items)) if planned(i) == "wrong"]
    stored = {
        r[0] for r in sqlite3.connect(tmp_path / "store.db").execute("SELECT item_id FROM samples")
    }
    some_wrong = next(i for i in wrong if f"test/{i}" in stored)
    assert f"test/{some_wrong}" in shown.out and "wrong" in shown.out
    unparsed = cli("show", run_id, "--unparsed", "--store", tmp_path / "store.db")
    assert "I cannot solve this" in unparsed.out and "None" in unparsed.out
    missing = cli("show", "nope", "--store", tmp_path / "store.db")
    assert missing.code == 2 and "cothub runs" in missing.err
    tasks = cli("tasks")
    assert tasks.code == 0 and "gsm8k" in tasks.out and "fewshot-cot (default)" in tasks.out


def test_without_prompt_files_exemplars_come_from_the_train_split(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "data"
    bare.mkdir()
    (bare / "gsm8k").symlink_to(data_dir / "gsm8k")  # no cot-hub-prompts folder
    args = run_args(gsm8k_server, bare, tmp_path, "--limit", "3", "--api", "completions")
    assert cli(*args).code == 0
    prompt = gsm8k_server.stats.bodies[0]["prompt"]
    train = [json.loads(x)["question"] for x in (data_dir / "gsm8k/train.jsonl").open()]
    shown = [q for q in train if f"Question: {q}\n" in prompt]
    assert len(shown) == 8 and "<<" not in prompt  # calculator annotations stripped
    manifest = json.loads(
        sqlite3.connect(tmp_path / "store.db").execute("SELECT manifest FROM runs").fetchone()[0]
    )
    assert manifest["tasks"]["gsm8k"]["exemplars"]["source"] == "train:seed=0"


def test_several_models_in_one_command(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    from conftest import scripted_gsm8k

    good = scripted_gsm8k(data_dir)

    def by_model(request: dict[str, Any]) -> list[Choice] | None:
        if request["model"] == "weak":
            return [Choice("The answer is -1.")]
        return good.choices(request, "", 1)

    with running_server(Script(responder=by_model)) as srv:
        base = run_args(srv, data_dir, tmp_path, "--limit", "40")
        i = base.index("--model")
        del base[i : i + 2]
        bad = cli(*base, "--model", "openai/strong", "--model", "nope")
        assert bad.code == 2 and "PROVIDER/MODEL" in bad.err
        assert srv.stats.completion_requests == 0  # checked before anything was sent
        r = cli(*base, "--model", "openai/strong", "--model", "openai/weak")
        assert r.code == 0, r.err
    runs = json.loads((tmp_path / "out.json").read_text())["runs"]
    assert [x["model"] for x in runs] == ["openai/strong", "openai/weak"]
    db = sqlite3.connect(tmp_path / "store.db")
    ids = [int(r[0].split("/")[1]) for r in db.execute(
        "SELECT item_id FROM samples WHERE run_id=?", (runs[0]["run_id"],)
    )]  # fmt: skip
    assert runs[0]["tasks"]["gsm8k"] == {**runs[0]["tasks"]["gsm8k"], **expected(0, ids)}
    assert runs[1]["tasks"]["gsm8k"]["correct"] == 0
    board = cli("leaderboard", "--store", tmp_path / "store.db", "--include-partial")
    assert "openai/strong" in board.out and "openai/weak" in board.out
