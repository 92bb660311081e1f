"""A model's type (base, sft, rlhf) and size: said with a run or an import, or set after the
fact; they describe the model, never the run (same run id, same cache), and the leaderboard
groups and sorts by them, published rows beside measured ones."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.errors import CothubError
from cothub.modelinfo import check_size, check_type, published_info, size_params
from cothub.store import Store
from cothub.store.sqlite import SCHEMA_VERSION
from cothub.testing.openai_server import OpenAIStandIn, Script, running_server
from test_store_records import LEGACY, legacy_data, legacy_store

ANSWER = "Let's think step by step\n3 + 4 = 7.\nThe answer is 7."


@pytest.fixture
def srv() -> Any:
    with running_server(Script(default=ANSWER)) as s:
        yield s


def run(cli: Any, srv: OpenAIStandIn, data: Path, tmp: Path, model: str, *extra: object) -> Any:
    return cli(
        "run", "gsm8k", "--model", f"openai/{model}", "--base-url", srv.base_url,
        "--data-dir", data, "--limit", 6, "--store", tmp / "s.db", "--json", tmp / "o.json",
        *extra,
    )  # fmt: skip


def dump(path: Path, *tables: str, like: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every row of ``tables``, in the columns ``like`` (an earlier dump) had, if given."""
    out: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        for t in tables:
            cols = (
                like[t]["columns"]
                if like
                else [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            )
            rows = db.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall()
            out[t] = {"columns": cols, "rows": sorted(rows, key=repr)}
    return out


# ---- values -----------------------------------------------------------------------------------


def test_sizes_and_types_are_read_as_the_hub_writes_them() -> None:
    assert [check_size(s) for s in ("7b", "1.5B", "70B", " 8x7B", "350m", "1T")] == [
        "7B", "1.5B", "70B", "8x7B", "350M", "1T",
    ]  # fmt: skip
    assert size_params("8x7B") == 56e9 and size_params("1.5B") == 1.5e9
    assert size_params("?") is None and size_params("") is None
    for bad in ("7", "B", "0B", "-7B", "7 billion", "x7B", "0x7B"):
        with pytest.raises(CothubError, match="is not a model size"):
            check_size(bad)
    assert [check_type(t) for t in ("Base", "SFT", "sift", "rlhf")] == [
        "base",
        "sft",
        "sft",
        "rlhf",
    ]
    with pytest.raises(CothubError, match="use one of base, sft, rlhf"):
        check_type("chat")
    assert published_info("SIFT", "540B").as_json() == {
        "type": "sft", "size": "540B", "params": 540e9,
    }  # fmt: skip
    assert published_info("RLHF", "?").size == "" and published_info("odd", "7B").type == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("--model-type", "chat"), "use one of base, sft, rlhf"),
     (("--model-size", "seven"), "is not a model size"),
     (("--model-type", "instruct", "--model-size", "7B"), "use one of base, sft, rlhf")],
)  # fmt: skip
def test_bad_type_or_size_is_one_line_exit_2_before_any_request(
    cli: Any, srv: OpenAIStandIn, data_dir: Path, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    r = run(cli, srv, data_dir, tmp_path, "m", *args)
    assert r.code == 2 and r.err.count("\n") == 1 and needle in r.err, r.err
    assert r.err.startswith("cothub: error: ") and "Traceback" not in r.err
    assert srv.stats.completion_requests == 0 and not (tmp_path / "s.db").exists()
    imp = cli("import", "gsm8k", LEGACY / "import.jsonl", "--model-name", "x", "--store",
              tmp_path / "s.db", *args)  # fmt: skip
    assert imp.code == 2 and imp.err.count("\n") == 1 and needle in imp.err, imp.err
    assert not (tmp_path / "s.db").exists()


# ---- not part of the run ----------------------------------------------------------------------


def test_type_and_size_change_no_run_id_and_no_cache_key(
    cli: Any, srv: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    first = run(cli, srv, data_dir, tmp_path, "m")
    assert first.code == 0, first.err
    plain = json.loads((tmp_path / "o.json").read_text())
    before = dump(tmp_path / "s.db", "completions", "samples")
    sent = srv.stats.completion_requests
    assert sent == 6
    again = run(cli, srv, data_dir, tmp_path, "m", "--model-type", "RLHF", "--model-size", "7b")
    assert again.code == 0, again.err
    described = json.loads((tmp_path / "o.json").read_text())
    assert described["run_id"] == plain["run_id"]
    assert srv.stats.completion_requests == sent  # zero requests: every key was cached
    assert described["usage"]["cached"] == 6
    assert dump(tmp_path / "s.db", "completions")["completions"] == before["completions"]
    with contextlib.closing(sqlite3.connect(tmp_path / "s.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        (manifest,) = db.execute("SELECT manifest FROM runs").fetchone()
        assert "rlhf" not in manifest.lower() and "7B" not in manifest
    listed = cli("models", "--store", tmp_path / "s.db")
    assert listed.code == 0, listed.err
    row = next(ln for ln in listed.out.splitlines() if "openai/m" in ln)
    assert "rlhf" in row and "7B" in row


def test_set_after_the_fact_then_grouped_and_sorted_in_every_format(
    cli: Any, srv: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    for model in ("small", "big", "plain"):
        assert run(cli, srv, data_dir, tmp_path, model).code == 0
    assert cli("models", "set", "openai/big", "--type", "base", "--size", "70B",
               "--store", store).code == 0  # fmt: skip
    r = cli("models", "set", "openai/small", "--type", "sft", "--size", "1.5B", "--store", store)
    assert r.code == 0 and r.out.strip() == "openai/small: type sft, size 1.5B", r.out
    assert cli("models", "set", "openai/small", "--size", "8x7B", "--store", store).code == 0
    shown = Store(store, readonly=True)
    assert shown.model_info()["openai/small"].as_json() == {
        "type": "sft", "size": "8x7B", "params": 56e9,  # the type kept, the size replaced
    }  # fmt: skip
    shown.close()
    typo = cli("models", "set", "openai/smal", "--type", "base", "--store", store)
    assert typo.code == 2 and typo.err.count("\n") == 1 and "openai/small" in typo.err
    bad = cli("models", "set", "openai/big", "--type", "chat", "--store", store)
    assert bad.code == 2 and "use one of base, sft, rlhf" in bad.err
    none = cli("models", "set", "openai/big", "--store", store)
    assert none.code == 2 and "--type" in none.err

    args = ["leaderboard", "--store", store, "--include-partial"]
    by_size = json.loads(cli(*args, "--sort", "size", "--format", "json").out)
    assert [r["model"] for r in by_size["rows"]] == ["openai/big", "openai/small", "openai/plain"]
    assert by_size["rows"][0]["type"] == "base" and by_size["rows"][1]["params"] == 56e9
    grouped = json.loads(cli(*args, "--group-by", "type", "--sort", "model", "--format",
                             "json").out)  # fmt: skip
    assert [(r["group"], r["model"]) for r in grouped["rows"]] == [
        ("base", "openai/big"), ("sft", "openai/small"), ("type not said", "openai/plain"),
    ]  # fmt: skip
    table = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv", "--sort",
                                                "size").out)))  # fmt: skip
    assert [(t["model"], t["type"], t["size"]) for t in table] == [
        ("openai/big", "base", "70B"), ("openai/small", "sft", "8x7B"), ("openai/plain", "", ""),
    ]  # fmt: skip
    md = cli(*args, "--group-by", "type").out.splitlines()
    assert md[0].startswith("| model | type | size | GSM8K")
    heads = [i for i, ln in enumerate(md) if ln.startswith("| **")]
    assert [md[i].split(" | ")[0] for i in heads] == [
        "| **base**",
        "| **sft**",
        "| **type not said**",
    ]
    assert heads[0] < next(
        i for i, ln in enumerate(md) if ln.startswith("| openai/big | base | 70B |")
    )
    for flag, value in (("--sort", "humaneval"), ("--group-by", "size")):
        wrong = cli(*args, flag, value)
        assert wrong.code == 2 and wrong.err.count("\n") == 1, wrong.err
        assert "use one of" in wrong.err


def test_published_rows_beside_measured_ones_grouped_and_sorted_alike(
    cli: Any, srv: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    """A published leaderboard written here, in the hub's layout (type Base/SIFT/RLHF, params
    7B or ?, scores in percent, a source per row): not the hub's own numbers."""
    published = tmp_path / "pub.csv"
    published.write_text(
        "model,params,type,gsm8k,math,mmlu,bbh,sources,repo,commit,path\n"
        "Alpha,13B,Base,40.0,,50.0,,Alpha paper,me/hub,0123456789abcdef,readme.md\n"
        "Beta,?,RLHF,90.0,30.0,,,Beta site,me/hub,0123456789abcdef,readme.md\n"
        "Gamma,7B,SIFT,,,,,nothing scored,me/hub,0123456789abcdef,readme.md\n"
    )
    store = tmp_path / "s.db"
    assert run(cli, srv, data_dir, tmp_path, "m", "--model-type", "sft", "--model-size",
               "7B").code == 0  # fmt: skip
    args = ["leaderboard", "--store", store, "--include-partial", "--published", published]
    board = json.loads(cli(*args, "--format", "json", "--sort", "size").out)
    rows = [(r["model"], r["published"], r["size"]) for r in board["rows"]]
    assert rows == [("Alpha", True, "13B"), ("openai/m", False, "7B"), ("Beta", True, None)]
    alpha = board["rows"][0]
    assert alpha["type"] == "base" and "Alpha paper" in alpha["source"]
    assert alpha["cells"]["gsm8k:fewshot-cot"] == {"accuracy": 0.4, "published": True}
    assert alpha["cells"]["mmlu:fewshot-direct"]["accuracy"] == 0.5  # MMLU's own setting
    beta = board["rows"][2]
    assert beta["type"] == "rlhf" and beta["cells"]["math:fewshot-cot"]["accuracy"] == 0.3
    by_gsm = json.loads(cli(*args, "--format", "json", "--group-by", "type").out)
    assert [r["model"] for r in by_gsm["rows"]] == ["Alpha", "openai/m", "Beta"]
    md = cli(*args).out
    assert "| Beta (published) | rlhf | - | 90.0 |" in md and "published [2]" in md
    assert "[2] Alpha paper — via me/hub, 0123456789ab, readme.md" in md  # numbered as listed
    assert "| Alpha (published) | base | 13B | 40.0 | - | 50.0 | published [2] |" in md
    assert md.index("Beta (published)") < md.index("| openai/m |")  # ranked by GSM8K
    table = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").out)))
    assert (table[0]["model"], table[0]["published"]) == ("Beta", "1")
    assert float(table[0]["gsm8k:fewshot-cot:accuracy"]) == 0.9
    assert table[0]["gsm8k:fewshot-cot:run_id"] == ""
    missing = cli(*args[:-1], tmp_path / "nope.csv")
    assert missing.code == 2 and missing.err.count("\n") == 1, missing.err

    html = tmp_path / "r.html"
    r = cli("report", "--store", store, "--published", published, "-o", html)
    assert r.code == 0, r.err
    page = html.read_text()
    assert "<th>type</th><th>size</th>" in page
    assert '<td data-v="sft">sft</td><td class="num" data-v="7e+09">7B</td>' in page
    assert '<td data-v="base">base</td><td class="num" data-v="1.3e+10">13B</td>' in page


# ---- the store --------------------------------------------------------------------------------


def test_older_store_gets_the_table_and_nothing_else_changes(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema 3 (the released store) and schema 5 (the one before models) both open, get the
    models table and the version, and keep every run, sample and completion as they were."""
    v3 = legacy_store(tmp_path)
    v5 = tmp_path / "v5.db"
    shutil.copy(v3, v5)
    Store(v5).close()
    with contextlib.closing(sqlite3.connect(v5)) as db:
        db.execute("DROP TABLE models")
        db.execute("UPDATE meta SET value='5' WHERE key='schema_version'")
        db.commit()
    for path, old in ((v3, "3"), (v5, "5")):
        before = dump(path, "runs", "samples", "completions")
        with contextlib.closing(Store(path, readonly=True)) as ro:  # read as it is
            assert ro.model_info() == {} and len(ro.runs()) == 4
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
                old,
            )
        listed = cli("models", "--store", path)
        assert listed.code == 0 and "openai/legacy-model" in listed.out, listed.err
        set_ = cli("models", "set", "import/legacy-import", "--type", "base", "--store", path)
        assert set_.code == 0, set_.err
        # (schema 3 -> 6 also adds the sample columns schemas 4 and 5 added, empty: not compared)
        assert dump(path, "runs", "samples", "completions", like=before) == before
        with contextlib.closing(sqlite3.connect(path)) as db:
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            models = db.execute("SELECT model, type, size FROM models").fetchall()
        assert version == (str(SCHEMA_VERSION),) == ("6",)
        assert models == [("import/legacy-import", "base", "")]
    # A migrated store still serves the legacy command with no request, and the same run id.
    legacy_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = cli("run", "gsm8k", "--model", "openai/legacy-model", "--base-url",
            "http://127.0.0.1:37317/v1", "--format", "zeroshot-cot", "--data-dir", "data",
            "--store", v5, "--json", tmp_path / "o.json", "--model-type", "rlhf")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["run_id"] == "e06c666c7145" and out["usage"]["requests"] == 0


def test_import_records_type_and_size(cli: Any, tmp_path: Path) -> None:
    legacy_data(tmp_path)
    r = cli("import", "gsm8k", LEGACY / "import.jsonl", "--model-name", "harness-out",
            "--data-dir", tmp_path / "data", "--store", tmp_path / "s.db", "--format",
            "zeroshot-cot", "--model-type",
            "base", "--model-size", "175B")  # fmt: skip
    assert r.code == 0, r.err
    with contextlib.closing(Store(tmp_path / "s.db", readonly=True)) as db:
        assert db.model_info()["import/harness-out"].as_json() == {
            "type": "base", "size": "175B", "params": 175e9,
        }  # fmt: skip
        assert [run.model for run in db.runs()] == ["import/harness-out"]
