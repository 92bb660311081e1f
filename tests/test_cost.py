"""Cost accounting: price tables, cost per item, `cothub compare`, and the --max-cost budget."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, question_of, said, scripted_gsm8k
from cothub.cost import PRICES_ENV, Price, builtin_prices_text, load_prices
from cothub.errors import CothubError
from cothub.scoring.paired import Paired, paired
from cothub.scoring.stats import mcnemar_exact
from cothub.store import Store
from cothub.store.sqlite import SCHEMA_VERSION
from cothub.testing.openai_server import OpenAIStandIn

# ---- price tables -------------------------------------------------------------------------------


def test_builtin_price_file_ships_in_the_package_and_parses() -> None:
    data = json.loads(builtin_prices_text())  # read through importlib.resources
    assert "check your provider's page" in data["_note"]
    assert len(data["models"]) >= 20
    table = load_prices()
    assert table.lookup("openai/gpt-4o-mini") == Price(0.15, 0.6, 0.6)  # reasoning = completion


@pytest.mark.parametrize(
    ("model", "prompt", "completion"),
    [
        ("openai/gpt-4o", 2.5, 10.0),
        ("openai/gpt-4o-2024-08-06", 2.5, 10.0),
        ("openai/gpt-4o-2024-05-13", 5.0, 15.0),  # an exact name beats the pattern
        ("openai/gpt-4o-mini-2024-07-18", 0.15, 0.6),  # the longer pattern beats gpt-4o*
        ("OpenAI/GPT-4.1-mini", 0.4, 1.6),
        ("openai/gpt-4.1", 2.0, 8.0),
        ("openai/o3", 2.0, 8.0),
        ("openai/o3-mini", 1.1, 4.4),
        ("openai/o4-mini-2025-04-16", 1.1, 4.4),
        ("openai/gpt-3.5-turbo-0125", 0.5, 1.5),
        ("anthropic/claude-3-5-sonnet-20241022", 3.0, 15.0),
        ("anthropic/claude-3-7-sonnet-latest", 3.0, 15.0),
        ("anthropic/claude-sonnet-4-5", 3.0, 15.0),
        ("anthropic/claude-opus-4-1-20250805", 15.0, 75.0),
        ("anthropic/claude-3-5-haiku-20241022", 0.8, 4.0),
    ],
)
def test_builtin_prices_match_by_provider_and_pattern(
    model: str, prompt: float, completion: float
) -> None:
    price = load_prices().lookup(model)
    assert price is not None and (price.prompt, price.completion) == (prompt, completion)


@pytest.mark.parametrize(
    "model", ["openai/Qwen2.5-7B-Instruct", "fake/repeat:x", "anthropic/unknown", "openai/gpt-4x"]
)
def test_unknown_models_are_unpriced_not_free(model: str) -> None:
    assert load_prices().lookup(model) is None


def test_price_of_reasoning_tokens_replaces_the_completion_price() -> None:
    # 1000 prompt at $1/M, 300 completion tokens of which 100 reasoning at $5/M, 200 at $2/M.
    assert Price(1.0, 2.0, 5.0).cost(1000, 300, 100) == pytest.approx((1000 + 400 + 500) / 1e6)


def test_user_price_file_is_consulted_first_and_env_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text(
        json.dumps(
            {
                "_note": "ours",
                "models": {
                    "openai/gpt-4o*": {"prompt": 1, "completion": 2, "reasoning": 7},
                    "openai/local-llama": {"prompt": 0.0, "completion": 0.0},
                },
            }
        )
    )
    table = load_prices(mine)
    assert table.lookup("openai/gpt-4o-mini") == Price(1.0, 2.0, 7.0)  # the user's rule wins
    assert table.lookup("openai/local-llama") == Price(0.0, 0.0, 0.0)  # priced at 0 on purpose
    assert table.lookup("anthropic/claude-3-5-haiku") == Price(0.8, 4.0, 4.0)  # built-in below
    monkeypatch.setenv(PRICES_ENV, str(mine))
    assert load_prices().lookup("openai/local-llama") is not None
    other = tmp_path / "other.json"
    other.write_text('{"models": {}}')
    assert load_prices(other).lookup("openai/local-llama") is None  # --prices beats the env


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"models": ', "not valid JSON"),
        ("[1, 2]", '"models" object'),
        ('{"openai/gpt-4o": {"prompt": 1, "completion": 2}}', '"models" object'),
        ('{"models": {}, "extra": 1}', "unknown key 'extra'"),
        ('{"models": {"a/b": 3}}', "must be an object"),
        ('{"models": {"a/b": {"prompt": 1}}}', "needs numbers prompt and completion"),
        ('{"models": {"a/b": {"prompt": 1, "completion_price": 2}}}', "'completion_price'"),
        ('{"models": {"a/b": {"prompt": 1, "completion": "2"}}}', "must be a number"),
        ('{"models": {"a/b": {"prompt": true, "completion": 2}}}', "must be a number"),
        ('{"models": {"a/b": {"prompt": -1, "completion": 2}}}', ">= 0"),
    ],
)
def test_malformed_price_file_is_one_clear_line(
    cli: Any, tmp_path: Path, content: str, says: str
) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text(content)
    with pytest.raises(CothubError, match=r"prices\.json") as e:
        load_prices(bad)
    assert says in str(e.value)
    r = cli("run", "gsm8k", "--model", "fake/repeat:x", "--prices", bad, "--store", tmp_path / "s")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("cothub: error: ") and says in r.err


def test_missing_price_file_is_one_line(cli: Any, tmp_path: Path) -> None:
    r = cli("compare", "a", "b", "--prices", tmp_path / "nope.json", "--store", tmp_path / "s.db")
    assert r.code == 2 and r.err.count("\n") == 1 and "cannot read price file" in r.err


# ---- cost of a run against the loopback server -------------------------------------------------


def _run(srv: OpenAIStandIn, data: Path, tmp: Path, *extra: Any) -> list[Any]:
    return [
        "run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", data, "--store", tmp / "store.db", "--json", tmp / "out.json", *extra,
    ]  # fmt: skip


def _words(text: str) -> int:
    return len(text.split())


def _expected_tokens(srv: OpenAIStandIn, data: Path) -> tuple[int, int]:
    """Prompt and completion tokens the stand-in bills for the requests it received: words of
    every message, and words of the scripted answer."""
    script = scripted_gsm8k(data)
    prompt = completion = 0
    for body in srv.stats.bodies:
        prompt += sum(_words(m["content"]) for m in body["messages"])
        completion += _words(script.choices(body, question_of(body), 1)[0].text)
    return prompt, completion


def test_cost_of_a_run_is_its_tokens_at_the_given_prices(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 1.5, "completion": 4.0}}}')
    r = cli(*_run(gsm8k_server, data_dir, tmp_path, "--limit", "24", "--prices", prices))
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    prompt, completion = _expected_tokens(gsm8k_server, data_dir)
    assert (out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]) == (
        prompt,
        completion,
    )
    dollars = (1.5 * prompt + 4.0 * completion) / 1e6
    g = out["tasks"]["gsm8k"]
    assert out["usage"]["cost_usd"] == pytest.approx(dollars, rel=1e-12)
    assert g["cost_usd"] == pytest.approx(dollars, rel=1e-12)
    assert g["cost_per_item"] == pytest.approx(dollars / 24, rel=1e-12)
    assert g["correct"] > 0 and g["cost_per_correct"] == pytest.approx(dollars / g["correct"])
    assert g["tokens_per_item"] == {
        "prompt": pytest.approx(prompt / 24),
        "completion": pytest.approx(completion / 24),
        "reasoning": 0.0,
    }
    assert g["requests_per_item"] == 1.0
    assert "cost $" in r.out

    # Served from the store: nothing sent now, but the items cost what they cost originally.
    again = cli(*_run(gsm8k_server, data_dir, tmp_path, "--limit", "24", "--prices", prices))
    assert again.code == 0, again.err
    out2 = json.loads((tmp_path / "out.json").read_text())
    assert out2["usage"]["requests"] == 0 and out2["usage"]["cached"] == 24
    assert out2["usage"]["cost_usd"] == pytest.approx(dollars, rel=1e-12)
    assert out2["tasks"]["gsm8k"]["requests_per_item"] == 1.0
    assert gsm8k_server.stats.completion_requests == 24


def test_unpriced_model_reports_null_cost_not_zero(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    r = cli("run", "gsm8k", "--model", "fake/repeat:The answer is 18.", "--data-dir", data_dir,
            "--store", tmp_path / "s.db", "--limit", "5", "--json", out)  # fmt: skip
    assert r.code == 0, r.err
    res = json.loads(out.read_text())
    g = res["tasks"]["gsm8k"]
    assert res["usage"]["cost_usd"] is None and g["cost_usd"] is None
    assert g["cost_per_item"] is None and g["cost_per_correct"] is None
    assert g["tokens_per_item"]["completion"] == 4.0 and g["requests_per_item"] == 1.0
    assert "cost unpriced" in r.out


@pytest.mark.parametrize(("batch", "per_item"), [("true", 1.0), ("false", 3.0)])
def test_requests_per_item_counts_a_strategy_s_requests_even_when_cached(
    cli: Any, data_dir: Path, tmp_path: Path, batch: str, per_item: float
) -> None:
    out = tmp_path / "out.json"
    args = ["run", "gsm8k", "--model", "fake/repeat:The answer is 18.", "--data-dir", data_dir,
            "--store", tmp_path / "s.db", "--limit", "4", "--json", out,
            "--strategy", f"self-consistency:k=3,batch={batch}"]  # fmt: skip
    for sent in (4 * per_item, 0):
        r = cli(*args)
        assert r.code == 0, r.err
        res = json.loads(out.read_text())
        assert res["usage"]["requests"] == sent
        assert res["tasks"]["gsm8k"]["requests_per_item"] == per_item


# ---- McNemar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (0, 6, 2 / 64),
        (1, 9, 2 * (1 + 10) / 1024),
        (9, 1, 2 * (1 + 10) / 1024),
        (3, 12, 2 * (1 + 15 + 105 + 455) / 2**15),
    ],
)
def test_mcnemar_exact_p_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_is_finite_for_large_samples() -> None:
    # 14,000 discordant pairs: 2**n is far beyond a float, the p-value is not.
    assert 0.0 < mcnemar_exact(7000 - 120, 7000 + 120) < 0.05


def test_paired_counts_only_the_items_both_runs_graded() -> None:
    first = {"a": True, "b": False, "c": True, "d": False, "only-first": True}
    second = {"a": False, "b": True, "c": True, "d": False, "only-second": False}
    assert paired(first, second) == Paired(shared=4, lost=1, gained=1, p_value=1.0)


# ---- cothub compare -----------------------------------------------------------------------------


def _script(tmp: Path, name: str, items: list[dict[str, str]], right: set[int], pad: str) -> str:
    """A fake/script model that answers item i correctly exactly when i is in ``right``."""
    rules = [
        {"match": it["question"], "responses": [f"{pad}The answer is {gold_of(it)}."]}
        for i, it in enumerate(items)
        if i in right
    ]
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"default": f"{pad}The answer is -98765.", "rules": rules}))
    return f"fake/script:{path}"


def test_compare_two_runs_delta_token_multiple_and_mcnemar(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    items = gsm8k_items(data_dir)
    store = tmp_path / "s.db"
    # Baseline right on items 0-99; the other loses 0-9 and gains 100-149: b = 10, c = 50.
    base = _script(tmp_path, "base", items, set(range(100)), "")
    chatty = _script(tmp_path, "chatty", items, set(range(10, 150)), "Let us think. " * 20)
    outs = []
    for i, model in enumerate((base, chatty)):
        out = tmp_path / f"out{i}.json"
        r = cli("run", "gsm8k", "--model", model, "--format", "zeroshot-cot",
                "--data-dir", data_dir, "--store", store, "--json", out)  # fmt: skip
        assert r.code == 0, r.err
        outs.append(json.loads(out.read_text()))
    ids = [o["run_id"] for o in outs]
    assert [o["tasks"]["gsm8k"]["correct"] for o in outs] == [100, 140]

    res = cli("compare", *ids, "--store", store, "--format", "json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)["tasks"]["gsm8k"]
    first, second = rows
    assert [r["run_id"] for r in rows] == ids
    assert first["versus"] == "baseline" and first["paired"] is None
    assert second["delta_pts"] == pytest.approx(100 * 40 / 1319)
    per = [o["tasks"]["gsm8k"]["tokens_per_item"] for o in outs]
    multiple = (per[1]["prompt"] + per[1]["completion"]) / (per[0]["prompt"] + per[0]["completion"])
    assert multiple > 1.5 and second["token_multiple"] == pytest.approx(multiple)
    assert second["versus"] == f"+{100 * 40 / 1319:.1f} pts for {multiple:.1f}x tokens"
    p = 2 * sum(math.comb(60, i) for i in range(11)) / 2**60
    assert second["paired"] == {
        "shared": 1319,
        "lost": 10,
        "gained": 50,
        "p_value": pytest.approx(p),
    }
    assert p < 1e-5
    assert second["requests_per_item"] == 1.0 and second["cost_per_item"] is None  # unpriced
    assert (second["strategy"], second["format"], second["n"]) == ("single", "zeroshot-cot", 1319)
    assert first["wall_s"] > 0

    md = cli("compare", ids[0][:6], ids[1], "--store", store)
    assert md.code == 0, md.err
    assert "## gsm8k" in md.out and f"p={p:.3g} (-10/+50 of 1319)" in md.out
    assert f"for {multiple:.1f}x tokens" in md.out and "baseline" in md.out

    table = list(csv.DictReader(io.StringIO(cli("compare", *ids, "--store", store,
                                                "--format", "csv").out)))  # fmt: skip
    assert [(t["run_id"], t["lost"], t["gained"]) for t in table] == [
        (ids[0], "", ""),
        (ids[1], "10", "50"),
    ]

    # Priced after the fact: the same stored tokens, today's table.
    prices = tmp_path / "p.json"
    prices.write_text('{"models": {"fake/*": {"prompt": 2.0, "completion": 2.0}}}')
    priced = json.loads(cli("compare", *ids, "--store", store, "--format", "json",
                            "--prices", prices).out)["tasks"]["gsm8k"]  # fmt: skip
    tokens = per[1]["prompt"] + per[1]["completion"]
    assert priced[1]["cost_per_item"] == pytest.approx(2.0 * tokens / 1e6)
    assert priced[1]["cost_per_correct"] == pytest.approx(2.0 * tokens / 1e6 * 1319 / 140)


def test_compare_refuses_runs_without_a_shared_task(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    ids = []
    for task in ("gsm8k", "bbh/boolean_expressions"):
        out = tmp_path / "o.json"
        r = cli("run", task, "--model", "fake/repeat:x", "--limit", "3", "--data-dir", data_dir,
                "--store", store, "--json", out)  # fmt: skip
        assert r.code == 0, r.err
        ids.append(json.loads(out.read_text())["run_id"])
    for args, says in [
        (ids, "share no task"),
        (ids[:1], "at least two runs"),
        ([ids[0], ids[0]], "given twice"),
        ([ids[0], "zzzz"], "no run 'zzzz'"),
    ]:
        r = cli("compare", *args, "--store", store)
        assert r.code == 2 and r.err.count("\n") == 1 and says in r.err, r.err


# ---- --max-cost ---------------------------------------------------------------------------------


def _stored_costs(db: sqlite3.Connection) -> list[float]:
    """Each stored sample's cost at $10 per million tokens, in the order they were saved."""
    rows = db.execute("SELECT prompt_tokens, completion_tokens FROM samples ORDER BY rowid")
    return [(p + c) * 10.0 / 1e6 for p, c in rows]


def test_max_cost_stops_at_the_budget_and_a_higher_one_resumes(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 10.0, "completion": 10.0}}}')
    common = ("--limit", "30", "--prices", prices, "--concurrency", "1")
    # About ten requests' worth (8-shot prompts are ~800 words: ~$0.008 a request).
    r = cli(*_run(gsm8k_server, data_dir, tmp_path, *common, "--max-cost", "0.08"))
    assert r.code == 3, r.err
    (line,) = said(r.err)
    assert "--max-cost $0.08 reached" in line and "higher --max-cost" in line
    sent = gsm8k_server.stats.completion_requests
    assert 5 <= sent < 30
    db = sqlite3.connect(tmp_path / "store.db")
    costs = _stored_costs(db)
    assert len(costs) == sent  # every request that was sent is saved
    # One request at a time: the last one went out just before the budget was reached.
    assert sum(costs[:-1]) < 0.08 <= sum(costs)
    status, wall = db.execute("SELECT status, wall_s FROM runs").fetchone()
    assert status == "stopped" and wall > 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["status"] == "stopped" and out["tasks"]["gsm8k"]["n"] == sent

    # The same budget covers what the run already cost: nothing more is sent.
    again = cli(*_run(gsm8k_server, data_dir, tmp_path, *common, "--max-cost", "0.08"))
    assert again.code == 3 and gsm8k_server.stats.completion_requests == sent

    done = cli(*_run(gsm8k_server, data_dir, tmp_path, *common, "--max-cost", "10"))
    assert done.code == 0, done.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["status"] == "complete" and out["tasks"]["gsm8k"]["n"] == 30
    assert out["usage"]["requests"] == 30 - sent and out["usage"]["cached"] == sent
    assert gsm8k_server.stats.completion_requests == 30
    assert out["usage"]["cost_usd"] == pytest.approx(sum(_stored_costs(db)))
    status, wall2 = db.execute("SELECT status, wall_s FROM runs").fetchone()
    assert status == "complete" and wall2 > wall  # wall time adds up over the invocations


def test_max_cost_with_concurrency_stops_within_the_requests_in_flight(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 10.0, "completion": 10.0}}}')
    gsm8k_server.latency_ms = 20  # requests really overlap
    r = cli(*_run(gsm8k_server, data_dir, tmp_path, "--limit", "60", "--prices", prices,
                  "--concurrency", "4", "--max-cost", "0.08"))  # fmt: skip
    assert r.code == 3, r.err
    sent = gsm8k_server.stats.completion_requests
    db = sqlite3.connect(tmp_path / "store.db")
    costs = _stored_costs(db)
    assert len(costs) == sent  # requests in flight when the budget ran out were finished and saved
    assert sum(costs[: sent - 4]) < 0.08 <= sum(costs)  # at most 3 more than one at a time


def test_max_cost_stops_a_strategy_between_requests_and_resume_sends_only_the_rest(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"fake/*": {"prompt": 1000.0, "completion": 1000.0}}}')
    out = tmp_path / "out.json"
    args = ["run", "gsm8k", "--model", "fake/repeat:The answer is 18.", "--limit", "10",
            "--strategy", "self-consistency:k=3,batch=false", "--concurrency", "1",
            "--prices", prices, "--data-dir", data_dir, "--store", tmp_path / "s.db",
            "--json", out]  # fmt: skip
    # Each request costs ~$0.07 (about 70 words at $1000 per million): $0.5 is ~7 requests,
    # so the budget runs out in the middle of an item's three.
    r = cli(*args, "--max-cost", "0.5")
    assert r.code == 3, r.err
    first = json.loads(out.read_text())
    assert first["status"] == "stopped" and first["usage"]["requests"] % 3 != 0
    done = cli(*args, "--max-cost", "100")
    assert done.code == 0, done.err
    second = json.loads(out.read_text())
    assert second["tasks"]["gsm8k"]["n"] == 10 and second["status"] == "complete"
    # The stopped item's finished requests were cached: 30 requests in all, none twice.
    assert first["usage"]["requests"] + second["usage"]["requests"] == 30
    assert second["tasks"]["gsm8k"]["requests_per_item"] == 3.0


def test_max_cost_for_an_unpriced_model_fails_before_sending(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    r = cli("run", "gsm8k", "--model", "fake/repeat:x", "--max-cost", "1", "--data-dir", data_dir,
            "--store", store)  # fmt: skip
    assert r.code == 2 and r.err.count("\n") == 1
    assert "--max-cost needs a price for fake/repeat:x" in r.err and "--prices" in r.err
    assert not store.exists()


# ---- the store --------------------------------------------------------------------------------


def test_schema_2_store_is_migrated_and_unknown_requests_stay_unknown(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    ids = []
    out = tmp_path / "o.json"
    args = ["run", "gsm8k", "--model", "fake/repeat:The answer is 18.", "--limit", "6",
            "--data-dir", data_dir, "--store", path, "--json", out]  # fmt: skip
    for fmt in ("fewshot-cot", "zeroshot-cot"):
        r = cli(*args, "--format", fmt)
        assert r.code == 0, r.err
        ids.append(json.loads(out.read_text())["run_id"])
    db = sqlite3.connect(path)  # make it a schema 2 store, as older cothub wrote it
    db.executescript(
        "ALTER TABLE samples DROP COLUMN requests; ALTER TABLE runs DROP COLUMN wall_s; "
        "UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    db.close()
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert db.execute("SELECT DISTINCT requests FROM samples").fetchall() == [(None,)]
    rows = json.loads(cli("compare", *ids, "--store", path, "--format", "json").out)
    second = rows["tasks"]["gsm8k"][1]
    assert second["requests_per_item"] is None and second["wall_s"] is None
