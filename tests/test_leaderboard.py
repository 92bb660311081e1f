"""The leaderboard ranks models by GSM8K, keeps formats apart and traces every cell to its run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from conftest import gold_of, gsm8k_items


def test_leaderboard_rows_columns_and_provenance(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    items = gsm8k_items(data_dir)
    golds = [gold_of(it).replace(",", "") for it in items]
    # Two scripted models: "eighteen" answers 18 to everything; "oracle" knows the first 400.
    oracle = {
        "default": "The answer is 0.",
        "rules": [
            {"match": it["question"], "responses": [f"The answer is {g}."]}
            for it, g in zip(items[:400], golds[:400], strict=True)
        ],
    }
    script = tmp_path / "oracle.json"
    script.write_text(json.dumps(oracle))
    base = ["--data-dir", str(data_dir), "--store", store]
    eighteen = "fake/repeat:The answer is 18."
    oracle_model = f"fake/script:{script}"
    runs = {}
    for name, model, extra in [
        ("eighteen", eighteen, []),
        ("oracle", oracle_model, []),
        ("oracle-zs", oracle_model, ["--format", "zeroshot-cot"]),
        ("oracle-limited", oracle_model, ["--limit", "50", "--format", "fewshot-direct"]),
    ]:
        out = tmp_path / f"out-{name}.json"
        r = cli("run", "gsm8k", "--model", model, *base, "--json", out, *extra)
        assert r.code == 0, r.err
        runs[name] = json.loads(out.read_text())

    assert "GSM8K (fewshot-direct)" not in cli("leaderboard", "--store", store).out  # --limit 50
    md = cli("leaderboard", "--store", store, "--include-partial")
    assert md.code == 0, md.err
    lines = md.out.splitlines()
    header = lines[0]
    assert "GSM8K (fewshot-cot)" in header and "GSM8K (zeroshot-cot)" in header
    assert "GSM8K (fewshot-direct)" in header
    body = [ln for ln in lines[2:] if ln.startswith("| ")]
    assert len(body) == 2
    oracle_row = next(ln for ln in body if "script:" in ln)
    assert body.index(oracle_row) == 0  # 400/1319 beats the share of golds that are 18
    assert runs["oracle"]["run_id"] in oracle_row and runs["oracle-zs"]["run_id"] in oracle_row
    assert f"{100 * 400 / 1319:.1f}" in oracle_row
    assert "*50 of 1319" in oracle_row  # the --limit run is marked partial, n of N

    table = list(csv.DictReader(io.StringIO(cli("leaderboard", "--format", "csv",
                                                "--store", store).out)))  # fmt: skip
    row = next(r for r in table if r["model"] == "fake/repeat:The answer is 18.")
    assert (
        float(row["gsm8k:fewshot-cot:accuracy"]) == runs["eighteen"]["tasks"]["gsm8k"]["accuracy"]
    )
    assert row["gsm8k:zeroshot-cot:accuracy"] == ""

    board = json.loads(cli("leaderboard", "--format", "json", "--store", store).out)
    cells = {r["model"]: r["cells"] for r in board["rows"]}
    assert cells[eighteen]["gsm8k:fewshot-cot"]["run_id"] == runs["eighteen"]["run_id"]
    assert cells[eighteen]["gsm8k:fewshot-cot"]["n"] == 1319


def test_leaderboard_of_empty_store(cli: Any, tmp_path: Path) -> None:
    r = cli("leaderboard", "--store", tmp_path / "empty.db")
    assert r.code == 0 and r.out.startswith("No complete runs in this store yet")
